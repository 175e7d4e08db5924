//! kura on PostgreSQL (`server.metadata: {postgres: …}`): a real `kura server` whose metadata is a
//! private PostgreSQL (kura-test-pg), driven by the AWS SDK for Rust. S3 on it (buckets, objects,
//! listings, multipart, versions, a conditional-write race), a restart that keeps everything, a schema
//! newer than kura knows refused at start, and two kura processes on one database and one data
//! directory (two replicas) that see each other's objects at once and bucket policies within 2 s. TLS to the
//! database: [`tls`].

use crate::harness::{
    TestServer, blob_files, bucket_name, code, complete_upload, create_upload, data, md5_hex, status, upload_part,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use kura_test_pg::PgServer;
use std::path::PathBuf;
use std::time::{Duration, Instant};

mod tls;

/// A kura deployment on PostgreSQL: a config file naming database `db` of `pg` (the password in a
/// file, as a mounted Secret would hold it) and a data directory; servers are started on both.
pub struct PgDeployment {
    /// The directory holding the config, the password file and the data directory.
    dir: tempfile::TempDir,
    /// The database's name.
    pub db: String,
}

impl PgDeployment {
    /// A fresh database of `pg` and a config for it.
    pub fn new(pg: &PgServer) -> Self {
        Self::with_server_settings(pg, "")
    }

    /// As [`PgDeployment::new`], with more `server:` settings (YAML lines indented by two spaces).
    pub fn with_server_settings(pg: &PgServer, settings: &str) -> Self {
        Self::with_url(pg, |db| pg.url(db), settings)
    }

    /// As [`PgDeployment::with_server_settings`], with the URL `url` makes of the database's name.
    pub fn with_url(pg: &PgServer, url: impl FnOnce(&str) -> String, settings: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = pg.create_database();
        let password = dir.path().join("pg-password");
        std::fs::write(&password, format!("{}\n", pg.password())).expect("write the password file");
        let yaml = format!(
            "server:\n  metadata:\n    postgres:\n      url: \"{}\"\n      password_file: {}\n      pool_size: 4\n{settings}",
            url(&db),
            password.display()
        );
        std::fs::write(dir.path().join("kura.yaml"), yaml).expect("write the config");
        Self { dir, db }
    }

    /// The config file.
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("kura.yaml")
    }

    /// The data directory (the blob files), shared by every server of this deployment.
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts a kura server (a replica) on the database and the data directory.
    pub fn start(&self) -> TestServer {
        TestServer::restart(&self.data(), &self.config())
    }
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) -> Option<String> {
    let out = s3.put_object().bucket(bucket).key(key).body(ByteStream::from(body.to_vec())).send().await;
    out.expect("put").version_id().map(str::to_owned)
}

async fn get(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, version: Option<&str>) -> Vec<u8> {
    let out = s3.get_object().bucket(bucket).key(key).set_version_id(version.map(str::to_owned)).send().await;
    out.expect("get").body.collect().await.expect("body").into_bytes().to_vec()
}

/// (keys, common prefixes) of a listing, page by page of `max`.
async fn list(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    max: i32,
) -> (Vec<String>, Vec<String>) {
    let (mut keys, mut prefixes, mut token) = (Vec::new(), Vec::new(), None);
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_delimiter(delimiter.map(str::to_owned))
            .max_keys(max)
            .set_continuation_token(token)
            .send()
            .await
            .expect("list");
        keys.extend(page.contents().iter().map(|o| o.key().unwrap_or_default().to_owned()));
        prefixes.extend(page.common_prefixes().iter().map(|p| p.prefix().unwrap_or_default().to_owned()));
        if page.is_truncated() != Some(true) {
            return (keys, prefixes);
        }
        token = page.next_continuation_token().map(str::to_owned);
    }
}

