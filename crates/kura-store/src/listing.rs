//! The one listing algorithm (prefix, delimiter grouping, marker, page size), shared by every back end.
//!
//! It is public so that a back end in another crate lists exactly as the embedded ones do: it supplies a
//! cursor over its entries in key order and calls [`list_page`] (or [`list_page_async`]), then turns the
//! [`Listing`] into its answer ([`crate::ListPage`], [`crate::UploadListPage`]).
//!
//! # What [`list_page`] guarantees
//! - **Order and prefix.** Entries come in the cursor's order (ascending key); only keys that start with
//!   [`PageSpec::prefix`] are listed, and the scan stops at the first key past them.
//! - **Common prefixes.** With a non-empty [`PageSpec::delimiter`], a key whose remainder after the prefix
//!   contains the delimiter is listed as its common prefix (the prefix plus the remainder up to and
//!   including the first delimiter), once, as [`Listed::Prefix`]. The scan then **seeks past** the common
//!   prefix, to [`prefix_successor`] of it, instead of visiting the keys under it: a page costs
//!   `O(max · log n)` cursor work however many keys a common prefix hides.
//! - **Marker.** With [`PageSpec::marker`], only keys and common prefixes greater than the marker are
//!   listed (a common prefix `<=` the marker is skipped whole, so a continuation after a common prefix
//!   does not repeat it); an entry whose key *equals* the marker is listed only when the caller's
//!   `include_at_marker` accepts it (objects: never; uploads: those after the upload-id marker).
//! - **Max keys and truncation.** At most [`PageSpec::max`] entries (items plus common prefixes);
//!   [`Listing::is_truncated`] is set exactly when at least one more entry would follow. `max == 0`
//!   reads nothing and answers an empty page that is not truncated.
//!
//! # Cursors: batched, synchronous and asynchronous
//! A cursor answers one question: "the next `limit` entries, starting at this key (a seek) or right after
//! the last entry you returned" ([`BatchStart`]). Batches suit every kind of back end: an in-process
//! B-tree walks its range, and a SQL back end answers each batch with one query,
//! `… WHERE key >= $1 ORDER BY key LIMIT $2` for a seek and `… WHERE (key, id) > ($last) ORDER BY key, id
//! LIMIT $2` to continue. The page asks for `max + 1` entries at most (one more than fit, to tell whether
//! it is truncated); with a delimiter it starts small after each seek ([`KeyCursor::FIRST_BATCH`]) and
//! doubles while no common prefix interrupts, so that the entries fetched past a common prefix and
//! thrown away stay few.
//!
//! There are two cursor traits and two drivers around ONE algorithm (a private state machine that is fed
//! batches and says which batch it needs next), so both list byte for byte alike:
//! - [`KeyCursor`] + [`list_page`], synchronous. The redb and in-memory back ends use it. redb's read
//!   transactions run on the blocking pool (`spawn_blocking`), and a whole page is one read transaction
//!   on one thread: an asynchronous cursor would either hop back to the blocking pool for every batch
//!   (one hop per common prefix) or hold the transaction across awaits; the in-memory store would hold
//!   its `std::sync::MutexGuard`, which is not `Send`, across awaits. Their batches cost no I/O wait, so
//!   nothing is gained by awaiting them.
//! - [`AsyncKeyCursor`] + [`list_page_async`], for back ends whose batches are network round trips (a
//!   SQL server). The future is `Send` when the cursor, its items and the `include_at_marker` closure
//!   are, as [`crate::MetaStore`]'s methods require.
//!
//! A [`crate::MetaStore`] method is one atomic transaction, so a back end whose batches are separate
//! queries runs a page's queries in one read-only snapshot (PostgreSQL: a `REPEATABLE READ` transaction).

use crate::StoreResult;
use async_trait::async_trait;

/// Where a cursor's next batch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchStart<'a> {
    /// At the first entry whose key is `>=` this key (a seek). The first batch of a page always starts
    /// so, and so does every batch after a common prefix (at its [`prefix_successor`]).
    AtOrAfter(&'a str),
    /// Right after the last entry of the previous batch, in the cursor's own order (which may break
    /// ties between entries of one key, such as the uploads of a key by upload id). Asked only after a
    /// batch that returned `limit` entries.
    AfterLast,
}

/// A synchronous, batched cursor over `(key, item)` entries in ascending key order, for [`list_page`].
/// Several entries may share a key (the uploads of one key); they come in the back end's order.
pub trait KeyCursor {
    /// What an entry carries besides its key (kept undecoded until emitted, where that matters).
    type Item;

