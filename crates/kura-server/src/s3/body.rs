//! Object bodies in and out: stream a request body to a new blob (or, for a small object, hold it to
//! be committed inline with its metadata) while computing its MD5 and any checksum the client asked
//! for (one pass), and stream a stored object's byte range back out. Given a data key, a body is
//! stored sealed (encrypted, [`super::sealed`]): digests are of the plaintext, sealing comes after
//! them; given the keys, a read opens it. Without keys both paths are exactly the plain ones.

use super::sealed::{self, SealError, SealingWriter};
use crate::errors::{self, StoreResultExt};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use kura_crypt::DataKey;
use kura_store::{BlobId, BlobPin, BlobStore, BlobWriter, Checksums, INLINE_MAX, ObjectMeta, Segment, StoreError};
use md5::{Digest, Md5};
use s3s::S3Result;
use s3s::dto::StreamingBlob;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

/// Which additional checksum algorithm a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgo {
    /// CRC32 (IEEE).
    Crc32,
    /// CRC32C (Castagnoli).
    Crc32c,
    /// CRC-64/NVME: what AWS computes when a client asks for nothing (see [`ChecksumAlgo::DEFAULT`]).
    Crc64Nvme,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl ChecksumAlgo {
    /// The checksum kura computes and stores when a write names none, as S3 does since its default
    /// data-integrity protections (2024-12).
    pub const DEFAULT: Self = Self::Crc64Nvme;

    /// Every algorithm, in the order S3 lists them.
    pub const ALL: [Self; 5] = [Self::Crc32, Self::Crc32c, Self::Crc64Nvme, Self::Sha1, Self::Sha256];

    /// Parses the `x-amz-checksum-algorithm` / `x-amz-sdk-checksum-algorithm` value.
    pub fn parse(name: &str) -> S3Result<Self> {
        Ok(match name.to_ascii_uppercase().as_str() {
            "CRC32" => Self::Crc32,
            "CRC32C" => Self::Crc32c,
            "CRC64NVME" => Self::Crc64Nvme,
            "SHA1" => Self::Sha1,
            "SHA256" => Self::Sha256,
            _ => {
                return Err(errors::invalid_request(
                    "Checksum algorithm provided is unsupported. Please try again with any of the valid types: \
                     [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]",
                ));
            }
        })
    }

    /// The header that carries this checksum.
    pub fn header(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The algorithm's name as S3 spells it on the wire (`CRC64NVME`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    /// The stored value of this algorithm in `checksums`, if any.
    pub fn get(self, checksums: &Checksums) -> Option<&String> {
        match self {
            Self::Crc32 => checksums.crc32.as_ref(),
            Self::Crc32c => checksums.crc32c.as_ref(),
            Self::Crc64Nvme => checksums.crc64nvme.as_ref(),
            Self::Sha1 => checksums.sha1.as_ref(),
            Self::Sha256 => checksums.sha256.as_ref(),
        }
    }
}

/// What the client told us to verify about a body.
#[derive(Debug, Default, Clone)]
pub struct BodyExpectations {
    /// Base64 MD5 from `Content-MD5`.
    pub content_md5: Option<String>,
    /// The checksum algorithm to compute; none asked for means [`ChecksumAlgo::DEFAULT`].
    pub algo: Option<ChecksumAlgo>,
    /// The expected checksum value sent as a header (base64), if not in a trailer.
    pub expected: Option<String>,
    /// Declared length (`Content-Length` / decoded length), checked against what arrives.
    pub length: Option<u64>,
}

/// The `Content-MD5` a write declares. s3s reads an empty header as absent; AWS answers it
/// `InvalidDigest`, and so does kura, before any byte is read: a client that meant to have its body
/// checked must not get an unchecked write.
///
/// # Errors
/// `InvalidDigest` for a `Content-MD5` header with an empty value.
pub fn declared_content_md5(headers: &http::HeaderMap, parsed: Option<&String>) -> S3Result<Option<String>> {
    match headers.get("content-md5") {
        Some(value) if value.as_bytes().trim_ascii().is_empty() => Err(errors::invalid_digest()),
        _ => Ok(parsed.cloned()),
    }
}

/// Checks a body's MD5 against a declared `Content-MD5` (base64).
fn check_md5(declared: &str, md5: &[u8]) -> S3Result<()> {
    let decoded = B64.decode(declared.trim()).ok().filter(|d| d.len() == 16).ok_or_else(errors::invalid_digest)?;
    if decoded.as_slice() != md5 {
        return Err(errors::bad_digest("The Content-MD5 you specified did not match what we received."));
    }
    Ok(())
}

/// Checks a body's checksum (base64, as computed) against the one the client declared.
fn check_checksum(algo: ChecksumAlgo, declared: &str, computed: &str) -> S3Result<()> {
    if declared.trim() != computed {
        return Err(errors::bad_digest(format!(
            "The {} you specified did not match the calculated checksum.",
            algo.name()
        )));
    }
    Ok(())
}

/// Checks a body read whole (the XML or JSON of a bucket setting, DeleteObjects,
/// CompleteMultipartUpload…) against every digest its headers declare: `Content-MD5`, and, when
/// `checksums_are_the_bodys` (not on CompleteMultipartUpload, where they are the object's), any
/// `x-amz-checksum-*`. s3s verifies neither, and AWS does: without this, a body changed in transit
/// under an unsigned payload would be executed although its signed digest says otherwise.
///
/// # Errors
/// `InvalidDigest` for a `Content-MD5` that is empty or not a base64 MD5, `BadDigest` for a digest
/// that does not match the body, `InvalidRequest` for a digest header sent twice (as s3s answers a
/// repeated header it reads: which copy was meant is not for kura to guess).
pub fn check_declared_digests(headers: &http::HeaderMap, body: &[u8], checksums_are_the_bodys: bool) -> S3Result<()> {
    if let Some(declared) = single_digest_header(headers, "content-md5")? {
        check_md5(declared.to_str().map_err(|_| errors::invalid_digest())?, &Md5::digest(body))?;
    }
    for algo in ChecksumAlgo::ALL.into_iter().filter(|_| checksums_are_the_bodys) {
        let Some(declared) = single_digest_header(headers, algo.header())? else { continue };
        let declared = declared.to_str().map_err(|_| errors::bad_digest("A checksum header is not text."))?;
        let mut hasher = Hasher::new(algo);
        hasher.update(body);
        check_checksum(algo, declared, &hasher.finish_b64())?;
    }
    Ok(())
}

/// The one value of a digest header, if sent; sent twice is an error.
fn single_digest_header<'h>(headers: &'h http::HeaderMap, name: &str) -> S3Result<Option<&'h http::HeaderValue>> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(_), Some(_)) => {
            Err(errors::invalid_request(format!("The {name} header was sent more than once: send it once.")))
        }
        (first, _) => Ok(first),
    }
}

