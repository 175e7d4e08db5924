//! S3 Block Public Access, "The meaning of public" for bucket policies: which conditions keep a grant to
//! everyone from being public.
//!
//! AWS (Amazon S3 User Guide, "Blocking public access to your Amazon S3 storage" → "The meaning of
//! public" → "Bucket policies"): S3 assumes a policy is public, and a statement is non-public only when it
//! grants access to *fixed values* ("values that don't contain a wildcard or an AWS Identity and Access
//! Management Policy Variable") of a principal or of `aws:SourceIp` (CIDRs, none "broader than /8 for IPv4
//! and /32 for IPv6 (excluding RFC1918 private ranges)"), `aws:SourceArn`, `aws:SourceVpc`,
//! `aws:SourceVpce`, `aws:SourceOwner`, `aws:SourceAccount`, `aws:userid` ("outside the pattern
//! `AROLEID:*`"), `s3:DataAccessPointArn`, `s3:DataAccessPointAccount`.
//!
//! kura reads "fixed" strictly (when in doubt, public), because a condition judged restricting lets a
//! `Principal: "*"` policy past `BlockPublicPolicy` and `RestrictPublicBuckets`:
//! - the operator must pin the key to the values written: `StringEquals`, `StringLike` (no wildcard in
//!   any value), `ArnEquals`/`ArnLike` for ARN-valued keys, `IpAddress` for `aws:SourceIp`, optionally
//!   with `ForAnyValue:` (which, like the plain form, is false when the key is absent). Negated operators,
//!   `…IfExists` and `ForAllValues:` are true when the key is absent, as it is for anonymous callers;
//!   `…IgnoreCase` admits values other than the one written; `Null`, `Numeric*`, `Date*`, `Bool` and
//!   `Binary*` do not compare the value;
//! - a value is fixed when it is non-empty and has no `*`, no `?` and no `${` (even where the operator
//!   reads them literally: AWS's rule is about the characters);
//! - a value that kura's anonymous caller carries for the key ([`Principal::anonymous`]: `aws:userid` is
//!   `anonymous`, compared ignoring case) restricts nothing, whatever its form;
//! - `aws:SourceIp` ranges are judged each (AWS's /8 and /32) **and together**: the addresses they admit,
//!   RFC 1918 ranges aside, must fit in one /8 of IPv4 and one /32 of IPv6, and IPv4-mapped IPv6 ranges
//!   (`::ffff:0:0/96`) count as the IPv4 addresses they admit. Judging each value alone would let
//!   `["0.0.0.0/1", "128.0.0.0/1"]` (or 256 /8s) admit the whole internet.
//!
//! Keys: AWS's list without `s3:x-amz-server-side-encryption-aws-kms-key-id` (older AWS pages list it, but
//! it is a request header: the caller chooses its value), plus the principal and organization keys that
//! AWS's "AWS principal … (e.g. `aws:PrincipalOrgID`)" covers and that anonymous callers never carry.
//! Not implemented: AWS's exception for a wildcard access point name in `s3:DataAccessPointArn` (kura has
//! no access points), so such a value is public.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::condition::{Condition, Family, Qualifier, Values};
use crate::principal::Principal;

/// What a restricting key's values are, which decides the operators that can pin them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    /// Client addresses: only `IpAddress` with CIDRs that are not too broad.
    Cidr,
    /// ARNs: `StringEquals`/`StringLike` or `ArnEquals`/`ArnLike`.
    Arn,
    /// Ids and names: `StringEquals`/`StringLike`.
    Text,
}

/// Condition keys (lower case) whose fixed values make a grant to everyone non-public.
const RESTRICTING_KEYS: &[(&str, KeyKind)] = &[
    ("aws:sourceip", KeyKind::Cidr),
    ("aws:sourcearn", KeyKind::Arn),
    ("aws:sourcevpc", KeyKind::Text),
    ("aws:sourcevpce", KeyKind::Text),
    ("aws:sourceaccount", KeyKind::Text),
    ("aws:sourceowner", KeyKind::Text),
    ("aws:sourceorgid", KeyKind::Text),
    ("aws:sourceorgpaths", KeyKind::Text),
    ("aws:principalaccount", KeyKind::Text),
    ("aws:principalarn", KeyKind::Arn),
    ("aws:principalorgid", KeyKind::Text),
    ("aws:principalorgpaths", KeyKind::Text),
    ("aws:principalservicename", KeyKind::Text),
    ("aws:userid", KeyKind::Text),
    ("s3:dataaccesspointarn", KeyKind::Arn),
    ("s3:dataaccesspointaccount", KeyKind::Text),
];

