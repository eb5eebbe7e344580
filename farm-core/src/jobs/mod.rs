//! The farm's background work.

pub mod lifecycle;
pub mod pool;
pub mod provision;
