//! The mixed load that the fault tests run while they break something (a replica killed in `ha.rs`,
//! the database stopped in `pg_faults.rs`): PUT new keys, overwrites, GET checked byte for byte, LIST
//! checked against what is known, DELETE, each task on its own keys, with the model of what each key
//! holds; then the check of every key of the models against what kura serves. What a failure means
//! is each test's own ([`Answers`]).

use crate::harness::{ACCESS_KEY, SECRET_KEY, code, data, md5_hex, status};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use std::collections::{BTreeMap, BTreeSet};

/// An SDK error of any operation.
pub(crate) type Error<E> = SdkError<E, aws_sdk_s3::config::http::HttpResponse>;

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

/// One key of a worker: its acknowledged state, or, after a write whose outcome the client could not
/// learn (cut at the connection, or refused with a 503 while its commit may have gone through), the
/// states it may be in.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    Sure(Known),
    Either(Vec<Known>),
}

/// How one operation ended.
pub(crate) enum Outcome<F> {
    /// Answered as it should be.
    Done,
    /// A failure the test provokes and expects (of its kind `F`), which it counts and checks.
    Expected(F),
    /// A wrong answer or an unexpected error: a failure of the test.
    Wrong(String),
}

/// How a test reads the errors of the load: which are the failures it provokes.
pub(crate) trait Answers {
    /// What the test learns of an expected failure.
    type Expected;
    /// An SDK error (an S3 error, or no HTTP answer).
    fn error<E: ProvideErrorMetadata + std::fmt::Debug>(err: Error<E>) -> Outcome<Self::Expected>;
    /// A GET whose headers came and whose body broke off.
    fn body_broke(key: &str, why: String) -> Outcome<Self::Expected>;
}

/// One operation of the load: the key it was about (the prefix for a LIST), the verdict, and the state
/// the key is in if it was a write that succeeded.
pub(crate) struct Step<F> {
    pub(crate) key: String,
    pub(crate) outcome: Outcome<F>,
    pub(crate) intended: Option<Known>,
}

/// One task's keys (`w{id}/…`) and what each holds.
pub(crate) struct Model {
    id: u64,
    entries: BTreeMap<String, Entry>,
    next_key: u64,
    rng: u64,
    steps: u64,
}

impl Model {
    /// The empty model of task `id`.
    pub(crate) fn new(id: u64) -> Self {
        Self { id, entries: BTreeMap::new(), next_key: 0, rng: id.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1, steps: 0 }
    }

    /// How many operations have been started.
    pub(crate) fn steps(&self) -> u64 {
        self.steps
    }

    /// What the model knows, key by key.
    pub(crate) fn into_entries(self) -> BTreeMap<String, Entry> {
        self.entries
    }

