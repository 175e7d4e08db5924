//! Lifecycle rule evaluation, pure: given a bucket's rules, one object version (or one incomplete
//! upload) and the time, which action is due. No I/O, so every case AWS documents is a unit test.
//!
//! Time is counted in *lifecycle days* of [`DayLength`] seconds (86400 unless a test shortens it).
//! AWS's rounding rule: an action `Days` after a moment is due at the first day boundary ("midnight
//! UTC") at or after that moment plus `Days` days.

use kura_store::Tags;
use kura_store::lifecycle::{AndPredicate, Expiration, FilterPredicate, LifecycleRule, RuleFilter};

/// The length of a lifecycle day in seconds (86400; shorter only for tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayLength(pub u64);

impl DayLength {
    /// A real day.
    pub const REAL: Self = Self(86_400);

    fn ms(self) -> i64 {
        i64::try_from(self.0.max(1)).unwrap_or(i64::MAX / 1000).saturating_mul(1000)
    }

    /// The first day boundary (a multiple of the day length since the epoch, i.e. midnight UTC for a
    /// real day) at or after `from_ms` plus `days` days.
    pub fn due_ms(self, from_ms: i64, days: u32) -> i64 {
        let day = self.ms();
        let at = from_ms.saturating_add(day.saturating_mul(i64::from(days)));
        at.div_euclid(day).saturating_add(i64::from(at.rem_euclid(day) != 0)).saturating_mul(day)
    }
}

/// What the worker knows of one object version.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The key.
    pub key: &'a str,
    /// The size in bytes.
    pub size: u64,
    /// Its tags.
    pub tags: &'a Tags,
    /// Last-Modified, ms since the epoch.
    pub last_modified_ms: i64,
    /// Which version of its key it is.
    pub version: Version,
}

/// The place of a version among its key's versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The current version (every object of an unversioned bucket).
    Current,
    /// A noncurrent version (versioned buckets).
    Noncurrent {
        /// When it became noncurrent (the Last-Modified of the version that replaced it), ms.
        since_ms: i64,
        /// How many noncurrent versions of the same key are newer than it.
        newer_noncurrent: u32,
    },
    /// A delete marker that is the only version of its key left (an "expired object delete marker").
    ExpiredDeleteMarker,
}

/// What lifecycle does to a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Expire the current version (unversioned: delete it).
    ExpireCurrent,
    /// Delete a noncurrent version permanently.
    ExpireNoncurrent,
    /// Remove an expired object delete marker.
    RemoveDeleteMarker,
}

/// An action that is due, and the rule that asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due<'r> {
    /// The rule's id.
    pub rule: &'r str,
    /// The action.
    pub action: Action,
}

/// The action due on `candidate` at `now_ms` under the Enabled rules of `rules` (the first rule in
/// order that asks for one), or `None`.
pub fn object_action<'r>(
    rules: &'r [LifecycleRule],
    candidate: &Candidate<'_>,
    now_ms: i64,
    day: DayLength,
) -> Option<Due<'r>> {
    rules.iter().filter(|r| r.enabled && matches_object(&r.filter, candidate)).find_map(|rule| {
        let action = rule_action(rule, candidate, now_ms, day)?;
        Some(Due { rule: &rule.id, action })
    })
}

fn rule_action(rule: &LifecycleRule, c: &Candidate<'_>, now_ms: i64, day: DayLength) -> Option<Action> {
    match c.version {
        Version::Current => match rule.expiration? {
            Expiration::Days(days) => (day.due_ms(c.last_modified_ms, days) <= now_ms).then_some(Action::ExpireCurrent),
            Expiration::Date(secs) => (secs.saturating_mul(1000) <= now_ms).then_some(Action::ExpireCurrent),
            Expiration::ExpiredObjectDeleteMarker(_) => None,
        },
        Version::Noncurrent { since_ms, newer_noncurrent } => {
            let rule = rule.noncurrent_expiration?;
            let old_enough = day.due_ms(since_ms, rule.noncurrent_days) <= now_ms;
            let beyond_kept = rule.newer_noncurrent_versions.is_none_or(|keep| newer_noncurrent >= keep);
            (old_enough && beyond_kept).then_some(Action::ExpireNoncurrent)
        }
        Version::ExpiredDeleteMarker => match rule.expiration? {
            Expiration::ExpiredObjectDeleteMarker(on) => on.then_some(Action::RemoveDeleteMarker),
            // A rule that expires current versions after Days also removes the markers it leaves.
            Expiration::Days(days) => {
                (day.due_ms(c.last_modified_ms, days) <= now_ms).then_some(Action::RemoveDeleteMarker)
            }
            Expiration::Date(_) => None,
        },
    }
}

