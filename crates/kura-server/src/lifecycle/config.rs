//! A lifecycle configuration as S3 sends it (s3s's DTOs) checked against AWS's rules and turned into
//! the stored form ([`kura_store::lifecycle`]), and back for GetBucketLifecycleConfiguration.
//! Refusals carry the S3 error class AWS answers with ([`InvalidLifecycle`], mapped in
//! [`crate::errors::lifecycle_error`]) and a message that says what to fix.

use kura_store::lifecycle::{
    AndPredicate, Expiration, FilterPredicate, LifecycleConfig, LifecycleRule, NoncurrentExpiration, RuleFilter,
};
use s3s::dto;
use std::collections::HashSet;

/// Most rules in one configuration (AWS's limit).
pub const MAX_RULES: usize = 1000;
/// Longest rule id (AWS's limit).
pub const MAX_ID_CHARS: usize = 255;
/// Longest prefix: an object key's limit (1024 bytes).
pub const MAX_PREFIX_BYTES: usize = 1024;
/// Most tags one filter may require (an object carries at most 10).
pub const MAX_FILTER_TAGS: usize = 10;
/// Longest tag key (characters), as for object tags.
pub const MAX_TAG_KEY_CHARS: usize = 128;
/// Longest tag value (characters), as for object tags.
pub const MAX_TAG_VALUE_CHARS: usize = 256;
/// Largest `NewerNoncurrentVersions` (AWS's limit).
pub const MAX_NEWER_NONCURRENT: i32 = 100;

/// Why a lifecycle configuration was refused; the variant is the S3 error AWS answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidLifecycle {
    /// MalformedXML: the document's shape is wrong (a missing or doubled element, a bad Status).
    #[error("{0}")]
    Malformed(String),
    /// InvalidArgument: a value is out of range.
    #[error("{0}")]
    Argument(String),
    /// InvalidRequest: elements that cannot be combined, or a rule without an action.
    #[error("{0}")]
    Request(String),
    /// InvalidStorageClass: a transition (kura has one storage class).
    #[error("{0}")]
    StorageClass(String),
}

use InvalidLifecycle::{Argument, Malformed, Request};

/// Checks a configuration as AWS does and answers the form to store. Rules without an id get one
/// (`rule-N`, N its position, made unique).
///
/// # Errors
/// The first rule broken, as [`InvalidLifecycle`].
pub fn accept(config: &dto::BucketLifecycleConfiguration) -> Result<LifecycleConfig, InvalidLifecycle> {
    if config.rules.is_empty() {
        return Err(Malformed("The lifecycle configuration must contain at least one Rule.".into()));
    }
    if config.rules.len() > MAX_RULES {
        return Err(Malformed(format!(
            "The lifecycle configuration has {} rules; at most {MAX_RULES} are allowed.",
            config.rules.len()
        )));
    }
    let mut ids = HashSet::new();
    for rule in &config.rules {
        if let Some(id) = rule.id.as_deref().filter(|id| !id.is_empty()) {
            if id.chars().count() > MAX_ID_CHARS {
                return Err(Argument(format!("ID length should not exceed allowed limit of {MAX_ID_CHARS}")));
            }
            if !ids.insert(id.to_owned()) {
                return Err(Argument(format!("Rule ID must be unique. Found same ID for more than one rule: {id}")));
            }
        }
    }
    let mut rules = Vec::with_capacity(config.rules.len());
    for (n, rule) in config.rules.iter().enumerate() {
        let id = match rule.id.as_deref().filter(|id| !id.is_empty()) {
            Some(id) => id.to_owned(),
            None => {
                let mut generated = format!("rule-{}", n + 1);
                while ids.contains(&generated) {
                    generated.push('_');
                }
                ids.insert(generated.clone());
                generated
            }
        };
        rules.push(accept_rule(rule, id)?);
    }
    Ok(LifecycleConfig { rules })
}

