//! Sealed object bodies (encryption at rest): the body of an encrypted object is stored in
//! kura-crypt's sealed form (chunked AES-256-GCM), each segment (a blob, a multipart part) or inline
//! body under a data key of its own. This module seals what a write stores ([`SealingWriter`],
//! [`seal_inline`]) and opens the part of a stored body a read asks for ([`open_inline`],
//! [`open_segments`]), reading only the sealed chunks that cover the range; a blob's chunks are
//! opened where the blob store reads them ([`BlobStore::read_with`]: in the file store, each chunk
//! after the first on the thread that read it, beside the send of the chunk before). It knows
//! nothing of where keys come from (SSE-S3, SSE-KMS, SSE-C): callers hand it [`DataKey`]s. Sizes it
//! takes and reports are plaintext sizes, as the metadata keeps them; a sealed blob is
//! [`kura_crypt::sealed_len`] long.
//!
//! A body that fails to open (edited, cut, another key) is a [`SealError::Integrity`], logged here
//! where it is detected (blob and chunk, never key material); a read never yields bytes of a chunk
//! that did not authenticate.

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use kura_crypt::{CryptError, DataKey, Opener, Sealer};
use kura_store::{BlobId, BlobStore, BlobWriter, ByteStream, Segment, StoreError, StoreResult};
use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

/// Why a sealed body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The blob store failed (a missing blob, an I/O error).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored bytes do not open with their key: edited or cut on the server's disk (or a key that
    /// is not theirs). Never a client's fault.
    #[error("the stored body ({place}) failed its integrity check: {source}")]
    Integrity {
        /// Where: `blob ID` or `inline body`.
        place: String,
        /// What kura-crypt found.
        source: CryptError,
    },
    /// A caller's mistake: an encrypted object read without one key per segment.
    #[error("an encrypted body needs {needed} data key(s), {given} given")]
    Keys {
        /// Keys the body needs.
        needed: usize,
        /// Keys given.
        given: usize,
    },
}

impl SealError {
    /// An integrity failure at `place`, logged now (where it was found).
    fn integrity(place: String, source: CryptError) -> Self {
        tracing::error!(%place, error = %source, "a stored object body failed its integrity check");
        SealError::Integrity { place, source }
    }
}

impl SealError {
    /// The S3 error: a store failure as [`crate::errors::store_error`]; a body that does not open as
    /// [`crate::errors::body_integrity`]; a read without its keys (a server fault too) as InternalError.
    pub fn into_s3(self) -> s3s::S3Error {
        match self {
            SealError::Store(e) => crate::errors::store_error(e),
            SealError::Integrity { .. } => crate::errors::body_integrity(),
            SealError::Keys { needed, given } => {
                tracing::error!(needed, given, "an encrypted body was read without its keys");
                crate::errors::internal_error("The server could not decrypt the object's stored data.")
            }
        }
    }
}

impl<T> crate::errors::StoreResultExt<T> for Result<T, SealError> {
    fn or_s3(self) -> s3s::S3Result<T> {
        self.map_err(SealError::into_s3)
    }
}

/// A stream of plaintext read from sealed bodies.
pub type PlainStream = BoxStream<'static, Result<Bytes, SealError>>;

/// Appends `part` to `aad` as one field: its bytes then a 0 separator (keys and ids hold no NUL).
fn field(aad: &mut Vec<u8>, part: &[u8]) {
    aad.extend_from_slice(part);
    aad.push(0);
}

/// The AAD a data key of an object version is wrapped with: its identity,
/// `bucket || 0 || key || 0 || version_id`, so a wrapped key copied to another object does not open.
pub fn key_aad(bucket: &str, key: &str, version_id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(bucket.len() + key.len() + version_id.len() + 2);
    field(&mut aad, bucket.as_bytes());
    field(&mut aad, key.as_bytes());
    aad.extend_from_slice(version_id.as_bytes());
    aad
}

/// The AAD a multipart part's data key is wrapped with:
/// `bucket || 0 || key || 0 || upload_id || 0 || part number` (decimal).
pub fn part_aad(bucket: &str, key: &str, upload_id: &str, part: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(bucket.len() + key.len() + upload_id.len() + 8);
    field(&mut aad, bucket.as_bytes());
    field(&mut aad, key.as_bytes());
    field(&mut aad, upload_id.as_bytes());
    aad.extend_from_slice(part.to_string().as_bytes());
    aad
}

