//! Group commit of the PUT's swaps ([`crate::swap`]): the swaps of concurrent requests go to
//! PostgreSQL together, as one statement that calls `kura_put_current` once for each, and so commit
//! (and flush the write-ahead log) once, as kura's redb store commits a group of writes once.
//!
//! A few committer tasks (one per lane) take the swaps waiting in one queue: each takes all that wait
//! (up to [`MAX_GROUP`]), sends them on a lane, hands each its answer, and takes the next group. A
//! swap that arrives while the committers are busy waits for the first that is free, so a group is
//! larger the busier the database is, and a lone swap is sent at once. A committer runs a group to the
//! end even when the requests that queued it are gone, as a blocking call would.
//!
//! Every call takes its bucket's lock (shared) and its key's lock (exclusive) until the group
//! commits. The calls of a group are sent in the order of those lock ids, so two groups take their
//! keys' locks in the same order and never deadlock one another. A key swapped twice in one group is
//! applied once: the second call finds the key changed and its request goes to the transaction.
//!
//! A group that fails as a whole wrote nothing, unless its connection was lost: then every request in
//! it is answered [`StoreError::Unavailable`] (it may have committed), as a single swap would be.

use crate::lane::{LaneError, Lanes};
use crate::tables::col;
use crate::tx;
use kura_store::{StoreError, StoreResult};
use postgres::types::Type;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The most swaps one statement carries.
const MAX_GROUP: usize = 64;

/// `kura_put_current` once per element of the arrays ([`Columns`]), in their order; each answer with
/// its position (from 1). A single swap is a group of one.
pub(crate) const GROUP: &str = "SELECT t.n::int4, kura_put_current(t.b, t.k, t.bl, t.kl, t.e, t.v, t.body, t.d) \
     FROM unnest($1::text[], $2::bytea[], $3::int8[], $4::int8[], $5::bytea[], $6::bytea[], $7::bytea[], \
     $8::bool[]) WITH ORDINALITY AS t(b, k, bl, kl, e, v, body, d, n)";

/// One call of `kura_put_current` (see [`crate::schema`] for its parameters).
#[derive(Debug)]
pub(crate) struct SwapCall {
    pub(crate) bucket: String,
    pub(crate) key: Vec<u8>,
    pub(crate) bucket_lock: i64,
    pub(crate) key_lock: i64,
    /// The key's record as read: the call applies only if it is still this.
    pub(crate) expected: Option<Vec<u8>>,
    /// The new record, and its inline body.
    pub(crate) value: Vec<u8>,
    pub(crate) body: Option<Vec<u8>>,
    /// Whether the old inline body goes (the new object has none).
    pub(crate) drop_body: bool,
}

/// The function's answer (0, 1 or 2), or `None` when the call was not applied and the transaction
/// may decide afresh (no lane, or the group failed without writing).
type Answer = StoreResult<Option<i32>>;

/// A swap waiting for its group.
struct Waiting {
    call: SwapCall,
    answer: oneshot::Sender<Answer>,
}

/// The queue of swaps and its committers.
pub(crate) struct Swaps {
    queue: mpsc::UnboundedSender<Waiting>,
}

impl Swaps {
    /// Starts one committer per lane on the current runtime; they end when the returned [`Swaps`] is
    /// dropped and the queue is empty.
    pub(crate) fn start(lanes: Lanes) -> (Arc<Lanes>, Self) {
        let lanes = Arc::new(lanes);
        let (queue, waiting) = mpsc::unbounded_channel();
        let waiting = Arc::new(tokio::sync::Mutex::new(waiting));
        for _ in 0..lanes.count() {
            tokio::spawn(commit_groups(lanes.clone(), waiting.clone()));
        }
        (lanes, Self { queue })
    }

    /// Sends `call` with the next group and returns its answer.
    pub(crate) async fn swap(&self, call: SwapCall) -> Answer {
        let (answer, answered) = oneshot::channel();
        if self.queue.send(Waiting { call, answer }).is_err() {
            return Ok(None);
        }
        // A committer that ended without answering (its runtime shut down) may have sent the group.
        answered.await.unwrap_or_else(|_| Err(StoreError::Unavailable("the swap's committer ended".into())))
    }
}

