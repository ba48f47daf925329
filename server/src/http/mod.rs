//! The HTTP plumbing every service shares, on both sides of a connection.
//!
//! | module | owns |
//! | --- | --- |
//! | [`serve`] | binding an address, and the serving loop behind [`crate::runtime::serve`]: serve until stopped, then drain |
//! | [`limits`] | the flags for how requests may arrive and how they are logged (`--request-timeout`, `--access-log`, `--max-connections`) |
//! | [`stack`] | the layers in front of every router, one job each: the request count, the access log, refusals explained, the header limit, the body deadline, draining |
//! | [`routes`] | the routes a process serves with their patterns beside the router, and the table that labels a request with its route |
//! | [`error`] | [`ApiError`], the JSON error answer every API gives, and [`RequestBody`], the request-body extractor whose refusal is one |
//! | [`client`] | the one way a process builds an outgoing HTTP client, and [`ClientError`], what a call to another service can come to |
//! | [`token`] | the shared-secret token (`--token`) that guards writes |
//! | [`event_stream`] | how a request asks for a live event stream |
//! | [`timer`] | the timer hyper bounds each request's headers with: one per connection, kept from one request to the next |
//! | [`shutdown`] | the Ctrl-C / SIGTERM signal, and [`Background`]: the tasks awaited before a process exits |

pub mod client;
pub mod error;
pub mod event_stream;
pub mod limits;
pub mod routes;
pub mod serve;
pub mod shutdown;
pub mod stack;
pub mod timer;
pub mod token;

pub use client::ClientError;
pub use error::{ApiError, RequestBody};
pub use shutdown::Background;