/// A [`BlobWriter`] that seals what is written under one data key into the blob it wraps, and
/// reports the plaintext size from [`BlobWriter::finish`] (what the metadata records).
pub struct SealingWriter {
    /// The blob the sealed bytes go to.
    inner: Box<dyn BlobWriter>,
    /// The body's sealer.
    sealer: Sealer,
    /// Sealed bytes not written yet (reused).
    out: Vec<u8>,
    /// Plaintext bytes taken.
    plain: u64,
}

impl SealingWriter {
    /// Seals into `inner` under `key` (a fresh key: a key seals exactly one body).
    pub fn new(inner: Box<dyn BlobWriter>, key: &DataKey) -> Self {
        Self { inner, sealer: Sealer::new(key), out: Vec::new(), plain: 0 }
    }
}

#[async_trait::async_trait]
impl BlobWriter for SealingWriter {
    async fn write(&mut self, chunk: &[u8]) -> StoreResult<()> {
        self.plain += chunk.len() as u64;
        self.sealer.update(chunk, &mut self.out);
        if !self.out.is_empty() {
            self.inner.write(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    async fn finish(self: Box<Self>) -> StoreResult<(BlobId, u64)> {
        let Self { mut inner, sealer, mut out, plain } = *self;
        sealer.finish(&mut out);
        inner.write(&out).await?;
        let (id, stored) = inner.finish().await?;
        if stored != kura_crypt::sealed_len(plain) {
            return Err(StoreError::Backend(format!(
                "blob {id}: {stored} sealed bytes written for {plain} plaintext bytes"
            )));
        }
        Ok((id, plain))
    }
}

/// Seals a whole inline body under `key`.
pub fn seal_inline(key: &DataKey, plain: &[u8]) -> Bytes {
    Bytes::from(kura_crypt::seal(key, plain))
}

/// Opens `range` (plaintext, half-open) of a sealed inline body of `size` plaintext bytes: the chunks
/// that cover it are opened, and only the range is returned.
pub fn open_inline(key: &DataKey, sealed: &[u8], size: u64, range: Range<u64>) -> Result<Bytes, SealError> {
    let place = || "inline body".to_owned();
    let len = range.end.saturating_sub(range.start);
    let (mut opener, want) = Opener::new(key, size, range.start, len).map_err(|e| SealError::integrity(place(), e))?;
    let piece = usize::try_from(want.start)
        .ok()
        .zip(usize::try_from(want.end).ok())
        .and_then(|(start, end)| sealed.get(start..end))
        .ok_or_else(|| SealError::integrity(place(), CryptError::Truncated))?;
    let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    opener.update(piece, &mut out).and_then(|()| opener.finish()).map_err(|e| SealError::integrity(place(), e))?;
    Ok(Bytes::from(out))
}

/// One segment's share of a read: which blob, its key, and the plaintext range within the segment.
struct Piece {
    blob: BlobId,
    key: DataKey,
    size: u64,
    range: Range<u64>,
}

/// The piece being read: its blob's plaintext, opened where it is read.
struct Current {
    blob: BlobId,
    plain: ByteStream,
    /// Plaintext bytes still to come: a stream that ends before is a cut body.
    left: u64,
}

/// The state of [`open_segments`]'s stream.
struct Reading {
    blobs: Arc<dyn BlobStore>,
    pieces: VecDeque<Piece>,
    current: Option<Current>,
}

/// Opens what one read of the blob store handed out (`sealed`) into one slice: a buffer the read
/// owns alone (the file store's are) opens where it lies, its plaintext packed to the front (one
/// frame for the connection per read, as a plain body's); the rest (a chunk cut by the buffer's
/// end, a buffer shared with someone else) is copied through [`Opener::update`].
fn open_piece(opener: &mut Opener, sealed: Bytes) -> Result<Bytes, CryptError> {
    let (mut plain, rest) = match sealed.try_into_mut() {
        Ok(mut buf) => {
            let (opened, used) = opener.open_in_place(&mut buf)?;
            let rest = buf.split_off(used);
            buf.truncate(opened);
            (buf.freeze(), rest.freeze())
        }
        Err(shared) => (Bytes::new(), shared),
    };
    if !rest.is_empty() {
        let mut copied = Vec::new();
        opener.update(&rest, &mut copied)?;
        if !copied.is_empty() {
            plain = if plain.is_empty() { Bytes::from(copied) } else { [&plain[..], &copied[..]].concat().into() };
        }
    }
    Ok(plain)
}

/// The work the blob store runs on each sealed chunk it reads ([`BlobStore::read_with`]): opens it
/// with `opener`, and at the last one checks that every chunk of the range arrived (`sealed_len`
/// bytes in all). An integrity failure is a [`StoreError::Chunk`] holding the [`CryptError`].
fn opening(opener: Opener, sealed_len: u64) -> kura_store::ChunkWork {
    let mut left = sealed_len;
    let mut opener = Some(opener);
    Box::new(move |sealed: Bytes| {
        let Some(open) = opener.as_mut() else {
            return Err(StoreError::Backend(format!("a blob read returned more than the {sealed_len} bytes asked")));
        };
        left = left.saturating_sub(sealed.len() as u64);
        let mut opened = open_piece(open, sealed);
        if left == 0
            && let Some(last) = opener.take()
        {
            opened = opened.and_then(|plain| last.finish().map(|()| plain));
        }
        opened.map_err(|e| StoreError::Chunk(Box::new(e)))
    })
}

impl Reading {
    /// The next plaintext bytes, `None` at the end; after an error the caller stops.
    async fn next(&mut self) -> Option<Result<Bytes, SealError>> {
        loop {
            if self.current.is_none() {
                let piece = self.pieces.pop_front()?;
                match start(self.blobs.clone(), piece).await {
                    Ok(current) => self.current = Some(current),
                    Err(e) => return Some(Err(e)),
                }
            }
            let current = self.current.as_mut()?;
            match current.plain.next().await {
                Some(Ok(plain)) => {
                    current.left = current.left.saturating_sub(plain.len() as u64);
                    if !plain.is_empty() {
                        return Some(Ok(plain));
                    }
                }
                Some(Err(e)) => return Some(Err(read_error(current.blob, e))),
                None if current.left > 0 => {
                    return Some(Err(SealError::integrity(format!("blob {}", current.blob), CryptError::Truncated)));
                }
                None => self.current = None,
            }
        }
    }
}

/// Starts reading a piece: only the sealed chunks that cover its range, opened where they are read.
async fn start(blobs: Arc<dyn BlobStore>, piece: Piece) -> Result<Current, SealError> {
    let Piece { blob, key, size, range } = piece;
    let left = range.end - range.start;
    let (opener, sealed) =
        Opener::new(&key, size, range.start, left).map_err(|e| SealError::integrity(format!("blob {blob}"), e))?;
    let sealed_len = sealed.end - sealed.start;
    if sealed_len == 0 {
        // An empty range of a body that is not empty: nothing to read or open.
        let plain = futures::stream::empty().boxed();
        return Ok(Current { blob, plain, left });
    }
    let plain = blobs
        .read_with(blob, sealed.start, sealed_len, opening(opener, sealed_len))
        .await
        .map_err(|e| read_error(blob, e))?;
    Ok(Current { blob, plain, left })
}

/// A failed read of `blob`: what [`opening`] found wrong with a chunk is an integrity failure.
fn read_error(blob: BlobId, e: StoreError) -> SealError {
    match e {
        StoreError::Chunk(e) => match e.downcast::<CryptError>() {
            Ok(crypt) => SealError::integrity(format!("blob {blob}"), *crypt),
            Err(other) => SealError::Store(StoreError::Chunk(other)),
        },
        e => SealError::Store(e),
    }
}

/// Reads `range` (plaintext, half-open, in object coordinates) of a body made of sealed `segments`
/// (plaintext sizes), segment `i` under `keys[i]`: from each blob only the sealed chunks the range
/// needs. The stream ends after its first error. The caller pins the blobs.
pub fn open_segments(
    blobs: Arc<dyn BlobStore>,
    segments: &[Segment],
    keys: &[DataKey],
    range: Range<u64>,
) -> Result<PlainStream, SealError> {
    if keys.len() != segments.len() {
        return Err(SealError::Keys { needed: segments.len(), given: keys.len() });
    }
    let mut pieces = VecDeque::new();
    let mut pos = 0u64;
    for (seg, key) in segments.iter().zip(keys) {
        let (start, end) = (pos, pos + seg.size);
        pos = end;
        let lo = range.start.max(start);
        let hi = range.end.min(end);
        if lo < hi {
            pieces.push_back(Piece { blob: seg.blob, key: key.clone(), size: seg.size, range: lo - start..hi - start });
        }
    }
    let reading = Reading { blobs, pieces, current: None };
    let stream = futures::stream::unfold(Some(reading), |state| async move {
        let mut reading = state?;
        let item = reading.next().await?;
        let next = if item.is_ok() { Some(reading) } else { None };
        Some((item, next))
    });
    Ok(stream.boxed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kura_crypt::{CHUNK_SIZE, sealed_len};
    use kura_store::file_blobs::FileBlobStore;

    /// Deterministic bytes, different for each `seed`.
    fn data(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| ((i * 31 + usize::from(seed) * 7) % 251) as u8).collect()
    }

    fn store() -> (tempfile::TempDir, Arc<FileBlobStore>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = FileBlobStore::open(dir.path()).expect("blob store");
        (dir, Arc::new(blobs))
    }

    /// Writes `plain` sealed under `key` through a [`SealingWriter`], in writes of `step` bytes.
    async fn write_sealed(blobs: &FileBlobStore, key: &DataKey, plain: &[u8], step: usize) -> Segment {
        let inner = blobs.create().await.expect("create");
        let mut writer: Box<dyn BlobWriter> = Box::new(SealingWriter::new(inner, key));
        for piece in plain.chunks(step.max(1)) {
            writer.write(piece).await.expect("write");
        }
        let (blob, size) = writer.finish().await.expect("finish");
        Segment { blob, size }
    }

    async fn collect(stream: PlainStream) -> Result<Vec<u8>, SealError> {
        let mut out = Vec::new();
        let mut stream = stream;
        while let Some(piece) = stream.next().await {
            out.extend_from_slice(&piece?);
        }
        Ok(out)
    }

    #[test]
    fn aads_name_the_object_and_keep_fields_apart() {
        assert_eq!(key_aad("b", "k", "null"), b"b\0k\0null");
        assert_eq!(part_aad("b", "k", "u1", 42), b"b\0k\0u1\x0042");
        // Bucket names and version ids never hold a NUL, so the first and last fields are unambiguous
        // and the key (which might) is what lies between.
        assert_ne!(key_aad("bb", "k", "v"), key_aad("b", "bk", "v"));
        assert_ne!(key_aad("b", "k", "v1"), key_aad("b", "k", "v2"));
        assert_ne!(part_aad("b", "k", "u", 1), part_aad("b", "k", "u", 11));
    }

    #[test]
    fn kura_store_computes_the_sealed_length_as_kura_crypt_does() {
        for n in [0, 1, 15, 16, 65_535, 65_536, 65_537, 3 * 65_536, 10_000_000] {
            assert_eq!(kura_store::sealed_len(n), sealed_len(n), "{n}");
        }
    }

    #[tokio::test]
    async fn a_sealing_writer_round_trips_through_the_file_store_and_reports_the_plaintext_size() {
        let (_dir, blobs) = store();
        for (n, step) in [(0, 1), (1, 1), (CHUNK_SIZE, 1000), (CHUNK_SIZE + 1, CHUNK_SIZE), (300_000, 70_000)] {
            let key = DataKey::generate();
            let plain = data(n, 1);
            let segment = write_sealed(&blobs, &key, &plain, step).await;
            assert_eq!(segment.size, n as u64);
            let on_disk = std::fs::read(blobs.blob_path(segment.blob)).expect("blob file");
            assert_eq!(on_disk.len() as u64, sealed_len(n as u64), "{n}");
            if n >= 16 {
                assert!(!on_disk.windows(16).any(|w| w == &plain[..16]), "plaintext must not reach the disk");
            }
            let all = open_segments(blobs.clone(), &[segment], &[key], 0..n as u64).expect("open");
            assert_eq!(collect(all).await.expect("read"), plain, "{n}");
        }
    }

    #[tokio::test]
    async fn ranged_reads_cross_chunk_and_segment_boundaries_with_a_key_per_segment() {
        let (_dir, blobs) = store();
        let sizes = [2 * CHUNK_SIZE + 5, 1, CHUNK_SIZE, 3 * CHUNK_SIZE - 7];
        let (mut segments, mut keys, mut whole) = (Vec::new(), Vec::new(), Vec::new());
        for (i, size) in sizes.into_iter().enumerate() {
            let key = DataKey::generate();
            let plain = data(size, i as u8);
            segments.push(write_sealed(&blobs, &key, &plain, 50_000).await);
            keys.push(key);
            whole.extend_from_slice(&plain);
        }
        let total = whole.len() as u64;
        let c = CHUNK_SIZE as u64;
        let first = 2 * c + 5;
        let ranges = [
            0..total,
            0..1,
            c - 1..c + 1,
            c..2 * c,
            2 * c..first + 1,
            first - 1..first + 2,
            first..first + 1,
            first + 1..first + 1 + c,
            first + 10..total - 10,
            total - 1..total,
            3..3,
        ];
        for range in ranges {
            let got = open_segments(blobs.clone(), &segments, &keys, range.clone()).expect("open");
            let want = &whole[range.start as usize..range.end as usize];
            assert_eq!(collect(got).await.expect("read"), want, "{range:?}");
        }
        // Each segment opens with its own key only.
        let mut swapped = keys.clone();
        swapped.swap(0, 1);
        let got = open_segments(blobs.clone(), &segments, &swapped, 0..total).expect("open");
        assert!(matches!(collect(got).await, Err(SealError::Integrity { .. })));
        let short = open_segments(blobs.clone(), &segments, &keys[..3], 0..total);
        assert!(matches!(short, Err(SealError::Keys { needed: 4, given: 3 })));
    }

    #[tokio::test]
    async fn a_ranged_read_reads_only_the_chunks_it_needs() {
        let (_dir, blobs) = store();
        let key = DataKey::generate();
        let plain = data(4 * CHUNK_SIZE, 3);
        let segment = write_sealed(&blobs, &key, &plain, CHUNK_SIZE).await;
        // Damage chunk 0 and chunk 3: a read of chunks 1..=2 never touches them and succeeds.
        let path = blobs.blob_path(segment.blob);
        let mut sealed = std::fs::read(&path).expect("read");
        sealed[5] ^= 1;
        let last = sealed.len() - 3;
        sealed[last] ^= 1;
        std::fs::write(&path, &sealed).expect("write");
        let c = CHUNK_SIZE as u64;
        let got = open_segments(blobs.clone(), &[segment], std::slice::from_ref(&key), c + 7..3 * c - 1).expect("open");
        assert_eq!(collect(got).await.expect("read"), &plain[CHUNK_SIZE + 7..3 * CHUNK_SIZE - 1]);
        let got = open_segments(blobs.clone(), &[segment], &[key], 0..3 * c).expect("open");
        assert!(matches!(
            collect(got).await,
            Err(SealError::Integrity { source: CryptError::Tampered { chunk: 0 }, .. })
        ));
    }

    #[tokio::test]
    async fn a_flipped_byte_in_a_sealed_blob_is_an_error_not_wrong_bytes() {
        let (_dir, blobs) = store();
        let key = DataKey::generate();
        let plain = data(3 * CHUNK_SIZE + 100, 5);
        let segment = write_sealed(&blobs, &key, &plain, 100_000).await;
        let path = blobs.blob_path(segment.blob);
        let mut sealed = std::fs::read(&path).expect("read");
        let at = 2 * (CHUNK_SIZE + 16) + 1000;
        sealed[at] ^= 0x40;
        std::fs::write(&path, &sealed).expect("write");
        let mut stream = open_segments(blobs.clone(), &[segment], &[key], 0..plain.len() as u64).expect("open");
        let mut got = Vec::new();
        let mut failure = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(bytes) => got.extend_from_slice(&bytes),
                Err(e) => failure = Some(e),
            }
        }
        assert!(
            matches!(failure, Some(SealError::Integrity { source: CryptError::Tampered { chunk: 2 }, .. })),
            "{failure:?}"
        );
        // What came before the error is plaintext of chunks that authenticated (the file store reads
        // in large pieces, so here it is nothing): never a byte of the damaged chunk.
        assert!(got.len() <= 2 * CHUNK_SIZE && plain.starts_with(&got), "{} bytes", got.len());
    }

    #[test]
    fn inline_bodies_seal_and_open_by_range_and_a_flipped_byte_fails() {
        let key = DataKey::generate();
        let plain = data(16 * 1024, 9);
        let sealed = seal_inline(&key, &plain);
        assert_eq!(sealed.len() as u64, sealed_len(plain.len() as u64));
        let n = plain.len() as u64;
        for range in [0..n, 0..1, 100..5000, n - 1..n] {
            let got = open_inline(&key, &sealed, n, range.clone()).expect("open");
            assert_eq!(got, &plain[range.start as usize..range.end as usize]);
        }
        let empty = seal_inline(&key, b"");
        assert_eq!(open_inline(&key, &empty, 0, 0..0).expect("empty"), Bytes::new());
        for at in [0, sealed.len() / 2, sealed.len() - 1] {
            let mut bad = sealed.to_vec();
            bad[at] ^= 1;
            let err = open_inline(&key, &bad, n, 0..n).expect_err("tampered");
            assert!(matches!(err, SealError::Integrity { source: CryptError::Tampered { chunk: 0 }, .. }), "{err}");
        }
        let cut = open_inline(&key, &sealed[..sealed.len() - 1], n, 0..n).expect_err("cut");
        assert!(matches!(cut, SealError::Integrity { .. }), "{cut}");
        let other = open_inline(&DataKey::generate(), &sealed, n, 0..n).expect_err("another key");
        assert!(matches!(other, SealError::Integrity { .. }), "{other}");
    }
}