fn accept_rule(rule: &dto::LifecycleRule, id: String) -> Result<LifecycleRule, InvalidLifecycle> {
    let enabled = match rule.status.as_str() {
        dto::ExpirationStatus::ENABLED => true,
        dto::ExpirationStatus::DISABLED => false,
        other => {
            return Err(Malformed(format!("Status must be Enabled or Disabled (case matters), not {other:?}.")));
        }
    };
    if rule.transitions.as_ref().is_some_and(|t| !t.is_empty())
        || rule.noncurrent_version_transitions.as_ref().is_some_and(|t| !t.is_empty())
    {
        return Err(InvalidLifecycle::StorageClass(
            "kura has one storage class (STANDARD): Transition and NoncurrentVersionTransition actions cannot move \
             objects anywhere. Remove them; Expiration, NoncurrentVersionExpiration and \
             AbortIncompleteMultipartUpload are supported."
                .into(),
        ));
    }
    let filter = accept_filter(rule)?;
    let tagged = has_tags(&filter);
    let expiration = rule.expiration.as_ref().map(accept_expiration).transpose()?.flatten();
    if tagged && matches!(expiration, Some(Expiration::ExpiredObjectDeleteMarker(_))) {
        return Err(Request("ExpiredObjectDeleteMarker cannot be specified with Tags.".into()));
    }
    let noncurrent_expiration = rule.noncurrent_version_expiration.as_ref().map(accept_noncurrent).transpose()?;
    let abort_incomplete_upload_days = match &rule.abort_incomplete_multipart_upload {
        None => None,
        Some(abort) => {
            let days =
                positive(abort.days_after_initiation, "'DaysAfterInitiation' for AbortIncompleteMultipartUpload")?;
            if tagged {
                return Err(Request("AbortIncompleteMultipartUpload cannot be specified with Tags.".into()));
            }
            Some(days)
        }
    };
    if expiration.is_none() && noncurrent_expiration.is_none() && abort_incomplete_upload_days.is_none() {
        return Err(Request("At least one action needs to be specified in a rule.".into()));
    }
    Ok(LifecycleRule { id, enabled, filter, expiration, noncurrent_expiration, abort_incomplete_upload_days })
}

fn has_tags(filter: &RuleFilter) -> bool {
    match filter {
        RuleFilter::Filter(FilterPredicate::Tag(..)) => true,
        RuleFilter::Filter(FilterPredicate::And(and)) => !and.tags.is_empty(),
        _ => false,
    }
}

fn positive(value: Option<i32>, what: &str) -> Result<u32, InvalidLifecycle> {
    match value {
        Some(v) if v > 0 => Ok(v.unsigned_abs()),
        _ => Err(Argument(format!("{what} action must be a positive integer."))),
    }
}

fn accept_filter(rule: &dto::LifecycleRule) -> Result<RuleFilter, InvalidLifecycle> {
    match (&rule.filter, &rule.prefix) {
        (Some(_), Some(_)) => {
            Err(Malformed("A rule has either a Filter or the legacy top-level Prefix, not both.".into()))
        }
        (None, None) => Err(Malformed("A rule needs a Filter (an empty <Filter/> selects every object).".into())),
        (None, Some(prefix)) => Ok(RuleFilter::LegacyPrefix(accept_prefix(prefix)?)),
        (Some(filter), None) => {
            let given = usize::from(filter.prefix.is_some())
                + usize::from(filter.tag.is_some())
                + usize::from(filter.object_size_greater_than.is_some())
                + usize::from(filter.object_size_less_than.is_some())
                + usize::from(filter.and.is_some());
            if given > 1 {
                return Err(Malformed(
                    "A Filter holds one of Prefix, Tag, ObjectSizeGreaterThan, ObjectSizeLessThan or And; combine \
                     several with And."
                        .into(),
                ));
            }
            let predicate = if let Some(p) = &filter.prefix {
                FilterPredicate::Prefix(accept_prefix(p)?)
            } else if let Some(tag) = &filter.tag {
                let (k, v) = accept_tag(tag)?;
                FilterPredicate::Tag(k, v)
            } else if let Some(n) = filter.object_size_greater_than {
                FilterPredicate::SizeGreaterThan(size(n, "ObjectSizeGreaterThan", 0)?)
            } else if let Some(n) = filter.object_size_less_than {
                FilterPredicate::SizeLessThan(size(n, "ObjectSizeLessThan", 1)?)
            } else if let Some(and) = &filter.and {
                FilterPredicate::And(accept_and(and)?)
            } else {
                FilterPredicate::All
            };
            Ok(RuleFilter::Filter(predicate))
        }
    }
}