/// A body received and verified: where it is stored (`B`: a blob [`Segment`], or a [`StoredBody`]),
/// its MD5 and its checksums.
#[derive(Debug)]
pub struct WrittenBody<B = Segment> {
    /// Where the bytes are.
    pub body: B,
    /// Hex MD5 of the body.
    pub md5_hex: String,
    /// Checksums computed (and verified when the client sent a value).
    pub checksums: Checksums,
}

/// Where an object's new body is: in a durable blob, or held in memory to be committed inline with
/// the object's metadata (bodies of at most [`INLINE_MAX`] bytes).
#[derive(Debug)]
pub enum StoredBody {
    /// A new, durable blob.
    Blob(Segment),
    /// The whole body, for [`ObjectMeta::inline`].
    Inline(Bytes),
    /// The whole body sealed under its data key, for [`ObjectMeta::inline`] of an encrypted object
    /// (whose `encryption` the caller sets: the store checks the sealed length against it).
    SealedInline {
        /// The sealed bytes.
        sealed: Bytes,
        /// The plaintext length.
        size: u64,
    },
}

impl StoredBody {
    /// The body's length in bytes.
    pub fn size(&self) -> u64 {
        match self {
            StoredBody::Blob(segment) => segment.size,
            StoredBody::Inline(bytes) => bytes.len() as u64,
            StoredBody::SealedInline { size, .. } => *size,
        }
    }

    /// Makes this the body of `object`: its one segment, or its inline bytes.
    pub fn attach(self, object: &mut ObjectMeta) {
        match self {
            StoredBody::Blob(segment) => {
                object.segments = vec![segment];
                object.inline = None;
            }
            StoredBody::Inline(bytes) | StoredBody::SealedInline { sealed: bytes, .. } => {
                object.segments = Vec::new();
                object.inline = Some(bytes);
            }
        }
    }
}

/// Where [`receive`] puts a body's bytes as they arrive.
#[async_trait::async_trait]
trait Sink: Send {
    /// Takes the next chunk.
    async fn put(&mut self, chunk: &[u8]) -> S3Result<()>;
}

