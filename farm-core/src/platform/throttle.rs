//! Log lines that anyone can cause (a client's bad request, a wiki server that is down while a
//! crowd retries) must not grow the log without bound: [`LogThrottle`] lets a few through per
//! second and says how many it held back.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Lets `per_second` lines through in each wall-clock second and counts the others.
#[derive(Debug)]
pub struct LogThrottle {
    per_second: u32,
    second: AtomicU64,
    used: AtomicU32,
    suppressed: AtomicU64,
}

impl LogThrottle {
    pub const fn new(per_second: u32) -> Self {
        Self { per_second, second: AtomicU64::new(0), used: AtomicU32::new(0), suppressed: AtomicU64::new(0) }
    }

    /// `Some(n)` if this line may be logged, `n` being how many were held back since the last
    /// one that was; `None` if it must be dropped.
    pub fn allow(&self) -> Option<u64> {
        self.allow_at(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
    }

    fn allow_at(&self, now: u64) -> Option<u64> {
        if self.second.swap(now, Ordering::Relaxed) != now {
            self.used.store(0, Ordering::Relaxed);
        }
        if self.used.fetch_add(1, Ordering::Relaxed) < self.per_second {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_lines_a_second_and_a_count_of_the_rest() {
        let throttle = LogThrottle::new(2);
        assert_eq!(throttle.allow_at(100), Some(0));
        assert_eq!(throttle.allow_at(100), Some(0));
        assert_eq!(throttle.allow_at(100), None);
        assert_eq!(throttle.allow_at(100), None);
        assert_eq!(throttle.allow_at(101), Some(2), "the next second reports what was held back");
        assert_eq!(throttle.allow_at(101), Some(0));
        assert_eq!(throttle.allow_at(101), None);
    }
}
