//! A bucket's lifecycle configuration as stored: the rules the S3 layer accepted (it validates them;
//! the store only keeps them), in a form that gives back the same XML shape the client sent (a legacy
//! top-level `Prefix`, or a `Filter` with one predicate or an `And`).

use serde::{Deserialize, Serialize};

/// The lifecycle configuration of a bucket: its rules in the order they were given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleConfig {
    /// The rules (at most 1000, ids unique).
    pub rules: Vec<LifecycleRule>,
}

/// One lifecycle rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRule {
    /// The rule's id (given, or generated when the client sent none); unique in the configuration.
    pub id: String,
    /// `Status`: Enabled (`true`) or Disabled.
    pub enabled: bool,
    /// Which objects the rule applies to.
    pub filter: RuleFilter,
    /// What happens to current versions (and expired delete markers).
    pub expiration: Option<Expiration>,
    /// What happens to noncurrent versions (applied once versioning exists).
    pub noncurrent_expiration: Option<NoncurrentExpiration>,
    /// `AbortIncompleteMultipartUpload`'s `DaysAfterInitiation`.
    pub abort_incomplete_upload_days: Option<u32>,
}

/// How a rule names its objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleFilter {
    /// The legacy top-level `<Prefix>` of a rule.
    LegacyPrefix(String),
    /// A `<Filter>`.
    Filter(FilterPredicate),
}

/// The content of a `<Filter>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FilterPredicate {
    /// An empty `<Filter/>`: every object.
    All,
    /// `<Prefix>`.
    Prefix(String),
    /// `<Tag>`: the object has this tag (key, value).
    Tag(String, String),
    /// `<ObjectSizeGreaterThan>` (bytes).
    SizeGreaterThan(u64),
    /// `<ObjectSizeLessThan>` (bytes).
    SizeLessThan(u64),
    /// `<And>`: all of its parts.
    And(AndPredicate),
}

/// The parts of an `<And>`; every part given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AndPredicate {
    /// The key starts with this.
    pub prefix: Option<String>,
    /// The object carries every one of these tags (key, value).
    pub tags: Vec<(String, String)>,
    /// The object is larger than this many bytes.
    pub size_greater_than: Option<u64>,
    /// The object is smaller than this many bytes.
    pub size_less_than: Option<u64>,
}

/// A rule's `<Expiration>`: exactly one of its three forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiration {
    /// Expire current versions this many lifecycle days after their last modification (rounded up to
    /// the next midnight UTC, as AWS does).
    Days(u32),
    /// Expire current versions from this moment (seconds since the epoch, a midnight UTC).
    Date(i64),
    /// `ExpiredObjectDeleteMarker`: remove a delete marker that is the only version left.
    ExpiredObjectDeleteMarker(bool),
}

/// A rule's `<NoncurrentVersionExpiration>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoncurrentExpiration {
    /// Days a version has been noncurrent before it may be removed.
    pub noncurrent_days: u32,
    /// Keep this many newer noncurrent versions (1..=100) regardless of age.
    pub newer_noncurrent_versions: Option<u32>,
}
