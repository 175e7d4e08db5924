//! The `Condition` element: operators, set qualifiers, `IfExists`, and how each compares values.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;
use time::{Date, OffsetDateTime, PrimitiveDateTime, format_description::well_known};

use crate::env::Env;
use crate::error::{Loc, PolicyError};
use crate::pattern::{Pattern, Syntax};

/// Numeric / date comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds<T: PartialOrd>(self, request: T, policy: T) -> bool {
        match self {
            Cmp::Eq => request == policy,
            Cmp::Lt => request < policy,
            Cmp::Le => request <= policy,
            Cmp::Gt => request > policy,
            Cmp::Ge => request >= policy,
        }
    }
}

/// The family of a condition operator (its positive form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// `StringEquals` (`like` false), `StringLike` (`like` true), `…IgnoreCase` (`ci`).
    Str {
        like: bool,
        ci: bool,
    },
    Num(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    /// `ArnEquals` and `ArnLike` (identical in AWS: per-component wildcard match).
    Arn,
    Null,
}

/// `ForAnyValue:` / `ForAllValues:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Qualifier {
    None,
    ForAnyValue,
    ForAllValues,
}

const OPERATORS: &[(&str, Family, bool)] = &[
    ("StringEquals", Family::Str { like: false, ci: false }, false),
    ("StringNotEquals", Family::Str { like: false, ci: false }, true),
    ("StringEqualsIgnoreCase", Family::Str { like: false, ci: true }, false),
    ("StringNotEqualsIgnoreCase", Family::Str { like: false, ci: true }, true),
    ("StringLike", Family::Str { like: true, ci: false }, false),
    ("StringNotLike", Family::Str { like: true, ci: false }, true),
    ("NumericEquals", Family::Num(Cmp::Eq), false),
    ("NumericNotEquals", Family::Num(Cmp::Eq), true),
    ("NumericLessThan", Family::Num(Cmp::Lt), false),
    ("NumericLessThanEquals", Family::Num(Cmp::Le), false),
    ("NumericGreaterThan", Family::Num(Cmp::Gt), false),
    ("NumericGreaterThanEquals", Family::Num(Cmp::Ge), false),
    ("DateEquals", Family::Date(Cmp::Eq), false),
    ("DateNotEquals", Family::Date(Cmp::Eq), true),
    ("DateLessThan", Family::Date(Cmp::Lt), false),
    ("DateLessThanEquals", Family::Date(Cmp::Le), false),
    ("DateGreaterThan", Family::Date(Cmp::Gt), false),
    ("DateGreaterThanEquals", Family::Date(Cmp::Ge), false),
    ("Bool", Family::Bool, false),
    ("BinaryEquals", Family::Binary, false),
    ("IpAddress", Family::Ip, false),
    ("NotIpAddress", Family::Ip, true),
    ("ArnEquals", Family::Arn, false),
    ("ArnLike", Family::Arn, false),
    ("ArnNotEquals", Family::Arn, true),
    ("ArnNotLike", Family::Arn, true),
    ("Null", Family::Null, false),
];

/// The names of every base condition operator (without qualifier or `IfExists`).
pub const OPERATOR_NAMES: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Null",
];

/// A parsed operator name such as `ForAnyValue:StringNotLikeIfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Operator {
    pub(crate) family: Family,
    pub(crate) negated: bool,
    pub(crate) qualifier: Qualifier,
    pub(crate) if_exists: bool,
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len() && s.is_char_boundary(prefix.len()) && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

fn strip_suffix_ci<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let at = s.len().checked_sub(suffix.len())?;
    (s.is_char_boundary(at) && s[at..].eq_ignore_ascii_case(suffix)).then(|| &s[..at])
}

impl Operator {
    /// Parses an operator name (case-insensitively). `None` if unknown.
    pub(crate) fn parse(name: &str) -> Option<Operator> {
        let (qualifier, rest) = if let Some(r) = strip_prefix_ci(name, "ForAnyValue:") {
            (Qualifier::ForAnyValue, r)
        } else if let Some(r) = strip_prefix_ci(name, "ForAllValues:") {
            (Qualifier::ForAllValues, r)
        } else {
            (Qualifier::None, name)
        };
        let (if_exists, base) = match strip_suffix_ci(rest, "IfExists") {
            Some(b) => (true, b),
            None => (false, rest),
        };
        let &(_, family, negated) = OPERATORS.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(base))?;
        if family == Family::Null && (if_exists || qualifier != Qualifier::None) {
            return None;
        }
        Some(Operator { family, negated, qualifier, if_exists })
    }
}

