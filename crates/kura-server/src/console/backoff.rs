//! Brute-force backoff for sign-in: per source (the client address after trusted proxies, as
//! `aws:SourceIp` is read; an IPv6 address counts by its /64, which one client usually holds whole),
//! after [`FREE_FAILURES`] failures in a row each further attempt must wait 2^(n-5) s, at most
//! [`MAX_WAIT`]. A success forgets the source; so does an hour without failures. The table holds at
//! most [`CAPACITY`] sources; the one whose last failure is oldest is forgotten first.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures in a row that cost nothing.
pub const FREE_FAILURES: u32 = 5;
/// The longest wait.
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// Sources remembered at most.
pub const CAPACITY: usize = 10_000;
/// A source without a failure for this long starts again from zero.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// The sources that failed recently.
#[derive(Debug)]
pub struct Backoff {
    table: Mutex<HashMap<IpAddr, Entry>>,
    capacity: usize,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

/// The wait after `failures` failures in a row.
pub fn wait_after(failures: u32) -> Duration {
    if failures < FREE_FAILURES {
        return Duration::ZERO;
    }
    let exponent = (failures - FREE_FAILURES).min(16);
    Duration::from_secs(1u64 << exponent).min(MAX_WAIT)
}

/// The key a source counts under: the address, or an IPv6 address's /64.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl Backoff {
    /// A table of at most `capacity` sources.
    pub fn with_capacity(capacity: usize) -> Self {
        Self { table: Mutex::new(HashMap::new()), capacity: capacity.max(1) }
    }

    /// `Err(seconds)` while `source` must still wait (rounded up), `Ok` when it may try.
    pub fn check(&self, source: IpAddr, now: Instant) -> Result<(), u64> {
        let table = self.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(entry) = table.get(&source_key(source)) else { return Ok(()) };
        let until = entry.last + wait_after(entry.failures);
        if now >= until {
            return Ok(());
        }
        let left = until - now;
        Err(left.as_secs() + u64::from(left.subsec_nanos() > 0))
    }

    /// Counts a failure of `source`.
    pub fn failed(&self, source: IpAddr, now: Instant) {
        let key = source_key(source);
        let mut table = self.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !table.contains_key(&key) && table.len() >= self.capacity {
            table.retain(|_, e| now.saturating_duration_since(e.last) < FORGET_AFTER);
            if table.len() >= self.capacity
                && let Some(oldest) = table.iter().min_by_key(|(_, e)| e.last).map(|(k, _)| *k)
            {
                table.remove(&oldest);
            }
        }
        let entry = table.entry(key).or_insert(Entry { failures: 0, last: now });
        if now.saturating_duration_since(entry.last) >= FORGET_AFTER {
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last = now;
    }

    /// Forgets `source` (it signed in).
    pub fn succeeded(&self, source: IpAddr) {
        self.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&source_key(source));
    }

    /// How many sources are remembered.
    pub fn len(&self) -> usize {
        self.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    /// Whether no source is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn five_failures_are_free_then_the_wait_doubles_up_to_a_minute() {
        assert_eq!(wait_after(4), Duration::ZERO);
        assert_eq!(wait_after(5), Duration::from_secs(1));
        assert_eq!(wait_after(6), Duration::from_secs(2));
        assert_eq!(wait_after(10), Duration::from_secs(32));
        assert_eq!(wait_after(11), MAX_WAIT);
        assert_eq!(wait_after(u32::MAX), MAX_WAIT);
        let b = Backoff::default();
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        for i in 0..5 {
            assert_eq!(b.check(a, t0), Ok(()), "attempt {i}");
            b.failed(a, t0);
        }
        assert_eq!(b.check(a, t0), Err(1));
        assert_eq!(b.check(ip("192.0.2.2"), t0), Ok(()), "other sources are not slowed");
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(b.check(a, t1), Ok(()));
        b.failed(a, t1);
        assert_eq!(b.check(a, t1 + Duration::from_millis(500)), Err(2));
        b.succeeded(a);
        assert_eq!(b.check(a, t1), Ok(()));
        assert!(b.is_empty());
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_v4_as_v4() {
        let b = Backoff::default();
        let t = Instant::now();
        for n in 0..5 {
            b.failed(ip(&format!("2001:db8:1:2::{n}")), t);
        }
        assert_eq!(b.check(ip("2001:db8:1:2::ffff"), t), Err(1));
        assert_eq!(b.check(ip("2001:db8:1:3::1"), t), Ok(()));
        for _ in 0..5 {
            b.failed(ip("::ffff:192.0.2.9"), t);
        }
        assert_eq!(b.check(ip("192.0.2.9"), t), Err(1));
    }

    #[test]
    fn the_table_is_bounded_and_forgets_the_oldest_source() {
        let b = Backoff::with_capacity(3);
        let t = Instant::now();
        for (i, s) in ["192.0.2.1", "192.0.2.2", "192.0.2.3"].iter().enumerate() {
            for _ in 0..5 {
                b.failed(ip(s), t + Duration::from_millis(i as u64));
            }
        }
        b.failed(ip("192.0.2.4"), t + Duration::from_millis(10));
        assert_eq!(b.len(), 3);
        assert_eq!(b.check(ip("192.0.2.1"), t), Ok(()), "the oldest was forgotten");
        assert!(b.check(ip("192.0.2.2"), t).is_err());
    }

    #[test]
    fn an_hour_without_failures_starts_again() {
        let b = Backoff::default();
        let t = Instant::now();
        for _ in 0..8 {
            b.failed(ip("192.0.2.1"), t);
        }
        let later = t + FORGET_AFTER;
        b.failed(ip("192.0.2.1"), later);
        assert_eq!(b.check(ip("192.0.2.1"), later), Ok(()), "one failure in a row again");
    }
}
