//! Verifying a parsed request against a set of host names (kura's host aliases).

use http::{HeaderMap, Method, Uri};
use sha2::{Digest, Sha256};

use crate::canonical::{string_to_sign_for_hash, write_canonical_request};
use crate::{CanonicalRequest, ParsedAuth, SignatureForm, SigningKey, canonical_path, canonical_query_from_raw};

/// Finds which of `hosts` the request was signed for: the first name that, put on the canonical
/// request's `host:` line, makes the signature valid. `None` when none does (wrong secret, tampered
/// request, a name outside the set, a signed header missing from the request, or no payload hash to
/// check: see [`verify_for_hosts_with_payload`]).
///
/// Host names are compared as given (`s3.example.com`, `kura.storage.svc.cluster.local:9000`,
/// `127.0.0.1:9000`): list each name with and without its port if clients may use either. Clients
/// leave out default ports (`:80` for http, `:443` for https). The scheme is never signed, so one
/// name serves http and https.
///
/// The path is tried in its canonical form (decoded once, re-encoded as SigV4 requires) and, if
/// different, exactly as received, because some clients sign raw paths. The cost is at most
/// two canonical requests plus two HMAC-SHA256 per (path form, host): no key derivation happens here,
/// so derive (and cache) `key` for `parsed.scope` first. Signatures are compared in constant time.
///
/// This checks only the signature: expiry, clock skew and the session token are the caller's.
pub fn verify_for_hosts<'h>(
    parsed: &ParsedAuth,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    key: &SigningKey,
    hosts: &[&'h str],
) -> Option<&'h str> {
    let payload_hash = parsed.payload_hash.as_deref()?;
    verify_for_hosts_with_payload(parsed, method, uri, headers, payload_hash, key, hosts)
}

/// [`verify_for_hosts`] with an explicit payload hash, for header-form requests that sign the body's
/// hash without sending `x-amz-content-sha256` (STS and other non-S3 services).
pub fn verify_for_hosts_with_payload<'h>(
    parsed: &ParsedAuth,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    payload_hash: &str,
    key: &SigningKey,
    hosts: &[&'h str],
) -> Option<&'h str> {
    let query = canonical_query_from_raw(uri.query().unwrap_or(""), parsed.form == SignatureForm::Query).ok()?;

    // The signed headers with their received values; `host` gets an empty placeholder that each
    // candidate name replaces.
    let mut signed: Vec<(&str, &str)> = Vec::with_capacity(parsed.signed_headers.len() + 2);
    for name in &parsed.signed_headers {
        if name == "host" {
            signed.push(("host", ""));
            continue;
        }
        let mut any = false;
        for value in headers.get_all(name.as_str()) {
            signed.push((name.as_str(), std::str::from_utf8(value.as_bytes()).ok()?));
            any = true;
        }
        if !any {
            return None;
        }
    }

    let raw_path = uri.path();
    let normalized = canonical_path(raw_path);
    let raw = (raw_path != normalized && !raw_path.is_empty()).then_some(raw_path);

    let mut text = String::new();
    for path in std::iter::once(normalized.as_str()).chain(raw) {
        text.clear();
        let req = CanonicalRequest { method: method.as_str(), path, query: &query, headers: &signed, payload_hash };
        let host_at = write_canonical_request(&req, &mut text)?;
        let (head, tail) = text.split_at_checked(host_at)?;
        let mut prefix = Sha256::new();
        prefix.update(head.as_bytes());
        let mut host_line = String::new();
        for &host in hosts {
            host_line.clear();
            crate::canonical::push_normalized_value(&mut host_line, host);
            let mut hasher = prefix.clone();
            hasher.update(host_line.as_bytes());
            hasher.update(tail.as_bytes());
            let sts = string_to_sign_for_hash(&parsed.amz_date, &parsed.scope, &hasher.finalize().into());
            if crate::signatures_equal(&crate::signature(key, &sts), &parsed.signature) {
                return Some(host);
            }
        }
    }
    None
}