fn accept_and(and: &dto::LifecycleRuleAndOperator) -> Result<AndPredicate, InvalidLifecycle> {
    let tags = and.tags.as_deref().unwrap_or_default();
    if tags.len() > MAX_FILTER_TAGS {
        return Err(Argument(format!("A filter may require at most {MAX_FILTER_TAGS} tags.")));
    }
    let mut accepted: Vec<(String, String)> = Vec::with_capacity(tags.len());
    for tag in tags {
        let (k, v) = accept_tag(tag)?;
        if accepted.iter().any(|(have, _)| *have == k) {
            return Err(Argument(format!("Duplicate Tag Keys are not allowed: {k:?} appears twice in And.")));
        }
        accepted.push((k, v));
    }
    let out = AndPredicate {
        prefix: and.prefix.as_deref().map(accept_prefix).transpose()?,
        tags: accepted,
        size_greater_than: and.object_size_greater_than.map(|n| size(n, "ObjectSizeGreaterThan", 0)).transpose()?,
        size_less_than: and.object_size_less_than.map(|n| size(n, "ObjectSizeLessThan", 1)).transpose()?,
    };
    if out.prefix.is_none() && out.tags.is_empty() && out.size_greater_than.is_none() && out.size_less_than.is_none() {
        return Err(Malformed(
            "And must hold at least one of Prefix, Tag, ObjectSizeGreaterThan, ObjectSizeLessThan.".into(),
        ));
    }
    if let (Some(gt), Some(lt)) = (out.size_greater_than, out.size_less_than)
        && gt >= lt
    {
        return Err(Argument("ObjectSizeGreaterThan must be less than ObjectSizeLessThan.".into()));
    }
    Ok(out)
}

fn accept_prefix(prefix: &str) -> Result<String, InvalidLifecycle> {
    if prefix.len() > MAX_PREFIX_BYTES {
        return Err(Argument(format!("A Prefix may be at most {MAX_PREFIX_BYTES} bytes.")));
    }
    Ok(prefix.to_owned())
}

fn accept_tag(tag: &dto::Tag) -> Result<(String, String), InvalidLifecycle> {
    let key = tag.key.as_deref().unwrap_or_default();
    let value = tag.value.as_deref().unwrap_or_default();
    if key.is_empty() || key.chars().count() > MAX_TAG_KEY_CHARS {
        return Err(Argument(format!("A Tag's Key must be 1 to {MAX_TAG_KEY_CHARS} characters.")));
    }
    if value.chars().count() > MAX_TAG_VALUE_CHARS {
        return Err(Argument(format!("A Tag's Value may be at most {MAX_TAG_VALUE_CHARS} characters.")));
    }
    Ok((key.to_owned(), value.to_owned()))
}

fn size(n: i64, what: &str, least: i64) -> Result<u64, InvalidLifecycle> {
    u64::try_from(n)
        .ok()
        .filter(|_| n >= least)
        .ok_or_else(|| Argument(format!("{what} must be at least {least} (bytes), not {n}.")))
}

/// An `<Expiration>`; `None` for an `ExpiredObjectDeleteMarker` of `false` alone (no action).
fn accept_expiration(e: &dto::LifecycleExpiration) -> Result<Option<Expiration>, InvalidLifecycle> {
    match (e.days, &e.date, e.expired_object_delete_marker) {
        (Some(_), Some(_), _) => Err(Malformed("Expiration holds either Days or Date, not both.".into())),
        (Some(_), None, Some(_)) | (None, Some(_), Some(_)) => Err(Argument(
            "ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy.".into(),
        )),
        (Some(days), None, None) => Ok(Some(Expiration::Days(positive(Some(days), "'Days' for Expiration")?))),
        (None, Some(date), None) => {
            // Midnight in UTC: `2030-01-01T00:00:00+05:00` is 19:00 the day before, not a date.
            let t = time::OffsetDateTime::from(date.clone()).to_offset(time::UtcOffset::UTC);
            if t.time() != time::Time::MIDNIGHT {
                return Err(Argument("'Date' must be at midnight GMT.".into()));
            }
            Ok(Some(Expiration::Date(t.unix_timestamp())))
        }
        (None, None, Some(marker)) => Ok(marker.then_some(Expiration::ExpiredObjectDeleteMarker(true))),
        (None, None, None) => {
            Err(Malformed("Expiration must hold one of Days, Date or ExpiredObjectDeleteMarker.".into()))
        }
    }
}

