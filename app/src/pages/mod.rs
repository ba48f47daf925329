//! One module per page.

pub mod login;
pub mod logs;
pub mod not_found;
pub mod registry;
pub mod student;
pub mod students;
