//! High availability: three `kura server` processes (replicas) on one PostgreSQL database (kura-test-pg)
//! and one data directory, as the HA overlay runs them behind one Service. A mixed load spread over the
//! three while one is killed (`kill -9`): every acknowledged write reads back with its bytes from the
//! survivors and from a replacement replica, deletes stay deleted, and only requests to the dead
//! replica fail, at the connection. An upload ticket revoked on one replica is refused on the others at
//! once. A large GET streaming from one replica while another overwrites the object gets the whole old
//! body (the shared blob directory's grace period).

use crate::harness::{ACCESS_KEY, SECRET_KEY, TestServer, blob_files, bucket_name, data};
use crate::mixed_load::{Answers, Entry, Error, Model, Outcome, Step, check_models, single_attempt_client};
use crate::postgres::PgDeployment;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Concurrent load tasks.
const WORKERS: u64 = 6;
/// Acknowledged operations before the kill, and after it.
const BEFORE_KILL: usize = 300;
const AFTER_KILL: usize = 300;
/// The replica that is killed (index into the three).
const VICTIM: usize = 2;

/// This test's reading: an HTTP answer other than success is wrong; anything below HTTP (a refused
/// or cut connection, a body that broke off) is the connection failure a dead replica causes.
struct KilledReplica;

impl Answers for KilledReplica {
    type Expected = String;
    fn error<E: ProvideErrorMetadata + std::fmt::Debug>(err: Error<E>) -> Outcome<String> {
        match err {
            SdkError::ServiceError(e) => Outcome::Wrong(format!("{:?}: {:?}", e.raw().status(), e.err())),
            other => Outcome::Expected(format!("{other:?}")),
        }
    }
    fn body_broke(key: &str, why: String) -> Outcome<String> {
        Outcome::Expected(format!("GET {key}: the body broke off: {why}"))
    }
}

/// Counters of the load, per replica.
#[derive(Default)]
struct Tally {
    done: [AtomicUsize; 3],
    connection_failures: [AtomicUsize; 3],
    /// Of those, requests cut after they were sent (in flight at the kill), not refused at connect.
    cut: AtomicUsize,
    /// Connection failures on a replica that was never killed, or any wrong answer: must stay empty.
    wrong: Mutex<Vec<String>>,
}