/// An `ArnLike`/`ArnEquals` value: six component patterns, or (not an ARN, e.g. `*`) one pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ArnPattern {
    Parts(Vec<Pattern>),
    Whole(Pattern),
}

/// The policy values of one entry, compiled for its operator.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Values {
    Str(Vec<Pattern>),
    Arn(Vec<ArnPattern>),
    Num(Vec<f64>),
    /// Unix time in nanoseconds.
    Date(Vec<i128>),
    Bool(Vec<bool>),
    Binary(Vec<Vec<u8>>),
    Ip(Vec<IpNet>),
    /// `true` = "the key must be absent".
    Null(Vec<bool>),
}

/// One condition: an operator, a key and the values it is compared with (`"StringLike": {"s3:prefix":
/// ["home/*"]}` is one entry).
///
/// Semantics (AWS "IAM JSON policy elements: Condition operators" and "Multivalued context keys"):
/// - entries (operator × key) of one block AND; the values listed for one key OR;
/// - a key absent from the request (or with no values): plain positive operators are false; **negated
///   operators** (`StringNotEquals`, `StringNotLike`, `NumericNotEquals`, `DateNotEquals`, `NotIpAddress`,
///   `ArnNotEquals`, `ArnNotLike`, `StringNotEqualsIgnoreCase`) are **true**; `…IfExists` is true;
///   `ForAllValues:` is true; `ForAnyValue:` is false; `Null` tests exactly this;
/// - a negated operator is the negation of its positive form: true when no request value matches any
///   policy value; with `ForAnyValue:`/`ForAllValues:` the negation applies per request value;
/// - a request value that does not parse for the operator (a non-number for `Numeric*`) matches nothing;
/// - policy variables are substituted in `String*` and `Arn*` values (Version 2012-10-17); a value whose
///   variable has no value and no default matches nothing (so a negated operator is true for it).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub(crate) operator_raw: String,
    pub(crate) key_raw: String,
    /// The values as written (a scalar or an array of scalars).
    pub(crate) raw: Value,
    pub(crate) op: Operator,
    pub(crate) key_lc: String,
    pub(crate) values: Values,
}

impl Condition {
    /// The operator as written, e.g. `ForAnyValue:StringLike`.
    pub fn operator(&self) -> &str {
        &self.operator_raw
    }

    /// The condition key as written, e.g. `aws:SourceIp`.
    pub fn key(&self) -> &str {
        &self.key_raw
    }

    /// The policy values as written (a JSON scalar or array).
    pub fn values(&self) -> &Value {
        &self.raw
    }

    /// The policy values as text, in order (numbers and booleans as JSON writes them).
    pub(crate) fn value_texts(&self) -> Vec<String> {
        match &self.raw {
            Value::Array(items) => items.iter().filter_map(scalar_text).collect(),
            scalar => scalar_text(scalar).into_iter().collect(),
        }
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parses a date as AWS accepts it: ISO 8601 (`2020-01-01T00:00:00Z`, with offset or fraction, date only
/// `2020-01-01`, date-time without offset taken as UTC) or epoch seconds. Returns Unix nanoseconds.
pub(crate) fn parse_date(s: &str) -> Option<i128> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'-' || b == b'.') && !s[1..].contains('-') {
        let secs: f64 = s.parse().ok()?;
        return secs.is_finite().then_some((secs * 1e9) as i128);
    }
    if let Ok(t) = OffsetDateTime::parse(s, &well_known::Rfc3339) {
        return Some(t.unix_timestamp_nanos());
    }
    if let Ok(t) = OffsetDateTime::parse(s, &well_known::Iso8601::DEFAULT) {
        return Some(t.unix_timestamp_nanos());
    }
    if let Ok(t) = PrimitiveDateTime::parse(s, &well_known::Iso8601::DEFAULT) {
        return Some(t.assume_utc().unix_timestamp_nanos());
    }
    if let Ok(d) = Date::parse(s, &well_known::Iso8601::DEFAULT) {
        return Some(d.midnight().assume_utc().unix_timestamp_nanos());
    }
    None
}

/// Parses an address or CIDR; a bare address is a /32 (IPv4) or /128 (IPv6).
pub(crate) fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>().ok().or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Standard base64 (with or without padding); `None` if not base64.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in s.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    (bits < 6).then_some(out)
}