    /// Sends one operation through `s3` (30% new keys, 20% overwrites, 30% GET, 10% LIST, 10% DELETE;
    /// 60% of bodies inline-sized, 40% blob files) and checks its answer against the model. The model is
    /// not changed: the caller settles the step ([`Model::settle`], [`Model::uncertain`]).
    pub(crate) async fn step<A: Answers>(&mut self, s3: &aws_sdk_s3::Client, bucket: &str) -> Step<A::Expected> {
        let rng = &mut self.rng;
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        let rng = *rng;
        self.steps += 1;
        let id = self.id;
        let live: Vec<&String> =
            self.entries.iter().filter(|(_, e)| matches!(e, Entry::Sure(Known::Body { .. }))).map(|(k, _)| k).collect();
        let pick = (rng % 100) as usize;
        let seed = id * 1_000_000 + self.steps;
        let len = if rng % 5 < 3 { 100 + (rng % 4000) as usize } else { 20_000 + (rng % 180_000) as usize };
        let put = |key: String| async move {
            let out = s3.put_object().bucket(bucket).key(&key).body(ByteStream::from(data(len, seed))).send().await;
            Step {
                outcome: out.map(|_| Outcome::Done).unwrap_or_else(A::error),
                key,
                intended: Some(Known::Body { seed, len }),
            }
        };
        if live.is_empty() || pick < 30 {
            let key = format!("w{id}/k{:05}", self.next_key);
            self.next_key += 1;
            return put(key).await;
        }
        let key = live[(rng as usize / 7) % live.len()].clone();
        if pick < 50 {
            return put(key).await;
        }
        if pick < 80 {
            let Some(Entry::Sure(Known::Body { seed: have_seed, len: have_len })) = self.entries.get(&key) else {
                unreachable!("live keys hold a known body")
            };
            let outcome = match s3.get_object().bucket(bucket).key(&key).send().await {
                Ok(out) => match out.body.collect().await.map(|b| b.to_vec()) {
                    Ok(body) if body == data(*have_len, *have_seed) => Outcome::Done,
                    Ok(body) => Outcome::Wrong(format!("GET {key}: {} bytes, not the acknowledged body", body.len())),
                    Err(e) => A::body_broke(&key, format!("{e:?}")),
                },
                Err(e) => A::error(e),
            };
            return Step { key, outcome, intended: None };
        }
        if pick < 90 {
            // The listing holds every key known to hold a body and none known deleted.
            let prefix = format!("w{id}/");
            let outcome = match list_all::<A>(s3, bucket, &prefix).await {
                Ok(keys) => {
                    let listed: BTreeSet<&String> = keys.iter().collect();
                    let sure = |known: fn(&Known) -> bool, listed_too: bool| {
                        self.entries
                            .iter()
                            .find(|(k, e)| matches!(e, Entry::Sure(s) if known(s)) && listed.contains(k) == listed_too)
                            .map(|(k, _)| k)
                    };
                    let missing = sure(|k| matches!(k, Known::Body { .. }), false);
                    let extra = sure(|k| *k == Known::Deleted, true);
                    match (missing, extra) {
                        (None, None) => Outcome::Done,
                        _ => {
                            Outcome::Wrong(format!("LIST {prefix}: missing {missing:?}, deleted but listed {extra:?}"))
                        }
                    }
                }
                Err(outcome) => outcome,
            };
            return Step { key: prefix, outcome, intended: None };
        }
        let out = s3.delete_object().bucket(bucket).key(&key).send().await;
        Step { outcome: out.map(|_| Outcome::Done).unwrap_or_else(A::error), key, intended: Some(Known::Deleted) }
    }

    /// Records an acknowledged step: a write's key now holds what it wrote.
    pub(crate) fn settle(&mut self, key: String, intended: Option<Known>) {
        if let Some(now) = intended {
            self.entries.insert(key, Entry::Sure(now));
        }
    }

    /// Records a write whose outcome is unknown: its key holds its old state or the new one, and
    /// nothing else. Returns whether it was a write.
    pub(crate) fn uncertain(&mut self, key: String, intended: Option<Known>) -> bool {
        let Some(now) = intended else { return false };
        let mut states = match self.entries.remove(&key) {
            Some(Entry::Sure(old)) => vec![old],
            Some(Entry::Either(old)) => old,
            None => vec![Known::Deleted],
        };
        states.push(now);
        self.entries.insert(key, Entry::Either(states));
        true
    }
}

/// Every key under `prefix`, page by page of 100; a failure is classified.
async fn list_all<A: Answers>(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>, Outcome<A::Expected>> {
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
            .map_err(A::error)?;
        keys.extend(page.contents().iter().filter_map(|o| o.key()).map(str::to_owned));
        if page.is_truncated() != Some(true) {
            return Ok(keys);
        }
        token = page.next_continuation_token().map(str::to_owned);
    }
}

/// The final check's reading: every error is a failure.
struct Strict;

impl Answers for Strict {
    type Expected = std::convert::Infallible;
    fn error<E: ProvideErrorMetadata + std::fmt::Debug>(err: Error<E>) -> Outcome<Self::Expected> {
        Outcome::Wrong(format!("{err:?}"))
    }
    fn body_broke(key: &str, why: String) -> Outcome<Self::Expected> {
        Outcome::Wrong(format!("GET {key}: {why}"))
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
                    "{key}: one of {states:?} (a write whose outcome was unknown), found {:?}: torn or foreign",
                    found.map(|f| f.0.len())
                );
            }
        }
        if found.is_some() {
            may_be_listed.insert(key.clone());
        }
    }
    let listed: BTreeSet<String> = match list_all::<Strict>(&clients[0], bucket, "").await {
        Ok(keys) => keys.into_iter().collect(),
        Err(Outcome::Wrong(why)) => panic!("LIST through a live replica failed: {why}"),
        Err(_) => unreachable!("Strict expects no failure"),
    };
    assert!(must_be_listed.is_subset(&listed), "acknowledged keys missing from the listing");
    assert_eq!(listed, may_be_listed, "the listing is exactly the keys that hold a body");
    (sure, either)
}
