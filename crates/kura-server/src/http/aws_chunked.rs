//! A guard on aws-chunked bodies: refuses a chunk whose declared size is over [`MAX_CHUNK_SIZE`]
//! before s3s sees its header, so before a byte of it is held.
//!
//! s3s decodes a `STREAMING-…` body (`x-amz-content-sha256`) with its `AwsChunkedStream`, which holds
//! a whole chunk in memory before it checks the chunk's signature and yields it, and accepts any size
//! that fits a `u32`: one chunk declared 4 GiB made the server hold 4 GiB for one client with
//! PutObject. The SDKs send small chunks (aws-sdk-rust: 64 KiB, botocore and so the aws CLI: 1 MiB;
//! aws-sdk-js-v3: what its stream yields, at least 8 KiB), so 16 MiB leaves every one of them room.
//!
//! [`Framing`] reads only the framing, `hex-size[;chunk-signature=…]\r\n data \r\n … 0[;…]\r\n
//! trailers`: each chunk header's size, then it counts the chunk's bytes without looking at them.
//! [`ChunkGuard`] wraps a body with it and passes every byte on unchanged; s3s still checks every
//! signature and the trailers.
//!
//! **The attack on the guard itself** is a body that kura and s3s read differently: if the guard
//! took a chunk for shorter or longer than s3s does, it would look for the next header in the wrong
//! place and s3s could meet a 4 GiB header the guard never saw. s3s reads a header like this (s3s
//! 0.14.1, `http/aws_chunked_stream.rs`), and the guard refuses, rather than reads, whatever could be
//! read two ways:
//!
//! - the header ends at its first `\n` (at most 1024 bytes), not at `\r\n`;
//! - the size is the text before the first `;` or `\r`, read by nom's `hex_u32`, which reads **at
//!   most 8 hex digits and silently drops the rest**: `100000000` (4 GiB to anyone else) is
//!   `0x10000000` to s3s, `0000000010` is 0 (the last chunk, so the rest is read as trailers), and
//!   `1z` or `1 ` is 1. The guard accepts only 1 to 8 hex digits (either case, leading zeros allowed)
//!   followed by `;` or `\r`, so each size it passes is the one s3s reads;
//! - a chunk's data is followed by exactly `\r\n` (checked here too, so the next header is where s3s
//!   looks for it);
//! - after the zero-size chunk there is no `\r\n` of data: everything that follows is the trailers,
//!   which s3s reads whole up to 16 KiB; the guard passes them without reading them.

use bytes::Bytes;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

/// The largest chunk kura lets s3s read (s3s holds a chunk whole before it yields it).
pub const MAX_CHUNK_SIZE: u64 = 16 * 1024 * 1024;

/// The longest chunk header s3s reads (its `MAX_CHUNK_META_SIZE`), `\n` included.
const MAX_HEADER: usize = 1024;

/// The most hex digits s3s reads in a chunk size (nom's `hex_u32`).
const MAX_DIGITS: u8 = 8;

/// Why an aws-chunked body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkError {
    /// A chunk declared more than [`MAX_CHUNK_SIZE`] bytes.
    TooLarge {
        /// Which chunk (1 for the first).
        chunk: u64,
        /// Its declared size.
        declared: u64,
    },
    /// The framing is not what s3s reads unambiguously.
    Malformed {
        /// Which chunk (1 for the first).
        chunk: u64,
        /// What is wrong with it.
        what: &'static str,
    },
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { chunk, declared } => write!(
                f,
                "aws-chunked chunk {chunk} declares {declared} bytes; kura accepts chunks of at most {MAX_CHUNK_SIZE} \
                 bytes (16 MiB): send smaller chunks"
            ),
            Self::Malformed { chunk, what } => write!(f, "aws-chunked chunk {chunk} is malformed: {what}"),
        }
    }
}

impl std::error::Error for ChunkError {}

/// Where the reader is in the framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In a chunk header: the size read so far and its digits; `ended` once `;` or `\r` closed the
    /// size; `len` bytes of the header seen.
    Header { size: u64, digits: u8, ended: bool, len: usize },
    /// In a chunk's data: bytes left.
    Data(u64),
    /// After a chunk's data: expecting its `\r` (false) or `\n` (true).
    DataEnd(bool),
    /// After the zero-size chunk: trailers (s3s reads and bounds them).
    Trailers,
    /// Refused: nothing more is read.
    Failed,
}

