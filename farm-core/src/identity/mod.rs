//! Who someone is: the farm's signed tokens, and password hashing.

pub mod passwords;
pub mod tokens;
