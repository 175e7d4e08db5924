//! Golden tests: AWS's SigV4 test suite and the S3 documentation's signature examples.
#![allow(clippy::unwrap_used)]

mod common;
mod data {
    include!("data/aws_suite.rs");
}

use common::{Req, header_map, parse_request};
use http::{Method, Uri};
use kura_sigv4::*;
use sha2::{Digest, Sha256};

const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SUITE_HOST: &str = "example.amazonaws.com";

/// Canonical request of a received request, as the verifier builds it for `host`.
fn rebuild_canonical(req: &Req, parsed: &ParsedAuth, host: &str, payload_hash: &str) -> String {
    let mut headers: Vec<(&str, &str)> = Vec::new();
    for name in &parsed.signed_headers {
        if name == "host" {
            headers.push(("host", host));
        } else {
            for v in req.headers.get_all(name.as_str()) {
                headers.push((name, v.to_str().unwrap()));
            }
        }
    }
    let query = canonical_query_from_raw(req.uri.query().unwrap_or(""), parsed.form == SignatureForm::Query).unwrap();
    let path = canonical_path(req.uri.path());
    canonical_request(&CanonicalRequest {
        method: req.method.as_str(),
        path: &path,
        query: &query,
        headers: &headers,
        payload_hash,
    })
}

fn check_vector(name: &str, signed: &str, expected_canonical: &str, form: SignatureForm) {
    let req = parse_request(signed);
    let parsed = parse_auth(&req.uri, &req.headers).unwrap().unwrap_or_else(|| panic!("{name}: not SigV4"));
    assert_eq!(parsed.form, form, "{name}");
    assert_eq!(parsed.access_key, "AKIDEXAMPLE");
    assert_eq!(parsed.scope, Scope::new("20150830", "us-east-1", "service"));
    assert_eq!(parsed.amz_date, "20150830T123600Z");
    // The suite signs the body's hash in both forms (its service is not S3).
    let payload = expected_canonical.lines().last().unwrap();
    assert_eq!(payload, hex::encode(Sha256::digest(req.body.as_bytes())), "{name}");

    let canonical = rebuild_canonical(&req, &parsed, SUITE_HOST, payload);
    assert_eq!(canonical, expected_canonical, "{name}: canonical request");
    let key = derive_key(SUITE_SECRET, "20150830", "us-east-1", "service");
    let sts = string_to_sign(&parsed.amz_date, &parsed.scope, &canonical);
    assert_eq!(signature(&key, &sts), parsed.signature, "{name}: signature");

    let hosts = ["s3.example.com", "EXAMPLE.amazonaws.com", SUITE_HOST, "127.0.0.1:9000"];
    let found = verify_for_hosts_with_payload(&parsed, &req.method, &req.uri, &req.headers, payload, &key, &hosts);
    assert_eq!(found, Some(SUITE_HOST), "{name}: verify_for_hosts");
    let wrong_key = derive_key("not the secret", "20150830", "us-east-1", "service");
    let found =
        verify_for_hosts_with_payload(&parsed, &req.method, &req.uri, &req.headers, payload, &wrong_key, &hosts);
    assert_eq!(found, None, "{name}: wrong secret");
}

#[test]
fn aws_suite_header_form() {
    assert_eq!(data::VECTORS.len(), 31);
    for v in data::VECTORS {
        check_vector(v.name, v.header_signed, v.header_canonical, SignatureForm::Header);
    }
}

#[test]
fn aws_suite_query_form() {
    // `post-sts-header-after` adds the session token to the query *after* signing (some services do);
    // S3 signs it, so that presigned variant is not S3's and is left out.
    for v in data::VECTORS.iter().filter(|v| v.name != "post-sts-header-after") {
        check_vector(v.name, v.query_signed, v.query_canonical, SignatureForm::Query);
    }
}

#[test]
fn aws_suite_session_token_is_reported() {
    let v = data::VECTORS.iter().find(|v| v.name == "get-vanilla-with-session-token").unwrap();
    for text in [v.header_signed, v.query_signed] {
        let req = parse_request(text);
        let parsed = parse_auth(&req.uri, &req.headers).unwrap().unwrap();
        assert_eq!(
            parsed.security_token.as_deref(),
            Some("6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267")
        );
        assert!(!format!("{parsed:?}").contains("6e86291e"), "Debug must redact the token");
    }
}

// ---- S3 documentation: "Signature Calculations for the Authorization Header" and
// "Authenticating Requests: Using Query Parameters" (examplebucket, AKIAIOSFODNN7EXAMPLE, 2013-05-24).

const S3_ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const S3_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const S3_HOST: &str = "examplebucket.s3.amazonaws.com";
const S3_DATE: &str = "20130524T000000Z";

fn s3_key() -> SigningKey {
    derive_key(S3_SECRET, "20130524", "us-east-1", "s3")
}

fn s3_scope() -> Scope {
    Scope::new("20130524", "us-east-1", "s3")
}