impl Condition {
    /// Parses one entry: `operator` → `key` → `value`.
    pub(crate) fn parse(
        loc: Loc<'_>,
        operator: &str,
        key: &str,
        value: &Value,
        variables: bool,
    ) -> Result<Condition, PolicyError> {
        let field = format!("Condition.{operator}");
        let op = Operator::parse(operator).ok_or_else(|| {
            loc.err(
                &field,
                format!(
                    "unknown condition operator \"{operator}\"; use one of {} (optionally with an IfExists suffix \
                     and a ForAnyValue:/ForAllValues: prefix)",
                    OPERATOR_NAMES.join(", ")
                ),
            )
        })?;
        let key_field = format!("{field}.{key}");
        if key.trim().is_empty() {
            return Err(loc.err(&field, "empty condition key"));
        }
        let items: Vec<&Value> = match value {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        let mut texts = Vec::with_capacity(items.len());
        for item in items {
            texts.push(scalar_text(item).ok_or_else(|| {
                loc.err(&key_field, format!("a condition value must be a string, number or boolean, not {item}"))
            })?);
        }
        let bad = |what: &str, t: &str| loc.err(&key_field, format!("\"{t}\" is not {what}"));
        let syntax = |like: bool| Syntax { wildcards: like, variables };
        let values = match op.family {
            Family::Str { like, ci: _ } => Values::Str(
                texts
                    .iter()
                    .map(|t| Pattern::compile(t, syntax(like)).map_err(|m| loc.err(&key_field, m)))
                    .collect::<Result<_, _>>()?,
            ),
            Family::Arn => Values::Arn(
                texts
                    .iter()
                    .map(|t| {
                        let p = Pattern::compile(t, syntax(true)).map_err(|m| loc.err(&key_field, m))?;
                        Ok(match p.split_arn() {
                            Some(parts) => ArnPattern::Parts(parts),
                            None => ArnPattern::Whole(p),
                        })
                    })
                    .collect::<Result<_, PolicyError>>()?,
            ),
            Family::Num(_) => Values::Num(
                texts
                    .iter()
                    .map(|t| t.trim().parse::<f64>().ok().filter(|n| n.is_finite()).ok_or_else(|| bad("a number", t)))
                    .collect::<Result<_, _>>()?,
            ),
            Family::Date(_) => Values::Date(
                texts
                    .iter()
                    .map(|t| parse_date(t).ok_or_else(|| bad("a date (ISO 8601 or epoch seconds)", t)))
                    .collect::<Result<_, _>>()?,
            ),
            Family::Bool => Values::Bool(
                texts.iter().map(|t| parse_bool(t).ok_or_else(|| bad("true or false", t))).collect::<Result<_, _>>()?,
            ),
            Family::Null => Values::Null(
                texts.iter().map(|t| parse_bool(t).ok_or_else(|| bad("true or false", t))).collect::<Result<_, _>>()?,
            ),
            Family::Binary => Values::Binary(
                texts.iter().map(|t| base64_decode(t).ok_or_else(|| bad("base64", t))).collect::<Result<_, _>>()?,
            ),
            Family::Ip => Values::Ip(
                texts
                    .iter()
                    .map(|t| parse_net(t).ok_or_else(|| bad("an IPv4 or IPv6 address or CIDR block", t)))
                    .collect::<Result<_, _>>()?,
            ),
        };
        Ok(Condition {
            operator_raw: operator.to_owned(),
            key_raw: key.to_owned(),
            raw: value.clone(),
            op,
            key_lc: key.to_ascii_lowercase(),
            values,
        })
    }

    /// Does one request value match any policy value (the positive form of the operator)?
    fn matches_one(&self, v: &str, env: &Env<'_>) -> bool {
        let var = |k: &str| env.var(k);
        match (&self.values, self.op.family) {
            (Values::Str(ps), Family::Str { ci: false, .. }) => ps.iter().any(|p| p.matches(v, false, &var)),
            (Values::Str(ps), Family::Str { ci: true, .. }) => ps.iter().any(|p| match p.render(&var) {
                Some(want) => eq_ignore_case(&want, v),
                None => false,
            }),
            (Values::Arn(ps), _) => ps.iter().any(|p| match p {
                ArnPattern::Whole(p) => p.matches(v, false, &var),
                ArnPattern::Parts(parts) => {
                    let mut n = 0;
                    let ok = v.splitn(6, ':').zip(parts).all(|(got, want)| {
                        n += 1;
                        want.matches(got, false, &var)
                    });
                    ok && n == 6
                }
            }),
            (Values::Num(ns), Family::Num(cmp)) => {
                v.trim().parse::<f64>().is_ok_and(|got| ns.iter().any(|want| cmp.holds(got, *want)))
            }
            (Values::Date(ds), Family::Date(cmp)) => {
                parse_date(v).is_some_and(|got| ds.iter().any(|w| cmp.holds(got, *w)))
            }
            (Values::Bool(bs), _) => parse_bool(v).is_some_and(|got| bs.contains(&got)),
            (Values::Binary(bs), _) => {
                let got = base64_decode(v).unwrap_or_else(|| v.as_bytes().to_vec());
                bs.contains(&got)
            }
            (Values::Ip(nets), _) => parse_net(v).is_some_and(|got| {
                nets.iter()
                    .any(|n| n.contains(&got.addr()) && (got.prefix_len() == got.max_prefix_len() || n.contains(&got)))
            }),
            _ => false,
        }
    }

    /// Evaluates the entry against the request.
    pub(crate) fn evaluate(&self, env: &Env<'_>) -> bool {
        let vals = env.values(&self.key_lc);
        if let Values::Null(want_absent) = &self.values {
            let absent = vals.is_none();
            return want_absent.contains(&absent);
        }
        let Some(vals) = vals else {
            return self.op.if_exists
                || match self.op.qualifier {
                    Qualifier::None => self.op.negated,
                    Qualifier::ForAllValues => true,
                    Qualifier::ForAnyValue => false,
                };
        };
        let negated = self.op.negated;
        match self.op.qualifier {
            Qualifier::None => vals.iter().any(|v| self.matches_one(v, env)) != negated,
            Qualifier::ForAnyValue => vals.iter().any(|v| self.matches_one(v, env) != negated),
            Qualifier::ForAllValues => vals.iter().all(|v| self.matches_one(v, env) != negated),
        }
    }
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.chars().flat_map(char::to_lowercase).eq(b.chars().flat_map(char::to_lowercase))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Context, Principal};
    use serde_json::json;