    /// How many entries the first batch after a seek asks for when a delimiter is given (later batches
    /// double, up to what the page still needs). The default, 1, suits cursors for which a batch is
    /// cheap: every entry fetched past the start of a common prefix is thrown away. A cursor that pays
    /// a round trip per batch may ask for more.
    const FIRST_BATCH: usize = 1;

    /// Returns the next entries from `start`, at most `limit` (always at least 1), in order. Fewer than
    /// `limit` entries (none included) means that no entry follows them: the page relies on it, so a
    /// cursor returns exactly `limit` entries whenever that many remain.
    fn next_batch(&mut self, start: BatchStart<'_>, limit: usize) -> StoreResult<Vec<(String, Self::Item)>>;
}

/// The asynchronous form of [`KeyCursor`], for [`list_page_async`]: the same contract, for back ends
/// whose batches are network round trips.
#[async_trait]
pub trait AsyncKeyCursor: Send {
    /// What an entry carries besides its key.
    type Item: Send;

    /// As [`KeyCursor::FIRST_BATCH`]. A SQL back end may raise it to save round trips on pages whose
    /// keys are mostly not under common prefixes.
    const FIRST_BATCH: usize = 1;

    /// As [`KeyCursor::next_batch`]: at most `limit` entries from `start`; fewer means the end.
    async fn next_batch(&mut self, start: BatchStart<'_>, limit: usize) -> StoreResult<Vec<(String, Self::Item)>>;
}

/// One emitted entry of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed<T> {
    /// An entry (object or upload) and its key.
    Item(String, T),
    /// A common prefix (it ends with the delimiter).
    Prefix(String),
}

/// The result of [`list_page`] and [`list_page_async`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing<T> {
    /// Entries in order, at most [`PageSpec::max`].
    pub entries: Vec<Listed<T>>,
    /// Whether at least one more entry follows.
    pub is_truncated: bool,
}

/// A page of ListMultipartUploads from a listing of uploads, each item turned into its
/// [`crate::UploadInfo`] by `info` (a back end's decoding).
///
/// # Errors
/// Whatever `info` answers.
pub fn upload_page<T>(
    listing: Listing<T>,
    mut info: impl FnMut(T) -> StoreResult<crate::UploadInfo>,
) -> StoreResult<crate::UploadListPage> {
    let mut page = crate::UploadListPage { is_truncated: listing.is_truncated, ..Default::default() };
    for entry in listing.entries {
        match entry {
            Listed::Item(_, item) => page.uploads.push(info(item)?),
            Listed::Prefix(p) => page.prefixes.push(p),
        }
    }
    Ok(page)
}

/// Parameters of [`list_page`]: what one page of a listing holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSpec<'a> {
    /// Only keys starting with this.
    pub prefix: &'a str,
    /// Group by this (`None` or empty = no grouping).
    pub delimiter: Option<&'a str>,
    /// Only keys (and common prefixes) greater than this; see `include_at_marker` of [`list_page`].
    pub marker: Option<&'a str>,
    /// At most this many entries (items plus common prefixes).
    pub max: usize,
}

/// The smallest string greater than every string that starts with `prefix`, or `None` if there is
/// none (every char of `prefix` is `char::MAX`). [`list_page`] seeks to it to skip a common prefix.
pub fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut code = u32::from(last) + 1;
        if (0xD800..=0xDFFF).contains(&code) {
            code = 0xE000;
        }
        if let Some(next) = char::from_u32(code) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Lists one page from a synchronous cursor; see the module documentation for what it guarantees.
/// Entries whose key equals the marker are included only when `include_at_marker` accepts them
/// (objects: never; uploads: those after the upload-id marker).
pub fn list_page<C: KeyCursor>(
    cursor: &mut C,
    spec: &PageSpec<'_>,
    mut include_at_marker: impl FnMut(&C::Item) -> bool,
) -> StoreResult<Listing<C::Item>> {
    let mut pager = Pager::new(spec, C::FIRST_BATCH);
    while let Some((start, limit)) = pager.next_batch() {
        let batch = cursor.next_batch(start, limit)?;
        pager.feed(batch, limit, &mut include_at_marker);
    }
    Ok(pager.out)
}

/// [`list_page`] over an asynchronous cursor: the same algorithm (literally: both drive one state
/// machine), for back ends whose batches are queries to a server.
pub async fn list_page_async<C: AsyncKeyCursor>(
    cursor: &mut C,
    spec: &PageSpec<'_>,
    mut include_at_marker: impl FnMut(&C::Item) -> bool,
) -> StoreResult<Listing<C::Item>> {
    let mut pager = Pager::new(spec, C::FIRST_BATCH);
    while let Some((start, limit)) = pager.next_batch() {
        let batch = cursor.next_batch(start, limit).await?;
        pager.feed(batch, limit, &mut include_at_marker);
    }
    Ok(pager.out)
}

