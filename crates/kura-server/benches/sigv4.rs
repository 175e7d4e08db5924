//! Cost of kura's own checks before s3s (the gate's one reading, then host aliases): admitting a
//! presigned GET signed for another of kura's names, which derives the signing key and computes the
//! signature once per candidate name.

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method, Uri};
use kura_server::authn::gate::{Rules, inspect};
use kura_server::authn::sigv4::{Admission, HostAliases};
use std::hint::black_box;
use std::time::{Duration, SystemTime};

const SECRET: &str = "bench-secret-0123456789";

fn presigned(host: &str) -> (Uri, HeaderMap) {
    let identity = aws_credential_types::Credentials::new("benchuser", SECRET, None, None, "bench").into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(300));
    settings.uri_path_normalization_mode = aws_sigv4::http_request::UriPathNormalizationMode::Disabled;
    settings.percent_encoding_mode = aws_sigv4::http_request::PercentEncodingMode::Single;
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .expect("params")
        .into();
    let url = format!("https://{host}/bucket/photos/2026/cat.jpg?x-id=GetObject");
    let signable = SignableRequest::new("GET", url, [("host", host)].into_iter(), SignableBody::UnsignedPayload)
        .expect("signable");
    let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
    let mut request =
        http::Request::builder().uri("/bucket/photos/2026/cat.jpg?x-id=GetObject").body(()).expect("request");
    instructions.apply_to_request_http1x(&mut request);
    let (parts, ()) = request.into_parts();
    (parts.uri, parts.headers)
}

fn bench(c: &mut Criterion) {
    let aliases = HostAliases::new(
        &["https://s3.example.com".into(), "http://kura.storage.svc.cluster.local:9000".into()],
        &["127.0.0.1:9000".into()],
    )
    .expect("aliases");
    let (uri, headers) = presigned("kura.storage.svc.cluster.local:9000");
    c.bench_function("sigv4: presigned GET for an internal name, sent to the listen address", |b| {
        b.iter(|| {
            let mut h = headers.clone();
            h.insert(http::header::HOST, HeaderValue::from_static("127.0.0.1:9000"));
            // What a request pays before s3s: the gate's one reading, then the host alias check.
            let rules = Rules { now: SystemTime::now(), aliases: &aliases, sigv2: true };
            let envelope = inspect(&Method::GET, &uri, &h, &rules).expect("the gate admits it");
            let parsed = envelope.sigv4().expect("SigV4");
            let admitted = aliases.admit(parsed, &Method::GET, &uri, &mut h, |_| Some(SECRET.to_owned()));
            assert!(matches!(admitted, Admission::Rewritten(_)));
            black_box(admitted)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
