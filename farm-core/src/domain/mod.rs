//! Domain types: every value from outside is parsed into one of these before it is used.
//! A value of these types is valid by construction, so code that holds one never re-checks.
//! Nothing here does I/O, and nothing here depends on another part of the crate but
//! [`crate::error`].

mod account;
mod names;
pub mod permissions;
mod request;
mod secret;
mod wiki;

pub use account::*;
pub use names::*;
pub use request::*;
pub use secret::Secret;
pub use wiki::*;