    fn cond(op: &str, key: &str, v: Value) -> Condition {
        Condition::parse(Loc { statement: None }, op, key, &v, true).expect("condition")
    }

    fn eval(c: &Condition, ctx: &Context) -> bool {
        let p = Principal::user("000000000000", "alice");
        c.evaluate(&Env { context: ctx, principal: &p })
    }

    fn ctx(pairs: &[(&str, &str)]) -> Context {
        let mut c = Context::new();
        for (k, v) in pairs {
            c.insert(k, *v);
        }
        c
    }

    #[test]
    fn operator_names() {
        let o = Operator::parse("ForAnyValue:StringNotLikeIfExists").expect("op");
        assert_eq!(o.qualifier, Qualifier::ForAnyValue);
        assert!(o.if_exists && o.negated);
        assert!(Operator::parse("stringequals").is_some());
        assert!(Operator::parse("StringEqualz").is_none());
        assert!(Operator::parse("NullIfExists").is_none());
        for n in OPERATOR_NAMES {
            assert!(Operator::parse(n).is_some(), "{n}");
            assert!(Operator::parse(&format!("{n}IfExists")).is_some() || *n == "Null");
        }
    }

    #[test]
    fn strings() {
        let c = cond("StringEquals", "aws:username", json!(["alice", "bob"]));
        assert!(eval(&c, &ctx(&[("aws:username", "bob")])));
        assert!(!eval(&c, &ctx(&[("aws:username", "Bob")])));
        let c = cond("StringEqualsIgnoreCase", "aws:username", json!("BOB"));
        assert!(eval(&c, &ctx(&[("aws:username", "bob")])));
        let c = cond("StringNotEquals", "k", json!("x"));
        assert!(eval(&c, &ctx(&[])), "negated operator with a missing key is true");
        assert!(!eval(&c, &ctx(&[("k", "x")])));
        let c = cond("StringLike", "k", json!("a*"));
        assert!(!eval(&c, &ctx(&[])));
        let c = cond("StringEquals", "k", json!("a*"));
        assert!(!eval(&c, &ctx(&[("k", "ab")])), "StringEquals has no wildcards");
        let c = cond("StringLikeIfExists", "k", json!("a*"));
        assert!(eval(&c, &ctx(&[])));
        assert!(!eval(&c, &ctx(&[("k", "b")])));
        let c = cond("StringEquals", "s3:prefix", json!("home/${aws:username}/"));
        assert!(eval(&c, &ctx(&[("s3:prefix", "home/alice/")])));
    }

