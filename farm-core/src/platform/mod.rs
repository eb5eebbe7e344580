//! What the farm stands on, knowing nothing of wikis beyond their keys and names: files
//! written atomically and privately, the data directory's layout, randomness and sealed
//! secrets, rate limits and log throttles, and time.

pub mod fsutil;
pub mod layout;
pub mod random;
pub mod ratelimit;
pub mod read_cache;
pub mod secrets;
pub mod throttle;
pub mod time;