/// (key, version id, is a delete marker, is latest) of every version of the bucket.
async fn versions(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<(String, String, bool, bool)> {
    let page = s3.list_object_versions().bucket(bucket).send().await.expect("list versions");
    let mut all: Vec<_> = page
        .versions()
        .iter()
        .map(|v| {
            (
                v.key().unwrap_or_default().into(),
                v.version_id().unwrap_or_default().into(),
                false,
                v.is_latest() == Some(true),
            )
        })
        .chain(page.delete_markers().iter().map(|m| {
            (
                m.key().unwrap_or_default().into(),
                m.version_id().unwrap_or_default().into(),
                true,
                m.is_latest() == Some(true),
            )
        }))
        .collect();
    all.sort();
    all
}

/// What the first part of the test wrote, to check again after the restart.
struct Written {
    bucket: String,
    objects: Vec<(String, Vec<u8>)>,
    multipart: Vec<u8>,
    versioned: String,
    first_version: String,
    version_list: Vec<(String, String, bool, bool)>,
    race_winner: Vec<u8>,
}

async fn check_written(s3: &aws_sdk_s3::Client, w: &Written) {
    for (key, body) in &w.objects {
        assert_eq!(&get(s3, &w.bucket, key, None).await, body, "{key}");
        let head = s3.head_object().bucket(&w.bucket).key(key).send().await.expect("head");
        assert_eq!(head.content_length(), Some(body.len() as i64), "{key}");
        assert_eq!(head.e_tag(), Some(format!("\"{}\"", md5_hex(body)).as_str()), "{key}");
    }
    let (keys, prefixes) = list(s3, &w.bucket, "a/", Some("/"), 1000).await;
    assert_eq!(keys, ["a/1", "a/2"]);
    assert_eq!(prefixes, ["a/b/", "a/c/"]);
    let (keys, _) = list(s3, &w.bucket, "", None, 2).await;
    assert_eq!(keys, ["a/1", "a/2", "a/b/3", "a/c/4", "big", "race", "z"], "pages of 2 keep the order");
    assert_eq!(get(s3, &w.bucket, "big", None).await, w.multipart);
    assert_eq!(get(s3, &w.bucket, "race", None).await, w.race_winner);
    // The versioned key: its delete marker is current, its versions readable by id.
    let err = s3.get_object().bucket(&w.versioned).key("v").send().await.expect_err("a delete marker");
    assert_eq!((status(&err), code(&err).as_str()), (404, "NoSuchKey"));
    assert_eq!(get(s3, &w.versioned, "v", Some(&w.first_version)).await, b"version one");
    assert_eq!(versions(s3, &w.versioned).await, w.version_list);
}

async fn write_everything(s3: &aws_sdk_s3::Client) -> Written {
    let bucket = bucket_name("pg");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    let listed = s3.list_buckets().send().await.expect("list buckets");
    assert!(listed.buckets().iter().any(|b| b.name() == Some(bucket.as_str())));
    // Again, in us-east-1: 200, as on AWS, and still one bucket.
    s3.create_bucket().bucket(&bucket).send().await.expect("us-east-1 answers 200 to its owner");
    let listed = s3.list_buckets().send().await.expect("list buckets");
    assert_eq!(listed.buckets().iter().filter(|b| b.name() == Some(bucket.as_str())).count(), 1);

    let mut objects = Vec::new();
    for (i, key) in ["a/1", "a/2", "a/b/3", "a/c/4", "z"].into_iter().enumerate() {
        // Small bodies (inline in the database) and one of 300 KiB (a blob file).
        let body = if key == "z" { data(300 << 10, 7) } else { data(100 + i, i as u64) };
        put(s3, &bucket, key, &body).await;
        objects.push((key.to_owned(), body));
    }
    let err = s3.get_object().bucket(&bucket).key("missing").send().await.expect_err("no such key");
    assert_eq!((status(&err), code(&err).as_str()), (404, "NoSuchKey"));

    // Multipart: a 5 MiB part and a small last one.
    let upload = create_upload(s3, &bucket, "big").await;
    let (one, two) = (data(5 << 20, 11), data(1000, 12));
    let parts = vec![
        upload_part(s3, &bucket, "big", &upload, 1, one.clone()).await,
        upload_part(s3, &bucket, "big", &upload, 2, two.clone()).await,
    ];
    let listed = s3.list_parts().bucket(&bucket).key("big").upload_id(&upload).send().await.expect("list parts");
    assert_eq!(listed.parts().len(), 2);
    complete_upload(s3, &bucket, "big", &upload, parts).await.expect("complete");
    let err = s3.list_parts().bucket(&bucket).key("big").upload_id(&upload).send().await.expect_err("completed");
    assert_eq!((status(&err), code(&err).as_str()), (404, "NoSuchUpload"));
    let multipart = [one, two].concat();

    // A conditional-write race: eight creators of one key, one wins, the others get 412.
    let racers = (0..8u64).map(|i| {
        let s3 = s3.clone();
        let bucket = bucket.clone();
        tokio::spawn(async move {
            let body = data(64, 100 + i);
            let out = s3
                .put_object()
                .bucket(&bucket)
                .key("race")
                .if_none_match("*")
                .body(ByteStream::from(body.clone()))
                .send()
                .await;
            (body, out.map(drop).map_err(|e| (status(&e), code(&e))))
        })
    });
    let mut winners = Vec::new();
    for racer in futures_join(racers).await {
        match racer.1 {
            Ok(()) => winners.push(racer.0),
            Err(refusal) => assert_eq!(refusal, (412, "PreconditionFailed".to_owned())),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one creator wins");
    let race_winner = winners.remove(0);

    // Versioning: two versions, then a delete marker.
    let versioned = bucket_name("pgv");
    s3.create_bucket().bucket(&versioned).send().await.expect("create bucket");
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket(&versioned).versioning_configuration(enabled).send().await.expect("versioning");
    let first_version = put(s3, &versioned, "v", b"version one").await.expect("a version id");
    let second = put(s3, &versioned, "v", b"version two").await.expect("a version id");
    assert_ne!(first_version, second);
    assert_eq!(get(s3, &versioned, "v", None).await, b"version two");
    let deleted = s3.delete_object().bucket(&versioned).key("v").send().await.expect("delete");
    assert_eq!(deleted.delete_marker(), Some(true));
    let marker = deleted.version_id().expect("the marker's id").to_owned();
    let mut expected = vec![
        ("v".to_owned(), first_version.clone(), false, false),
        ("v".to_owned(), second, false, false),
        ("v".to_owned(), marker, true, true),
    ];
    expected.sort();
    let version_list = versions(s3, &versioned).await;
    assert_eq!(version_list, expected);

    let written = Written { bucket, objects, multipart, versioned, first_version, version_list, race_winner };
    check_written(s3, &written).await;
    written
}

async fn futures_join<T: Send + 'static>(tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        out.push(task.await.expect("task"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_on_postgres_and_a_restart_keeps_everything() {
    let deployment = PgDeployment::new(kura_test_pg::shared());
    let mut server = deployment.start();
    let written = write_everything(&server.client()).await;
    // Nothing of it is in a redb file: the metadata is in PostgreSQL.
    assert!(!deployment.data().join("meta.redb").exists());
    let buckets = kura_test_pg::shared().query_i64(&deployment.db, "SELECT count(*) FROM buckets");
    assert_eq!(buckets, 2);

    // A crash, and a start on the same database and data directory: everything is there.
    server.kill();
    let server = deployment.start();
    check_written(&server.client(), &written).await;
}

#[test]
fn a_database_with_a_newer_schema_stops_kura_at_start_with_the_reason() {
    let pg = kura_test_pg::shared();
    let deployment = PgDeployment::new(pg);
    drop(deployment.start());
    pg.execute(&deployment.db, "UPDATE schema_version SET version = version + 1000");
    let out = crate::harness::run_to_exit(&deployment.data(), &deployment.config());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "kura started on a newer schema: {stderr}");
    assert!(stderr.contains("schema version") && stderr.contains("newer"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
}

#[test]
fn a_password_in_the_url_stops_kura_at_start_and_says_to_use_password_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("kura.yaml");
    std::fs::write(
        &config,
        "server:\n  metadata:\n    postgres:\n      url: postgres://kura:hunter2@127.0.0.1:1/kura\n",
    )
    .expect("write config");
    let out = crate::harness::run_to_exit(&dir.path().join("data"), &config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("server.metadata.postgres.url") && stderr.contains("password_file"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "the error quotes the password: {stderr}");
    assert!(!dir.path().join("data").exists(), "nothing was created");
}

/// Two kura processes on one database and one data directory: what one writes the other reads at once,
/// and a bucket policy set or removed through one is enforced by the other within 2 s (a replica keeps
/// a bucket's record for at most a second).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_objects_and_bucket_policies() {
    let deployment = PgDeployment::new(kura_test_pg::shared());
    let a = deployment.start();
    let b = deployment.start();
    let (sa, sb) = (a.client(), b.client());
    let bucket = bucket_name("pgr");
    sa.create_bucket().bucket(&bucket).send().await.expect("create on a");
    for (key, body) in [("small", data(200, 1)), ("large", data(2 << 20, 2))] {
        put(&sa, &bucket, key, &body).await;
        assert_eq!(get(&sb, &bucket, key, None).await, body, "{key} written on a, read on b");
    }
    let overwritten = data(300, 3);
    put(&sb, &bucket, "small", &overwritten).await;
    assert_eq!(get(&sa, &bucket, "small", None).await, overwritten, "overwritten on b, read on a");
    let (keys, _) = list(&sb, &bucket, "", None, 1000).await;
    assert_eq!(keys, ["large", "small"]);

    // An anonymous reader is refused on both; a policy set through a opens reads on b.
    let anonymous = |server: &TestServer| format!("{}/{bucket}/large", server.endpoint());
    let http = reqwest::Client::new();
    for server in [&a, &b] {
        let refused = http.get(anonymous(server)).send().await.expect("anonymous get");
        assert_eq!(refused.status().as_u16(), 403);
    }
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": format!("arn:aws:s3:::{bucket}/*")}]
    });
    sa.put_bucket_policy().bucket(&bucket).policy(policy.to_string()).send().await.expect("policy on a");
    // The anonymous GET on `server` answers `want` within 2 s (the other answer, 403 or 200, meanwhile).
    let until = |server: &TestServer, want: u16, what: &'static str| {
        let (http, url) = (http.clone(), anonymous(server));
        async move {
            let set = Instant::now();
            loop {
                let status = http.get(&url).send().await.expect("anonymous get").status().as_u16();
                if status == want {
                    break;
                }
                assert!([200, 403].contains(&status), "{what}: {status}");
                assert!(set.elapsed() < Duration::from_secs(10), "{what}: not after 10 s");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let took = set.elapsed();
            assert!(took <= Duration::from_secs(2), "{what} after {took:?}");
            eprintln!("{what} after {took:?}");
        }
    };
    until(&b, 200, "a bucket policy set on replica a was in force on replica b").await;
    sb.delete_bucket_policy().bucket(&bucket).send().await.expect("delete policy on b");
    until(&a, 403, "a bucket policy removed on replica b was gone on replica a").await;
}

/// A root client that does not retry, so that a test sees each answer as it is.
fn client_without_retries(server: &TestServer) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(server.endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            crate::harness::ACCESS_KEY,
            crate::harness::SECRET_KEY,
            None,
            None,
            "test",
        ))
        .force_path_style(true)
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// (status, body) of the readiness probe.
pub(crate) async fn readiness(server: &TestServer) -> (u16, String) {
    let response = reqwest::get(format!("{}/kura/health/ready", server.endpoint())).await.expect("readiness probe");
    (response.status().as_u16(), response.text().await.expect("probe body"))
}

/// The S3 error of an SDK error: (status, code, message).
fn refusal<E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug>(
    err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> (u16, String, String) {
    let message = match err {
        aws_sdk_s3::error::SdkError::ServiceError(e) => e.err().message().unwrap_or_default().to_owned(),
        other => format!("{other:?}"),
    };
    (status(err), code(err), message)
}

/// PostgreSQL stopped under a running kura (an operator's `pg_ctl stop -m fast`): requests answer the
/// retryable 503 ServiceUnavailable saying the metadata database is unreachable (never a 500), the
/// readiness probe answers 503; once PostgreSQL is back on the same socket, kura recovers by itself
/// (no restart), writes succeed, and every write acknowledged before the outage reads back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_database_answers_503_and_kura_recovers_by_itself() {
    let pg = PgServer::start();
    let deployment = PgDeployment::new(&pg);
    let server = deployment.start();
    let s3 = client_without_retries(&server);
    let bucket = bucket_name("pgdown");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    let mut acknowledged = Vec::new();
    for i in 0..12u64 {
        let key = format!("before/{i}");
        // Small bodies (in the database) and larger ones (blob files).
        let body = data(if i % 3 == 0 { 200 << 10 } else { 100 + i as usize }, i);
        put(&s3, &bucket, &key, &body).await;
        acknowledged.push((key, body));
    }
    assert_eq!(readiness(&server).await.0, 200);

    pg.stop();
    let unreachable = |(status, code, message): (u16, String, String)| {
        assert_eq!((status, code.as_str()), (503, "ServiceUnavailable"), "{message}");
        assert!(message.contains("metadata database is unreachable"), "{message}");
    };
    let err = s3.put_object().bucket(&bucket).key("during").body(ByteStream::from_static(b"lost")).send().await;
    unreachable(refusal(&err.expect_err("a put while the database is down")));
    let err = s3.get_object().bucket(&bucket).key("before/1").send().await;
    unreachable(refusal(&err.expect_err("a get while the database is down")));
    let err = s3.list_objects_v2().bucket(&bucket).send().await;
    unreachable(refusal(&err.expect_err("a list while the database is down")));
    let err = s3.create_bucket().bucket(bucket_name("pgdown")).send().await;
    unreachable(refusal(&err.expect_err("a create while the database is down")));
    let (probe, body) = readiness(&server).await;
    assert_eq!(probe, 503, "{body}");
    assert!(body.contains("metadata database is unreachable"), "{body}");
    let live = reqwest::get(format!("{}/kura/health/live", server.endpoint())).await.expect("liveness probe");
    assert_eq!(live.status().as_u16(), 200, "the process is alive: a restart would not help");

    pg.restart();
    // Ready again by itself: waited on, never slept on.
    let back = Instant::now();
    loop {
        if readiness(&server).await.0 == 200 {
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(30), "kura is not ready 30 s after the database returned");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("ready again {:?} after the database returned", back.elapsed());
    put(&s3, &bucket, "after", b"written after the outage").await;
    assert_eq!(get(&s3, &bucket, "after", None).await, b"written after the outage");
    for (key, body) in &acknowledged {
        assert_eq!(&get(&s3, &bucket, key, None).await, body, "{key} acknowledged before the outage");
    }
    // The put refused during the outage wrote nothing.
    let err = s3.get_object().bucket(&bucket).key("during").send().await.expect_err("refused put");
    assert_eq!((status(&err), code(&err).as_str()), (404, "NoSuchKey"));
    let (keys, _) = list(&s3, &bucket, "", None, 1000).await;
    assert_eq!(keys.len(), acknowledged.len() + 1);
}

/// On shared metadata an overwritten body's file outlives the overwrite by `blob_grace_seconds` (a
/// reader on another replica may still be streaming it), then a replica's reclaim worker deletes it.
#[tokio::test]
async fn a_replaced_blob_on_shared_metadata_is_deleted_after_the_grace_period() {
    let deployment = PgDeployment::with_server_settings(kura_test_pg::shared(), "  blob_grace_seconds: 2\n");
    let server = deployment.start();
    let s3 = server.client();
    let bucket = bucket_name("pggrace");
    s3.create_bucket().bucket(&bucket).send().await.expect("create");
    put(&s3, &bucket, "k", &data(300_000, 1)).await;
    let first = blob_files(&deployment.data());
    assert_eq!(first.len(), 1, "{first:?}");
    put(&s3, &bucket, "k", &data(300_000, 2)).await;
    let overwritten = Instant::now();
    let both = blob_files(&deployment.data());
    assert!(both.is_superset(&first) && both.len() == 2, "the replaced file is still there: {both:?}");
    let gone = loop {
        let now = blob_files(&deployment.data());
        if now.len() == 1 {
            break overwritten.elapsed();
        }
        assert!(overwritten.elapsed() < Duration::from_secs(30), "not reclaimed after 30 s: {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(gone >= Duration::from_secs(2), "deleted after {gone:?}, before the grace period");
    assert!(blob_files(&deployment.data()).is_disjoint(&first), "the replaced body's file is the one that went");
    assert_eq!(get(&s3, &bucket, "k", None).await, data(300_000, 2), "the current body reads back");
}
