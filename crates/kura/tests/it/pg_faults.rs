//! PostgreSQL restarted under load: one `kura server` on a private PostgreSQL (kura-test-pg) while
//! several tasks PUT, overwrite, GET, LIST and DELETE through it; the database is stopped in the middle
//! (`pg_ctl stop -m fast`, as an operator's restart or a failover begins) and started again. Every
//! failure is the retryable 503 ServiceUnavailable, readiness goes 503 and comes back by itself, the load
//! goes on on the same kura process, and every acknowledged write and delete holds afterwards.
//!
//! Decided here: a connection-level failure (no HTTP answer) is a failure of the test, never an
//! accepted outcome. kura stays up through the outage, and a write whose commit was cut by the
//! database going away answers 503 as well (README, "When the database is unreachable"); the test
//! counts such a write as "old or new state", as a client must, and checks the key is whole in one of
//! the two.

use crate::harness::bucket_name;
use crate::mixed_load::{Answers, Entry, Error, Model, Outcome, Step, check_models, single_attempt_client};
use crate::postgres::{PgDeployment, readiness};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use kura_test_pg::PgServer;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Concurrent load tasks.
const WORKERS: u64 = 6;
/// Answered operations before the database is stopped, and after kura is ready again.
const BEFORE: usize = 200;
const AFTER: usize = 200;
/// What kura says in a 503 while the database is unreachable (README).
const UNREACHABLE: &str = "metadata database is unreachable";

/// This test's reading: kura's 503 for an unreachable database is the expected refusal; any other
/// error, a request without an HTTP answer and a body that broke off are failures (kura stays up).
struct DatabaseOutage;

impl Answers for DatabaseOutage {
    type Expected = ();
    fn error<E: ProvideErrorMetadata + std::fmt::Debug>(err: Error<E>) -> Outcome<()> {
        match &err {
            SdkError::ServiceError(e)
                if e.raw().status().as_u16() == 503
                    && e.err().code() == Some("ServiceUnavailable")
                    && e.err().message().is_some_and(|m| m.contains(UNREACHABLE)) =>
            {
                Outcome::Expected(())
            }
            SdkError::ServiceError(e) => Outcome::Wrong(format!("{}: {:?}", e.raw().status().as_u16(), e.err())),
            other => Outcome::Wrong(format!("no HTTP answer (kura answers 503 even for a cut commit): {other:?}")),
        }
    }
    fn body_broke(key: &str, why: String) -> Outcome<()> {
        Outcome::Wrong(format!("GET {key}: the body broke off: {why}"))
    }
}

/// When the outage began (just before the stop) and when kura was seen ready again after the restart:
/// a 503 is expected only of a request started before `up` and answered after `down`.
#[derive(Default)]
struct Window {
    down: OnceLock<Instant>,
    up: OnceLock<Instant>,
}

impl Window {
    /// Whether a request started at `started`, answered now, may be refused with a 503.
    fn may_refuse(&self, started: Instant) -> bool {
        self.down.get().is_some() && self.up.get().is_none_or(|up| started < *up)
    }
}

/// Counters of the load.
#[derive(Default)]
struct Tally {
    done: AtomicUsize,
    unavailable: AtomicUsize,
    /// Writes answered 503: applied or not, the key is in its old or its new state.
    uncertain_writes: AtomicUsize,
    /// Unexpected outcomes: must stay empty.
    wrong: Mutex<Vec<String>>,
}

impl Tally {
    fn wrong(&self, why: String) {
        self.wrong.lock().expect("lock").push(why);
    }
}

/// A worker: PUT new keys, overwrites, GET, LIST and DELETE on its own keys (`w{id}/…`), keeping the
/// model of what each key holds; every answer is checked against it. Runs until `stop`.
async fn worker(
    id: u64,
    s3: Arc<aws_sdk_s3::Client>,
    bucket: String,
    tally: Arc<Tally>,
    window: Arc<Window>,
    stop: Arc<AtomicBool>,
) -> BTreeMap<String, Entry> {
    let mut model = Model::new(id);
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let Step { key, outcome, intended } = model.step::<DatabaseOutage>(&s3, &bucket).await;
        match outcome {
            Outcome::Done => {
                tally.done.fetch_add(1, Ordering::Relaxed);
                model.settle(key, intended);
            }
            Outcome::Expected(()) => {
                tally.unavailable.fetch_add(1, Ordering::Relaxed);
                if !window.may_refuse(started) {
                    tally.wrong(format!("{key}: 503 outside the outage (started {started:?})"));
                }
                // Not acknowledged: applied or not, the old state or the new one and nothing else.
                if model.uncertain(key, intended) {
                    tally.uncertain_writes.fetch_add(1, Ordering::Relaxed);
                }
            }
            Outcome::Wrong(why) => tally.wrong(format!("{key}: {why}")),
        }
    }
    model.into_entries()
}

