//! Backups and metadata on PostgreSQL: `kura admin backup` of kura on PostgreSQL while it keeps
//! writing, restored into redb and served; and the move of a redb installation to PostgreSQL
//! (`kura restore --config`, then replicas on the database), which refuses a database that is not empty.

use crate::backup::{body_of, churn_body, keys_of, kura};
use crate::harness::{
    ACCESS_KEY, SECRET_KEY, TestServer, bucket_name, complete_upload, create_upload, data, upload_part,
};
use crate::postgres::PgDeployment;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What [`write_estate`] wrote, to read back from a restored installation.
struct Estate {
    bucket: String,
    small: Vec<u8>,
    large: Vec<u8>,
    multipart: Vec<u8>,
    /// (version id, body) of key `v`, oldest first; the last is current.
    versions: Vec<(String, Vec<u8>)>,
    policy: String,
    carol_secret: String,
}

/// Writes a bit of everything: an inline object with metadata, a blob object, a multipart object,
/// two versions of a key (versioning on), a bucket policy, and an IAM user made with `kura admin user`.
async fn write_estate(server: &TestServer) -> Estate {
    let s3 = server.client();
    let bucket = bucket_name("estate");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket(&bucket).versioning_configuration(enabled).send().await.expect("versioning");
    let small = b"small enough to be stored inline".to_vec();
    s3.put_object()
        .bucket(&bucket)
        .key("small.txt")
        .content_type("text/plain")
        .metadata("owner", "carol")
        .body(ByteStream::from(small.clone()))
        .send()
        .await
        .expect("small put");
    let large = data(700 << 10, 1);
    s3.put_object().bucket(&bucket).key("large.bin").body(ByteStream::from(large.clone())).send().await.expect("put");
    let id = create_upload(&s3, &bucket, "multi.bin").await;
    let (one, two) = (data(5 << 20, 2), data(3000, 3));
    let parts = vec![
        upload_part(&s3, &bucket, "multi.bin", &id, 1, one.clone()).await,
        upload_part(&s3, &bucket, "multi.bin", &id, 2, two.clone()).await,
    ];
    complete_upload(&s3, &bucket, "multi.bin", &id, parts).await.expect("complete");
    let mut versions = Vec::new();
    for (i, body) in [b"version one".to_vec(), data(200 << 10, 4)].into_iter().enumerate() {
        let out = s3.put_object().bucket(&bucket).key("v").body(ByteStream::from(body.clone())).send().await;
        let version = out.unwrap_or_else(|e| panic!("version {i}: {e:?}")).version_id().expect("version id").to_owned();
        versions.push((version, body));
    }
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Readers","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::000000000000:user/carol"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#
    );
    s3.put_bucket_policy().bucket(&bucket).policy(&policy).send().await.expect("policy");
    let (ok, out, err) =
        kura(server, ACCESS_KEY, SECRET_KEY, &["admin", "user", "create", "carol", "--policy", "readonly"]).await;
    assert!(ok, "{err}");
    let carol_secret = serde_json::from_str::<serde_json::Value>(&out).expect("json")["secret_key"]
        .as_str()
        .expect("secret")
        .to_owned();
    Estate { bucket, small, large, multipart: [one, two].concat(), versions, policy, carol_secret }
}

/// Reads everything of the estate back from `server`: bytes, metadata, versions, the policy, the user.
async fn check_estate(server: &TestServer, estate: &Estate) {
    let (s3, bucket) = (server.client(), estate.bucket.as_str());
    assert_eq!(body_of(&s3, bucket, "small.txt").await, estate.small);
    let head = s3.head_object().bucket(bucket).key("small.txt").send().await.expect("head");
    assert_eq!(head.content_type(), Some("text/plain"));
    assert_eq!(head.metadata().and_then(|m| m.get("owner")).map(String::as_str), Some("carol"));
    assert!(body_of(&s3, bucket, "large.bin").await == estate.large, "large.bin intact");
    assert!(body_of(&s3, bucket, "multi.bin").await == estate.multipart, "the multipart object intact");
    let (current_id, current) = estate.versions.last().expect("versions");
    assert!(body_of(&s3, bucket, "v").await == *current, "the current version");
    for (version, body) in &estate.versions {
        let got = s3.get_object().bucket(bucket).key("v").version_id(version).send().await.expect("get version");
        assert_eq!(got.version_id(), Some(version.as_str()));
        assert!(got.body.collect().await.expect("body").into_bytes() == *body, "version {version} intact");
    }
    let listed = s3.list_object_versions().bucket(bucket).prefix("v").send().await.expect("list versions");
    let ids: Vec<(&str, bool)> =
        listed.versions().iter().map(|v| (v.version_id().unwrap_or_default(), v.is_latest() == Some(true))).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&(current_id.as_str(), true)), "{ids:?}");
    let got = s3.get_bucket_policy().bucket(bucket).send().await.expect("policy");
    assert_eq!(got.policy(), Some(estate.policy.as_str()));
    let carol = server.client_with("carol", &estate.carol_secret);
    assert!(body_of(&carol, bucket, "large.bin").await == estate.large, "the IAM user reads");
    let err = carol.delete_object().bucket(bucket).key("large.bin").send().await.expect_err("readonly");
    assert_eq!(crate::harness::code(&err), "AccessDenied");
}