#[async_trait::async_trait]
impl Sink for Box<dyn BlobWriter> {
    async fn put(&mut self, chunk: &[u8]) -> S3Result<()> {
        self.write(chunk).await.or_s3()
    }
}

/// Holds a body in memory while it fits [`INLINE_MAX`] bytes and moves it to a new blob as soon as it
/// outgrows that, so a small object never touches the blob store and a large one streams. With a
/// `seal` key, the blob or the inline body is sealed under it.
struct SmallFirst<'a> {
    blobs: &'a dyn BlobStore,
    held: BytesMut,
    blob: Option<Box<dyn BlobWriter>>,
    seal: Option<&'a DataKey>,
}

#[async_trait::async_trait]
impl Sink for SmallFirst<'_> {
    async fn put(&mut self, chunk: &[u8]) -> S3Result<()> {
        if let Some(writer) = self.blob.as_mut() {
            return writer.put(chunk).await;
        }
        if self.held.len() + chunk.len() <= INLINE_MAX {
            self.held.extend_from_slice(chunk);
            return Ok(());
        }
        let mut writer = new_blob(self.blobs, self.seal).await?;
        writer.put(&std::mem::take(&mut self.held)).await?;
        writer.put(chunk).await?;
        self.blob = Some(writer);
        Ok(())
    }
}

impl SmallFirst<'_> {
    /// The body's final place: the blob it spilled into (made durable now), or the held bytes.
    async fn finish(self) -> S3Result<StoredBody> {
        match self.blob {
            Some(writer) => {
                let (blob, size) = writer.finish().await.or_s3()?;
                Ok(StoredBody::Blob(Segment { blob, size }))
            }
            None => Ok(match self.seal {
                None => StoredBody::Inline(self.held.freeze()),
                Some(key) => StoredBody::SealedInline {
                    sealed: sealed::seal_inline(key, &self.held),
                    size: self.held.len() as u64,
                },
            }),
        }
    }
}

enum Hasher {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    /// Boxed: the digest carries its parameter tables, large beside the other states.
    Crc64Nvme(Box<crc_fast::Digest>),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Hasher {
    fn new(algo: ChecksumAlgo) -> Self {
        match algo {
            ChecksumAlgo::Crc32 => Self::Crc32(crc32fast::Hasher::new()),
            ChecksumAlgo::Crc32c => Self::Crc32c(0),
            ChecksumAlgo::Crc64Nvme => {
                Self::Crc64Nvme(Box::new(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme)))
            }
            ChecksumAlgo::Sha1 => Self::Sha1(sha1::Sha1::new()),
            ChecksumAlgo::Sha256 => Self::Sha256(sha2::Sha256::new()),
        }
    }
    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Crc32(h) => h.update(data),
            Self::Crc32c(c) => *c = crc32c::crc32c_append(*c, data),
            Self::Crc64Nvme(d) => d.update(data),
            Self::Sha1(h) => h.update(data),
            Self::Sha256(h) => h.update(data),
        }
    }
    fn finish_b64(self) -> String {
        match self {
            Self::Crc32(h) => B64.encode(h.finalize().to_be_bytes()),
            Self::Crc32c(c) => B64.encode(c.to_be_bytes()),
            Self::Crc64Nvme(d) => B64.encode(d.finalize().to_be_bytes()),
            Self::Sha1(h) => B64.encode(h.finalize()),
            Self::Sha256(h) => B64.encode(h.finalize()),
        }
    }
}

/// Stores a checksum value in the slot of its algorithm.
pub fn set_checksum(checksums: &mut Checksums, algo: ChecksumAlgo, value: String) {
    match algo {
        ChecksumAlgo::Crc32 => checksums.crc32 = Some(value),
        ChecksumAlgo::Crc32c => checksums.crc32c = Some(value),
        ChecksumAlgo::Crc64Nvme => checksums.crc64nvme = Some(value),
        ChecksumAlgo::Sha1 => checksums.sha1 = Some(value),
        ChecksumAlgo::Sha256 => checksums.sha256 = Some(value),
    }
}

/// The checksum type of a checksum computed over all of a body's bytes.
pub const FULL_OBJECT: &str = "FULL_OBJECT";

/// Bodies at least this long are hashed on a thread of their own (see [`Hashing`]).
const PIPELINE_FROM: usize = 1024 * 1024;

/// The digests of a body: MD5 (the ETag) and the checksum the client asked for (or the default).
struct Digests {
    md5: Md5,
    checksum: Hasher,
}