/// A committer: takes every swap waiting (up to [`MAX_GROUP`]) and commits them as one group, until
/// the queue is closed.
async fn commit_groups(lanes: Arc<Lanes>, waiting: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Waiting>>>) {
    loop {
        let mut group = Vec::new();
        {
            let mut waiting = waiting.lock().await;
            let Some(first) = waiting.recv().await else { return };
            group.push(first);
            while group.len() < MAX_GROUP {
                match waiting.try_recv() {
                    Ok(next) => group.push(next),
                    Err(_) => break,
                }
            }
        }
        commit(&lanes, group).await;
    }
}

/// Sends `group` as one statement, in the order of its locks, and answers each swap.
async fn commit(lanes: &Lanes, mut group: Vec<Waiting>) {
    group.sort_by_key(|w| (w.call.bucket_lock, w.call.key_lock));
    let (calls, answers): (Vec<_>, Vec<_>) = group.into_iter().map(|w| (w.call, w.answer)).unzip();
    let columns = Columns::new(calls);
    let answered = match lanes.query(GROUP, &columns.params()).await {
        Ok(rows) => {
            let mut by_position = vec![None; answers.len()];
            for row in &rows {
                let (position, answer) = match (col::<i32>(row, 0), col::<i32>(row, 1)) {
                    (Ok(position), Ok(answer)) => (position, answer),
                    (Err(err), _) | (_, Err(err)) => return answer_all(answers, |_| Err(copy(&err))),
                };
                if let Some(slot) = usize::try_from(position - 1).ok().and_then(|i| by_position.get_mut(i)) {
                    *slot = Some(answer);
                }
            }
            by_position
        }
        Err(LaneError::Unused) => return answer_all(answers, |_| Ok(None)),
        Err(LaneError::Failed(err)) => match tx::after_write(&lanes.down, &err) {
            Some(failure) => return answer_all(answers, |_| Err(copy(&failure))),
            None => {
                tracing::debug!(error = %err, "a group of swaps is retried as transactions");
                return answer_all(answers, |_| Ok(None));
            }
        },
    };
    for (answer, given) in answers.into_iter().zip(answered) {
        let missing = || StoreError::Backend("the group of swaps returned no answer for a call".into());
        // The request may be gone: its answer is then dropped.
        let _ = answer.send(given.map(Some).ok_or_else(missing));
    }
}

/// Answers every swap of a group with `answer(position)`.
fn answer_all(answers: Vec<oneshot::Sender<Answer>>, answer: impl Fn(usize) -> Answer) {
    for (position, sender) in answers.into_iter().enumerate() {
        let _ = sender.send(answer(position));
    }
}

/// A copy of a store error from the driver ([`tx::pg_error`] makes only these two kinds).
fn copy(err: &StoreError) -> StoreError {
    match err {
        StoreError::Unavailable(text) => StoreError::Unavailable(text.clone()),
        other => StoreError::Backend(other.to_string()),
    }
}

/// A group's calls as the [`GROUP`] statement's arrays.
#[derive(Default)]
pub(crate) struct Columns {
    buckets: Vec<String>,
    keys: Vec<Vec<u8>>,
    bucket_locks: Vec<i64>,
    key_locks: Vec<i64>,
    expected: Vec<Option<Vec<u8>>>,
    values: Vec<Vec<u8>>,
    bodies: Vec<Option<Vec<u8>>>,
    drop_bodies: Vec<bool>,
}

impl Columns {
    /// The arrays of `calls`, in their order.
    pub(crate) fn new(calls: impl IntoIterator<Item = SwapCall>) -> Self {
        let mut columns = Self::default();
        for call in calls {
            columns.push(call);
        }
        columns
    }

    fn push(&mut self, call: SwapCall) {
        self.buckets.push(call.bucket);
        self.keys.push(call.key);
        self.bucket_locks.push(call.bucket_lock);
        self.key_locks.push(call.key_lock);
        self.expected.push(call.expected);
        self.values.push(call.value);
        self.bodies.push(call.body);
        self.drop_bodies.push(call.drop_body);
    }

    /// The [`GROUP`] statement's parameters.
    pub(crate) fn params(&self) -> [(&(dyn postgres::types::ToSql + Sync), Type); 8] {
        [
            (&self.buckets, Type::TEXT_ARRAY),
            (&self.keys, Type::BYTEA_ARRAY),
            (&self.bucket_locks, Type::INT8_ARRAY),
            (&self.key_locks, Type::INT8_ARRAY),
            (&self.expected, Type::BYTEA_ARRAY),
            (&self.values, Type::BYTEA_ARRAY),
            (&self.bodies, Type::BYTEA_ARRAY),
            (&self.drop_bodies, Type::BOOL_ARRAY),
        ]
    }
}
