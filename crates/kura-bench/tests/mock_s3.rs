//! Runs every workload against a tiny in-memory S3 stand-in on 127.0.0.1 and checks the counts,
//! the request shapes (path style, SigV4 headers, payload hashes) and that cleanup leaves nothing.
//! (The end-to-end test against the real kura server lives elsewhere.)

// Test helpers: a panic is a failed test with a message.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use kura_bench::{BenchArgs, BenchError, Credentials, PayloadMode, Size, Workload, run_with};
use percent_encoding::percent_decode_str;
use sha2::{Digest, Sha256};

#[derive(Default)]
struct State {
    buckets: BTreeSet<String>,
    /// (bucket, key) -> size. Contents are not kept; GET returns zeros.
    objects: BTreeMap<(String, String), u64>,
    requests: u64,
    bad_requests: Vec<String>,
}

type Db = Arc<Mutex<State>>;

fn resp(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

fn s3_error(status: StatusCode, code: &str) -> Response<Full<Bytes>> {
    resp(status, format!("<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>mock</Message></Error>"))
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| percent_decode_str(v).decode_utf8_lossy().into_owned())
    })
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

async fn handle(db: Db, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    // Every request must be signed the way S3 expects.
    let h = &parts.headers;
    let auth = h.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    let sha = h.get("x-amz-content-sha256").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let ok_auth = auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
        && auth.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date,")
        && h.contains_key("x-amz-date")
        && h.get("host").is_some_and(|v| v.to_str().is_ok_and(|s| s.starts_with("127.0.0.1:")))
        && !sha.is_empty();
    let body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let mut st = db.lock().unwrap();
    st.requests += 1;
    if !ok_auth {
        st.bad_requests.push(format!("{} {} auth={auth:?}", parts.method, parts.uri));
        return Ok(s3_error(StatusCode::FORBIDDEN, "AccessDenied"));
    }
    if sha != "UNSIGNED-PAYLOAD" && sha != hex::encode(Sha256::digest(&body)) {
        st.bad_requests.push(format!("{} {} payload hash mismatch", parts.method, parts.uri));
        return Ok(s3_error(StatusCode::BAD_REQUEST, "XAmzContentSHA256Mismatch"));
    }
    let path = percent_decode_str(parts.uri.path()).decode_utf8_lossy().into_owned();
    let query = parts.uri.query().unwrap_or("");
    let path = path.trim_start_matches('/');
    let (bucket, key) = match path.split_once('/') {
        Some((b, k)) => (b.to_owned(), k.to_owned()),
        None => (path.to_owned(), String::new()),
    };
    if key.is_empty() {
        let exists = st.buckets.contains(&bucket);
        return Ok(match parts.method {
            Method::HEAD if exists => resp(StatusCode::OK, ""),
            Method::HEAD => resp(StatusCode::NOT_FOUND, ""),
            Method::PUT => {
                st.buckets.insert(bucket);
                resp(StatusCode::OK, "")
            }
            Method::DELETE if st.objects.keys().any(|(b, _)| *b == bucket) => {
                s3_error(StatusCode::CONFLICT, "BucketNotEmpty")
            }
            Method::DELETE => {
                st.buckets.remove(&bucket);
                resp(StatusCode::NO_CONTENT, "")
            }
            Method::GET if !exists => s3_error(StatusCode::NOT_FOUND, "NoSuchBucket"),
            Method::GET if query_param(query, "list-type").as_deref() == Some("2") => {
                let prefix = query_param(query, "prefix").unwrap_or_default();
                let max: usize = query_param(query, "max-keys").and_then(|m| m.parse().ok()).unwrap_or(1000);
                let after = query_param(query, "continuation-token").unwrap_or_default();
                let keys: Vec<&String> = st
                    .objects
                    .keys()
                    .filter(|(b, k)| *b == bucket && k.starts_with(&prefix) && *k > after)
                    .map(|(_, k)| k)
                    .take(max + 1)
                    .collect();
                let truncated = keys.len() > max;
                let mut xml = String::from("<?xml version=\"1.0\"?><ListBucketResult>");
                xml.push_str(&format!("<KeyCount>{}</KeyCount>", keys.len().min(max)));
                xml.push_str(&format!("<IsTruncated>{truncated}</IsTruncated>"));
                for k in keys.iter().take(max) {
                    xml.push_str(&format!("<Contents><Key>{}</Key><Size>1</Size></Contents>", xml_escape(k)));
                }
                if truncated {
                    xml.push_str(&format!(
                        "<NextContinuationToken>{}</NextContinuationToken>",
                        xml_escape(keys[max - 1])
                    ));
                }
                xml.push_str("</ListBucketResult>");
                resp(StatusCode::OK, xml)
            }
            _ => s3_error(StatusCode::NOT_IMPLEMENTED, "NotImplemented"),
        });
    }
    if !st.buckets.contains(&bucket) {
        return Ok(s3_error(StatusCode::NOT_FOUND, "NoSuchBucket"));
    }
    let id = (bucket, key);
    Ok(match parts.method {
        Method::PUT => {
            let declared = h.get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
            if declared != Some(body.len() as u64) {
                st.bad_requests.push(format!("PUT {} content-length {declared:?} != {}", parts.uri, body.len()));
            }
            st.objects.insert(id, body.len() as u64);
            resp(StatusCode::OK, "")
        }
        Method::GET | Method::HEAD => match st.objects.get(&id) {
            Some(&n) if parts.method == Method::GET => resp(StatusCode::OK, vec![0u8; n as usize]),
            Some(_) => resp(StatusCode::OK, ""),
            None if parts.method == Method::HEAD => resp(StatusCode::NOT_FOUND, ""),
            None => s3_error(StatusCode::NOT_FOUND, "NoSuchKey"),
        },
        Method::DELETE => {
            st.objects.remove(&id);
            resp(StatusCode::NO_CONTENT, "")
        }
        _ => s3_error(StatusCode::NOT_IMPLEMENTED, "NotImplemented"),
    })
}

