//! The `audit:` section: where the audit log ([`crate::audit`]) writes.

use serde::Deserialize;
use std::path::PathBuf;

/// The `audit:` section of the configuration.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Append JSON lines to this file.
    pub path: Option<PathBuf>,
    /// Also (or only) print them on stdout.
    #[serde(default)]
    pub stdout: bool,
    /// Rotate the file when it reaches this many bytes (default 100 MiB).
    pub max_size: Option<u64>,
    /// Rotated files kept (`FILE.1` … `FILE.N`, default 5).
    pub keep: Option<usize>,
}
