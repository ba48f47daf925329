//! What the tests (`server/tests/` and the unit tests) and `make bench` share: temp dirs,
//! ports, and throwaway servers they start for themselves and stop when done.
//!
//! | module | owns |
//! | --- | --- |
//! | [`dir`] | a test's temp dir: deleted when done, kept when the test fails |
//! | [`ports`] | ports for servers a test restarts on the same port, safe from other tests' connections |
//! | [`postgres`] | a PostgreSQL server of its own: `initdb`, run, stop, start again |
//! | [`process`] | a child process: killed when dropped, waited for until it says where it listens |
//! | [`etcd`] | an etcd of a test's own, one member or a cluster: start, kill, restart, leader |

pub mod dir;
pub mod etcd;
pub mod ports;
pub mod postgres;
pub mod process;

pub use dir::TestDir;
pub use etcd::Etcd;
pub use process::Child;

pub use postgres::Postgres;
