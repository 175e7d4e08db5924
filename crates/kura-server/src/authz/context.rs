//! The condition keys of one request: the global `aws:*` keys, and the `s3:*` keys AWS defines for the
//! operation, read from the request's headers and query. Policies and policy variables see these.

use crate::base::caller::{AuthType, Caller};
use http::{HeaderMap, Uri};
use kura_policy::Context;
use std::net::{IpAddr, SocketAddr};
use time::OffsetDateTime;

/// The TCP peer of a request, put into the request's extensions by the listener.
#[derive(Debug, Clone, Copy)]
pub struct RemoteAddr(pub SocketAddr);

/// What the context builder needs to know about the request.
pub struct RequestFacts<'a> {
    /// The S3 operation name (s3s's), e.g. `ListObjectsV2`.
    pub op: &'a str,
    /// The request URI.
    pub uri: &'a Uri,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The TCP peer, if known.
    pub peer: Option<SocketAddr>,
    /// Peers whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: &'a [ipnet::IpNet],
    /// How the request was authenticated.
    pub auth_type: AuthType,
}

/// Builds the context: global keys, the caller's keys and the operation's `s3:` keys.
pub fn build(facts: &RequestFacts<'_>, caller: &Caller) -> Context {
    let mut cx = Context::new();
    let now = OffsetDateTime::now_utc();
    if let Ok(t) = now.format(&time::format_description::well_known::Rfc3339) {
        cx.insert("aws:CurrentTime", t);
    }
    cx.insert("aws:EpochTime", now.unix_timestamp().to_string());
    let (source_ip, secure) = client_address(facts);
    if let Some(ip) = source_ip {
        cx.insert("aws:SourceIp", ip.to_string());
    }
    cx.insert("aws:SecureTransport", if secure { "true" } else { "false" });
    for (key, header) in [("aws:UserAgent", "user-agent"), ("aws:Referer", "referer")] {
        if let Some(v) = header_str(facts.headers, header) {
            cx.insert(key, v);
        }
    }
    caller.fill_context(&mut cx);
    if let Some(t) = facts.auth_type.s3_auth_type() {
        cx.insert("s3:authType", t);
        cx.insert("s3:signatureversion", signature_version(facts));
    }
    if matches!(facts.op, "ListObjects" | "ListObjectsV2" | "ListObjectVersions") {
        for (param, key) in [("prefix", "s3:prefix"), ("delimiter", "s3:delimiter"), ("max-keys", "s3:max-keys")] {
            if let Some(v) = query_param(facts.uri, param) {
                cx.insert(key, v);
            }
        }
    }
    if let Some(version) = named_version(facts.uri) {
        cx.insert("s3:versionid", version);
    }
    // A POST form's headers are not signed (its signature covers the form's policy): its keys are the
    // form's fields, which the operation adds once s3s has parsed them (`insert_post_form`).
    if facts.op == "PostObject" {
        return cx;
    }
    if let Some(age) = signature_age_ms(facts, now) {
        cx.insert("s3:signatureAge", age.to_string());
    }
    for (header, key) in HEADER_KEYS {
        // s3s reads an empty header as an absent one, so the policy must too: else a `Null` condition
        // (deny when no x-amz-server-side-encryption) would see a key the operation never sees.
        if let Some(v) = header_str(facts.headers, header).filter(|v| !v.is_empty()) {
            cx.insert(key, v);
        }
    }
    // The tags and lock a new object is written with; PutObjectTagging's, PutObjectRetention's and
    // PutObjectLegalHold's come from their bodies (the operation adds them).
    if matches!(facts.op, "PutObject" | "CopyObject" | "CreateMultipartUpload") {
        for (header, key) in NEW_OBJECT_HEADER_KEYS {
            if let Some(v) = header_str(facts.headers, header).filter(|v| !v.is_empty()) {
                cx.insert(key, v);
            }
        }
        if let Some(until) = header_str(facts.headers, "x-amz-object-lock-retain-until-date")
            .and_then(|u| OffsetDateTime::parse(u, &time::format_description::well_known::Rfc3339).ok())
        {
            insert_remaining_days(&mut cx, until, now);
        }
        if let Some(tagging) = header_str(facts.headers, "x-amz-tagging") {
            insert_request_tags(&mut cx, &form_pairs(tagging));
        }
    }
    cx
}