/// Waits until `ready(tally)` holds, failing on any wrong outcome or after `limit`.
async fn wait_until(tally: &Tally, limit: Duration, what: &str, ready: impl Fn(&Tally) -> bool) {
    let start = Instant::now();
    while !ready(tally) {
        assert!(tally.wrong.lock().expect("lock").is_empty(), "{:?}", tally.wrong.lock().expect("lock"));
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls the readiness probe until it answers `want`, within `limit`; returns the body.
async fn wait_readiness(server: &crate::harness::TestServer, want: u16, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        let (status, body) = readiness(server).await;
        if status == want {
            return body;
        }
        assert!(start.elapsed() < limit, "readiness is still {status} ({body}), not {want}, after {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Six tasks load one kura on PostgreSQL (PUT new keys and overwrites, inline and blob-file bodies;
/// GET checked byte for byte; LIST checked against what is known; DELETE), one attempt per request.
/// The database is stopped under the load (`pg_ctl stop -m fast`), kept down until readiness answers
/// 503 and every task has been refused, then started again on the same socket. Every refusal is
/// 503 ServiceUnavailable saying the metadata database is unreachable, and only of a request sent
/// during the outage; there is no 500, no wrong body or listing, no request left without an answer.
/// kura is ready again by itself, the load goes on on the same process with no more refusals, and
/// then every acknowledged write reads back with its bytes and ETag, every acknowledged delete stays
/// deleted, a write refused during the outage left its key whole in its old or its new state, and the
/// listing is exactly the keys that hold a body.
///
/// The database is stopped and started rather than restarted in one `pg_ctl restart`, so that the
/// outage lasts until the test has seen it (a restart can be shorter than one probe): the test waits
/// on those conditions, never on a sleep.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restarted_under_load_answers_503_then_recovers_with_every_acknowledged_write() {
    let pg = PgServer::start();
    let deployment = PgDeployment::new(&pg);
    let server = deployment.start();
    let s3 = Arc::new(single_attempt_client(&server.endpoint()));
    let bucket = bucket_name("pgload");
    s3.create_bucket().bucket(&bucket).send().await.expect("create the bucket");

    let (tally, window) = (Arc::new(Tally::default()), Arc::new(Window::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|id| tokio::spawn(worker(id, s3.clone(), bucket.clone(), tally.clone(), window.clone(), stop.clone())))
        .collect();
    wait_until(&tally, Duration::from_secs(120), "operations before the outage", |t| {
        t.done.load(Ordering::Relaxed) >= BEFORE
    })
    .await;
    assert_eq!(tally.unavailable.load(Ordering::Relaxed), 0, "no refusal before the outage");

    window.down.set(Instant::now()).expect("set once");
    tokio::task::block_in_place(|| pg.stop());
    let body = wait_readiness(&server, 503, Duration::from_secs(30)).await;
    assert!(body.contains(UNREACHABLE), "{body}");
    let live = reqwest::get(format!("{}/kura/health/live", server.endpoint())).await.expect("liveness probe");
    assert_eq!(live.status().as_u16(), 200, "liveness stays 200 during the outage: a restart would not help");
    wait_until(&tally, Duration::from_secs(60), "every task refused during the outage", |t| {
        t.unavailable.load(Ordering::Relaxed) >= WORKERS as usize
    })
    .await;
    let done_during = tally.done.load(Ordering::Relaxed);

    tokio::task::block_in_place(|| pg.restart());
    let restarted = Instant::now();
    wait_readiness(&server, 200, Duration::from_secs(30)).await;
    window.up.set(Instant::now()).expect("set once");
    let ready_after = restarted.elapsed();
    let (refused, at_up) = (tally.unavailable.load(Ordering::Relaxed), tally.done.load(Ordering::Relaxed));
    wait_until(&tally, Duration::from_secs(120), "operations after the recovery", |t| {
        t.done.load(Ordering::Relaxed) >= at_up + AFTER
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let mut models = Vec::new();
    for w in workers {
        models.push(w.await.expect("worker"));
    }

    let wrong = tally.wrong.lock().expect("lock").clone();
    assert!(wrong.is_empty(), "{} unexpected outcome(s):\n{}", wrong.len(), wrong.join("\n"));
    let refused_total = tally.unavailable.load(Ordering::Relaxed);
    assert!(refused_total >= WORKERS as usize);
    let (sure, either) = check_models(std::slice::from_ref(&*s3), &bucket, &models).await;
    assert_eq!(readiness(&server).await.0, 200);
    eprintln!(
        "PostgreSQL stopped after {BEFORE} operations ({done_during} answered by then); {refused_total} requests \
         refused with 503 ({refused} before kura was ready again, {} of them writes), ready {ready_after:?} after \
         the database returned, {} operations in all; {sure} keys checked, {either} left uncertain by a refused \
         write (each whole in its old or new state)",
        tally.uncertain_writes.load(Ordering::Relaxed),
        tally.done.load(Ordering::Relaxed)
    );
}