async fn start_mock() -> (String, Db) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let db: Db = Arc::default();
    let state = Arc::clone(&db);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let db = Arc::clone(&state);
            tokio::spawn(async move {
                let svc = service_fn(move |req| handle(Arc::clone(&db), req));
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    (format!("http://{addr}"), db)
}

fn creds() -> Credentials {
    Credentials { access_key_id: "AKIDTEST".into(), secret_access_key: "secret".into(), session_token: None }
}

fn args(url: &str, workload: Workload) -> BenchArgs {
    let mut a = BenchArgs::new(url);
    a.workload = workload;
    a.objects = 40;
    a.concurrency = 4;
    a.duration = Duration::from_millis(300);
    a.json = true;
    a
}

fn assert_clean(db: &Db) {
    let st = db.lock().unwrap();
    assert!(st.bad_requests.is_empty(), "bad requests: {:?}", st.bad_requests);
    assert!(st.objects.is_empty(), "{} objects left behind", st.objects.len());
    assert!(st.buckets.is_empty(), "buckets left behind: {:?}", st.buckets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workload_runs_and_cleans_up() {
    let (url, db) = start_mock().await;
    for workload in [Workload::Put, Workload::Get, Workload::Stat, Workload::Mixed, Workload::Delete] {
        let report = run_with(args(&url, workload), creds(), "us-east-1").await.unwrap();
        assert_eq!(report.errors, 0, "{workload:?}: {:?}", report.errors_by_code);
        assert!(report.ops > 0, "{workload:?}");
        assert!(report.ops_per_s > 0.0 && report.latency_ms.max > 0.0, "{workload:?}");
        assert!(report.warnings.is_empty(), "{workload:?}: {:?}", report.warnings);
        eprintln!("{}", report.to_human());
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["workload"], workload_name(workload));
        match workload {
            Workload::Delete => assert_eq!(report.ops, 40),
            Workload::Get | Workload::Put => assert!(report.mib_per_s > 0.0),
            Workload::Stat => assert_eq!(report.bytes, 0),
            Workload::Mixed => assert!(report.by_op.len() >= 3, "{:?}", report.by_op.keys()),
            Workload::List | Workload::WebIdentity => {}
        }
        assert_clean(&db);
    }
}

fn workload_name(w: Workload) -> &'static str {
    w.name()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_counts_listings_and_pages() {
    let (url, db) = start_mock().await;
    let mut a = args(&url, Workload::List);
    a.objects = 2500; // 3 pages of 1,000
    a.size = Size(0);
    a.concurrency = 2;
    let report = run_with(a, creds(), "us-east-1").await.unwrap();
    assert_eq!(report.errors, 0, "{:?}", report.errors_by_code);
    assert!(report.ops > 0);
    assert_eq!(report.pages, Some(report.ops * 3));
    assert!(report.pages_per_s.unwrap() > report.ops_per_s);
    assert_clean(&db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_payload_multi_chunk_objects_and_existing_bucket() {
    let (url, db) = start_mock().await;
    db.lock().unwrap().buckets.insert("existing-bucket".into());
    let mut a = args(&url, Workload::Get);
    a.size = "2.5MiB".parse().unwrap();
    a.objects = 3;
    a.concurrency = 2;
    a.payload = PayloadMode::Signed;
    a.bucket = Some("existing-bucket".into());
    let report = run_with(a, creds(), "us-east-1").await.unwrap();
    assert_eq!(report.errors, 0, "{:?}", report.errors_by_code);
    assert_eq!(report.bytes, report.ops * (5 << 19));
    let st = db.lock().unwrap();
    assert!(st.bad_requests.is_empty(), "{:?}", st.bad_requests);
    assert!(st.objects.is_empty());
    assert!(st.buckets.contains("existing-bucket"), "a bucket we did not create must survive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_leaves_data_and_errors_are_counted_by_code() {
    let (url, db) = start_mock().await;
    let mut a = args(&url, Workload::Put);
    a.keep = true;
    a.objects = 5;
    let report = run_with(a, creds(), "us-east-1").await.unwrap();
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert_eq!(db.lock().unwrap().objects.len(), 5);

    // Wrong access key: the mock answers 403 AccessDenied, reported as a credentials problem.
    let bad = Credentials { access_key_id: "WRONG".into(), ..creds() };
    let err = run_with(args(&url, Workload::Get), bad, "us-east-1").await.unwrap_err();
    assert!(matches!(err, BenchError::Denied { .. }), "{err}");
    assert!(err.to_string().contains("HTTP 403 Forbidden"), "{err}");

    // Errors during the workload are counted, not fatal: GETs of keys deleted behind our back.
    let mut a = args(&url, Workload::Get);
    a.objects = 1;
    a.concurrency = 1;
    a.duration = Duration::from_millis(600);
    let db2 = Arc::clone(&db);
    let saboteur = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        db2.lock().unwrap().objects.retain(|(_, k), _| !k.ends_with("o00000000"));
    });
    let report = run_with(a, creds(), "us-east-1").await.unwrap();
    saboteur.await.unwrap();
    assert!(report.errors > 0 && report.ops > 0, "{report:?}");
    assert_eq!(report.errors_by_code.get("NoSuchKey"), Some(&report.errors));
}
