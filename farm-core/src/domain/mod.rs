//! Domain types: every value from outside is parsed into one of these before it is used.
//! A value of these types is valid by construction, so code that holds one never re-checks.
//! Nothing here does I/O, and nothing here depends on another part of the crate but
//! [`crate::error`].

mod account;
pub mod image;
pub mod maintenance;
mod names;
pub mod permissions;
mod request;
mod secret;
pub mod settings;
mod wiki;

/// A stored value that names no known variant (the control store decodes into domain enums).
#[derive(Debug, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
}

pub use account::*;
pub use names::*;
pub use request::*;
pub use secret::Secret;
pub use wiki::*;