/// Headers of a new object's write (PutObject, CopyObject, CreateMultipartUpload) that AWS reads as
/// `s3:` condition keys, with the key each fills.
const NEW_OBJECT_HEADER_KEYS: [(&str, &str); 3] = [
    ("x-amz-object-lock-mode", "s3:object-lock-mode"),
    ("x-amz-object-lock-retain-until-date", "s3:object-lock-retain-until-date"),
    ("x-amz-object-lock-legal-hold", "s3:object-lock-legal-hold"),
];

/// Request headers AWS reads as `s3:` condition keys, with the key each fills.
const HEADER_KEYS: [(&str, &str); 9] = [
    ("x-amz-acl", "s3:x-amz-acl"),
    ("x-amz-server-side-encryption", "s3:x-amz-server-side-encryption"),
    ("x-amz-server-side-encryption-aws-kms-key-id", "s3:x-amz-server-side-encryption-aws-kms-key-id"),
    ("x-amz-server-side-encryption-customer-algorithm", "s3:x-amz-server-side-encryption-customer-algorithm"),
    ("x-amz-copy-source", "s3:x-amz-copy-source"),
    ("x-amz-metadata-directive", "s3:x-amz-metadata-directive"),
    ("x-amz-storage-class", "s3:x-amz-storage-class"),
    ("x-amz-content-sha256", "s3:x-amz-content-sha256"),
    ("x-amz-object-ownership", "s3:x-amz-object-ownership"),
];

/// `s3:RequestObjectTagKeys` and `s3:RequestObjectTag/<key>` for the tags a request sets (from the
/// `x-amz-tagging` header, a POST form's `tagging` field or PutObjectTagging's body).
pub fn insert_request_tags(cx: &mut Context, tags: &[(String, String)]) {
    for (k, v) in tags {
        cx.insert("s3:RequestObjectTagKeys", k.clone());
        cx.insert(&format!("s3:RequestObjectTag/{k}"), v.clone());
    }
}

/// `s3:object-lock-mode`, `s3:object-lock-retain-until-date` and
/// `s3:object-lock-remaining-retention-days` for a retention a request's body asks for.
pub fn insert_retention(cx: &mut Context, mode: &str, until: OffsetDateTime, now: OffsetDateTime) {
    cx.set("s3:object-lock-mode", mode);
    insert_retain_until(cx, until, now);
}

/// `s3:object-lock-retain-until-date` (ISO 8601) and `s3:object-lock-remaining-retention-days`.
fn insert_retain_until(cx: &mut Context, until: OffsetDateTime, now: OffsetDateTime) {
    if let Ok(text) = until.format(&time::format_description::well_known::Rfc3339) {
        cx.set("s3:object-lock-retain-until-date", text);
    }
    insert_remaining_days(cx, until, now);
}

/// `s3:object-lock-remaining-retention-days`: whole days left until `until`, rounded up.
fn insert_remaining_days(cx: &mut Context, until: OffsetDateTime, now: OffsetDateTime) {
    let seconds = u64::try_from((until - now).whole_seconds()).unwrap_or(0);
    cx.set("s3:object-lock-remaining-retention-days", seconds.div_ceil(86_400).to_string());
}