/// A worker: operations on its own keys (`w{id}/…`), each sent to the next replica in turn, keeping
/// the model of what each key holds. Runs until `stop`.
async fn worker(
    id: u64,
    clients: Arc<Vec<aws_sdk_s3::Client>>,
    bucket: String,
    tally: Arc<Tally>,
    killed: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> BTreeMap<String, Entry> {
    let mut model = Model::new(id);
    while !stop.load(Ordering::Relaxed) {
        let replica = ((id + model.steps() + 1) % 3) as usize;
        let Step { key, outcome, intended } = model.step::<KilledReplica>(&clients[replica], &bucket).await;
        match outcome {
            Outcome::Done => {
                tally.done[replica].fetch_add(1, Ordering::Relaxed);
                model.settle(key, intended);
            }
            Outcome::Expected(why) => {
                tally.connection_failures[replica].fetch_add(1, Ordering::Relaxed);
                // Only the killed replica, once killed (the flag is set before the kill): never before,
                // never a survivor.
                if replica != VICTIM || !killed.load(Ordering::Relaxed) {
                    tally.wrong.lock().expect("lock").push(format!("replica {replica}: {key}: {why}"));
                }
                // A refused connection sent nothing: the key is as it was. A request cut after it was
                // sent may or may not have been applied.
                let refused = why.contains("Connection refused");
                if !refused {
                    tally.cut.fetch_add(1, Ordering::Relaxed);
                    // Applied or not: either the old state or the new one, and nothing else.
                    model.uncertain(key, intended);
                }
            }
            Outcome::Wrong(why) => tally.wrong.lock().expect("lock").push(format!("replica {replica}: {why}")),
        }
    }
    model.into_entries()
}

/// Waits until `counter` (summed) reaches `target`, failing after `limit`.
async fn wait_for_count(tally: &Tally, target: usize, limit: Duration, what: &str) {
    let start = Instant::now();
    loop {
        let done: usize = tally.done.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        if done >= target {
            return;
        }
        assert!(tally.wrong.lock().expect("lock").is_empty(), "{:?}", tally.wrong.lock().expect("lock"));
        assert!(start.elapsed() < limit, "{what}: only {done} of {target} operations after {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Three replicas under a mixed load (PUT new keys, overwrites, GET, LIST, DELETE from six tasks,
/// each operation to the next replica in turn); one replica is killed with SIGKILL in the middle and
/// the load goes on. Requests to the dead replica fail at the connection (counted apart); no other
/// request fails. Then every acknowledged write reads back with its bytes and ETag through the two
/// survivors, every acknowledged delete stays deleted, a request cut by the kill left the key whole in
/// its old or its new state, and the listing is exactly what holds a body; a replacement replica
/// started on the same database and directory serves the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_lose_no_acknowledged_write_when_one_is_killed() {
    let deployment = PgDeployment::new(kura_test_pg::shared());
    let mut replicas: Vec<TestServer> = (0..3).map(|_| deployment.start()).collect();
    let clients: Arc<Vec<aws_sdk_s3::Client>> =
        Arc::new(replicas.iter().map(|r| single_attempt_client(&r.endpoint())).collect());
    let bucket = bucket_name("ha");
    clients[0].create_bucket().bucket(&bucket).send().await.expect("create the bucket on replica 0");

    let tally = Arc::new(Tally::default());
    let (killed, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let workers: Vec<_> = (0..WORKERS)
        .map(|id| {
            tokio::spawn(worker(id, clients.clone(), bucket.clone(), tally.clone(), killed.clone(), stop.clone()))
        })
        .collect();

    wait_for_count(&tally, BEFORE_KILL, Duration::from_secs(120), "before the kill").await;
    let done_on_victim = tally.done[VICTIM].load(Ordering::Relaxed);
    killed.store(true, Ordering::Relaxed);
    replicas[VICTIM].kill();
    let at_kill: usize = tally.done.iter().map(|c| c.load(Ordering::Relaxed)).sum();
    wait_for_count(&tally, at_kill + AFTER_KILL, Duration::from_secs(120), "after the kill").await;
    stop.store(true, Ordering::Relaxed);
    let mut models = Vec::new();
    for w in workers {
        models.push(w.await.expect("worker"));
    }

    let wrong = tally.wrong.lock().expect("lock").clone();
    assert!(
        wrong.is_empty(),
        "{} request(s) failed other than at the killed replica:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    let done: Vec<usize> = tally.done.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let failed: Vec<usize> = tally.connection_failures.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    assert!(done_on_victim > 0, "the victim served part of the load before the kill");
    assert!(failed[VICTIM] > 0, "requests went on to the killed replica and failed at the connection");
    assert_eq!(failed.iter().sum::<usize>(), failed[VICTIM], "only the killed replica failed: {failed:?}");
    let survivors: Vec<aws_sdk_s3::Client> =
        (0..3).filter(|&i| i != VICTIM).map(|i| single_attempt_client(&replicas[i].endpoint())).collect();
    let (sure, either) = check_models(&survivors, &bucket, &models).await;
    eprintln!(
        "three replicas: {done:?} operations answered per replica, {failed:?} failed at the connection ({} of \
         them cut in flight, the rest refused; replica {VICTIM} killed after {at_kill} operations); {sure} keys checked through the survivors, {either} left \
         uncertain by a cut request (each whole in its old or new state)",
        tally.cut.load(Ordering::Relaxed)
    );

    // A replacement on the same database and data directory serves all of it.
    let replacement = deployment.start();
    let through_replacement = [single_attempt_client(&replacement.endpoint())];
    assert_eq!(check_models(&through_replacement, &bucket, &models).await, (sure, either));
}

/// The ticket's PUT URL, sent to `server` under the Host the ticket was signed for (as replicas behind
/// one Service all answer to one name).
async fn use_ticket(url: &str, signed_for: &TestServer, server: &TestServer, body: &'static str) -> u16 {
    let url = url.replacen(&signed_for.endpoint(), &server.endpoint(), 1);
    let response = reqwest::Client::new()
        .put(url)
        .header("host", signed_for.addr.to_string())
        .body(body)
        .send()
        .await
        .expect("PUT with the ticket");
    response.status().as_u16()
}

/// An upload ticket issued and revoked on replica a: before the revocation it works on b and c (tickets
/// live in the database), and the first use after it, on b and on c, is refused (403), and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_revoked_on_one_replica_is_refused_on_the_others_at_once() {
    let deployment = PgDeployment::new(kura_test_pg::shared());
    let (a, b, c) = (deployment.start(), deployment.start(), deployment.start());
    let bucket = bucket_name("hatk");
    a.client().create_bucket().bucket(&bucket).send().await.expect("create bucket");
    let target = format!("s3://{bucket}/upload.txt");
    let (ok, out, err) = a.cli(ACCESS_KEY, SECRET_KEY, &["presign", "put", &target, "--ticket"]);
    assert!(ok, "{err}");
    let ticket: serde_json::Value = serde_json::from_str(&out).expect("ticket JSON");
    let (id, url) = (ticket["id"].as_str().expect("id"), ticket["url"].as_str().expect("url"));
    assert!(url.starts_with(&a.endpoint()), "{url}");
    assert_eq!(use_ticket(url, &a, &b, "from b").await, 200, "the ticket issued on a works on b");
    assert_eq!(use_ticket(url, &a, &c, "from c").await, 200, "and on c");
    let body = |server: &TestServer| {
        let s3 = server.client();
        let bucket = bucket.clone();
        async move {
            let out = s3.get_object().bucket(&bucket).key("upload.txt").send().await.expect("get");
            out.body.collect().await.expect("body").into_bytes().to_vec()
        }
    };
    assert_eq!(body(&a).await, b"from c");

    let (ok, _, err) = a.cli(ACCESS_KEY, SECRET_KEY, &["admin", "presign", "revoke", id]);
    assert!(ok, "{err}");
    assert_eq!(use_ticket(url, &a, &b, "after revocation").await, 403, "revoked on a, refused on b at once");
    assert_eq!(use_ticket(url, &a, &c, "after revocation").await, 403, "and on c");
    assert_eq!(use_ticket(url, &a, &a, "after revocation").await, 403, "and on a");
    assert_eq!(body(&b).await, b"from c", "the refused uses wrote nothing");
}

/// A 24 MiB object read through replica a, slowly (the reader stops after the first chunk), while
/// replica b overwrites it: the overwrite is acknowledged and visible on b while a is still
/// streaming; the old body's file is still on the shared volume (its deletion waits
/// `blob_grace_seconds`, here 2 s, because only a knows it is reading it); the reader on a then gets
/// the whole old body, byte for byte, and a new GET on a gets the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_large_get_on_one_replica_outlives_an_overwrite_on_another() {
    let deployment = PgDeployment::with_server_settings(kura_test_pg::shared(), "  blob_grace_seconds: 2\n");
    let (a, b) = (deployment.start(), deployment.start());
    let (sa, sb) = (a.client(), b.client());
    let bucket = bucket_name("hagrace");
    sa.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    let (old, new) = (data(24 << 20, 1), data(3 << 20, 2));
    sa.put_object().bucket(&bucket).key("big").body(ByteStream::from(old.clone())).send().await.expect("put old");
    let old_files = blob_files(&deployment.data());
    assert_eq!(old_files.len(), 1, "{old_files:?}");

    let mut reading = sa.get_object().bucket(&bucket).key("big").send().await.expect("get on a");
    assert_eq!(reading.content_length(), Some(old.len() as i64));
    let mut received = reading.body.try_next().await.expect("first chunk").expect("a chunk").to_vec();
    assert!(received.len() < old.len(), "the reader has only begun");

    sb.put_object()
        .bucket(&bucket)
        .key("big")
        .body(ByteStream::from(new.clone()))
        .send()
        .await
        .expect("overwrite on b");
    let now = sb.get_object().bucket(&bucket).key("big").send().await.expect("get on b");
    assert_eq!(now.body.collect().await.expect("body").into_bytes().as_ref(), new.as_slice(), "b serves the new body");
    assert!(blob_files(&deployment.data()).is_superset(&old_files), "the old body's file outlives the overwrite");

    while let Some(chunk) = reading.body.try_next().await.expect("the stream on a goes on") {
        received.extend_from_slice(&chunk);
    }
    assert_eq!(received.len(), old.len(), "the whole old body");
    assert!(received == old, "the old body, byte for byte: never torn, never the new one");
    let again = sa.get_object().bucket(&bucket).key("big").send().await.expect("get on a again");
    assert_eq!(again.body.collect().await.expect("body").into_bytes().as_ref(), new.as_slice());
}