    #[test]
    fn numbers_dates_bools() {
        let c = cond("NumericLessThanEquals", "s3:max-keys", json!(10));
        assert!(eval(&c, &ctx(&[("s3:max-keys", "10")])));
        assert!(!eval(&c, &ctx(&[("s3:max-keys", "11")])));
        assert!(!eval(&c, &ctx(&[("s3:max-keys", "ten")])));
        let c = cond("DateGreaterThan", "aws:CurrentTime", json!("2020-01-01T00:00:00Z"));
        assert!(eval(&c, &ctx(&[("aws:CurrentTime", "2020-06-01T00:00:00Z")])));
        assert!(!eval(&c, &ctx(&[("aws:CurrentTime", "2019-06-01T00:00:00Z")])));
        assert!(eval(&c, &ctx(&[("aws:CurrentTime", "1600000000")])));
        let c = cond("DateLessThan", "aws:EpochTime", json!(1_600_000_000));
        assert!(eval(&c, &ctx(&[("aws:EpochTime", "2019-01-01")])));
        let c = cond("Bool", "aws:SecureTransport", json!(false));
        assert!(eval(&c, &ctx(&[("aws:SecureTransport", "false")])));
        assert!(!eval(&c, &ctx(&[("aws:SecureTransport", "true")])));
        assert!(!eval(&c, &ctx(&[])));
        assert!(Condition::parse(Loc { statement: None }, "Bool", "k", &json!("yes"), true).is_err());
        assert!(Condition::parse(Loc { statement: None }, "NumericEquals", "k", &json!("x"), true).is_err());
        assert!(Condition::parse(Loc { statement: None }, "DateEquals", "k", &json!("soon"), true).is_err());
    }

    #[test]
    fn ips() {
        let c = cond("IpAddress", "aws:SourceIp", json!(["192.0.2.0/24", "2001:db8::/32", "203.0.113.7"]));
        assert!(eval(&c, &ctx(&[("aws:SourceIp", "192.0.2.10")])));
        assert!(eval(&c, &ctx(&[("aws:SourceIp", "2001:db8:1::1")])));
        assert!(eval(&c, &ctx(&[("aws:SourceIp", "203.0.113.7")])));
        assert!(!eval(&c, &ctx(&[("aws:SourceIp", "203.0.113.8")])));
        let c = cond("NotIpAddress", "aws:SourceIp", json!("192.0.2.0/24"));
        assert!(eval(&c, &ctx(&[("aws:SourceIp", "10.0.0.1")])));
        assert!(!eval(&c, &ctx(&[("aws:SourceIp", "192.0.2.1")])));
        assert!(
            Condition::parse(Loc { statement: None }, "IpAddress", "aws:SourceIp", &json!("300.0.0.0/8"), true)
                .is_err()
        );
    }