/// When the current version `candidate` expires under the Enabled rules (the earliest Expiration
/// `Days` or `Date` of the rules that match it, ms since the epoch) and the rule that says so: what
/// S3 reports in `x-amz-expiration` on PUT, HEAD and GET.
pub fn expiry_of<'r>(rules: &'r [LifecycleRule], candidate: &Candidate<'_>, day: DayLength) -> Option<(i64, &'r str)> {
    rules
        .iter()
        .filter(|r| r.enabled && matches_object(&r.filter, candidate))
        .filter_map(|rule| {
            let at = match rule.expiration? {
                Expiration::Days(days) => day.due_ms(candidate.last_modified_ms, days),
                Expiration::Date(secs) => secs.saturating_mul(1000),
                Expiration::ExpiredObjectDeleteMarker(_) => return None,
            };
            Some((at, rule.id.as_str()))
        })
        .min_by_key(|(at, _)| *at)
}

/// The id of the first Enabled rule whose AbortIncompleteMultipartUpload is due for an upload of
/// `key` initiated at `initiated_ms`. Only the prefix of a filter applies to uploads (a rule with a
/// tag filter cannot abort uploads: refused when it is put; an upload has no size yet, so size
/// predicates do not exclude it).
pub fn upload_action<'r>(
    rules: &'r [LifecycleRule],
    key: &str,
    initiated_ms: i64,
    now_ms: i64,
    day: DayLength,
) -> Option<&'r str> {
    rules
        .iter()
        .filter(|r| r.enabled && key.starts_with(prefix_of(&r.filter)))
        .find(|r| r.abort_incomplete_upload_days.is_some_and(|days| day.due_ms(initiated_ms, days) <= now_ms))
        .map(|r| r.id.as_str())
}

/// The key prefix a filter requires ("" when none): the worker lists only under it.
pub fn prefix_of(filter: &RuleFilter) -> &str {
    match filter {
        RuleFilter::LegacyPrefix(p) | RuleFilter::Filter(FilterPredicate::Prefix(p)) => p,
        RuleFilter::Filter(FilterPredicate::And(AndPredicate { prefix: Some(p), .. })) => p,
        RuleFilter::Filter(_) => "",
    }
}

