//! The `server.lifecycle:` section: how often the lifecycle worker scans, and the length of a
//! lifecycle day (86400 seconds; shorter only for tests, such as ceph's s3-tests with their
//! `lc_debug_interval`).

use serde::Deserialize;

/// A real day, the default lifecycle day.
pub const REAL_DAY_SECONDS: u64 = 86_400;
/// The default pause between two scans of every bucket: one hour.
pub const DEFAULT_SCAN_INTERVAL_SECONDS: u64 = 3_600;

/// `server.lifecycle:`. Read at start.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LifecycleSection {
    /// Seconds between the end of one scan and the start of the next (default 3600, at least 1).
    pub scan_interval_seconds: Option<u64>,
    /// FOR TESTS ONLY: the length of a lifecycle day in seconds (default 86400). Any other value
    /// makes `Days` rules act that much sooner, and kura says so in a WARN line at start.
    pub day_seconds: Option<u64>,
    /// Most expirations and aborts one scan makes (default 100000); the rest waits for the next scan,
    /// which resumes where this one stopped.
    pub max_actions_per_scan: Option<u64>,
}

impl LifecycleSection {
    /// Checks the values; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.scan_interval_seconds == Some(0) {
            return Err("server.lifecycle.scan_interval_seconds must be at least 1".into());
        }
        if self.day_seconds == Some(0) {
            return Err("server.lifecycle.day_seconds must be at least 1 (86400 is a real day)".into());
        }
        if self.max_actions_per_scan == Some(0) {
            return Err("server.lifecycle.max_actions_per_scan must be at least 1".into());
        }
        Ok(())
    }

    /// The pause between scans.
    pub fn scan_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.scan_interval_seconds.unwrap_or(DEFAULT_SCAN_INTERVAL_SECONDS).max(1))
    }

    /// The length of a lifecycle day in seconds.
    pub fn day_seconds(&self) -> u64 {
        self.day_seconds.unwrap_or(REAL_DAY_SECONDS).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_refusals() {
        let none = LifecycleSection::default();
        assert_eq!(none.day_seconds(), 86_400);
        assert_eq!(none.scan_interval(), std::time::Duration::from_secs(3_600));
        assert!(LifecycleSection { day_seconds: Some(0), ..Default::default() }.validate().is_err());
        assert!(LifecycleSection { scan_interval_seconds: Some(0), ..Default::default() }.validate().is_err());
        assert!(LifecycleSection { max_actions_per_scan: Some(0), ..Default::default() }.validate().is_err());
        let short =
            LifecycleSection { day_seconds: Some(10), scan_interval_seconds: Some(1), max_actions_per_scan: None };
        assert!(short.validate().is_ok());
    }
}
