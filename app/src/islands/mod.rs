//! Islands: the parts of the portal that move after the page has loaded. Each is rendered
//! on the server with the page, then hydrated in the browser by the WASM, which holds the
//! code of the islands (and of the components they draw) and nothing else. Everything
//! outside them is HTML from the server; the islands router (`islands-router`) keeps
//! navigation client-side by fetching the next page and diffing it in.
//!
//! An island's props cross from the server to the browser as JSON, so they are data (the
//! wire types, or a description such as [`post_form::FormSpec`]); the one view an island takes is its `children` (`SearchAsYouType` wraps
//! the server's search form), which the server renders and the island keeps as it is.
//! Every page works with JavaScript off: each island draws what the server had, and each
//! form in one is a plain HTML form first.
//!
//! An island calls a server function through [`crate::live::call`], not through the
//! function's generated client: one shared fetch instead of a client apiece kept the
//! WASM under its 250 KB budget (it saved 16 KB gzipped for three functions).
//!
//! | island | owns |
//! |---|---|
//! | [`menu`] | the "Menu" button on narrow screens, and the page's hydrated mark |
//! | [`live_registry`] | the registry's map and instance table, redrawn as its events arrive |
//! | [`live_cluster`] | the cluster panel, asked again every second |
//! | [`live_grades`] | the Grade Book and a student's page, fetched again when grades change elsewhere |
//! | [`log_tail`] | the logs page's chart and table, new records inserted on top |
//! | [`search`] | search as you type in the Grade Book |
//! | [`post_form`] | every form that changes something (add a grade, add a student, log in, log out), refusals shown beside the field |
//! | [`retry`] | a page whose service was unavailable, asked for again every few seconds |

pub mod live_cluster;
pub mod live_grades;
pub mod live_registry;
pub mod log_tail;
pub mod menu;
pub mod post_form;
pub mod retry;
pub mod search;