/// What the pager needs next from its cursor.
enum Step {
    /// A batch from this key on.
    Seek(String),
    /// A batch after the last entry of the previous one.
    Continue,
    /// Nothing: the page is complete.
    Done,
}

/// What one entry tells the pager to do.
enum Flow {
    /// Take the next entry of the batch.
    Next,
    /// Drop the rest of the batch and seek here.
    Seek(String),
    /// The page is complete.
    Stop,
}

/// The listing algorithm as a state machine, without I/O: it says which batch it needs
/// ([`Pager::next_batch`]) and is fed it ([`Pager::feed`]), so the synchronous and the asynchronous
/// driver share every decision.
struct Pager<'a, T> {
    spec: PageSpec<'a>,
    /// The delimiter, if grouping is on (an empty one is none).
    delimiter: Option<&'a str>,
    /// The batch size after a seek when grouping (see [`KeyCursor::FIRST_BATCH`]).
    first_batch: usize,
    /// The current batch size when grouping.
    window: usize,
    step: Step,
    out: Listing<T>,
}

impl<'a, T> Pager<'a, T> {
    fn new(spec: &PageSpec<'a>, first_batch: usize) -> Self {
        let step = if spec.max == 0 {
            Step::Done
        } else {
            // Every key to list is >= the prefix, and > the marker (or equal to it).
            match spec.marker {
                Some(marker) if marker > spec.prefix => Step::Seek(marker.to_owned()),
                _ => Step::Seek(spec.prefix.to_owned()),
            }
        };
        let first_batch = first_batch.max(1);
        Self {
            spec: *spec,
            delimiter: spec.delimiter.filter(|d| !d.is_empty()),
            first_batch,
            window: first_batch,
            step,
            out: Listing { entries: Vec::new(), is_truncated: false },
        }
    }

    /// Where the next batch starts and how long it may be, or `None` when the page is complete.
    fn next_batch(&self) -> Option<(BatchStart<'_>, usize)> {
        let start = match &self.step {
            Step::Seek(key) => BatchStart::AtOrAfter(key),
            Step::Continue => BatchStart::AfterLast,
            Step::Done => return None,
        };
        // One entry more than the page has room for, to tell whether it is truncated.
        let need = self.spec.max.saturating_sub(self.out.entries.len()).saturating_add(1);
        let limit = if self.delimiter.is_some() { need.min(self.window) } else { need };
        Some((start, limit))
    }

    /// Takes a batch the cursor returned for a request of `limit` entries.
    fn feed(&mut self, batch: Vec<(String, T)>, limit: usize, include_at_marker: &mut impl FnMut(&T) -> bool) {
        let exhausted = batch.len() < limit;
        for (key, item) in batch {
            match self.take(key, item, include_at_marker) {
                Flow::Next => {}
                Flow::Seek(next) => {
                    self.step = Step::Seek(next);
                    self.window = self.first_batch;
                    return;
                }
                Flow::Stop => {
                    self.step = Step::Done;
                    return;
                }
            }
        }
        if exhausted {
            self.step = Step::Done;
        } else {
            self.step = Step::Continue;
            self.window = self.window.saturating_mul(2);
        }
    }

    /// Decides about one entry.
    fn take(&mut self, key: String, item: T, include_at_marker: &mut impl FnMut(&T) -> bool) -> Flow {
        let prefix = self.spec.prefix;
        if !key.starts_with(prefix) {
            // Keys are ordered and every key with the prefix is >= start >= prefix: none follows.
            return Flow::Stop;
        }
        let common = self.delimiter.and_then(|d| key[prefix.len()..].find(d).map(|at| prefix.len() + at + d.len()));
        if let Some(end) = common {
            let cp = &key[..end];
            let skip = self.spec.marker.is_some_and(|m| cp <= m);
            if !skip {
                if self.out.entries.len() == self.spec.max {
                    self.out.is_truncated = true;
                    return Flow::Stop;
                }
                self.out.entries.push(Listed::Prefix(cp.to_owned()));
            }
            return match prefix_successor(cp) {
                Some(next) => Flow::Seek(next),
                None => Flow::Stop,
            };
        }
        if let Some(marker) = self.spec.marker {
            let key_str: &str = &key;
            if key_str < marker || (key_str == marker && !include_at_marker(&item)) {
                return Flow::Next;
            }
        }
        if self.out.entries.len() == self.spec.max {
            self.out.is_truncated = true;
            return Flow::Stop;
        }
        self.out.entries.push(Listed::Item(key, item));
        Flow::Next
    }
}