/// AWS: an IPv4 `aws:SourceIp` range broader than /8 is public.
const MIN_IPV4_PREFIX: u8 = 8;
/// AWS: an IPv6 `aws:SourceIp` range broader than /32 is public.
const MIN_IPV6_PREFIX: u8 = 32;
/// The most public IPv4 addresses one condition may admit: one /8.
const MAX_IPV4_ADDRESSES: u128 = 1 << (32 - MIN_IPV4_PREFIX);
/// The most IPv6 addresses one condition may admit: one /32.
const MAX_IPV6_ADDRESSES: u128 = 1 << (128 - MIN_IPV6_PREFIX);
/// RFC 1918 private ranges (first, last), which AWS leaves out of the breadth.
const RFC1918: [(u128, u128); 3] = [(0x0a00_0000, 0x0aff_ffff), (0xac10_0000, 0xac1f_ffff), (0xc0a8_0000, 0xc0a8_ffff)];
/// IPv4-mapped IPv6 addresses (`::ffff:0:0/96`), first and last.
const IPV4_MAPPED: (u128, u128) = (0xffff_0000_0000, 0xffff_ffff_ffff);

/// True when the condition restricts a grant to everyone to fixed values of a restricting key, so that
/// the public (anonymous callers, anyone anywhere) is not let in by it. See the module documentation.
pub(crate) fn restricts_to_fixed_values(c: &Condition) -> bool {
    if c.op.negated || c.op.if_exists || c.op.qualifier == Qualifier::ForAllValues {
        return false;
    }
    let Some(&(_, kind)) = RESTRICTING_KEYS.iter().find(|(key, _)| *key == c.key_lc) else {
        return false;
    };
    match kind {
        KeyKind::Cidr => match (&c.values, c.op.family) {
            (Values::Ip(nets), Family::Ip) => source_ip_ranges_are_narrow(nets),
            _ => false,
        },
        KeyKind::Arn | KeyKind::Text => {
            let operator_pins = match c.op.family {
                Family::Str { ci, .. } => !ci,
                Family::Arn => kind == KeyKind::Arn,
                _ => false,
            };
            let texts = c.value_texts();
            operator_pins
                && !texts.is_empty()
                && texts.iter().all(|t| is_fixed_value(t))
                && !anonymous_callers_carry(&c.key_lc, &texts)
        }
    }
}

/// AWS's fixed value: no wildcard, no policy variable; and not empty.
fn is_fixed_value(text: &str) -> bool {
    !text.is_empty() && !text.contains(['*', '?']) && !text.contains("${")
}

/// Does kura's anonymous caller carry one of `values` for `key_lc`? (Compared ignoring case, so that no
/// operator variant or spelling slips through.)
fn anonymous_callers_carry(key_lc: &str, values: &[String]) -> bool {
    let anonymous = Principal::anonymous();
    anonymous.key_lc(key_lc).is_some_and(|carried| {
        let carried = carried.to_lowercase();
        values.iter().any(|v| v.to_lowercase() == carried)
    })
}

/// Are the `aws:SourceIp` ranges of one condition narrow enough not to be public? Each range must be at
/// least a /8 (IPv4) or /32 (IPv6), and together they may admit at most one /8 of non-RFC 1918 IPv4
/// addresses (IPv4-mapped IPv6 ranges included) and one /32 of IPv6 addresses.
fn source_ip_ranges_are_narrow(nets: &[IpNet]) -> bool {
    if nets.is_empty() {
        return false;
    }
    let mut ipv4 = Vec::new();
    let mut ipv6 = Vec::new();
    for net in nets {
        let first = address_bits(net.network());
        let last = address_bits(net.broadcast());
        match net {
            IpNet::V4(n) => {
                if n.prefix_len() < MIN_IPV4_PREFIX {
                    return false;
                }
                ipv4.push((first, last));
            }
            IpNet::V6(n) => {
                if n.prefix_len() < MIN_IPV6_PREFIX {
                    return false;
                }
                ipv6.push((first, last));
                let (mapped_first, mapped_last) = (first.max(IPV4_MAPPED.0), last.min(IPV4_MAPPED.1));
                if mapped_first <= mapped_last {
                    ipv4.push((mapped_first - IPV4_MAPPED.0, mapped_last - IPV4_MAPPED.0));
                }
            }
        }
    }
    let ipv4 = merge(ipv4);
    let private: u128 = RFC1918.iter().map(|&block| overlap(&ipv4, block)).sum();
    let public_ipv4 = total(&ipv4).saturating_sub(private);
    public_ipv4 <= MAX_IPV4_ADDRESSES && total(&merge(ipv6)) <= MAX_IPV6_ADDRESSES
}

fn address_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// Sorts inclusive ranges and merges those that overlap or touch.
fn merge(mut ranges: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    ranges.sort_unstable();
    let mut merged: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
    for (first, last) in ranges {
        match merged.last_mut() {
            Some(prev) if prev.1.checked_add(1).is_none_or(|next| first <= next) => prev.1 = prev.1.max(last),
            _ => merged.push((first, last)),
        }
    }
    merged
}

/// How many addresses disjoint inclusive ranges hold (saturating: all of IPv6 is 2^128).
fn total(ranges: &[(u128, u128)]) -> u128 {
    ranges.iter().fold(0u128, |sum, (first, last)| sum.saturating_add((last - first).saturating_add(1)))
}