/// The aws-chunked framing of one body, read as it arrives (see the module documentation).
#[derive(Debug, Clone)]
pub struct Framing {
    state: State,
    /// The chunk being read (1 for the first).
    chunk: u64,
}

impl Default for Framing {
    fn default() -> Self {
        Self::new()
    }
}

impl Framing {
    /// The framing of a body not yet read.
    pub fn new() -> Self {
        Self { state: State::Header { size: 0, digits: 0, ended: false, len: 0 }, chunk: 1 }
    }

    /// Reads the next `bytes` of the body; an error at the first byte that breaks the framing or
    /// closes the header of a chunk over [`MAX_CHUNK_SIZE`]. After an error every call fails again.
    ///
    /// # Errors
    /// [`ChunkError`] as described.
    pub fn inspect(&mut self, mut bytes: &[u8]) -> Result<(), ChunkError> {
        while !bytes.is_empty() {
            match self.state {
                State::Trailers => return Ok(()),
                State::Failed => return Err(self.malformed("the body was refused before")),
                State::Data(left) => {
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
                    bytes = &bytes[take..];
                    let left = left.saturating_sub(u64::try_from(take).unwrap_or(u64::MAX));
                    self.state = if left == 0 { State::DataEnd(false) } else { State::Data(left) };
                }
                State::DataEnd(cr_seen) => {
                    let expected = if cr_seen { b'\n' } else { b'\r' };
                    if bytes[0] != expected {
                        return Err(self.fail("its data is not followed by \\r\\n"));
                    }
                    bytes = &bytes[1..];
                    if cr_seen {
                        self.chunk += 1;
                        self.state = State::Header { size: 0, digits: 0, ended: false, len: 0 };
                    } else {
                        self.state = State::DataEnd(true);
                    }
                }
                State::Header { size, digits, ended, len } => {
                    let byte = bytes[0];
                    bytes = &bytes[1..];
                    let len = len + 1;
                    if len > MAX_HEADER {
                        return Err(self.fail("its header is longer than 1024 bytes"));
                    }
                    if ended {
                        // The extension (`;chunk-signature=…`) or the `\r`: s3s checks it; the header
                        // ends at the first `\n`.
                        self.state = if byte == b'\n' && size == 0 {
                            State::Trailers
                        } else if byte == b'\n' {
                            State::Data(size)
                        } else {
                            State::Header { size, digits, ended, len }
                        };
                        continue;
                    }
                    let next = match byte {
                        b';' | b'\r' if digits > 0 => {
                            if size > MAX_CHUNK_SIZE {
                                self.state = State::Failed;
                                return Err(ChunkError::TooLarge { chunk: self.chunk, declared: size });
                            }
                            State::Header { size, digits, ended: true, len }
                        }
                        _ => {
                            let Some(digit) = (byte as char).to_digit(16) else {
                                return Err(self.fail("its size is not 1 to 8 hex digits ended by ';' or '\\r'"));
                            };
                            if digits == MAX_DIGITS {
                                return Err(self.fail("its size has more than 8 hex digits"));
                            }
                            State::Header { size: size * 16 + u64::from(digit), digits: digits + 1, ended, len }
                        }
                    };
                    self.state = next;
                }
            }
        }
        Ok(())
    }

    fn malformed(&self, what: &'static str) -> ChunkError {
        ChunkError::Malformed { chunk: self.chunk, what }
    }

    fn fail(&mut self, what: &'static str) -> ChunkError {
        self.state = State::Failed;
        self.malformed(what)
    }
}

/// Whether s3s reads this request's body as aws-chunked: its `x-amz-content-sha256` is a `STREAMING-`
/// value. Any such header counts (s3s reads one; a request with two is refused by s3s or the gate), and
/// case is ignored, so no spelling slips past the guard.
pub fn is_aws_chunked(headers: &http::HeaderMap) -> bool {
    headers
        .get_all("x-amz-content-sha256")
        .iter()
        .any(|v| v.as_bytes().get(..10).is_some_and(|p| p.eq_ignore_ascii_case(b"STREAMING-")))
}

