//! Who someone is: the farm's signed tokens, and password hashing.

pub mod passwords;
pub mod sign_on;
pub mod tokens;
