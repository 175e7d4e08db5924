//! High availability: three `kura server` processes (replicas) on one PostgreSQL database (kura-test-pg)
//! and one data directory, as the HA overlay runs them behind one Service. A mixed load spread over the
//! three while one is killed (`kill -9`): every acknowledged write reads back with its bytes from the
//! survivors and from a replacement replica, deletes stay deleted, and only requests to the dead
//! replica fail, at the connection. An upload ticket revoked on one replica is refused on the others at
//! once. A large GET streaming from one replica while another overwrites the object gets the whole old
//! body (the shared blob directory's grace period).

use crate::harness::{ACCESS_KEY, SECRET_KEY, TestServer, blob_files, bucket_name, code, data, md5_hex, status};
use crate::postgres::PgDeployment;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use std::collections::{BTreeMap, BTreeSet};
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

/// A root client that makes one attempt per request (no retries), so the test sees each answer, and a
/// request to a dead replica fails at once.
pub(crate) fn single_attempt_client(endpoint: &str) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
        .force_path_style(true)
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// What a key holds, as far as the test knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Known {
    /// The body `data(len, seed)`, acknowledged.
    Body { seed: u64, len: usize },
    /// Deleted, acknowledged.
    Deleted,
}

/// One key of a worker: its acknowledged state, or, after a write to it failed at the connection (to
/// the killed replica) or answered 503 (a database outage, `pg_faults.rs`), the states it may be in
/// (the request may or may not have been applied).
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    Sure(Known),
    Either(Vec<Known>),
}

/// How an operation ended.
enum Outcome {
    /// Answered (2xx, or the expected 404 of a deleted key).
    Done,
    /// Failed below HTTP: refused or cut connection (a dead replica).
    Connection(String),
    /// An S3 error or a wrong answer: a failure of the test.
    Wrong(String),
}

/// Classifies an SDK error: an HTTP answer is a service error, anything else a connection failure.
fn classify<E: std::fmt::Debug>(err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Outcome {
    match err {
        SdkError::ServiceError(e) => Outcome::Wrong(format!("{:?}: {:?}", e.raw().status(), e.err())),
        other => Outcome::Connection(format!("{other:?}")),
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
    let mut model: BTreeMap<String, Entry> = BTreeMap::new();
    let mut next_key = 0u64;
    let mut rng = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut step = 0u64;
    while !stop.load(Ordering::Relaxed) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        step += 1;
        let replica = ((id + step) % 3) as usize;
        let s3 = &clients[replica];
        // Keys whose state is known and which still hold a body, for overwrites, reads and deletes.
        let live: Vec<String> = model
            .iter()
            .filter(|(_, e)| matches!(e, Entry::Sure(Known::Body { .. })))
            .map(|(k, _)| k.clone())
            .collect();
        let pick = (rng % 100) as usize;
        let seed = id * 1_000_000 + step;
        // Mostly small bodies (inline in the database), some blob files.
        let len = if rng % 5 < 3 { 100 + (rng % 4000) as usize } else { 20_000 + (rng % 180_000) as usize };
        let (key, outcome, intended) = if live.is_empty() || pick < 30 {
            // PUT a new key.
            let key = format!("w{id}/k{next_key:05}");
            next_key += 1;
            let out = s3.put_object().bucket(&bucket).key(&key).body(ByteStream::from(data(len, seed))).send().await;
            (key, out.map(|_| Outcome::Done).unwrap_or_else(classify), Some(Known::Body { seed, len }))
        } else {
            let key = live[(rng as usize / 7) % live.len()].clone();
            let Some(Entry::Sure(Known::Body { seed: have_seed, len: have_len })) = model.get(&key).cloned() else {
                unreachable!("live keys hold a known body")
            };
            if pick < 50 {
                // Overwrite.
                let out =
                    s3.put_object().bucket(&bucket).key(&key).body(ByteStream::from(data(len, seed))).send().await;
                (key, out.map(|_| Outcome::Done).unwrap_or_else(classify), Some(Known::Body { seed, len }))
            } else if pick < 80 {
                // GET: the acknowledged bytes.
                let outcome = match s3.get_object().bucket(&bucket).key(&key).send().await {
                    Ok(out) => match out.body.collect().await.map(|b| b.to_vec()) {
                        Ok(body) if body == data(have_len, have_seed) => Outcome::Done,
                        Ok(_) => Outcome::Wrong(format!("GET {key}: not the acknowledged body")),
                        Err(e) => Outcome::Connection(format!("body: {e:?}")),
                    },
                    Err(e) => classify(e),
                };
                (key, outcome, None)
            } else if pick < 90 {
                // LIST the worker's prefix: every key it knows to hold a body, none it knows deleted.
                let outcome = match list_all(s3, &bucket, &format!("w{id}/")).await {
                    Ok(keys) => {
                        let sure_present: BTreeSet<&String> = model
                            .iter()
                            .filter(|(_, e)| matches!(e, Entry::Sure(Known::Body { .. })))
                            .map(|(k, _)| k)
                            .collect();
                        let sure_absent: BTreeSet<&String> = model
                            .iter()
                            .filter(|(_, e)| matches!(e, Entry::Sure(Known::Deleted)))
                            .map(|(k, _)| k)
                            .collect();
                        let listed: BTreeSet<&String> = keys.iter().collect();
                        if !sure_present.is_subset(&listed) || !sure_absent.is_disjoint(&listed) {
                            Outcome::Wrong(format!("LIST w{id}/: {listed:?} against {model:?}"))
                        } else {
                            Outcome::Done
                        }
                    }
                    Err(outcome) => outcome,
                };
                (format!("w{id}/"), outcome, None)
            } else {
                // DELETE.
                let out = s3.delete_object().bucket(&bucket).key(&key).send().await;
                (key, out.map(|_| Outcome::Done).unwrap_or_else(classify), Some(Known::Deleted))
            }
        };
        match outcome {
            Outcome::Done => {
                tally.done[replica].fetch_add(1, Ordering::Relaxed);
                if let Some(now) = intended {
                    model.insert(key, Entry::Sure(now));
                }
            }
            Outcome::Connection(why) => {
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
                }
                if let Some(now) = intended.filter(|_| !refused) {
                    // Applied or not: either the old state or the new one, and nothing else.
                    let mut states = match model.remove(&key) {
                        Some(Entry::Sure(old)) => vec![old],
                        Some(Entry::Either(old)) => old,
                        None => vec![Known::Deleted],
                    };
                    states.push(now);
                    model.insert(key, Entry::Either(states));
                }
            }
            Outcome::Wrong(why) => tally.wrong.lock().expect("lock").push(format!("replica {replica}: {why}")),
        }
    }
    model
}

