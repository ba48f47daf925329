//! The teacher portal's server side: the Leptos site it serves, how its server functions
//! reach the services, and the teacher's login.
//!
//! | module | owns |
//! | --- | --- |
//! | [`backend`] | [`PortalBackend`]: the services as the pages see them, the live-stream relays, and the portal's [`router`] |
//! | [`grade_book_csv`] | `/students.csv`: the grade book for a spreadsheet |
//! | [`site`] | where cargo-leptos put the compiled site, and the router that renders its pages |
//! | [`teacher_login`] | the teacher's password and the sessions a login opens |

pub mod backend;
pub mod grade_book_csv;
pub mod site;
pub mod teacher_login;

pub use backend::{PortalBackend, router, warn_if_grades_open};