impl Digests {
    fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        self.checksum.update(data);
    }
}

/// Where a body is hashed. Small bodies: in the request's task. Large ones: on a blocking thread fed
/// through a short queue, so that hashing one chunk overlaps with receiving and writing the next (MD5
/// is most of a large PUT's CPU: perf showed ~70% of the server's time in it, on one core, with the
/// other idle).
enum Hashing {
    Inline(Digests),
    Thread { queue: tokio::sync::mpsc::Sender<Bytes>, done: tokio::task::JoinHandle<Digests> },
}

impl Hashing {
    fn new(algo: ChecksumAlgo, length: Option<usize>) -> Self {
        let digests = Digests { md5: Md5::new(), checksum: Hasher::new(algo) };
        if length.is_none_or(|l| l < PIPELINE_FROM) {
            return Hashing::Inline(digests);
        }
        let (queue, mut chunks) = tokio::sync::mpsc::channel::<Bytes>(8);
        let done = tokio::task::spawn_blocking(move || {
            let mut digests = digests;
            while let Some(chunk) = chunks.blocking_recv() {
                digests.update(&chunk);
            }
            digests
        });
        Hashing::Thread { queue, done }
    }

    async fn update(&mut self, chunk: &Bytes) {
        match self {
            Hashing::Inline(d) => d.update(chunk),
            // The thread ends only after the queue closes, so a send cannot fail before `finish`.
            Hashing::Thread { queue, .. } => {
                let _ = queue.send(chunk.clone()).await;
            }
        }
    }

    async fn finish(self) -> S3Result<Digests> {
        match self {
            Hashing::Inline(d) => Ok(d),
            Hashing::Thread { queue, done } => {
                drop(queue);
                done.await.map_err(|e| errors::internal_error(format!("hashing the body failed: {e}")))
            }
        }
    }
}

/// The exact length a request body declares, if it declares one.
fn declared_length(body: Option<&StreamingBlob>) -> Option<usize> {
    body.and_then(|b| s3s::stream::ByteStream::remaining_length(b).exact())
}

/// A new blob writer; with a `seal` key, one that seals what is written under it (and reports the
/// plaintext size).
async fn new_blob(blobs: &dyn BlobStore, seal: Option<&DataKey>) -> S3Result<Box<dyn BlobWriter>> {
    let writer = blobs.create().await.or_s3()?;
    Ok(match seal {
        None => writer,
        Some(key) => Box::new(SealingWriter::new(writer, key)),
    })
}

/// Streams `body` into a new blob, hashing as it goes, and verifies what the client declared (a
/// multipart part, or an object too large to be inline). With a `seal` key the blob holds the body
/// sealed under it; digests and the returned size are of the plaintext. On any failure the unfinished
/// blob is discarded: nothing becomes visible.
pub async fn ingest(
    blobs: &dyn BlobStore,
    body: Option<StreamingBlob>,
    expect: &BodyExpectations,
    trailers: Option<&s3s::TrailingHeaders>,
    seal: Option<&DataKey>,
) -> S3Result<WrittenBody> {
    let mut writer = new_blob(blobs, seal).await?;
    let (md5_hex, checksums) = receive(&mut writer, body, expect, trailers).await?;
    let (blob, size) = writer.finish().await.or_s3()?;
    Ok(WrittenBody { body: Segment { blob, size }, md5_hex, checksums })
}

/// Like [`ingest`], for an object's whole body: one that fits [`INLINE_MAX`] bytes (of plaintext) is
/// kept to be committed inline with the object's metadata (sealed, with a `seal` key:
/// [`StoredBody::SealedInline`]); a larger one goes to a new blob.
pub async fn ingest_object(
    blobs: &dyn BlobStore,
    body: Option<StreamingBlob>,
    expect: &BodyExpectations,
    trailers: Option<&s3s::TrailingHeaders>,
    seal: Option<&DataKey>,
) -> S3Result<WrittenBody<StoredBody>> {
    if declared_length(body.as_ref()).is_some_and(|len| len > INLINE_MAX) {
        let WrittenBody { body, md5_hex, checksums } = ingest(blobs, body, expect, trailers, seal).await?;
        return Ok(WrittenBody { body: StoredBody::Blob(body), md5_hex, checksums });
    }
    let mut sink = SmallFirst { blobs, held: BytesMut::new(), blob: None, seal };
    let (md5_hex, checksums) = receive(&mut sink, body, expect, trailers).await?;
    Ok(WrittenBody { body: sink.finish().await?, md5_hex, checksums })
}