/// Takes `kura admin backup` of `server` into `archive`, with `more` arguments.
async fn backup(server: &TestServer, archive: &Path, more: &[&str]) {
    let mut args = vec!["admin", "backup", "--output", archive.to_str().expect("path")];
    args.extend_from_slice(more);
    let (ok, _, err) = kura(server, ACCESS_KEY, SECRET_KEY, &args).await;
    assert!(ok && err.contains("written to"), "backup failed: {err}");
}

/// Runs `kura admin backup --include-secrets --output -` against `endpoint`: tells `started` once the
/// first bytes arrived (the snapshot is taken before any), waits for `go`, then reads the rest into
/// `archive`.
fn streamed_backup(
    endpoint: &str,
    archive: &Path,
    started: tokio::sync::oneshot::Sender<()>,
    go: &std::sync::mpsc::Receiver<()>,
) {
    use std::io::{Read as _, Write as _};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kura"))
        .args(["admin", "backup", "--include-secrets", "--output", "-"])
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env_remove("AWS_PROFILE")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run kura admin backup");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 512];
    stdout.read_exact(&mut first).expect("the first bytes of the backup");
    started.send(()).expect("tell the test");
    go.recv().expect("wait for the writes");
    let mut file = std::fs::File::create(archive).expect("create the archive");
    file.write_all(&first).expect("write");
    std::io::copy(&mut stdout, &mut file).expect("read the backup");
    assert!(child.wait().expect("wait").success(), "kura admin backup failed");
}