/// The condition keys of a POST form upload: the form's fields that AWS reads as keys (encryption,
/// ACL, storage class, tags, object lock), which s3s has parsed into `input`. The request's headers
/// count for nothing here: a form's signature does not cover them.
pub fn insert_post_form(cx: &mut Context, input: &s3s::dto::PutObjectInput, now: OffsetDateTime) {
    let fields = [
        ("s3:x-amz-acl", input.acl.as_ref().map(|v| v.as_str())),
        ("s3:x-amz-server-side-encryption", input.server_side_encryption.as_ref().map(|v| v.as_str())),
        ("s3:x-amz-server-side-encryption-aws-kms-key-id", input.ssekms_key_id.as_deref()),
        ("s3:x-amz-server-side-encryption-customer-algorithm", input.sse_customer_algorithm.as_deref()),
        ("s3:x-amz-storage-class", input.storage_class.as_ref().map(|v| v.as_str())),
        ("s3:object-lock-mode", input.object_lock_mode.as_ref().map(|v| v.as_str())),
        ("s3:object-lock-legal-hold", input.object_lock_legal_hold_status.as_ref().map(|v| v.as_str())),
    ];
    for (key, value) in fields {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            cx.set(key, v);
        }
    }
    if let Some(until) = input.object_lock_retain_until_date.as_ref() {
        insert_retain_until(cx, OffsetDateTime::from(until.clone()), now);
    }
    if let Some(tagging) = input.tagging.as_deref() {
        insert_request_tags(cx, &form_pairs(tagging));
    }
}

/// The client's address and whether it used TLS, read exactly as `aws:SourceIp` and
/// `aws:SecureTransport` are (for callers that have no S3 operation: the console's sign-in backoff).
pub fn client_of(peer: SocketAddr, headers: &HeaderMap, trusted_proxies: &[ipnet::IpNet]) -> (IpAddr, bool) {
    let uri = Uri::from_static("/");
    let facts =
        RequestFacts { op: "", uri: &uri, headers, peer: Some(peer), trusted_proxies, auth_type: AuthType::Anonymous };
    let (ip, secure) = client_address(&facts);
    (ip.unwrap_or_else(|| peer.ip()), secure)
}

/// The client's address (`aws:SourceIp`) and whether it used TLS (`aws:SecureTransport`):
/// `X-Forwarded-For` / `X-Forwarded-Proto` count only when the peer is a trusted proxy; the client is
/// then the right-most address in the chain that is not itself a trusted proxy.
fn client_address(facts: &RequestFacts<'_>) -> (Option<IpAddr>, bool) {
    // On a dual-stack socket an IPv4 client arrives as `::ffff:A.B.C.D`: it is the IPv4 address, as
    // AWS reports it, or no IPv4 range in a policy (a Deny on `aws:SourceIp` above all) would match it.
    let Some(peer) = facts.peer.map(|p| p.ip().to_canonical()) else { return (None, false) };
    let trusted = |ip: &IpAddr| facts.trusted_proxies.iter().any(|n| n.contains(ip));
    if !trusted(&peer) {
        return (Some(peer), false);
    }
    let mut client = peer;
    // How many hops of the chain, counted from the right, lead to the client.
    let mut hops = 0;
    if let Some(chain) = header_list(facts.headers, "x-forwarded-for") {
        for hop in chain.rsplit(',') {
            match hop.trim().parse::<IpAddr>().map(|ip| ip.to_canonical()) {
                Ok(ip) => {
                    client = ip;
                    if !trusted(&ip) {
                        break;
                    }
                    hops += 1;
                }
                Err(_) => break,
            }
        }
    }
    // The scheme the client used is the `X-Forwarded-Proto` entry the proxy it reached wrote: as
    // many entries from the right as the client's address in `X-Forwarded-For`. The left-most entry
    // may be the client's own text; a list too short to have that entry says nothing (not TLS).
    let protos = header_list(facts.headers, "x-forwarded-proto");
    let protos: Vec<&str> = protos.as_deref().map(|v| v.split(',').collect()).unwrap_or_default();
    let proto = match protos.len() {
        1 => protos.first(),
        n => n.checked_sub(hops + 1).and_then(|i| protos.get(i)),
    };
    let secure = proto.is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    (Some(client), secure)
}

