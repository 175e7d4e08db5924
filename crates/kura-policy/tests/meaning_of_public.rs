//! S3 Block Public Access, "The meaning of public" (bucket policies): which grants [`Policy::is_public`]
//! calls public. Security issue 12, item 5: conditions that look like restrictions but let anonymous
//! callers in (a fixed value that anonymous callers carry, IP ranges that cover the internet, operators
//! that do not pin a value) must not make a wildcard grant non-public.
//!
//! Every policy called non-public here is also evaluated for anonymous callers from a few addresses, which
//! must all be refused: "non-public" has to mean that the grant does not reach the public.

use kura_policy::{Context, NamedPolicy, Policy, PolicySet, Principal, Request, evaluate};

/// A bucket policy with one statement granting `s3:GetObject` to `principal` under `condition` (JSON
/// object text, or empty for none).
fn grant(principal: &str, condition: &str) -> String {
    let condition = if condition.is_empty() { String::new() } else { format!(r#","Condition":{condition}"#) };
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{principal},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"{condition}}}]}}"#
    )
}

/// A wildcard-principal grant under `condition`.
fn everyone(condition: &str) -> String {
    grant(r#""*""#, condition)
}

fn is_public(json: &str) -> bool {
    Policy::parse(json).unwrap_or_else(|e| panic!("{json}: {e}")).is_public()
}

/// The context of an unsigned request from `ip`, as kura-server builds it.
fn anonymous_context(ip: &str) -> Context {
    let mut cx = Context::new();
    cx.insert("aws:SourceIp", ip);
    cx.insert("aws:SecureTransport", "true");
    cx.insert("aws:PrincipalType", "Anonymous");
    cx.insert("aws:userid", "anonymous");
    cx
}

/// Does the policy let an anonymous caller from `ip` read `b/k`?
fn anonymous_may_read(json: &str, ip: &str) -> bool {
    let policy = Policy::parse(json).unwrap_or_else(|e| panic!("{json}: {e}"));
    let set =
        PolicySet { resource: Some(NamedPolicy { name: "bucket policy", policy: &policy }), ..Default::default() };
    let anonymous = Principal::anonymous();
    let context = anonymous_context(ip);
    let request =
        Request { principal: &anonymous, action: "s3:GetObject", resource: "arn:aws:s3:::b/k", context: &context };
    evaluate(&set, &request).is_allowed()
}

/// Addresses outside every range the non-public cases below allow.
const PROBES: &[&str] = &["192.0.2.1", "100.64.0.1", "2600::1", "::ffff:192.0.2.1"];

fn assert_public(json: &str) {
    assert!(is_public(json), "must be public: {json}");
}

fn assert_non_public(json: &str) {
    assert!(!is_public(json), "must be non-public: {json}");
    for ip in PROBES {
        assert!(!anonymous_may_read(json, ip), "judged non-public, yet an anonymous caller from {ip} reads: {json}");
    }
}

#[test]
fn a_fixed_value_anonymous_callers_carry_restricts_nothing() {
    let userid_anonymous = everyone(r#"{"StringEquals":{"aws:userid":"anonymous"}}"#);
    assert!(anonymous_may_read(&userid_anonymous, "192.0.2.1"), "the bypass: anonymous callers carry it");
    assert_public(&userid_anonymous);
    assert_public(&everyone(r#"{"StringEquals":{"aws:userid":["alice","anonymous"]}}"#));
    assert_public(&everyone(r#"{"StringEqualsIgnoreCase":{"aws:userid":"ANONYMOUS"}}"#));
    assert_public(&everyone(r#"{"StringLike":{"aws:userid":"anonymous"}}"#));
    assert_public(&everyone(r#"{"ForAnyValue:StringEquals":{"aws:userid":"anonymous"}}"#));
    assert_public(&everyone(r#"{"StringEquals":{"aws:userid":"Anonymous"}}"#));
    // With {"AWS":"*"} and NotPrincipal as well.
    assert_public(&grant(r#"{"AWS":"*"}"#, r#"{"StringEquals":{"aws:userid":"anonymous"}}"#));
    assert_public(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","NotPrincipal":{{"AWS":"arn:aws:iam::111122223333:user/x"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{}}}]}}"#,
        r#"{"StringEquals":{"aws:userid":"anonymous"}}"#
    ));
}

#[test]
fn source_ip_ranges_that_are_too_broad_are_public() {
    let halves = everyone(r#"{"IpAddress":{"aws:SourceIp":["0.0.0.0/1","128.0.0.0/1"]}}"#);
    assert!(anonymous_may_read(&halves, "192.0.2.1"), "the bypass: two halves are the whole internet");
    assert_public(&halves);
    // AWS: "values broader than /8 for IPv4 and /32 for IPv6" are public.
    assert_public(&everyone(r#"{"IpAddress":{"aws:SourceIp":"8.0.0.0/7"}}"#));
    assert_public(&everyone(r#"{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#));
    assert_public(&everyone(r#"{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","::/0"]}}"#));
    assert_public(&everyone(r#"{"IpAddress":{"aws:SourceIp":["::/1","8000::/1"]}}"#));
    assert_public(&everyone(r#"{"IpAddress":{"aws:SourceIp":"2000::/3"}}"#));
    assert_public(&everyone(r#"{"IpAddress":{"aws:SourceIp":"2001:db8::/31"}}"#));
    // Every value a /8, together all of IPv4: judged as the union.
    let all_slash8: Vec<String> = (0..=255).map(|a| format!("\"{a}.0.0.0/8\"")).collect();
    let all = everyone(&format!(r#"{{"IpAddress":{{"aws:SourceIp":[{}]}}}}"#, all_slash8.join(",")));
    assert!(anonymous_may_read(&all, "192.0.2.1"));
    assert_public(&all);
    // Two public /8s together are broader than /8.
    assert_public(&everyone(r#"{"IpAddress":{"aws:SourceIp":["1.0.0.0/8","2.0.0.0/8"]}}"#));
    // IPv4-mapped IPv6 ranges admit IPv4 clients of a dual-stack listener.
    assert_public(&everyone(r#"{"IpAddress":{"aws:SourceIp":"::ffff:0:0/96"}}"#));
    assert_public(&everyone(r#"{"IpAddress":{"aws:SourceIp":"::/64"}}"#));
    assert_public(&everyone(r#"{"IpAddress":{"aws:SourceIp":["::ffff:0:0/97","128.0.0.0/1"]}}"#));
    // aws:SourceIp is restricted only by CIDR operators.
    assert_public(&everyone(r#"{"StringEquals":{"aws:SourceIp":"203.0.113.7"}}"#));
    assert_public(&everyone(r#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#));
    assert_public(&everyone(r#"{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}"#));
    assert_public(&everyone(r#"{"ForAllValues:IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#));
}

#[test]
fn operators_and_values_that_do_not_pin_a_fixed_value_are_public() {
    for condition in [
        // Case-insensitive comparison admits values other than the one written.
        r#"{"StringEqualsIgnoreCase":{"aws:SourceVpc":"vpc-91237329"}}"#,
        // Wildcards, whether the operator honours them or not.
        r#"{"StringLike":{"aws:SourceVpc":"vpc-*"}}"#,
        r#"{"StringLike":{"aws:SourceVpce":"vpce-1a2b3c4?"}}"#,
        r#"{"StringEquals":{"aws:SourceVpc":"vpc-*"}}"#,
        r#"{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:*:*"}}"#,
        r#"{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/*"}}"#,
        r#"{"StringLike":{"aws:SourceAccount":"*"}}"#,
        // Policy variables: the value is the caller's, not fixed.
        r#"{"StringEquals":{"aws:SourceAccount":"${aws:PrincipalAccount}"}}"#,
        r#"{"StringEquals":{"aws:userid":"${aws:userid}"}}"#,
        r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:us-east-1:111122223333:${aws:username}"}}"#,
        // Set qualifiers: ForAllValues is true without values; ForAnyValue with a wildcard.
        r#"{"ForAllValues:StringEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}"#,
        r#"{"ForAnyValue:StringLike":{"aws:PrincipalOrgPaths":"o-a1b2c3d4e5/*"}}"#,
        // IfExists is true when the key is absent, as it is for anonymous callers.
        r#"{"StringEqualsIfExists":{"aws:SourceAccount":"111122223333"}}"#,
        r#"{"ArnEqualsIfExists":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/alice"}}"#,
        // Negated operators admit everything but the values.
        r#"{"StringNotEquals":{"aws:SourceVpc":"vpc-91237329"}}"#,
        r#"{"ForAnyValue:StringNotEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}"#,
        r#"{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/alice"}}"#,
        // Null tests presence, not a value.
        r#"{"Null":{"aws:SourceVpc":"false"}}"#,
        // Other operator families do not pin the restricting keys.
        r#"{"NumericEquals":{"aws:SourceAccount":111122223333}}"#,
        // No value, or an empty one, pins nothing.
        r#"{"StringEquals":{"aws:SourceVpc":[]}}"#,
        r#"{"StringEquals":{"aws:SourceVpc":""}}"#,
        // Keys that do not restrict the caller, or that the caller sends.
        r#"{"StringEquals":{"s3:prefix":"x"}}"#,
        r#"{"Bool":{"aws:SecureTransport":"true"}}"#,
        r#"{"StringEquals":{"aws:PrincipalType":"User"}}"#,
        r#"{"StringEquals":{"s3:x-amz-server-side-encryption-aws-kms-key-id":"arn:aws:kms:us-east-1:111122223333:key/k"}}"#,
        r#"{"StringEquals":{"aws:Referer":"https://example.com/"}}"#,
    ] {
        assert_public(&everyone(condition));
    }
}

#[test]
fn conditions_are_anded_so_one_genuine_restriction_suffices() {
    assert_public(&everyone(r#"{"StringEquals":{"aws:userid":"anonymous"},"Bool":{"aws:SecureTransport":"true"}}"#));
    assert_public(&everyone(
        r#"{"StringEquals":{"aws:userid":"anonymous"},"IpAddress":{"aws:SourceIp":["0.0.0.0/1","128.0.0.0/1"]}}"#,
    ));
    assert_non_public(&everyone(
        r#"{"StringEquals":{"aws:userid":"anonymous"},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
    ));
    assert_non_public(&everyone(
        r#"{"StringLike":{"aws:SourceVpc":"vpc-*"},"StringEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}"#,
    ));
}

#[test]
fn one_public_statement_makes_the_policy_public() {
    let fixed = r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}}"#;
    let bypass = r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEquals":{"aws:userid":"anonymous"}}}"#;
    let account =
        r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:*","Resource":"*"}"#;
    assert_non_public(&format!(r#"{{"Version":"2012-10-17","Statement":[{fixed},{account}]}}"#));
    assert_public(&format!(r#"{{"Version":"2012-10-17","Statement":[{fixed},{bypass},{account}]}}"#));
    assert_public(&format!(r#"{{"Version":"2012-10-17","Statement":[{account},{bypass}]}}"#));
}

#[test]
fn every_wildcard_principal_counts_as_everyone() {
    // A wildcard of any principal type names anonymous callers.
    for principal in [r#"{"CanonicalUser":"*"}"#, r#"{"Service":"*"}"#] {
        let json = grant(principal, "");
        assert!(anonymous_may_read(&json, "192.0.2.1"), "{principal} reaches anonymous callers");
        assert_public(&json);
        assert_public(&grant(principal, r#"{"StringEquals":{"aws:userid":"anonymous"}}"#));
        assert_non_public(&grant(principal, r#"{"StringEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}"#));
    }
    // AWS's first example of a public policy: anyone who signs in with the identity provider.
    assert_public(&grant(r#"{"Federated":"graph.facebook.com"}"#, ""));
    assert_public(&grant(r#"{"Federated":"*"}"#, ""));
    assert!(!is_public(&grant(
        r#"{"Federated":"graph.facebook.com"}"#,
        r#"{"StringEquals":{"aws:SourceAccount":"111122223333"}}"#
    )));
    // Fixed principals are not public.
    assert!(!is_public(&grant(r#"{"AWS":"arn:aws:iam::111122223333:root"}"#, "")));
    assert!(!is_public(&grant(r#"{"Service":"logging.s3.amazonaws.com"}"#, "")));
    assert!(!is_public(&grant(
        r#"{"CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}"#,
        ""
    )));
}

#[test]
fn fixed_values_of_the_restricting_keys_are_non_public() {
    for condition in [
        r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
        r#"{"IpAddress":{"aws:SourceIp":"8.0.0.0/8"}}"#,
        r#"{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","198.51.100.7"]}}"#,
        // RFC 1918 ranges do not count toward the breadth (AWS: "excluding RFC1918 private ranges").
        r#"{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","172.16.0.0/12","192.168.0.0/16","203.0.113.0/24"]}}"#,
        r#"{"IpAddress":{"aws:SourceIp":["2001:db8::/32","203.0.113.0/24"]}}"#,
        r#"{"IpAddress":{"aws:SourceIp":"::ffff:203.0.113.0/120"}}"#,
        r#"{"ForAnyValue:IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
        r#"{"StringEquals":{"aws:SourceAccount":"111122223333"}}"#,
        r#"{"StringEquals":{"aws:SourceOwner":"111122223333"}}"#,
        r#"{"StringEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}"#,
        r#"{"StringEquals":{"aws:SourceVpc":"vpc-91237329"}}"#,
        r#"{"StringLike":{"aws:SourceVpc":"vpc-91237329"}}"#,
        r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:us-east-1:111122223333:topic"}}"#,
        r#"{"ArnLike":{"aws:SourceArn":"arn:aws:sns:us-east-1:111122223333:topic"}}"#,
        r#"{"StringEquals":{"aws:SourceArn":"arn:aws:sns:us-east-1:111122223333:topic"}}"#,
        r#"{"StringEquals":{"aws:PrincipalAccount":"111122223333"}}"#,
        r#"{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/alice"}}"#,
        r#"{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}"#,
        r#"{"ForAnyValue:StringEquals":{"aws:PrincipalOrgPaths":"o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"}}"#,
        r#"{"StringEquals":{"aws:userid":"alice"}}"#,
        r#"{"StringEquals":{"aws:userid":["AROAEXAMPLEROLEID:ci","111122223333"]}}"#,
        r#"{"StringEquals":{"s3:DataAccessPointAccount":"111122223333"}}"#,
        // One key that does not restrict, one that does.
        r#"{"StringEquals":{"aws:SourceIp":"10.0.0.1","aws:SourceVpce":"vpce-1a2b3c4d"}}"#,
    ] {
        assert_non_public(&everyone(condition));
    }
}