/// Runs `kura restore` with `args` appended to `--from ARCHIVE --data DATA`.
async fn restore(server: &TestServer, archive: &Path, data: &Path, more: &[&str]) -> (bool, String, String) {
    let mut args = vec!["restore", "--from", archive.to_str().expect("path"), "--data", data.to_str().expect("path")];
    args.extend_from_slice(more);
    kura(server, ACCESS_KEY, SECRET_KEY, &args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_of_kura_on_postgres_taken_while_writing_restores_into_redb() {
    let deployment = PgDeployment::new(kura_test_pg::shared());
    let server = deployment.start();
    let estate = write_estate(&server).await;

    // Writes go on while the backup runs: churn object i is `c/i`, written in order.
    let s3 = server.client();
    let churn = bucket_name("pgchurn");
    s3.create_bucket().bucket(&churn).send().await.expect("create bucket");
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (s3, churn, stop, written) = (s3.clone(), churn.clone(), stop.clone(), written.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let put = s3.put_object().bucket(&churn).key(format!("c/{i:06}")).body(ByteStream::from(churn_body(i)));
                put.send().await.expect("churn put");
                i += 1;
                written.store(i, Ordering::SeqCst);
            }
        })
    };
    while written.load(Ordering::SeqCst) < 5 {
        tokio::task::yield_now().await;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let archive = work.path().join("pg-backup.tar");
    let before = written.load(Ordering::SeqCst);
    // The backup streams to standard output; once its first bytes arrive its snapshot is taken, and it
    // is held there (the pipe fills) until three more writes have been acknowledged.
    let (started_tx, started) = tokio::sync::oneshot::channel();
    let (go, go_rx) = std::sync::mpsc::channel::<()>();
    let reader = {
        let (endpoint, archive) = (server.endpoint(), archive.clone());
        tokio::task::spawn_blocking(move || streamed_backup(&endpoint, &archive, started_tx, &go_rx))
    };
    started.await.expect("the backup started");
    let at_snapshot = written.load(Ordering::SeqCst);
    while written.load(Ordering::SeqCst) < at_snapshot + 3 {
        tokio::task::yield_now().await;
    }
    go.send(()).expect("release the backup");
    reader.await.expect("join");
    stop.store(true, Ordering::SeqCst);
    writer.await.expect("writer");

    // Into a fresh redb data directory (named by a config file whose metadata is redb, the default),
    // served by a second server.
    let restored_dir = work.path().join("restored");
    let redb_config = work.path().join("redb.yaml");
    std::fs::write(&redb_config, "server:\n  region: us-east-1\n").expect("write config");
    let (ok, out, err) =
        restore(&server, &archive, &restored_dir, &["--config", redb_config.to_str().expect("path")]).await;
    assert!(ok && out.contains("kura: restored") && !out.contains("PostgreSQL"), "restore failed: {out} {err}");
    assert!(restored_dir.join("meta.redb").exists());
    let restored = TestServer::start_on(&restored_dir);
    check_estate(&restored, &estate).await;
    // Every churn object acknowledged before the backup began is there with its bytes, and the rest
    // is one prefix of the sequence (written in order): nothing after the snapshot, no gap.
    let r3 = restored.client();
    let keys = keys_of(&r3, &churn).await;
    let expected: BTreeSet<String> = (0..keys.len() as u64).map(|i| format!("c/{i:06}")).collect();
    assert_eq!(keys, expected, "one prefix of the writes");
    // At most the one write in flight when the snapshot was taken is in it; the three acknowledged
    // while the backup streamed are not.
    let n = keys.len() as u64;
    assert!(n >= before && n <= at_snapshot + 1, "{before} ≤ {n} ≤ {at_snapshot} + 1");
    for (i, key) in keys.iter().enumerate() {
        assert!(body_of(&r3, &churn, key).await == churn_body(i as u64), "{key} intact");
    }
    assert!(keys_of(&s3, &churn).await.len() > keys.len(), "the original went on after the snapshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redb_installation_moves_to_postgres_and_a_database_that_is_not_empty_is_refused() {
    let pg = kura_test_pg::shared();
    let original = TestServer::start();
    let estate = write_estate(&original).await;
    let work = tempfile::tempdir().expect("tempdir");
    let archive = work.path().join("redb-backup.tar");
    // With the data directory's secret files: the master keys that wrap the built-in KMS keys' material
    // move with the metadata (the replicas here read them from the shared data directory).
    backup(&original, &archive, &["--include-secrets"]).await;

    // Restore with the HA config into its new, empty database and data directory. A damaged archive
    // first: refused while it is verified, before the database gets a row; the data directory is gone.
    let deployment = PgDeployment::new(pg);
    let config = deployment.config();
    let config = config.to_str().expect("path");
    let rows = |table: &str| pg.query_i64(&deployment.db, &format!("SELECT count(*) FROM {table}"));
    let tables = ["buckets", "objects", "versions", "uploads", "parts", "records"];
    let bytes = std::fs::read(&archive).expect("read");
    let cut = work.path().join("cut.tar");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).expect("write");
    let (ok, _, err) = restore(&original, &cut, &deployment.data(), &["--config", config]).await;
    assert!(!ok && err.contains("truncated"), "{err}");
    assert!(tables.iter().all(|t| rows(t) == 0), "a refused archive reached the database");
    assert!(!deployment.data().exists(), "the refused restore left its data directory");
    let (ok, out, err) = restore(&original, &archive, &deployment.data(), &["--config", config]).await;
    assert!(ok, "restore into PostgreSQL failed: {out} {err}");
    assert!(out.contains("kura: restored") && out.contains("PostgreSQL database"), "{out}");
    assert!(out.contains("master-keys"), "{out}");
    assert!(!deployment.data().join("meta.redb").exists(), "the metadata went to PostgreSQL, not redb");
    assert_eq!(rows("buckets"), 1);
    // Two replicas on it: each reads everything.
    let (a, b) = (deployment.start(), deployment.start());
    check_estate(&a, &estate).await;
    check_estate(&b, &estate).await;

    // Restoring again into that database (now holding an installation) is refused: nothing written,
    // neither to the database nor to the data directory named.
    let counts: Vec<i64> = tables.into_iter().map(rows).collect();
    let second = work.path().join("second");
    let (ok, _, err) = restore(&original, &archive, &second, &["--config", config]).await;
    assert!(!ok, "a restore into a database that is not empty succeeded");
    assert!(err.contains("metadata store is not empty") && err.contains("new, empty database"), "{err}");
    assert!(!second.exists(), "the data directory of a refused restore was created");
    let now: Vec<i64> = tables.into_iter().map(rows).collect();
    assert_eq!(now, counts, "the refused restore wrote to the database");
    check_estate(&a, &estate).await;
}