/// The version the query names (`versionId`, with or without a value; the first when repeated, which
/// s3s then refuses), read as s3s reads a query ([`query_param`]), so that `?version%49d=…` is the
/// version s3s will act on.
pub(super) fn named_version(uri: &http::Uri) -> Option<String> {
    query_param(uri, "versionId")
}

fn signature_version(facts: &RequestFacts<'_>) -> &'static str {
    let v2_header = header_str(facts.headers, "authorization").is_some_and(|a| a.starts_with("AWS "));
    let v2_query = query_param(facts.uri, "Signature").is_some() && query_param(facts.uri, "X-Amz-Signature").is_none();
    if v2_header || v2_query { "AWS" } else { "AWS4-HMAC-SHA256" }
}

/// Milliseconds since the request was signed (`x-amz-date` header or `X-Amz-Date` query).
fn signature_age_ms(facts: &RequestFacts<'_>, now: OffsetDateTime) -> Option<i128> {
    let stamp =
        header_str(facts.headers, "x-amz-date").map(str::to_owned).or_else(|| query_param(facts.uri, "X-Amz-Date"))?;
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let signed = time::PrimitiveDateTime::parse(&stamp, &format).ok()?.assume_utc();
    Some((now - signed).whole_milliseconds().max(0))
}

/// Every line of a list header (`X-Forwarded-For`), joined with commas in the order received, as
/// RFC 9110 reads repeated field lines: a proxy that adds its own line after the client's must not
/// leave kura reading the client's.
fn header_list(headers: &HeaderMap, name: &str) -> Option<String> {
    let lines: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
    (!lines.is_empty()).then(|| lines.join(","))
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// One query parameter, percent-decoded (`+` is a space, as S3 reads it).
pub fn query_param(uri: &Uri, name: &str) -> Option<String> {
    form_pairs(uri.query()?).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// `a=b&c=d` pairs, percent-decoded.
pub fn form_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(uri: &'a Uri, headers: &'a HeaderMap, peer: &str, proxies: &'a [ipnet::IpNet]) -> RequestFacts<'a> {
        RequestFacts {
            op: "ListObjectsV2",
            uri,
            headers,
            peer: peer.parse().ok(),
            trusted_proxies: proxies,
            auth_type: AuthType::Header,
        }
    }

    /// An IPv4 client of a dual-stack listener (peer `::ffff:A.B.C.D`), and such an entry in
    /// `X-Forwarded-For`, is its IPv4 address: a Deny on an IPv4 range binds it, and an IPv4 proxy
    /// range trusts it.
    #[test]
    fn ipv4_mapped_addresses_are_their_ipv4_address() {
        let uri: Uri = "/b".parse().expect("uri");
        let none = HeaderMap::new();
        let cx = build(&facts(&uri, &none, "[::ffff:127.0.0.1]:1234", &[]), &Caller::Anonymous);
        assert_eq!(cx.get("aws:SourceIp"), Some(&["127.0.0.1".to_owned()][..]));
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "::ffff:203.0.113.9".parse().expect("header"));
        let proxies = vec!["10.0.0.0/8".parse().expect("net")];
        let cx = build(&facts(&uri, &headers, "[::ffff:10.0.0.5]:1234", &proxies), &Caller::Anonymous);
        assert_eq!(cx.get("aws:SourceIp"), Some(&["203.0.113.9".to_owned()][..]));
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let uri: Uri = "/b?list-type=2&prefix=home%2Falice%2F&delimiter=%2F".parse().expect("uri");
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.9, 10.0.0.7".parse().expect("header"));
        headers.insert("x-forwarded-proto", "https".parse().expect("header"));
        let proxies = vec!["10.0.0.0/8".parse().expect("net")];
        let cx = build(&facts(&uri, &headers, "10.0.0.5:1234", &proxies), &Caller::Anonymous);
        assert_eq!(cx.get("aws:SourceIp"), Some(&["203.0.113.9".to_owned()][..]));
        assert_eq!(cx.get("aws:SecureTransport"), Some(&["true".to_owned()][..]));
        assert_eq!(cx.get("s3:prefix"), Some(&["home/alice/".to_owned()][..]));
        assert_eq!(cx.get("s3:delimiter"), Some(&["/".to_owned()][..]));

        let untrusted = build(&facts(&uri, &headers, "192.0.2.1:1234", &proxies), &Caller::Anonymous);
        assert_eq!(untrusted.get("aws:SourceIp"), Some(&["192.0.2.1".to_owned()][..]));
        assert_eq!(untrusted.get("aws:SecureTransport"), Some(&["false".to_owned()][..]));
    }

    #[test]
    fn request_tags_and_principal_keys() {
        let uri: Uri = "/b/k".parse().expect("uri");
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-tagging", "team=blue&env=prod%20eu".parse().expect("header"));
        let caller = Caller::User { access_key: "alice".into() };
        let mut f = facts(&uri, &headers, "127.0.0.1:1", &[]);
        f.op = "PutObject";
        let cx = build(&f, &caller);
        assert_eq!(cx.get("s3:RequestObjectTag/env"), Some(&["prod eu".to_owned()][..]));
        assert_eq!(cx.get("aws:username"), Some(&["alice".to_owned()][..]));
        assert_eq!(cx.get("s3:authType"), Some(&["REST-HEADER".to_owned()][..]));
        assert!(cx.get("s3:prefix").is_none());
    }

    #[test]
    fn encryption_keys_come_from_the_headers_and_an_empty_header_is_absent() {
        let uri: Uri = "/b/k".parse().expect("uri");
        for op in ["PutObject", "CopyObject", "CreateMultipartUpload"] {
            let mut headers = HeaderMap::new();
            headers.insert("x-amz-server-side-encryption", "aws:kms".parse().expect("header"));
            headers.insert("x-amz-server-side-encryption-aws-kms-key-id", "alias/gitlab".parse().expect("header"));
            headers.insert("x-amz-server-side-encryption-customer-algorithm", "AES256".parse().expect("header"));
            let mut f = facts(&uri, &headers, "127.0.0.1:1", &[]);
            f.op = op;
            let cx = build(&f, &Caller::Anonymous);
            assert_eq!(cx.get("s3:x-amz-server-side-encryption"), Some(&["aws:kms".to_owned()][..]), "{op}");
            assert_eq!(
                cx.get("s3:x-amz-server-side-encryption-aws-kms-key-id"),
                Some(&["alias/gitlab".to_owned()][..]),
                "{op}"
            );
            assert_eq!(
                cx.get("s3:x-amz-server-side-encryption-customer-algorithm"),
                Some(&["AES256".to_owned()][..]),
                "{op}"
            );
            let mut empty = headers.clone();
            empty.insert("x-amz-server-side-encryption", "".parse().expect("header"));
            let f = RequestFacts { headers: &empty, ..f };
            assert!(build(&f, &Caller::Anonymous).get("s3:x-amz-server-side-encryption").is_none(), "{op}");
        }
    }

    #[test]
    fn forwarded_proto_is_read_at_the_clients_hop() {
        let uri: Uri = "/b".parse().expect("uri");
        let proxies = vec!["10.0.0.0/8".parse().expect("net")];
        let secure = |xff: Option<&str>, proto: &str| {
            let mut headers = HeaderMap::new();
            if let Some(xff) = xff {
                headers.insert("x-forwarded-for", xff.parse().expect("header"));
            }
            headers.insert("x-forwarded-proto", proto.parse().expect("header"));
            let cx = build(&facts(&uri, &headers, "10.0.0.5:1234", &proxies), &Caller::Anonymous);
            cx.get("aws:SecureTransport").and_then(|v| v.first()).cloned().unwrap_or_default()
        };
        // One entry: the trusted proxy's own.
        assert_eq!(secure(Some("203.0.113.9"), "https"), "true");
        // The client wrote `https`, the proxy appended what it saw: plain HTTP.
        assert_eq!(secure(Some("203.0.113.9"), "https, http"), "false");
        assert_eq!(secure(None, "https, http"), "false");
        // Two trusted proxies: the client's hop is the second entry from the right.
        assert_eq!(secure(Some("203.0.113.9, 10.0.0.7"), "https, http"), "true");
        assert_eq!(secure(Some("203.0.113.9, 10.0.0.7"), "http, https"), "false");
        // Too short a list to hold the client's hop says nothing.
        assert_eq!(secure(Some("203.0.113.9, 10.0.0.7, 10.0.0.8"), "https, https"), "false");

        // A proxy that adds its own header lines after the client's: the lines are one list.
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", "10.0.0.9".parse().expect("header"));
        headers.append("x-forwarded-for", "203.0.113.9".parse().expect("header"));
        headers.append("x-forwarded-proto", "https".parse().expect("header"));
        headers.append("x-forwarded-proto", "http".parse().expect("header"));
        let cx = build(&facts(&uri, &headers, "10.0.0.5:1234", &proxies), &Caller::Anonymous);
        assert_eq!(cx.get("aws:SourceIp"), Some(&["203.0.113.9".to_owned()][..]), "not the client's own line");
        assert_eq!(cx.get("aws:SecureTransport"), Some(&["false".to_owned()][..]));
    }

    #[test]
    fn keys_come_from_where_aws_reads_them() {
        let uri: Uri = "/b/k?version%49d=v1".parse().expect("uri");
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-tagging", "team=blue".parse().expect("header"));
        headers.insert("x-amz-server-side-encryption", "aws:kms".parse().expect("header"));
        headers.insert("x-amz-object-lock-mode", "COMPLIANCE".parse().expect("header"));
        let in_ten_days = (OffsetDateTime::now_utc() + time::Duration::days(10) - time::Duration::hours(1))
            .format(&time::format_description::well_known::Rfc3339)
            .expect("date");
        headers.insert("x-amz-object-lock-retain-until-date", in_ten_days.parse().expect("header"));
        let keys = |op| {
            let mut f = facts(&uri, &headers, "127.0.0.1:1", &[]);
            f.op = op;
            build(&f, &Caller::Anonymous)
        };
        let put = keys("PutObject");
        assert_eq!(put.get("s3:versionid"), Some(&["v1".to_owned()][..]));
        assert_eq!(put.get("s3:RequestObjectTag/team"), Some(&["blue".to_owned()][..]));
        assert_eq!(put.get("s3:object-lock-mode"), Some(&["COMPLIANCE".to_owned()][..]));
        assert_eq!(put.get("s3:object-lock-remaining-retention-days"), Some(&["10".to_owned()][..]));
        // PutObjectTagging's and PutObjectRetention's keys are their bodies': the operation adds them.
        for op in ["PutObjectTagging", "PutObjectRetention"] {
            let cx = keys(op);
            assert!(cx.get("s3:RequestObjectTagKeys").is_none(), "{op}");
            assert!(cx.get("s3:object-lock-mode").is_none(), "{op}");
        }
        // A POST form's headers are unsigned: none of them is a key.
        let post = keys("PostObject");
        for key in ["s3:x-amz-server-side-encryption", "s3:RequestObjectTagKeys", "s3:object-lock-mode"] {
            assert!(post.get(key).is_none(), "{key}");
        }
        let input = s3s::dto::PutObjectInput {
            server_side_encryption: Some(s3s::dto::ServerSideEncryption::from_static("AES256")),
            tagging: Some("secret=leak".to_owned()),
            ..Default::default()
        };
        let mut post = post;
        insert_post_form(&mut post, &input, OffsetDateTime::now_utc());
        assert_eq!(post.get("s3:x-amz-server-side-encryption"), Some(&["AES256".to_owned()][..]));
        assert_eq!(post.get("s3:RequestObjectTag/secret"), Some(&["leak".to_owned()][..]));
    }
}