    #[test]
    fn arns_binary_null() {
        let c = cond("ArnLike", "aws:SourceArn", json!("arn:aws:iam::*:role/ci-*"));
        assert!(eval(&c, &ctx(&[("aws:SourceArn", "arn:aws:iam::000000000000:role/ci-x")])));
        assert!(!eval(&c, &ctx(&[("aws:SourceArn", "arn:aws:iam::000000000000:user/ci-x")])));
        // The wildcard of one ARN component does not cross ':'.
        let c = cond("ArnLike", "aws:SourceArn", json!("arn:aws:s3:::b*"));
        assert!(!eval(&c, &ctx(&[("aws:SourceArn", "arn:aws:s3:x::b")])));
        let c = cond("ArnNotEquals", "aws:PrincipalArn", json!("arn:aws:iam::000000000000:user/alice"));
        assert!(!eval(&c, &ctx(&[])), "falls back to the principal's ARN");
        let c = cond("BinaryEquals", "k", json!("aGVsbG8="));
        assert!(eval(&c, &ctx(&[("k", "aGVsbG8=")])));
        assert!(eval(&c, &ctx(&[("k", "hello")])));
        let c = cond("Null", "aws:TokenIssueTime", json!("true"));
        assert!(eval(&c, &ctx(&[])));
        assert!(!eval(&c, &ctx(&[("aws:TokenIssueTime", "x")])));
        assert_eq!(base64_decode("aGk"), Some(b"hi".to_vec()));
        assert_eq!(base64_decode("a"), None);
    }

    #[test]
    fn set_qualifiers() {
        let mut c2 = Context::new();
        c2.insert_many("aws:TagKeys", ["env", "team"]);
        let all = cond("ForAllValues:StringEquals", "aws:TagKeys", json!(["env", "team", "cost"]));
        assert!(eval(&all, &c2));
        assert!(eval(&all, &Context::new()), "ForAllValues with no values is true");
        let all2 = cond("ForAllValues:StringEquals", "aws:TagKeys", json!(["env"]));
        assert!(!eval(&all2, &c2));
        let any = cond("ForAnyValue:StringEquals", "aws:TagKeys", json!(["team"]));
        assert!(eval(&any, &c2));
        assert!(!eval(&any, &Context::new()), "ForAnyValue with no values is false");
        let any_not = cond("ForAnyValue:StringNotEquals", "aws:TagKeys", json!(["env"]));
        assert!(eval(&any_not, &c2));
        let all_not = cond("ForAllValues:StringNotEquals", "aws:TagKeys", json!(["env"]));
        assert!(!eval(&all_not, &c2));
    }

    proptest::proptest! {
        #[test]
        fn ipv4_cidr(net in proptest::num::u32::ANY, prefix in 0u8..=32, addr in proptest::num::u32::ANY) {
            let cidr = format!("{}/{}", std::net::Ipv4Addr::from(net), prefix);
            let c = cond("IpAddress", "aws:SourceIp", json!(cidr));
            let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
            let expect = (addr & mask) == (net & mask);
            let ip = std::net::Ipv4Addr::from(addr).to_string();
            proptest::prop_assert_eq!(eval(&c, &ctx(&[("aws:SourceIp", ip.as_str())])), expect);
            let not = cond("NotIpAddress", "aws:SourceIp", json!(cidr));
            proptest::prop_assert_eq!(eval(&not, &ctx(&[("aws:SourceIp", ip.as_str())])), !expect);
        }

        #[test]
        fn ipv6_cidr(net in proptest::num::u128::ANY, prefix in 0u8..=128, addr in proptest::num::u128::ANY) {
            let cidr = format!("{}/{}", std::net::Ipv6Addr::from(net), prefix);
            let c = cond("IpAddress", "aws:SourceIp", json!(cidr));
            let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
            let expect = (addr & mask) == (net & mask);
            let ip = std::net::Ipv6Addr::from(addr).to_string();
            proptest::prop_assert_eq!(eval(&c, &ctx(&[("aws:SourceIp", ip.as_str())])), expect);
        }

        #[test]
        fn single_address_is_a_host_route(a in proptest::num::u32::ANY, b in proptest::num::u32::ANY) {
            let ip_a = std::net::Ipv4Addr::from(a).to_string();
            let ip_b = std::net::Ipv4Addr::from(b).to_string();
            let c = cond("IpAddress", "aws:SourceIp", json!(ip_a));
            proptest::prop_assert_eq!(eval(&c, &ctx(&[("aws:SourceIp", ip_b.as_str())])), a == b);
        }
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(parse_date("1970-01-02"), Some(86_400_000_000_000));
        assert_eq!(parse_date("1970-01-01T00:00:02"), Some(2_000_000_000));
        assert_eq!(parse_date("3"), Some(3_000_000_000));
        assert_eq!(parse_date("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_date("nope"), None);
    }
}