fn accept_noncurrent(n: &dto::NoncurrentVersionExpiration) -> Result<NoncurrentExpiration, InvalidLifecycle> {
    let noncurrent_days = positive(n.noncurrent_days, "'NoncurrentDays' for NoncurrentVersionExpiration")?;
    let newer_noncurrent_versions = match n.newer_noncurrent_versions {
        None => None,
        Some(v) if (1..=MAX_NEWER_NONCURRENT).contains(&v) => Some(v.unsigned_abs()),
        Some(v) => {
            return Err(Argument(format!(
                "NewerNoncurrentVersions must be from 1 to {MAX_NEWER_NONCURRENT}, not {v}."
            )));
        }
    };
    Ok(NoncurrentExpiration { noncurrent_days, newer_noncurrent_versions })
}

/// The stored rules as GetBucketLifecycleConfiguration answers them (the shape they were sent in).
pub fn to_dto(config: &LifecycleConfig) -> Vec<dto::LifecycleRule> {
    config.rules.iter().map(rule_to_dto).collect()
}

fn tag(k: &str, v: &str) -> dto::Tag {
    dto::Tag { key: Some(k.to_owned()), value: Some(v.to_owned()) }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn days(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn rule_to_dto(rule: &LifecycleRule) -> dto::LifecycleRule {
    let (filter, prefix) = match &rule.filter {
        RuleFilter::LegacyPrefix(p) => (None, Some(p.clone())),
        RuleFilter::Filter(predicate) => {
            let mut f = dto::LifecycleRuleFilter::default();
            match predicate {
                FilterPredicate::All => {}
                FilterPredicate::Prefix(p) => f.prefix = Some(p.clone()),
                FilterPredicate::Tag(k, v) => f.tag = Some(tag(k, v)),
                FilterPredicate::SizeGreaterThan(n) => f.object_size_greater_than = Some(clamp(*n)),
                FilterPredicate::SizeLessThan(n) => f.object_size_less_than = Some(clamp(*n)),
                FilterPredicate::And(and) => {
                    f.and = Some(dto::LifecycleRuleAndOperator {
                        prefix: and.prefix.clone(),
                        tags: (!and.tags.is_empty()).then(|| and.tags.iter().map(|(k, v)| tag(k, v)).collect()),
                        object_size_greater_than: and.size_greater_than.map(clamp),
                        object_size_less_than: and.size_less_than.map(clamp),
                    });
                }
            }
            (Some(f), None)
        }
    };
    let expiration = rule.expiration.map(|e| {
        let mut out = dto::LifecycleExpiration::default();
        match e {
            Expiration::Days(n) => out.days = Some(days(n)),
            Expiration::Date(secs) => {
                out.date = time::OffsetDateTime::from_unix_timestamp(secs).ok().map(dto::Timestamp::from);
            }
            Expiration::ExpiredObjectDeleteMarker(on) => out.expired_object_delete_marker = Some(on),
        }
        out
    });
    dto::LifecycleRule {
        abort_incomplete_multipart_upload: rule
            .abort_incomplete_upload_days
            .map(|n| dto::AbortIncompleteMultipartUpload { days_after_initiation: Some(days(n)) }),
        expiration,
        filter,
        id: Some(rule.id.clone()),
        noncurrent_version_expiration: rule.noncurrent_expiration.map(|n| dto::NoncurrentVersionExpiration {
            noncurrent_days: Some(days(n.noncurrent_days)),
            newer_noncurrent_versions: n.newer_noncurrent_versions.map(days),
        }),
        noncurrent_version_transitions: None,
        prefix,
        status: dto::ExpirationStatus::from_static(if rule.enabled {
            dto::ExpirationStatus::ENABLED
        } else {
            dto::ExpirationStatus::DISABLED
        }),
        transitions: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: Option<&str>) -> dto::LifecycleRule {
        dto::LifecycleRule {
            abort_incomplete_multipart_upload: None,
            expiration: Some(dto::LifecycleExpiration { days: Some(1), ..Default::default() }),
            filter: None,
            id: id.map(str::to_owned),
            noncurrent_version_expiration: None,
            noncurrent_version_transitions: None,
            prefix: Some("p/".into()),
            status: dto::ExpirationStatus::from_static(dto::ExpirationStatus::ENABLED),
            transitions: None,
        }
    }

    fn config(rules: Vec<dto::LifecycleRule>) -> dto::BucketLifecycleConfiguration {
        dto::BucketLifecycleConfiguration { rules }
    }

    fn refused(r: dto::LifecycleRule) -> InvalidLifecycle {
        accept(&config(vec![r])).expect_err("refused")
    }

    #[test]
    fn accepted_rules_round_trip_and_missing_ids_are_generated() {
        let given = config(vec![rule(None), rule(Some("rule-1")), rule(Some(&"x".repeat(MAX_ID_CHARS)))]);
        let accepted = accept(&given).expect("accepted");
        let ids: Vec<&str> = accepted.rules.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids[1..], ["rule-1", "x".repeat(MAX_ID_CHARS).as_str()]);
        assert!(ids[0] != "rule-1" && ids[0].starts_with("rule-1"), "generated ids avoid given ones: {ids:?}");
        let back = to_dto(&accepted);
        assert_eq!(back[1], rule(Some("rule-1")));
        assert_eq!(accept(&config(back)).expect("again"), accepted, "what Get answers, Put accepts unchanged");
    }

    #[test]
    fn limits_and_shapes_are_refused_with_aws_classes() {
        assert!(matches!(refused(rule(Some(&"x".repeat(256)))), Argument(_)));
        let dup = accept(&config(vec![rule(Some("a")), rule(Some("a"))]));
        assert!(matches!(dup, Err(Argument(_))), "{dup:?}");
        let many = accept(&config((0..=MAX_RULES).map(|i| rule(Some(&i.to_string()))).collect()));
        assert!(matches!(many, Err(Malformed(_))), "{many:?}");
        assert!(matches!(accept(&config(vec![])), Err(Malformed(_))));
        let mut bad_status = rule(None);
        bad_status.status = dto::ExpirationStatus::from("enabled".to_owned());
        assert!(matches!(refused(bad_status), Malformed(_)));
        let mut both = rule(None);
        both.filter = Some(dto::LifecycleRuleFilter::default());
        assert!(matches!(refused(both), Malformed(_)));
        let mut neither = rule(None);
        neither.prefix = None;
        assert!(matches!(refused(neither), Malformed(_)));
        let mut no_action = rule(None);
        no_action.expiration = None;
        assert!(matches!(refused(no_action), Request(_)));
        let mut transition = rule(None);
        transition.transitions = Some(vec![dto::Transition::default()]);
        assert!(matches!(refused(transition), InvalidLifecycle::StorageClass(_)));
    }

    #[test]
    fn expirations_are_one_form_with_positive_days_and_midnight_dates() {
        let with = |e: dto::LifecycleExpiration| dto::LifecycleRule { expiration: Some(e), ..rule(None) };
        let e = dto::LifecycleExpiration::default;
        assert!(matches!(refused(with(dto::LifecycleExpiration { days: Some(0), ..e() })), Argument(_)));
        let midnight = dto::Timestamp::from(time::macros::datetime!(2030-01-01 0:00 UTC));
        let not_midnight = dto::Timestamp::from(time::macros::datetime!(2030-01-01 0:00:01 UTC));
        assert!(matches!(refused(with(dto::LifecycleExpiration { date: Some(not_midnight), ..e() })), Argument(_)));
        // Midnight somewhere else is not midnight GMT.
        let offset = dto::Timestamp::from(time::macros::datetime!(2030-01-01 0:00 +5));
        assert!(matches!(refused(with(dto::LifecycleExpiration { date: Some(offset), ..e() })), Argument(_)));
        let both = dto::LifecycleExpiration { days: Some(1), date: Some(midnight.clone()), ..e() };
        assert!(matches!(refused(with(both)), Malformed(_)));
        let marker_and_days =
            dto::LifecycleExpiration { days: Some(1), expired_object_delete_marker: Some(true), ..e() };
        assert!(matches!(refused(with(marker_and_days)), Argument(_)));
        assert!(matches!(refused(with(e())), Malformed(_)));
        let ok = accept(&config(vec![with(dto::LifecycleExpiration { date: Some(midnight), ..e() })])).expect("date");
        assert_eq!(ok.rules[0].expiration, Some(Expiration::Date(1_893_456_000)));
    }

    #[test]
    fn noncurrent_and_abort_actions_are_checked() {
        let nc = |d: Option<i32>, n: Option<i32>| dto::LifecycleRule {
            expiration: None,
            noncurrent_version_expiration: Some(dto::NoncurrentVersionExpiration {
                noncurrent_days: d,
                newer_noncurrent_versions: n,
            }),
            ..rule(None)
        };
        assert!(matches!(refused(nc(Some(0), None)), Argument(_)));
        assert!(matches!(refused(nc(None, None)), Argument(_)));
        assert!(matches!(refused(nc(Some(1), Some(0))), Argument(_)));
        assert!(matches!(refused(nc(Some(1), Some(101))), Argument(_)));
        assert!(accept(&config(vec![nc(Some(1), Some(100))])).is_ok());
        let abort = |days: i32, filter: Option<dto::LifecycleRuleFilter>| dto::LifecycleRule {
            expiration: None,
            abort_incomplete_multipart_upload: Some(dto::AbortIncompleteMultipartUpload {
                days_after_initiation: Some(days),
            }),
            prefix: filter.is_none().then(String::new),
            filter,
            ..rule(None)
        };
        assert!(matches!(refused(abort(0, None)), Argument(_)));
        let tagged = dto::LifecycleRuleFilter {
            tag: Some(dto::Tag { key: Some("a".into()), value: Some("b".into()) }),
            ..Default::default()
        };
        assert!(matches!(refused(abort(1, Some(tagged))), Request(_)));
        assert!(accept(&config(vec![abort(1, None)])).is_ok());
    }

    #[test]
    fn filters_hold_one_predicate_with_sane_values() {
        let with = |f: dto::LifecycleRuleFilter| dto::LifecycleRule { filter: Some(f), prefix: None, ..rule(None) };
        let f = dto::LifecycleRuleFilter::default;
        let two = dto::LifecycleRuleFilter { prefix: Some("a".into()), object_size_less_than: Some(3), ..f() };
        assert!(matches!(refused(with(two)), Malformed(_)));
        assert!(matches!(
            refused(with(dto::LifecycleRuleFilter { object_size_greater_than: Some(-1), ..f() })),
            Argument(_)
        ));
        assert!(matches!(
            refused(with(dto::LifecycleRuleFilter { object_size_less_than: Some(0), ..f() })),
            Argument(_)
        ));
        assert!(matches!(
            refused(with(dto::LifecycleRuleFilter { prefix: Some("p".repeat(1025)), ..f() })),
            Argument(_)
        ));
        let and = |a: dto::LifecycleRuleAndOperator| with(dto::LifecycleRuleFilter { and: Some(a), ..f() });
        let a = dto::LifecycleRuleAndOperator::default;
        assert!(matches!(refused(and(a())), Malformed(_)));
        let inverted =
            dto::LifecycleRuleAndOperator { object_size_greater_than: Some(5), object_size_less_than: Some(5), ..a() };
        assert!(matches!(refused(and(inverted)), Argument(_)));
        let t = |k: &str| dto::Tag { key: Some(k.into()), value: Some("v".into()) };
        let dup = dto::LifecycleRuleAndOperator { tags: Some(vec![t("k"), t("k")]), ..a() };
        assert!(matches!(refused(and(dup)), Argument(_)));
        let eleven = dto::LifecycleRuleAndOperator { tags: Some((0..11).map(|i| t(&i.to_string())).collect()), ..a() };
        assert!(matches!(refused(and(eleven)), Argument(_)));
        let empty_key = dto::LifecycleRuleAndOperator { tags: Some(vec![t("")]), ..a() };
        assert!(matches!(refused(and(empty_key)), Argument(_)));
        let ok = accept(&config(vec![with(f())])).expect("empty filter");
        assert_eq!(ok.rules[0].filter, RuleFilter::Filter(FilterPredicate::All));
    }
}
