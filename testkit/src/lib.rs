//! What the tests (`server/tests/` and the unit tests) and `make bench` share: temp dirs,
//! ports, and throwaway servers they start for themselves and stop when done.
//!
//! | module | owns |
//! | --- | --- |
//! | [`dir`] | a test's temp dir: deleted when done, kept when the test fails |
//! | [`ports`] | ports for servers a test restarts on the same port, safe from other tests' connections |
//! | [`postgres`] | a PostgreSQL server of its own: `initdb`, run, stop, start again |
//! | [`etcd`] | the command line of an etcd member on the test's own ports and data dir |

pub mod dir;
pub mod etcd;
pub mod ports;
pub mod postgres;

pub use dir::TestDir;

pub use postgres::Postgres;
