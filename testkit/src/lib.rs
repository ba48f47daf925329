//! Throwaway servers that the tests (`server/tests/`) and `make bench` start for
//! themselves, on free 127.0.0.1 ports and temp dirs, and stop when done.
//!
//! | module | owns |
//! | --- | --- |
//! | [`postgres`] | a PostgreSQL server of its own: `initdb`, run, stop, start again |
//! | [`etcd`] | the command line of an etcd member on the test's own ports and data dir |

pub mod etcd;
pub mod postgres;

pub use postgres::Postgres;