/// A body read through [`Framing`]: every frame passes unchanged until one breaks the framing, which is
/// withheld and becomes the body's error (and is kept in [`ChunkGuard::refusal`] for the answer).
pub struct ChunkGuard<B> {
    inner: B,
    framing: Framing,
    refusal: Arc<OnceLock<ChunkError>>,
}

impl<B> ChunkGuard<B> {
    /// Guards `inner`; the returned cell holds the refusal, if the body is refused.
    pub fn new(inner: B) -> (Self, Arc<OnceLock<ChunkError>>) {
        let refusal = Arc::new(OnceLock::new());
        (Self { inner, framing: Framing::new(), refusal: refusal.clone() }, refusal)
    }
}

impl<B> http_body::Body for ChunkGuard<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<s3s::StdError>,
{
    type Data = Bytes;
    type Error = s3s::StdError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, s3s::StdError>>> {
        let frame = match std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
            None => return Poll::Ready(None),
            Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
            Some(Ok(frame)) => frame,
        };
        if let Some(data) = frame.data_ref()
            && let Err(e) = self.framing.inspect(data)
        {
            let _ = self.refusal.set(e.clone());
            return Poll::Ready(Some(Err(Box::new(e))));
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &str = ";chunk-signature=0000000000000000000000000000000000000000000000000000000000000000\r\n";

    /// Feeds `body` in pieces of `step` bytes; the result of the first failing piece, else Ok.
    fn feed(body: &[u8], step: usize) -> Result<(), ChunkError> {
        let mut framing = Framing::new();
        body.chunks(step).try_for_each(|piece| framing.inspect(piece))
    }

    fn every_split(body: &[u8]) -> Vec<Result<(), ChunkError>> {
        (1..=body.len().max(1)).map(|step| feed(body, step)).collect()
    }

    #[test]
    fn a_well_formed_body_passes_however_it_is_split() {
        let data = vec![b'x'; 0x10000];
        let mut signed = format!("10000{SIG}").into_bytes();
        signed.extend_from_slice(&data);
        signed.extend_from_slice(format!("\r\n5{SIG}hello\r\n0{SIG}").as_bytes());
        signed.extend_from_slice(b"x-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:00\r\n\r\n");
        assert_eq!(feed(&signed, signed.len()), Ok(()));
        for step in [1, 2, 3, 7, 64, 91, 4096] {
            assert_eq!(feed(&signed, step), Ok(()), "pieces of {step}");
        }
        // Unsigned, uppercase hex as aws-sdk-rust writes it, lowercase as botocore does.
        let unsigned = b"A\r\n0123456789\r\nb\r\n0123456789a\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n";
        assert!(every_split(unsigned).iter().all(Result::is_ok));
    }

    #[test]
    fn leading_zeros_are_read_up_to_eight_digits() {
        assert_eq!(feed(b"0000000a\r\n0123456789\r\n0\r\n\r\n", 1), Ok(()));
        assert_eq!(feed(b"00000000\r\n\r\n", 1), Ok(()));
        // Nine digits: s3s would read the first eight only (here 0: the last chunk), so refused.
        let err = feed(b"00000000a\r\n0123456789\r\n", 1).expect_err("nine digits");
        assert!(matches!(err, ChunkError::Malformed { chunk: 1, .. }), "{err}");
        // 4 GiB to anyone, 256 MiB to s3s: refused as nine digits, never read as either.
        assert!(matches!(feed(b"100000000\r\n", 3), Err(ChunkError::Malformed { .. })));
    }

    #[test]
    fn an_oversized_chunk_is_refused_at_its_header() {
        for header in ["1000001\r\n", "20000000;chunk-signature=", "FFFFFFFF\r\n", "01000001\r\n"] {
            for step in 1..=header.len() {
                let err = feed(header.as_bytes(), step).expect_err(header);
                assert!(matches!(err, ChunkError::TooLarge { chunk: 1, .. }), "{header}: {err}");
            }
        }
        // Exactly 16 MiB is allowed; its data is counted, not held.
        assert_eq!(feed(b"1000000\r\n", 1), Ok(()));
        // The second chunk too, after a good first one.
        let err = feed(b"3\r\nabc\r\n20000000\r\n", 4).expect_err("second chunk");
        assert_eq!(err, ChunkError::TooLarge { chunk: 2, declared: 0x2000_0000 });
        assert!(err.to_string().contains("536870912"), "{err}");
    }

    #[test]
    fn garbage_is_refused() {
        for body in [
            &b"\r\n"[..],               // no size
            b";chunk-signature=00\r\n", // no size before the extension
            b"\n",                      // a bare line
            b"1\n",                     // size ended by \n: s3s reads the header as malformed
            b"1z\r\n",                  // s3s's hex_u32 would read 1 and drop the z
            b"1 \r\n",                  // a space after the digits
            b" 1\r\n",                  // ... or before them
            b"+1\r\n",
            b"-1\r\n",
            b"0x10\r\n",
            b"3\r\nabcXY", // data not followed by \r\n
            b"3\r\nabc\rX",
            b"3\r\nabc\n\r",
        ] {
            let err = feed(body, 1).expect_err(&String::from_utf8_lossy(body));
            assert!(matches!(err, ChunkError::Malformed { .. }), "{body:?}: {err}");
        }
        // A header longer than s3s's 1024 bytes.
        let long = format!("1;{}\r\n", "x".repeat(1100));
        assert!(matches!(feed(long.as_bytes(), 100), Err(ChunkError::Malformed { .. })));
        // Once refused, always refused.
        let mut framing = Framing::new();
        assert!(framing.inspect(b"zz").is_err());
        assert!(framing.inspect(b"1\r\nx\r\n").is_err());
    }

    #[test]
    fn trailers_after_the_last_chunk_are_passed_unread() {
        // After "0…\n" s3s reads everything left as trailers (and bounds it): so does the guard.
        assert_eq!(feed(b"0\r\nFFFFFFFFFF\r\n garbage", 1), Ok(()));
        assert_eq!(feed(format!("0{SIG}x-amz-trailer-signature:ab\r\n\r\n").as_bytes(), 5), Ok(()));
    }

    #[test]
    fn only_streaming_payloads_are_aws_chunked() {
        let with = |v: &str| {
            let mut h = http::HeaderMap::new();
            h.insert("x-amz-content-sha256", http::HeaderValue::from_str(v).expect("value"));
            is_aws_chunked(&h)
        };
        assert!(with("STREAMING-UNSIGNED-PAYLOAD-TRAILER"));
        assert!(with("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"));
        assert!(with("streaming-aws4-hmac-sha256-payload"));
        assert!(!with("UNSIGNED-PAYLOAD"));
        assert!(!with("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
        assert!(!is_aws_chunked(&http::HeaderMap::new()));
    }

    #[tokio::test]
    async fn the_guard_passes_bytes_unchanged_and_withholds_the_bad_frame() {
        use http_body_util::BodyExt as _;
        let good = Bytes::from_static(b"3\r\nabc\r\n");
        let bad = Bytes::from_static(b"20000000\r\nxxxx");
        let frames = futures::stream::iter([Ok::<_, std::convert::Infallible>(http_body::Frame::data(good.clone()))]);
        let (mut guarded, refusal) = ChunkGuard::new(http_body_util::StreamBody::new(frames));
        let first = guarded.frame().await.expect("a frame").expect("passed");
        assert_eq!(first.into_data().ok(), Some(good.clone()));
        assert!(guarded.frame().await.is_none());
        assert!(refusal.get().is_none());
        let frames = [good.clone(), bad].map(|b| Ok::<_, std::convert::Infallible>(http_body::Frame::data(b)));
        let (mut guarded, refusal) = ChunkGuard::new(http_body_util::StreamBody::new(futures::stream::iter(frames)));
        assert!(guarded.frame().await.expect("first").is_ok());
        let err = guarded.frame().await.expect("second").expect_err("refused");
        assert!(err.to_string().contains("chunk 2"), "{err}");
        assert_eq!(refusal.get(), Some(&ChunkError::TooLarge { chunk: 2, declared: 0x2000_0000 }));
    }
}