/// The capacity to give a batch of at most `limit` entries: the limit, but not a huge allocation for
/// an unbounded page (`max == usize::MAX`).
pub(crate) fn batch_capacity(limit: usize) -> usize {
    limit.min(1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ListQuery;
    use crate::conformance::model_listing;
    use proptest::prelude::*;

    /// A cursor over sorted `(key, item)` entries, answering in both forms, with `FIRST` as its first
    /// batch; it counts what it was asked.
    struct SliceCursor<'a, T, const FIRST: usize> {
        entries: &'a [(String, T)],
        pos: usize,
        batches: usize,
        fetched: usize,
    }

    impl<'a, T: Clone, const FIRST: usize> SliceCursor<'a, T, FIRST> {
        fn new(entries: &'a [(String, T)]) -> Self {
            Self { entries, pos: 0, batches: 0, fetched: 0 }
        }

        fn batch(&mut self, start: BatchStart<'_>, limit: usize) -> Vec<(String, T)> {
            assert!(limit >= 1, "a batch asks for at least one entry");
            if let BatchStart::AtOrAfter(key) = start {
                self.pos = self.entries.partition_point(|(k, _)| k.as_str() < key);
            } else {
                assert!(self.batches > 0, "the first batch is a seek");
            }
            let end = self.pos.saturating_add(limit).min(self.entries.len());
            let batch = self.entries[self.pos..end].to_vec();
            self.pos = end;
            self.batches += 1;
            self.fetched += batch.len();
            batch
        }
    }

    impl<T: Clone, const FIRST: usize> KeyCursor for SliceCursor<'_, T, FIRST> {
        type Item = T;
        const FIRST_BATCH: usize = FIRST;
        fn next_batch(&mut self, start: BatchStart<'_>, limit: usize) -> StoreResult<Vec<(String, T)>> {
            Ok(self.batch(start, limit))
        }
    }

    #[async_trait]
    impl<T: Clone + Send + Sync, const FIRST: usize> AsyncKeyCursor for SliceCursor<'_, T, FIRST> {
        type Item = T;
        const FIRST_BATCH: usize = FIRST;
        async fn next_batch(&mut self, start: BatchStart<'_>, limit: usize) -> StoreResult<Vec<(String, T)>> {
            Ok(self.batch(start, limit))
        }
    }

    fn entries(keys: &[&str]) -> Vec<(String, ())> {
        keys.iter().map(|k| (k.to_string(), ())).collect()
    }

    fn names<T>(l: &Listing<T>) -> Vec<String> {
        l.entries
            .iter()
            .map(|e| match e {
                Listed::Item(k, _) => k.clone(),
                Listed::Prefix(p) => format!("P:{p}"),
            })
            .collect()
    }

    fn sync<const FIRST: usize>(entries: &[(String, ())], spec: &PageSpec<'_>) -> Listing<()> {
        list_page(&mut SliceCursor::<(), FIRST>::new(entries), spec, |_| false).expect("list")
    }

    fn not_async<const FIRST: usize>(entries: &[(String, ())], spec: &PageSpec<'_>) -> Listing<()> {
        let mut cursor = SliceCursor::<(), FIRST>::new(entries);
        futures::executor::block_on(list_page_async(&mut cursor, spec, |_| false)).expect("list")
    }

    #[test]
    fn successor() {
        assert_eq!(prefix_successor("a/").as_deref(), Some("a0"));
        assert_eq!(prefix_successor("").as_deref(), None);
        assert_eq!(prefix_successor("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
    }

    #[test]
    fn groups_and_seeks() {
        let keys = entries(&["a", "b/1", "b/2", "b/3", "c", "d/x/y"]);
        let spec = PageSpec { prefix: "", delimiter: Some("/"), marker: None, max: 10 };
        let page = sync::<1>(&keys, &spec);
        assert_eq!(names(&page), ["a", "P:b/", "c", "P:d/"]);
        assert!(!page.is_truncated);
        let spec = PageSpec { prefix: "", delimiter: Some("/"), marker: Some("b/"), max: 2 };
        let page = sync::<1>(&keys, &spec);
        assert_eq!(names(&page), ["c", "P:d/"]);
        assert!(!page.is_truncated);
        let spec = PageSpec { prefix: "", delimiter: Some("/"), marker: None, max: 2 };
        let page = sync::<1>(&keys, &spec);
        assert_eq!(names(&page), ["a", "P:b/"]);
        assert!(page.is_truncated);
        let spec = PageSpec { prefix: "b/", delimiter: None, marker: Some("b/1"), max: 0 };
        let page = sync::<1>(&keys, &spec);
        assert!(page.entries.is_empty() && !page.is_truncated);
    }

    #[test]
    fn a_common_prefix_is_skipped_not_walked() {
        let mut keys: Vec<(String, ())> = (0..1000).map(|i| (format!("a/{i:04}"), ())).collect();
        keys.push(("b".to_owned(), ()));
        let spec = PageSpec { prefix: "", delimiter: Some("/"), marker: None, max: 10 };
        let mut cursor = SliceCursor::<(), 1>::new(&keys);
        let page = list_page(&mut cursor, &spec, |_| false).expect("list");
        assert_eq!(names(&page), ["P:a/", "b"]);
        // One entry under "a/", then a seek to "a0" that finds "b", then an empty batch: the end.
        assert_eq!((cursor.batches, cursor.fetched), (3, 2));
        // Without a delimiter, one batch of max + 1 tells the page is truncated.
        let spec = PageSpec { delimiter: None, ..spec };
        let mut cursor = SliceCursor::<(), 1>::new(&keys);
        let page = list_page(&mut cursor, &spec, |_| false).expect("list");
        assert!(page.is_truncated && page.entries.len() == 10);
        assert_eq!((cursor.batches, cursor.fetched), (1, 11));
    }

    #[test]
    fn entries_of_one_key_continue_across_batches() {
        let uploads: Vec<(String, u32)> = [("a", 1), ("k", 1), ("k", 2), ("k", 3), ("k", 4), ("z", 1)]
            .iter()
            .map(|(k, i)| (k.to_string(), *i))
            .collect();
        let spec = PageSpec { prefix: "", delimiter: Some("/"), marker: Some("k"), max: 2 };
        let after_1 = |id: &u32| *id > 1;
        let page = list_page(&mut SliceCursor::<u32, 1>::new(&uploads), &spec, after_1).expect("list");
        assert_eq!(page.entries, [Listed::Item("k".into(), 2), Listed::Item("k".into(), 3)]);
        assert!(page.is_truncated);
        let spec = PageSpec { max: 10, ..spec };
        let mut cursor = SliceCursor::<u32, 1>::new(&uploads);
        let page = futures::executor::block_on(list_page_async(&mut cursor, &spec, after_1)).expect("list");
        assert_eq!(names(&page), ["k", "k", "k", "z"]);
        assert!(!page.is_truncated);
    }

    #[test]
    fn the_async_page_is_send() {
        fn send<F: std::future::Future + Send>(_: F) {}
        let keys = entries(&["a"]);
        let mut cursor = SliceCursor::<(), 1>::new(&keys);
        let spec = PageSpec { prefix: "", delimiter: None, marker: None, max: 1 };
        send(list_page_async(&mut cursor, &spec, |_| false));
    }

    fn key_strategy() -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(vec!['a', 'b', '/', 'é', '-']), 1..5)
            .prop_map(|chars| chars.into_iter().collect())
    }

    fn short_strategy(max_len: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(vec!['a', 'b', '/', 'é']), 0..max_len)
            .prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        /// Whatever the batch sizes, sync or async, a page is the model's, cut at `max`.
        #[test]
        fn batches_never_change_a_page(
            keys in proptest::collection::btree_set(key_strategy(), 0..40),
            prefix in short_strategy(3),
            delimiter in proptest::option::of(proptest::sample::select(vec!["/", "a/", "", "é"])),
            marker in proptest::option::of(short_strategy(4)),
            max in 0usize..8,
        ) {
            let entries: Vec<(String, ())> = keys.iter().map(|k| (k.clone(), ())).collect();
            let spec = PageSpec { prefix: &prefix, delimiter, marker: marker.as_deref(), max };
            let query = ListQuery {
                prefix: prefix.clone(),
                delimiter: delimiter.map(str::to_owned),
                start_after: marker.clone(),
                max,
            };
            let keys: Vec<String> = keys.into_iter().collect();
            let model = model_listing(&keys, &query);
            let expected: Vec<String> = model
                .iter()
                .take(max)
                .map(|(name, is_prefix)| if *is_prefix { format!("P:{name}") } else { name.clone() })
                .collect();
            let truncated = max > 0 && model.len() > max;
            for page in [sync::<1>(&entries, &spec), sync::<3>(&entries, &spec), not_async::<1>(&entries, &spec),
                         not_async::<64>(&entries, &spec)] {
                prop_assert_eq!(names(&page), expected.clone());
                prop_assert_eq!(page.is_truncated, truncated);
            }
        }
    }
}