/// Streams `body` into `sink`, hashing as it goes, and verifies what the client declared: length,
/// Content-MD5 and checksum (header or trailer). Returns the hex MD5 and the checksums.
async fn receive(
    sink: &mut dyn Sink,
    body: Option<StreamingBlob>,
    expect: &BodyExpectations,
    trailers: Option<&s3s::TrailingHeaders>,
) -> S3Result<(String, Checksums)> {
    let length = declared_length(body.as_ref());
    let algo = expect.algo.unwrap_or(ChecksumAlgo::DEFAULT);
    let mut hashing = Hashing::new(algo, length);
    let mut received: u64 = 0;
    if let Some(mut body) = body {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(body_read_error)?;
            received += chunk.len() as u64;
            if expect.length.is_some_and(|len| received > len) {
                return Err(errors::incomplete_body("The request body is longer than its declared Content-Length."));
            }
            hashing.update(&chunk).await;
            sink.put(&chunk).await?;
        }
    }
    if expect.length.is_some_and(|len| received != len) {
        return Err(errors::incomplete_body(
            "You did not provide the number of bytes specified by the Content-Length HTTP header.",
        ));
    }
    let Digests { md5, checksum: hasher } = hashing.finish().await?;
    let md5 = md5.finalize();
    if let Some(declared) = &expect.content_md5 {
        check_md5(declared, &md5)?;
    }
    let computed = hasher.finish_b64();
    let trailer_value = trailers.and_then(|t| {
        t.read(|headers| headers.get(algo.header()).and_then(|v| v.to_str().ok()).map(str::to_owned)).flatten()
    });
    if let Some(declared) = expect.expected.as_deref().or(trailer_value.as_deref()) {
        check_checksum(algo, declared, &computed)?;
    }
    let mut checksums = Checksums { checksum_type: Some(FULL_OBJECT.to_owned()), ..Checksums::default() };
    set_checksum(&mut checksums, algo, computed);
    Ok((hex::encode(md5), checksums))
}

/// The error for a body chunk that could not be read: the client's body (IncompleteBody), or, when a
/// copy reads a stored object, that object's failure (a stored body failing its integrity check is
/// the server's fault, not the client's).
fn body_read_error(e: s3s::StdError) -> s3s::S3Error {
    let e = match e.downcast::<SealError>() {
        Ok(sealed) => return sealed.into_s3(),
        Err(e) => e,
    };
    match e.downcast::<StoreError>() {
        Ok(store) => errors::store_error(*store),
        Err(e) => errors::incomplete_body(format!("The request body could not be read: {e}")),
    }
}

/// Reads `range` (half-open, in object coordinates) of `object` as one stream: its inline body, or
/// its segments' blobs, which are pinned for the life of the stream so a concurrent overwrite cannot
/// pull them away. An encrypted object (`encryption` set) is read with `keys`, one per segment (one for
/// an inline body), see [`egress_sealed`]; without them it is refused, never sent sealed. A plain
/// object is read as it is (`keys` are not looked at).
pub async fn egress(
    blobs: std::sync::Arc<dyn BlobStore>,
    object: &ObjectMeta,
    range: std::ops::Range<u64>,
    keys: Option<&[DataKey]>,
) -> Result<StreamingBlob, SealError> {
    if object.encryption.is_some() {
        return egress_sealed(blobs, object, range, keys.unwrap_or_default()).await;
    }
    if let Some(body) = &object.inline {
        let slice = usize::try_from(range.start)
            .ok()
            .zip(usize::try_from(range.end).ok())
            .filter(|(start, end)| start <= end && *end <= body.len())
            .map(|(start, end)| body.slice(start..end))
            .ok_or_else(|| {
                StoreError::Backend(format!(
                    "range {range:?} is outside the {}-byte inline body of {:?}",
                    body.len(),
                    object.key
                ))
            })?;
        // One whole body: hyper sends it with the headers, in one write.
        return Ok(StreamingBlob::from(s3s::Body::from(slice)));
    }
    let segments = object.segments.as_slice();
    let pin = pin_segments(blobs.as_ref(), segments).await?;
    let mut pieces: Vec<(BlobId, u64, u64)> = Vec::new();
    let mut pos = 0u64;
    for seg in segments {
        let (start, end) = (pos, pos + seg.size);
        pos = end;
        let lo = range.start.max(start);
        let hi = range.end.min(end);
        if lo < hi {
            pieces.push((seg.blob, lo - start, hi - lo));
        }
    }
    let stream = futures::stream::iter(pieces)
        .then(move |(id, offset, len)| {
            let blobs = blobs.clone();
            async move { blobs.read(id, offset, len).await }
        })
        .map(|r| match r {
            Ok(s) => s,
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        })
        .flatten()
        .boxed();
    Ok(StreamingBlob::wrap(PinnedStream { inner: Mutex::new(stream), _pin: pin }))
}