/// The database refuses writes part way through the copy (a trigger on the records table, which the
/// copy writes last, stands for a database that fails mid-restore): the restore fails saying that the
/// database now holds part of the backup and must be emptied, removes what it wrote to the data
/// directory, and a second attempt on that database is refused as not empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_that_fails_during_the_copy_is_reported_as_partly_restored() {
    let pg = kura_test_pg::shared();
    let original = TestServer::start();
    let s3 = original.client();
    let bucket = bucket_name("partly");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    s3.put_object().bucket(&bucket).key("k").body(ByteStream::from(data(50_000, 9))).send().await.expect("put");
    let (ok, _, err) =
        kura(&original, ACCESS_KEY, SECRET_KEY, &["admin", "user", "create", "dora", "--policy", "readonly"]).await;
    assert!(ok, "{err}");
    let work = tempfile::tempdir().expect("tempdir");
    let archive = work.path().join("backup.tar");
    backup(&original, &archive, &[]).await;

    // The tables exist (a restore of an empty archive opens the database, which creates them, and is
    // refused), the database is empty, and inserts into `records` fail.
    let deployment = PgDeployment::new(pg);
    let config = deployment.config();
    let config = config.to_str().expect("path");
    let empty = work.path().join("empty.tar");
    std::fs::write(&empty, [0u8; 1024]).expect("write");
    let (ok, _, err) = restore(&original, &empty, &deployment.data(), &["--config", config]).await;
    assert!(!ok && err.contains("the archive is empty"), "{err}");
    let rows = |table: &str| pg.query_i64(&deployment.db, &format!("SELECT count(*) FROM {table}"));
    assert_eq!(rows("buckets") + rows("records"), 0, "the database is empty before the restore");
    pg.execute(
        &deployment.db,
        "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$ \
         LANGUAGE plpgsql; CREATE TRIGGER refuse BEFORE INSERT ON records FOR EACH ROW EXECUTE FUNCTION refuse();",
    );
    let (ok, _, err) = restore(&original, &archive, &deployment.data(), &["--config", config]).await;
    assert!(!ok, "a restore into a failing database succeeded");
    assert!(err.contains("now holds part of the backup") && err.contains("drop and create the database"), "{err}");
    assert!(!deployment.data().exists(), "the failed restore left its data directory");
    assert_eq!(rows("buckets"), 1, "the buckets were copied before the records failed");

    pg.execute(&deployment.db, "DROP TRIGGER refuse ON records");
    let (ok, _, err) = restore(&original, &archive, &deployment.data(), &["--config", config]).await;
    assert!(!ok && err.contains("metadata store is not empty") && err.contains(&bucket), "{err}");
}

/// Two `kura restore --config` into one database at once: the first holds the database for its whole
/// restore (here while it waits for its archive on standard input, after it found the database empty
/// and created its data directory); the second is refused at once, saying another restore is writing,
/// and writes nothing, neither to the database nor to its data directory. The first then completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_concurrent_restore_into_one_database_is_refused() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let pg = kura_test_pg::shared();
    let original = TestServer::start();
    let s3 = original.client();
    let bucket = bucket_name("twice");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    s3.put_object().bucket(&bucket).key("k").body(ByteStream::from(data(40_000, 4))).send().await.expect("put");
    let work = tempfile::tempdir().expect("tempdir");
    let archive = work.path().join("backup.tar");
    backup(&original, &archive, &[]).await;

    let deployment = PgDeployment::new(pg);
    let config = deployment.config();
    let mut first = Command::new(env!("CARGO_BIN_EXE_kura"))
        .args(["restore", "--from", "-", "--data"])
        .arg(deployment.data())
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the first restore");
    // It creates its data directory once it holds the database and found it empty; then it reads stdin.
    let start = std::time::Instant::now();
    while !deployment.data().exists() {
        assert!(first.try_wait().expect("try_wait").is_none(), "the first restore ended early");
        assert!(start.elapsed() < std::time::Duration::from_secs(30), "the first restore did not start");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let rows = |table: &str| pg.query_i64(&deployment.db, &format!("SELECT count(*) FROM {table}"));

    let second = work.path().join("second");
    let (ok, _, err) = restore(&original, &archive, &second, &["--config", config.to_str().expect("path")]).await;
    assert!(!ok, "a second restore ran beside the first");
    assert!(err.contains("another `kura restore` is writing to this PostgreSQL database"), "{err}");
    assert!(!second.exists(), "the refused restore created its data directory");
    assert_eq!(rows("buckets") + rows("objects") + rows("records"), 0, "the refused restore wrote");

    // The first goes on and completes.
    let mut stdin = first.stdin.take().expect("stdin");
    stdin.write_all(&std::fs::read(&archive).expect("read the archive")).expect("feed the archive");
    drop(stdin);
    let out = tokio::task::spawn_blocking(move || first.wait_with_output()).await.expect("join").expect("wait");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.contains("kura: restored"), "{stdout} {stderr}");
    assert_eq!((rows("buckets"), rows("objects")), (1, 1));
}
