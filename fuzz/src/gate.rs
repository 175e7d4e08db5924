//! kura's gate in front of s3s (`kura_server::authn::gate`): the one reading of how a request is
//! authenticated.
//!
//! Input: the `sigv4_parse` format (request line, then headers). Each request is inspected under four
//! rule sets (host names configured or not, SigV2 on or off) at a fixed clock, and what the gate lets
//! through must keep its promises: a SigV4 request has every `x-amz-*` header signed (a presigned one
//! may leave `x-amz-content-sha256` out), a service of `s3` and a lifetime of at most 7 days; an
//! anonymous one carries no signature at all.

use kura_server::authn::gate::{Envelope, Rules, inspect};
use kura_server::authn::sigv4::HostAliases;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The clock: 2013-05-24T00:00:00Z, the date of the AWS documentation's examples in the seeds.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_369_353_600)
}

/// Inspects the request under every rule set and checks what passes.
pub fn run(data: &[u8]) {
    let Some((method, uri, headers)) = crate::sigv4_parse::request(data) else { return };
    let named = HostAliases::new(&["https://s3.example.com".into()], &["localhost:9000".into()]).ok();
    let none = HostAliases::default();
    for aliases in [Some(&none), named.as_ref()].into_iter().flatten() {
        for sigv2 in [true, false] {
            let rules = Rules { now: now(), aliases, sigv2 };
            let Ok(envelope) = inspect(&method, &uri, &headers, &rules) else { continue };
            let verdict = envelope.verdict();
            assert_eq!(verdict.access_key.as_deref(), envelope.access_key());
            match &envelope {
                Envelope::SigV4(parsed) => {
                    assert_eq!(parsed.scope.service, "s3");
                    assert!(parsed.expires.is_none_or(|e| e <= 604_800));
                    let presigned = parsed.form == kura_sigv4::SignatureForm::Query;
                    for name in headers.keys().map(http::HeaderName::as_str) {
                        if name.starts_with("x-amz-") && !(presigned && name == "x-amz-content-sha256") {
                            assert!(parsed.signed_headers.iter().any(|h| h == name), "unsigned {name} let through");
                        }
                    }
                }
                Envelope::SigV2 { .. } => assert!(sigv2, "SigV2 let through while turned off"),
                Envelope::Anonymous => {
                    assert!(
                        !headers.contains_key(http::header::AUTHORIZATION),
                        "an Authorization header read as anonymous"
                    );
                }
                Envelope::PostForm => {}
            }
        }
    }
}