/// Pins the blobs of `segments` and checks they exist (a blob may have been reclaimed between the
/// metadata read and the pin).
async fn pin_segments(blobs: &dyn BlobStore, segments: &[Segment]) -> Result<BlobPin, StoreError> {
    let ids: Vec<BlobId> = segments.iter().map(|s| s.blob).collect();
    let pin = blobs.pin(&ids);
    for id in &ids {
        if !blobs.exists(*id).await? {
            return Err(StoreError::NoSuchBlob(*id));
        }
    }
    Ok(pin)
}

/// [`egress`] of an encrypted object: opens `range` of its sealed inline body, or of its sealed
/// segments (reading only the chunks the range needs), with `keys` (one per segment, or one for the
/// inline body). A body that fails its integrity check before the first byte is ready is an error
/// here, so the client gets an S3 error and no body; after that, the stream ends with the error and
/// the connection is cut (the client sees a short body, never wrong bytes).
pub async fn egress_sealed(
    blobs: std::sync::Arc<dyn BlobStore>,
    object: &ObjectMeta,
    range: std::ops::Range<u64>,
    keys: &[DataKey],
) -> Result<StreamingBlob, SealError> {
    if let Some(body) = &object.inline {
        let [key] = keys else { return Err(SealError::Keys { needed: 1, given: keys.len() }) };
        let plain = sealed::open_inline(key, body, object.size, range)?;
        return Ok(StreamingBlob::from(s3s::Body::from(plain)));
    }
    let pin = pin_segments(blobs.as_ref(), &object.segments).await?;
    let mut stream = sealed::open_segments(blobs, &object.segments, keys, range)?;
    // Open the first piece now: a failure there is still an S3 error, not a cut connection.
    let stream = match stream.next().await {
        None => futures::stream::empty().boxed(),
        Some(Err(e)) => return Err(e),
        Some(Ok(first)) => futures::stream::once(async move { Ok(first) }).chain(stream).boxed(),
    };
    Ok(StreamingBlob::wrap(PinnedStream { inner: Mutex::new(stream), _pin: pin }))
}

/// Makes a `Send` stream `Sync` (s3s requires it) and holds the blob pins while it lives.
struct PinnedStream<E = StoreError> {
    inner: Mutex<BoxStream<'static, Result<Bytes, E>>>,
    _pin: BlobPin,
}

impl<E> Stream for PinnedStream<E> {
    type Item = Result<Bytes, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let inner = this.inner.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.as_mut().poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kura_crypt::{CHUNK_SIZE, sealed_len};
    use kura_store::file_blobs::FileBlobStore;
    use kura_store::redb_meta::RedbMetaStore;
    use kura_store::{MetaStore, ObjectEncryption, SseKind, StoredKey};
    use std::sync::Arc;

    /// A blob store and a redb metadata store with bucket `b`, in a tempdir.
    async fn stores() -> (tempfile::TempDir, Arc<FileBlobStore>, RedbMetaStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = Arc::new(FileBlobStore::open(&dir.path().join("data")).expect("blobs"));
        let meta = RedbMetaStore::open(&dir.path().join("meta.redb")).expect("meta");
        meta.create_bucket(kura_store::conformance::bucket("b")).await.expect("bucket");
        (dir, blobs, meta)
    }