/// Every key under `prefix`, page by page; a failure is classified.
async fn list_all(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<Vec<String>, Outcome> {
    let (mut keys, mut token) = (Vec::new(), None);
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .max_keys(100)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(classify)?;
        keys.extend(page.contents().iter().filter_map(|o| o.key()).map(str::to_owned));
        if page.is_truncated() != Some(true) {
            return Ok(keys);
        }
        token = page.next_continuation_token().map(str::to_owned);
    }
}

/// What `key` holds through `s3` (a live replica): its body and ETag, or `None` when there is none.
async fn read_state(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<(Vec<u8>, String)> {
    match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => {
            let etag = out.e_tag().unwrap_or_default().to_owned();
            Some((out.body.collect().await.expect("body from a live replica").into_bytes().to_vec(), etag))
        }
        Err(err) => {
            assert_eq!((status(&err), code(&err).as_str()), (404, "NoSuchKey"), "GET {key}: {err:?}");
            None
        }
    }
}

/// Whether what a replica returned for a key is the known state `known`.
fn matches_known(found: &Option<(Vec<u8>, String)>, known: &Known) -> bool {
    match (found, known) {
        (None, Known::Deleted) => true,
        (Some((body, etag)), Known::Body { seed, len }) => {
            let expected = data(*len, *seed);
            body == &expected && etag == &format!("\"{}\"", md5_hex(&expected))
        }
        _ => false,
    }
}

/// Checks every key of the models through `clients` in turn, and the listing through the first;
/// returns how many keys were sure and how many uncertain.
pub(crate) async fn check_models(
    clients: &[aws_sdk_s3::Client],
    bucket: &str,
    models: &[BTreeMap<String, Entry>],
) -> (usize, usize) {
    let (mut sure, mut either) = (0, 0);
    let mut may_be_listed = BTreeSet::new();
    let mut must_be_listed = BTreeSet::new();
    for (i, (key, entry)) in models.iter().flatten().enumerate() {
        let s3 = &clients[i % clients.len()];
        let found = read_state(s3, bucket, key).await;
        match entry {
            Entry::Sure(known) => {
                sure += 1;
                assert!(
                    matches_known(&found, known),
                    "{key}: acknowledged {known:?}, found {:?}",
                    found.map(|f| f.0.len())
                );
                if found.is_some() {
                    must_be_listed.insert(key.clone());
                }
            }
            Entry::Either(states) => {
                either += 1;
                assert!(
                    states.iter().any(|s| matches_known(&found, s)),
                    "{key}: one of {states:?} (a request cut by the kill), found {:?}: torn or foreign",
                    found.map(|f| f.0.len())
                );
            }
        }
        if found.is_some() {
            may_be_listed.insert(key.clone());
        }
    }
    let listed: BTreeSet<String> = match list_all(&clients[0], bucket, "").await {
        Ok(keys) => keys.into_iter().collect(),
        Err(_) => panic!("LIST through a live replica failed"),
    };
    assert!(must_be_listed.is_subset(&listed), "acknowledged keys missing from the listing");
    assert_eq!(listed, may_be_listed, "the listing is exactly the keys that hold a body");
    (sure, either)
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