/// Signs with the building blocks, then checks the same request end to end through parse + verify.
fn check_s3_header_example(method: Method, target: &str, extra: &[(&str, &str)], payload: &str, expected: &str) {
    let uri: Uri = target.parse().unwrap();
    let mut pairs: Vec<(&str, &str)> =
        vec![("host", S3_HOST), ("x-amz-date", S3_DATE), ("x-amz-content-sha256", payload)];
    pairs.extend_from_slice(extra);
    let path = canonical_path(uri.path());
    let query = canonical_query_from_raw(uri.query().unwrap_or(""), false).unwrap();
    let creq = CanonicalRequest {
        method: method.as_str(),
        path: &path,
        query: &query,
        headers: &pairs,
        payload_hash: payload,
    };
    let sig = signature(&s3_key(), &string_to_sign(S3_DATE, &s3_scope(), &canonical_request(&creq)));
    assert_eq!(sig, expected, "{method} {target}");

    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={S3_ACCESS_KEY}/{}, SignedHeaders={}, Signature={sig}",
        s3_scope(),
        creq.signed_headers()
    );
    pairs.push(("authorization", &authorization));
    let headers = header_map(&pairs);
    let parsed = parse_auth(&uri, &headers).unwrap().unwrap();
    assert_eq!(parsed.payload_hash.as_deref(), Some(payload));
    let hosts = ["kura.storage.svc.cluster.local:9000", S3_HOST];
    assert_eq!(verify_for_hosts(&parsed, &method, &uri, &headers, &s3_key(), &hosts), Some(S3_HOST));
    assert_eq!(verify_for_hosts(&parsed, &method, &uri, &headers, &s3_key(), &hosts[..1]), None);
}

#[test]
fn s3_doc_get_object() {
    check_s3_header_example(
        Method::GET,
        "/test.txt",
        &[("range", "bytes=0-9")],
        EMPTY_SHA256,
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    );
}

#[test]
fn s3_doc_put_object() {
    let payload = hex::encode(Sha256::digest(b"Welcome to Amazon S3."));
    assert_eq!(payload, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    check_s3_header_example(
        Method::PUT,
        "/test$file.text",
        &[("date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
        &payload,
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    );
}

#[test]
fn s3_doc_get_bucket_lifecycle() {
    check_s3_header_example(
        Method::GET,
        "/?lifecycle",
        &[],
        EMPTY_SHA256,
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
    );
}

#[test]
fn s3_doc_list_objects() {
    check_s3_header_example(
        Method::GET,
        "/?max-keys=2&prefix=J",
        &[],
        EMPTY_SHA256,
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
    );
}

#[test]
fn s3_doc_presigned_get() {
    let expected = "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
    let now = parse_amz_date(S3_DATE).unwrap();
    let mut req = PresignRequest::new(
        "GET",
        "https://examplebucket.s3.amazonaws.com",
        "/test.txt",
        "us-east-1",
        S3_ACCESS_KEY,
        S3_SECRET,
        now,
    );
    req.expires_secs = 86_400;
    let url = presign_url(&req).unwrap();
    assert_eq!(
        url,
        format!(
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature={expected}"
        )
    );

    // And the documented URL verifies, for that host only.
    let uri: Uri = url.parse().unwrap();
    let headers = header_map(&[("host", S3_HOST)]);
    let parsed = parse_auth(&uri, &headers).unwrap().unwrap();
    assert_eq!(parsed.form, SignatureForm::Query);
    assert_eq!(parsed.expires, Some(86_400));
    assert_eq!(parsed.expires_at(), Some(now + std::time::Duration::from_secs(86_400)));
    let path_and_query: Uri = uri.path_and_query().unwrap().as_str().parse().unwrap();
    let hosts = ["s3.example.com", S3_HOST];
    assert_eq!(verify_for_hosts(&parsed, &Method::GET, &path_and_query, &headers, &s3_key(), &hosts), Some(S3_HOST));
    assert_eq!(verify_for_hosts(&parsed, &Method::PUT, &path_and_query, &headers, &s3_key(), &hosts), None);
}

/// S3 documentation, "Example: Browser-based upload using HTTP POST (using AWS Signature Version 4)"
/// derives the key for 20151229/us-east-1/s3; the POST signature is HMAC(key, base64 policy).
#[test]
fn post_policy_is_hmac_of_the_base64_policy() {
    let key = derive_key(S3_SECRET, "20151229", "us-east-1", "s3");
    let policy = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiIH0=";
    let ours = sign_post_policy(&key, policy);
    let reference = aws_sigv4::sign::v4::calculate_signature(key.as_bytes(), policy.as_bytes());
    assert_eq!(ours, reference);
    let reference_key = aws_sigv4::sign::v4::generate_signing_key(
        S3_SECRET,
        parse_amz_date("20151229T000000Z").unwrap(),
        "us-east-1",
        "s3",
    );
    assert_eq!(key.as_bytes().as_slice(), reference_key.as_ref());
}
