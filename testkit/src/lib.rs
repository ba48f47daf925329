//! Throwaway servers that the tests (`server/tests/`) and `make bench` start for
//! themselves, on free 127.0.0.1 ports and temp dirs, and stop when done.
//!
//! | module | owns |
//! | --- | --- |
//! | [`postgres`] | a PostgreSQL server of its own: `initdb`, run, stop, start again |

pub mod postgres;

pub use postgres::Postgres;