/// How many addresses of disjoint inclusive `ranges` fall in `block`.
fn overlap(ranges: &[(u128, u128)], block: (u128, u128)) -> u128 {
    ranges
        .iter()
        .filter_map(|&(first, last)| {
            let (from, to) = (first.max(block.0), last.min(block.1));
            (from <= to).then(|| to - from + 1)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Loc;
    use serde_json::json;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| crate::condition::parse_net(s).expect("net")).collect()
    }

    fn restricts(op: &str, key: &str, v: serde_json::Value) -> bool {
        let c = Condition::parse(Loc { statement: None }, op, key, &v, true).expect("condition");
        restricts_to_fixed_values(&c)
    }

    #[test]
    fn ip_breadth() {
        assert!(source_ip_ranges_are_narrow(&nets(&["10.0.0.0/8"])));
        assert!(source_ip_ranges_are_narrow(&nets(&["8.0.0.0/8"])));
        assert!(source_ip_ranges_are_narrow(&nets(&["8.0.0.0/9", "8.128.0.0/9"])), "together exactly one /8");
        assert!(!source_ip_ranges_are_narrow(&nets(&["8.0.0.0/9", "8.128.0.0/9", "9.0.0.0/32"])));
        assert!(source_ip_ranges_are_narrow(&nets(&["8.0.0.0/8", "8.1.0.0/16"])), "overlaps count once");
        assert!(!source_ip_ranges_are_narrow(&nets(&["8.0.0.0/7"])));
        assert!(!source_ip_ranges_are_narrow(&nets(&["10.0.0.0/7"])), "each value: AWS's /8");
        assert!(source_ip_ranges_are_narrow(&nets(&["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "8.0.0.0/8"])));
        assert!(!source_ip_ranges_are_narrow(&nets(&["0.0.0.0/1", "128.0.0.0/1"])));
        assert!(!source_ip_ranges_are_narrow(&[]));
        assert!(source_ip_ranges_are_narrow(&nets(&["2001:db8::/32"])));
        assert!(!source_ip_ranges_are_narrow(&nets(&["2001:db8::/31"])));
        assert!(!source_ip_ranges_are_narrow(&nets(&["2001:db8::/32", "2001:db9::/32"])));
        assert!(!source_ip_ranges_are_narrow(&nets(&["::/0"])));
        assert!(!source_ip_ranges_are_narrow(&nets(&["::ffff:0:0/96"])));
        assert!(source_ip_ranges_are_narrow(&nets(&["::ffff:8.0.0.0/104"])));
        assert!(!source_ip_ranges_are_narrow(&nets(&["::ffff:8.0.0.0/104", "9.0.0.0/8"])));
        assert!(source_ip_ranges_are_narrow(&nets(&["::ffff:10.0.0.0/104", "9.0.0.0/8"])), "mapped RFC 1918");
    }

    #[test]
    fn merging_ranges() {
        assert_eq!(merge(vec![(5, 9), (0, 4), (20, 30), (25, 26)]), vec![(0, 9), (20, 30)]);
        assert_eq!(total(&merge(vec![(0, u128::MAX), (3, 4)])), u128::MAX);
        assert_eq!(overlap(&[(0, 100)], (50, 200)), 51);
    }

    #[test]
    fn operators() {
        let account = json!("111122223333");
        assert!(restricts("StringEquals", "aws:SourceAccount", account.clone()));
        assert!(restricts("stringequals", "AWS:SOURCEACCOUNT", account.clone()));
        assert!(restricts("StringLike", "aws:SourceAccount", account.clone()));
        assert!(restricts("ForAnyValue:StringEquals", "aws:SourceAccount", account.clone()));
        assert!(!restricts("ForAllValues:StringEquals", "aws:SourceAccount", account.clone()));
        assert!(!restricts("StringEqualsIgnoreCase", "aws:SourceAccount", account.clone()));
        assert!(!restricts("StringEqualsIfExists", "aws:SourceAccount", account.clone()));
        assert!(!restricts("StringNotEquals", "aws:SourceAccount", account.clone()));
        assert!(!restricts("ArnEquals", "aws:SourceAccount", account.clone()));
        assert!(!restricts("NumericEquals", "aws:SourceAccount", account.clone()));
        assert!(!restricts("StringEquals", "aws:PrincipalTag/team", json!("a")));
        assert!(restricts("ArnEquals", "aws:SourceArn", json!("arn:aws:sns:us-east-1:111122223333:t")));
        assert!(!restricts("ArnEquals", "aws:SourceArn", json!("arn:aws:sns:us-east-1:111122223333:${aws:username}")));
        assert!(!restricts("StringEquals", "aws:SourceVpc", json!(["vpc-1", "vpc-*"])));
        assert!(!restricts("Null", "aws:SourceVpc", json!("false")));
        assert!(!restricts("StringEquals", "aws:userid", json!("anonymous")));
        assert!(!restricts("StringEquals", "aws:userid", json!("ANONYMOUS")));
        assert!(restricts("StringEquals", "aws:userid", json!("alice")));
        assert!(restricts("IpAddress", "aws:SourceIp", json!("203.0.113.0/24")));
        assert!(!restricts("StringEquals", "aws:SourceIp", json!("203.0.113.7")));
        assert!(!restricts("IpAddress", "aws:SourceVpc", json!("203.0.113.0/24")));
    }
}
