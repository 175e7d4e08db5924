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
        if let Some(age) = signature_age_ms(facts, now) {
            cx.insert("s3:signatureAge", age.to_string());
        }
    }
    if matches!(facts.op, "ListObjects" | "ListObjectsV2" | "ListObjectVersions") {
        for (param, key) in [("prefix", "s3:prefix"), ("delimiter", "s3:delimiter"), ("max-keys", "s3:max-keys")] {
            if let Some(v) = query_param(facts.uri, param) {
                cx.insert(key, v);
            }
        }
    }
    for (header, key) in [
        ("x-amz-acl", "s3:x-amz-acl"),
        ("x-amz-server-side-encryption", "s3:x-amz-server-side-encryption"),
        ("x-amz-server-side-encryption-aws-kms-key-id", "s3:x-amz-server-side-encryption-aws-kms-key-id"),
        ("x-amz-server-side-encryption-customer-algorithm", "s3:x-amz-server-side-encryption-customer-algorithm"),
        ("x-amz-copy-source", "s3:x-amz-copy-source"),
        ("x-amz-metadata-directive", "s3:x-amz-metadata-directive"),
        ("x-amz-storage-class", "s3:x-amz-storage-class"),
        ("x-amz-content-sha256", "s3:x-amz-content-sha256"),
    ] {
        // s3s reads an empty header as an absent one, so the policy must too: else a `Null` condition
        // (deny when no x-amz-server-side-encryption) would see a key the operation never sees.
        if let Some(v) = header_str(facts.headers, header).filter(|v| !v.is_empty()) {
            cx.insert(key, v);
        }
    }
    if let Some(tagging) = header_str(facts.headers, "x-amz-tagging") {
        for (k, v) in form_pairs(tagging) {
            cx.insert("s3:RequestObjectTagKeys", k.clone());
            cx.insert(&format!("s3:RequestObjectTag/{k}"), v);
        }
    }
    cx
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
    let Some(peer) = facts.peer.map(|p| p.ip()) else { return (None, false) };
    let trusted = |ip: &IpAddr| facts.trusted_proxies.iter().any(|n| n.contains(ip));
    if !trusted(&peer) {
        return (Some(peer), false);
    }
    let secure = header_str(facts.headers, "x-forwarded-proto")
        .and_then(|v| v.split(',').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    let mut client = peer;
    if let Some(chain) = header_str(facts.headers, "x-forwarded-for") {
        for hop in chain.rsplit(',') {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !trusted(&ip) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    }
    (Some(client), secure)
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
}