    fn data(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| ((i * 7 + usize::from(seed) * 13) % 253) as u8).collect()
    }

    /// A request body of known length, or one streamed in 10,000-byte pieces of unknown length.
    fn request(plain: &[u8], known_length: bool) -> StreamingBlob {
        if known_length {
            return StreamingBlob::from(s3s::Body::from(Bytes::copy_from_slice(plain)));
        }
        let pieces: Vec<Result<Bytes, std::io::Error>> =
            plain.chunks(10_000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        StreamingBlob::wrap(futures::stream::iter(pieces))
    }

    /// An object of `written` body, marked encrypted with one (opaque) stored key per key.
    fn encrypted(key: &str, written: StoredBody, md5_hex: String, keys: usize) -> ObjectMeta {
        let mut object =
            crate::s3::meta::new_object(key.into(), written.size(), md5_hex, Default::default(), Default::default());
        written.attach(&mut object);
        let stored = StoredKey { key_id: "test".into(), blob: "opaque".into() };
        object.encryption = Some(ObjectEncryption { kind: SseKind::S3, keys: vec![stored; keys] });
        object
    }

    async fn read(
        blobs: &Arc<FileBlobStore>,
        object: &ObjectMeta,
        range: std::ops::Range<u64>,
        keys: &[DataKey],
    ) -> Result<Vec<u8>, SealError> {
        let blobs: Arc<dyn BlobStore> = blobs.clone();
        let mut body = egress(blobs, object, range, Some(keys)).await?;
        let mut out = Vec::new();
        while let Some(piece) = body.next().await {
            let piece = piece.map_err(|e| match e.downcast::<SealError>() {
                Ok(e) => *e,
                Err(e) => panic!("not a SealError: {e}"),
            })?;
            out.extend_from_slice(&piece);
        }
        Ok(out)
    }

    fn md5_hex(plain: &[u8]) -> String {
        hex::encode(Md5::digest(plain))
    }

    #[tokio::test]
    async fn sealed_puts_store_ciphertext_hash_the_plaintext_and_read_back_through_redb() {
        let (_dir, blobs, meta) = stores().await;
        for (n, known) in [(0, true), (100, false), (INLINE_MAX, true), (INLINE_MAX + 1, false), (300_000, true)] {
            let plain = data(n, 1);
            let key = DataKey::generate();
            let written = ingest_object(
                blobs.as_ref(),
                Some(request(&plain, known)),
                &BodyExpectations::default(),
                None,
                Some(&key),
            )
            .await
            .expect("ingest");
            assert_eq!(written.md5_hex, md5_hex(&plain), "the ETag is the plaintext's MD5");
            assert_eq!(written.body.size(), n as u64);
            let inline = n <= INLINE_MAX;
            match &written.body {
                StoredBody::SealedInline { sealed, .. } => {
                    assert!(inline);
                    assert_eq!(sealed.len() as u64, sealed_len(n as u64));
                }
                StoredBody::Blob(segment) => {
                    assert!(!inline);
                    let file = std::fs::read(blobs.blob_path(segment.blob)).expect("blob");
                    assert_eq!(file.len() as u64, sealed_len(n as u64));
                    assert!(!file.windows(64).any(|w| w == &plain[1000..1064]), "no plaintext on disk");
                }
                StoredBody::Inline(_) => panic!("a sealed write stored a plain inline body"),
            }
            let name = format!("k{n}");
            meta.put_object("b", encrypted(&name, written.body, written.md5_hex, 1)).await.expect("put");
            let object = meta.get_object("b", &name).await.expect("get").expect("object");
            let keys = [key];
            assert_eq!(read(&blobs, &object, 0..n as u64, &keys).await.expect("read"), plain, "{n}");
            if n > 10 {
                let range = 3..n as u64 - 2;
                assert_eq!(read(&blobs, &object, range, &keys).await.expect("range"), &plain[3..n - 2]);
            }
            // Never sent sealed: an encrypted object read without its keys is refused.
            let blobs_dyn: Arc<dyn BlobStore> = blobs.clone();
            let refused = egress(blobs_dyn, &object, 0..n as u64, None).await.err();
            assert!(matches!(refused, Some(SealError::Keys { needed: 1, given: 0 })), "{refused:?}");
        }
    }

    #[tokio::test]
    async fn sealed_parts_each_under_their_own_key_read_as_one_object() {
        let (_dir, blobs, meta) = stores().await;
        let sizes = [5 * 1024 * 1024 + 3, 70_000, 1];
        let (mut segments, mut keys, mut whole) = (Vec::new(), Vec::new(), Vec::new());
        for (i, n) in sizes.into_iter().enumerate() {
            let plain = data(n, i as u8);
            let key = DataKey::generate();
            let written =
                ingest(blobs.as_ref(), Some(request(&plain, i == 0)), &BodyExpectations::default(), None, Some(&key))
                    .await
                    .expect("part");
            assert_eq!((written.body.size, written.md5_hex.clone()), (n as u64, md5_hex(&plain)));
            segments.push(written.body);
            keys.push(key);
            whole.extend_from_slice(&plain);
        }
        let mut object = encrypted("mp", StoredBody::Inline(Bytes::new()), "x-3".into(), 3);
        object.inline = None;
        object.segments = segments;
        object.size = whole.len() as u64;
        object.part_sizes = sizes.iter().map(|&s| s as u64).collect();
        meta.put_object("b", object).await.expect("put");
        let object = meta.get_object("b", "mp").await.expect("get").expect("object");
        let (total, first) = (whole.len() as u64, sizes[0] as u64);
        let c = CHUNK_SIZE as u64;
        for range in [0..total, first - 1..first + 1, first - c - 3..total, first + 70_000..total, c..c + 1] {
            let got = read(&blobs, &object, range.clone(), &keys).await.expect("read");
            assert_eq!(got, &whole[range.start as usize..range.end as usize], "{range:?}");
        }
    }

    #[tokio::test]
    async fn a_tampered_sealed_body_is_an_error_never_wrong_bytes() {
        let (_dir, blobs, meta) = stores().await;
        // An inline body with a flipped byte, through redb: the read fails before any byte, as a 500.
        let key = DataKey::generate();
        let plain = data(5_000, 3);
        let written =
            ingest_object(blobs.as_ref(), Some(request(&plain, true)), &BodyExpectations::default(), None, Some(&key))
                .await
                .expect("ingest");
        let mut object = encrypted("small", written.body, written.md5_hex, 1);
        let mut bad = object.inline.clone().expect("inline").to_vec();
        bad[2_500] ^= 0x10;
        object.inline = Some(Bytes::from(bad));
        meta.put_object("b", object).await.expect("put");
        let object = meta.get_object("b", "small").await.expect("get").expect("object");
        let err = read(&blobs, &object, 0..5_000, std::slice::from_ref(&key)).await.expect_err("tampered");
        assert!(matches!(err, SealError::Integrity { .. }), "{err}");
        let s3 = Err::<(), _>(err).or_s3().expect_err("an S3 error");
        assert_eq!(
            (s3.code(), s3.status_code()),
            (&s3s::S3ErrorCode::InternalError, Some(http::StatusCode::INTERNAL_SERVER_ERROR))
        );

        // A blob with a flipped byte in its first chunk: an error before any byte.
        let key = DataKey::generate();
        let plain = data(2 * 1024 * 1024, 4);
        let written =
            ingest_object(blobs.as_ref(), Some(request(&plain, true)), &BodyExpectations::default(), None, Some(&key))
                .await
                .expect("ingest");
        let object = encrypted("big", written.body, written.md5_hex, 1);
        meta.put_object("b", object).await.expect("put");
        let object = meta.get_object("b", "big").await.expect("get").expect("object");
        let path = blobs.blob_path(object.segments[0].blob);
        let good = std::fs::read(&path).expect("blob");
        let mut bad = good.clone();
        bad[10] ^= 1;
        std::fs::write(&path, &bad).expect("tamper");
        let blobs_dyn: Arc<dyn BlobStore> = blobs.clone();
        let early = egress(blobs_dyn.clone(), &object, 0..plain.len() as u64, Some(std::slice::from_ref(&key))).await;
        assert!(matches!(early, Err(SealError::Integrity { .. })), "before the headers");

        // ... and in chunk 20: the first bytes go out, then the stream ends with the error.
        let mut bad = good.clone();
        bad[20 * (CHUNK_SIZE + 16) + 7] ^= 1;
        std::fs::write(&path, &bad).expect("tamper");
        let mut body = egress(blobs_dyn.clone(), &object, 0..plain.len() as u64, Some(std::slice::from_ref(&key)))
            .await
            .expect("the first chunks authenticate");
        let (mut got, mut failed) = (Vec::new(), false);
        while let Some(piece) = body.next().await {
            match piece {
                Ok(bytes) => got.extend_from_slice(&bytes),
                Err(e) => {
                    assert!(matches!(e.downcast_ref::<SealError>(), Some(SealError::Integrity { .. })), "{e}");
                    failed = true;
                }
            }
        }
        assert!(failed, "the stream ends with the error");
        assert!(!got.is_empty() && got.len() <= 20 * CHUNK_SIZE && plain.starts_with(&got), "{}", got.len());

        // A copy reading that source fails as the server's error, not as the client's IncompleteBody.
        let source =
            egress(blobs_dyn, &object, 0..plain.len() as u64, Some(std::slice::from_ref(&key))).await.expect("open");
        let copy = ingest(blobs.as_ref(), Some(source), &BodyExpectations::default(), None, None).await;
        let err = copy.expect_err("a copy of a tampered body fails");
        assert_eq!(err.code(), &s3s::S3ErrorCode::InternalError);
    }
}