/// Whether an object version passes a rule's filter.
pub fn matches_object(filter: &RuleFilter, c: &Candidate<'_>) -> bool {
    let has_tag = |k: &String, v: &String| c.tags.get(k) == Some(v);
    match filter {
        RuleFilter::LegacyPrefix(p) => c.key.starts_with(p.as_str()),
        RuleFilter::Filter(predicate) => match predicate {
            FilterPredicate::All => true,
            FilterPredicate::Prefix(p) => c.key.starts_with(p.as_str()),
            FilterPredicate::Tag(k, v) => has_tag(k, v),
            FilterPredicate::SizeGreaterThan(n) => c.size > *n,
            FilterPredicate::SizeLessThan(n) => c.size < *n,
            FilterPredicate::And(and) => {
                and.prefix.as_deref().is_none_or(|p| c.key.starts_with(p))
                    && and.tags.iter().all(|(k, v)| has_tag(k, v))
                    && and.size_greater_than.is_none_or(|n| c.size > n)
                    && and.size_less_than.is_none_or(|n| c.size < n)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kura_store::lifecycle::NoncurrentExpiration;

    const DAY_MS: i64 = 86_400_000;
    /// 2024-01-15T10:30:00Z.
    const JAN_15_1030: i64 = 1_705_314_600_000;
    /// 2024-01-19T00:00:00Z.
    const JAN_19: i64 = 1_705_622_400_000;

    fn rule(id: &str, filter: RuleFilter) -> LifecycleRule {
        LifecycleRule {
            id: id.into(),
            enabled: true,
            filter,
            expiration: Some(Expiration::Days(3)),
            noncurrent_expiration: None,
            abort_incomplete_upload_days: None,
        }
    }

    fn current<'a>(key: &'a str, size: u64, tags: &'a Tags, last_modified_ms: i64) -> Candidate<'a> {
        Candidate { key, size, tags, last_modified_ms, version: Version::Current }
    }

    #[test]
    fn days_round_up_to_the_next_midnight_utc() {
        let rules = [rule("r", RuleFilter::Filter(FilterPredicate::All))];
        let tags = Tags::new();
        let c = current("k", 1, &tags, JAN_15_1030);
        // Jan 15 10:30 + 3 days = Jan 18 10:30, rounded up to Jan 19 00:00 (AWS's example).
        assert_eq!(DayLength::REAL.due_ms(JAN_15_1030, 3), JAN_19);
        assert_eq!(object_action(&rules, &c, JAN_19 - 1, DayLength::REAL), None);
        let due = object_action(&rules, &c, JAN_19, DayLength::REAL);
        assert_eq!(due, Some(Due { rule: "r", action: Action::ExpireCurrent }));
        // A moment that is already a midnight stays.
        assert_eq!(DayLength::REAL.due_ms(JAN_19, 1), JAN_19 + DAY_MS);
        // A shortened day rounds to its own boundaries.
        assert_eq!(DayLength(10).due_ms(12_000, 1), 30_000);
        assert_eq!(DayLength(10).due_ms(20_000, 1), 30_000);
    }

    #[test]
    fn a_date_expires_from_that_midnight() {
        let mut r = rule("d", RuleFilter::LegacyPrefix(String::new()));
        r.expiration = Some(Expiration::Date(JAN_19 / 1000));
        let tags = Tags::new();
        let c = current("k", 1, &tags, JAN_19 + 5 * DAY_MS);
        // Even an object written after the date expires once the date has passed.
        assert_eq!(object_action(std::slice::from_ref(&r), &c, JAN_19 - 1, DayLength::REAL), None);
        assert!(object_action(std::slice::from_ref(&r), &c, JAN_19, DayLength::REAL).is_some());
    }

    #[test]
    fn the_expiry_reported_is_the_earliest_matching_rule() {
        let late = rule("late", RuleFilter::Filter(FilterPredicate::All));
        let mut early = rule("early", RuleFilter::Filter(FilterPredicate::Prefix("logs/".into())));
        early.expiration = Some(Expiration::Days(1));
        let mut off = rule("off", RuleFilter::Filter(FilterPredicate::All));
        off.enabled = false;
        off.expiration = Some(Expiration::Days(0));
        let mut marker = rule("marker", RuleFilter::Filter(FilterPredicate::All));
        marker.expiration = Some(Expiration::ExpiredObjectDeleteMarker(true));
        let rules = [late, early, off, marker];
        let tags = Tags::new();
        let logs = current("logs/a", 1, &tags, JAN_15_1030);
        // Jan 15 10:30 + 1 day, rounded up to Jan 17 00:00.
        assert_eq!(expiry_of(&rules, &logs, DayLength::REAL), Some((JAN_19 - 2 * DAY_MS, "early")));
        let other = current("data/a", 1, &tags, JAN_15_1030);
        assert_eq!(expiry_of(&rules, &other, DayLength::REAL), Some((JAN_19, "late")));
        assert_eq!(
            expiry_of(&rules[2..], &other, DayLength::REAL),
            None,
            "disabled and marker-only rules report nothing"
        );
    }

    #[test]
    fn disabled_rules_and_rules_without_a_current_action_do_nothing() {
        let mut off = rule("off", RuleFilter::Filter(FilterPredicate::All));
        off.enabled = false;
        let mut marker = rule("m", RuleFilter::Filter(FilterPredicate::All));
        marker.expiration = Some(Expiration::ExpiredObjectDeleteMarker(true));
        let tags = Tags::new();
        let c = current("k", 1, &tags, 0);
        assert_eq!(object_action(&[off, marker], &c, i64::MAX, DayLength::REAL), None);
    }

    #[test]
    fn filters_select_by_prefix_tags_and_size() {
        let mut tags = Tags::new();
        tags.insert("class".into(), "tmp".into());
        tags.insert("team".into(), "a".into());
        let none = Tags::new();
        let f = |p: FilterPredicate| RuleFilter::Filter(p);
        let tag = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let obj = current("logs/a", 100, &tags, 0);
        assert!(matches_object(&RuleFilter::LegacyPrefix("logs/".into()), &obj));
        assert!(!matches_object(&RuleFilter::LegacyPrefix("data/".into()), &obj));
        assert!(matches_object(&f(FilterPredicate::Prefix("logs/".into())), &obj));
        assert!(matches_object(&f(FilterPredicate::Tag("class".into(), "tmp".into())), &obj));
        assert!(!matches_object(&f(FilterPredicate::Tag("class".into(), "keep".into())), &obj));
        assert!(!matches_object(
            &f(FilterPredicate::Tag("class".into(), "tmp".into())),
            &current("logs/a", 100, &none, 0)
        ));
        assert!(matches_object(&f(FilterPredicate::SizeGreaterThan(99)), &obj));
        assert!(!matches_object(&f(FilterPredicate::SizeGreaterThan(100)), &obj), "strictly greater");
        assert!(matches_object(&f(FilterPredicate::SizeLessThan(101)), &obj));
        assert!(!matches_object(&f(FilterPredicate::SizeLessThan(100)), &obj), "strictly less");
        let and = |a: AndPredicate| f(FilterPredicate::And(a));
        let all = AndPredicate {
            prefix: Some("logs/".into()),
            tags: vec![tag("class", "tmp"), tag("team", "a")],
            size_greater_than: Some(10),
            size_less_than: Some(1000),
        };
        assert!(matches_object(&and(all.clone()), &obj));
        assert!(!matches_object(&and(AndPredicate { tags: vec![tag("team", "b")], ..all.clone() }), &obj));
        assert!(!matches_object(&and(AndPredicate { prefix: Some("x".into()), ..all.clone() }), &obj));
        assert!(!matches_object(&and(AndPredicate { size_less_than: Some(100), ..all }), &obj));
        assert_eq!(prefix_of(&and(AndPredicate { prefix: Some("p/".into()), ..Default::default() })), "p/");
        assert_eq!(prefix_of(&f(FilterPredicate::Tag("a".into(), "b".into()))), "");
    }

    #[test]
    fn the_first_matching_rule_with_a_due_action_decides() {
        let mut late = rule("late", RuleFilter::LegacyPrefix("a".into()));
        late.expiration = Some(Expiration::Days(30));
        let early = rule("early", RuleFilter::LegacyPrefix("a".into()));
        let tags = Tags::new();
        let c = current("abc", 1, &tags, 0);
        let rules = [late, early];
        let due = object_action(&rules, &c, 10 * DAY_MS, DayLength::REAL);
        assert_eq!(due.map(|d| d.rule), Some("early"));
    }

    #[test]
    fn noncurrent_versions_expire_after_noncurrent_days_beyond_the_kept_ones() {
        let mut r = rule("nc", RuleFilter::Filter(FilterPredicate::All));
        r.expiration = None;
        r.noncurrent_expiration = Some(NoncurrentExpiration { noncurrent_days: 2, newer_noncurrent_versions: Some(2) });
        let rules = [r];
        let tags = Tags::new();
        let version = |newer_noncurrent| Candidate {
            key: "k",
            size: 1,
            tags: &tags,
            last_modified_ms: 0,
            version: Version::Noncurrent { since_ms: JAN_15_1030, newer_noncurrent },
        };
        let due = DayLength::REAL.due_ms(JAN_15_1030, 2);
        assert_eq!(object_action(&rules, &version(2), due - 1, DayLength::REAL), None, "not old enough");
        assert_eq!(object_action(&rules, &version(1), due, DayLength::REAL), None, "one of the two kept");
        let got = object_action(&rules, &version(2), due, DayLength::REAL);
        assert_eq!(got, Some(Due { rule: "nc", action: Action::ExpireNoncurrent }));
        // The current version is not touched by a noncurrent rule.
        assert_eq!(object_action(&rules, &current("k", 1, &tags, 0), i64::MAX, DayLength::REAL), None);
    }

    #[test]
    fn expired_delete_markers_go_with_the_flag_or_after_days() {
        let tags = Tags::new();
        let marker =
            Candidate { key: "k", size: 0, tags: &tags, last_modified_ms: 0, version: Version::ExpiredDeleteMarker };
        let mut flag = rule("flag", RuleFilter::Filter(FilterPredicate::All));
        flag.expiration = Some(Expiration::ExpiredObjectDeleteMarker(true));
        let got = object_action(std::slice::from_ref(&flag), &marker, 0, DayLength::REAL);
        assert_eq!(got, Some(Due { rule: "flag", action: Action::RemoveDeleteMarker }));
        flag.expiration = Some(Expiration::ExpiredObjectDeleteMarker(false));
        assert_eq!(object_action(std::slice::from_ref(&flag), &marker, i64::MAX, DayLength::REAL), None);
        let days = rule("days", RuleFilter::Filter(FilterPredicate::All));
        assert_eq!(object_action(std::slice::from_ref(&days), &marker, 3 * DAY_MS - 1, DayLength::REAL), None);
        assert!(object_action(std::slice::from_ref(&days), &marker, 3 * DAY_MS, DayLength::REAL).is_some());
    }

    #[test]
    fn uploads_are_aborted_days_after_initiation_under_the_prefix() {
        let mut r = rule("mpu", RuleFilter::LegacyPrefix("tmp/".into()));
        r.expiration = None;
        r.abort_incomplete_upload_days = Some(2);
        let mut off = r.clone();
        off.id = "off".into();
        off.enabled = false;
        off.filter = RuleFilter::LegacyPrefix(String::new());
        let rules = [off, r];
        let due = DayLength::REAL.due_ms(JAN_15_1030, 2);
        assert_eq!(upload_action(&rules, "tmp/a", JAN_15_1030, due - 1, DayLength::REAL), None);
        assert_eq!(upload_action(&rules, "tmp/a", JAN_15_1030, due, DayLength::REAL), Some("mpu"));
        assert_eq!(upload_action(&rules, "keep/a", JAN_15_1030, i64::MAX, DayLength::REAL), None);
    }
}
