//! Sealed bodies: the chunked AES-256-GCM stream described in the crate documentation.

use crate::CryptError;
use crate::key::{DataKey, TAG_LEN};
use aws_lc_rs::aead::{Aad, LessSafeKey, NONCE_LEN, Nonce};
use std::ops::Range;

/// Plaintext bytes per chunk (the last chunk may be shorter).
pub const CHUNK_SIZE: usize = 64 * 1024;
/// [`CHUNK_SIZE`] as a `u64`, for offset arithmetic.
const CHUNK: u64 = CHUNK_SIZE as u64;
/// The sealed size of a full chunk.
const SEALED_CHUNK: u64 = CHUNK + TAG_LEN as u64;
/// The AAD's version label.
const AAD_LABEL: &[u8; 14] = b"kura-sealed-v1";

/// The number of chunks of a body of `plain_len` bytes: `max(1, ceil(plain_len / CHUNK_SIZE))`.
fn chunks(plain_len: u64) -> u64 {
    plain_len.div_ceil(CHUNK).max(1)
}

/// The length of the sealed body of `plain_len` plaintext bytes: one 16-byte tag per chunk. Saturates
/// at `u64::MAX` (no body is that long).
pub fn sealed_len(plain_len: u64) -> u64 {
    plain_len.saturating_add(chunks(plain_len).saturating_mul(TAG_LEN as u64))
}

/// Chunk `index`'s nonce: 4 zero bytes, then the index (big-endian).
fn nonce(index: u64) -> Nonce {
    let mut n = [0u8; NONCE_LEN];
    n[4..].copy_from_slice(&index.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

/// Chunk `index`'s AAD: the label, the index (big-endian) and whether it is the last chunk.
fn aad(index: u64, last: bool) -> [u8; 23] {
    let mut a = [0u8; 23];
    a[..14].copy_from_slice(AAD_LABEL);
    a[14..22].copy_from_slice(&index.to_be_bytes());
    a[22] = u8::from(last);
    a
}

/// Seals `plain` as chunk `index` and appends `ciphertext || tag` to `out`.
fn seal_chunk(key: &LessSafeKey, index: u64, last: bool, plain: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(plain);
    // A chunk is far below GCM's length limit (64 GiB).
    #[allow(clippy::expect_used)]
    let tag = key
        .seal_in_place_separate_tag(nonce(index), Aad::from(aad(index, last)), &mut out[start..])
        .expect("sealing one chunk");
    out.extend_from_slice(tag.as_ref());
}

/// Seals a body as it streams by; it need not know the length in advance: it holds back up to one
/// chunk of plaintext, since only [`Sealer::finish`] knows which chunk is the last.
pub struct Sealer {
    /// The body's key, ready for AES-GCM.
    key: LessSafeKey,
    /// The index of the next chunk to seal.
    index: u64,
    /// Plaintext not sealed yet (at most one chunk; allocated once).
    pending: Vec<u8>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("index", &self.index).field("pending", &self.pending.len()).finish()
    }
}

impl Sealer {
    /// A sealer for one body under `key` (a key seals exactly one body: see the crate docs).
    pub fn new(key: &DataKey) -> Self {
        Self { key: key.aead(), index: 0, pending: Vec::with_capacity(CHUNK_SIZE) }
    }

    /// Seals what of `input` completes chunks that are surely not the last, appending them to `out`;
    /// keeps the rest for the next call or [`Sealer::finish`].
    pub fn update(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        let total = self.pending.len() + input.len();
        out.reserve(total + (total / CHUNK_SIZE) * TAG_LEN);
        while !input.is_empty() {
            if self.pending.len() == CHUNK_SIZE {
                // More input follows, so the held-back chunk is not the last.
                seal_chunk(&self.key, self.index, false, &self.pending, out);
                self.index += 1;
                self.pending.clear();
            }
            if self.pending.is_empty() && input.len() > CHUNK_SIZE {
                // A whole chunk with more after it: seal it straight from the input.
                let (chunk, rest) = input.split_at(CHUNK_SIZE);
                seal_chunk(&self.key, self.index, false, chunk, out);
                self.index += 1;
                input = rest;
                continue;
            }
            let take = (CHUNK_SIZE - self.pending.len()).min(input.len());
            let (head, rest) = input.split_at(take);
            self.pending.extend_from_slice(head);
            input = rest;
        }
    }

    /// Seals the held-back plaintext as the last chunk (an empty one for an empty body).
    pub fn finish(self, out: &mut Vec<u8>) {
        out.reserve(self.pending.len() + TAG_LEN);
        seal_chunk(&self.key, self.index, true, &self.pending, out);
    }
}

/// Opens the chunks of a sealed body that cover one plaintext range, and hands out exactly that
/// range's bytes. It is fed the sealed range [`Opener::new`] returns, in pieces of any size.
pub struct Opener {
    /// The body's key, ready for AES-GCM.
    key: LessSafeKey,
    /// The body's plaintext length.
    plain_len: u64,
    /// The plaintext range handed out.
    range: Range<u64>,
    /// The next chunk to open.
    index: u64,
    /// One past the last chunk to open.
    end_index: u64,
    /// Sealed bytes of a chunk not complete yet (allocated once).
    partial: Vec<u8>,
    /// The first failure: every later call repeats it.
    failed: Option<CryptError>,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener")
            .field("plain_len", &self.plain_len)
            .field("range", &self.range)
            .field("index", &self.index)
            .field("end_index", &self.end_index)
            .finish_non_exhaustive()
    }
}

impl Opener {
    /// Returns the opener and the sealed byte range to read (start..end) for plaintext
    /// `[offset, offset+len)` of a body of `plain_len` bytes. The range must lie inside the body
    /// ([`CryptError::BadRange`] otherwise). An empty range reads nothing, except for the empty body,
    /// whose one empty chunk is read and checked (so an empty object is authenticated too).
    pub fn new(key: &DataKey, plain_len: u64, offset: u64, len: u64) -> Result<(Self, Range<u64>), CryptError> {
        let bad = CryptError::BadRange { offset, len, plain_len };
        let end = offset.checked_add(len).ok_or_else(|| bad.clone())?;
        if end > plain_len || sealed_len(plain_len) == u64::MAX {
            return Err(bad);
        }
        let (first, end_index) = if plain_len == 0 {
            (0, 1)
        } else if len == 0 {
            (offset / CHUNK, offset / CHUNK)
        } else {
            (offset / CHUNK, (end - 1) / CHUNK + 1)
        };
        let sealed_start = first * SEALED_CHUNK;
        // The sealed end: full chunks before `end_index`, the last chunk's own length if it is the body's last.
        let sealed_end = if end_index == 0 {
            0
        } else {
            let last = end_index - 1;
            last * SEALED_CHUNK + chunk_plain_len(plain_len, last) + TAG_LEN as u64
        };
        let sealed = if end_index == first { sealed_start..sealed_start } else { sealed_start..sealed_end };
        let opener = Self {
            key: key.aead(),
            plain_len,
            range: offset..end,
            index: first,
            end_index,
            partial: Vec::with_capacity(CHUNK_SIZE + TAG_LEN),
            failed: None,
        };
        Ok((opener, sealed))
    }

    /// Feeds the next sealed bytes; appends the plaintext of every chunk they complete, cut to the
    /// range. A chunk that fails gives [`CryptError::Tampered`] (nothing of it is appended); bytes past
    /// the sealed range are an error too (the body is longer than its length says).
    pub fn update(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), CryptError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        out.reserve(self.partial.len() + input.len());
        while !input.is_empty() {
            if self.index >= self.end_index {
                return self.fail(CryptError::Tampered { chunk: self.index });
            }
            let want = self.sealed_chunk_len(self.index);
            if self.partial.is_empty() && input.len() >= want {
                // A whole chunk in the input: open it straight into `out`.
                let (chunk, rest) = input.split_at(want);
                self.open_chunk(Source::Input(chunk), out)?;
                input = rest;
                continue;
            }
            let take = (want - self.partial.len()).min(input.len());
            let (head, rest) = input.split_at(take);
            self.partial.extend_from_slice(head);
            input = rest;
            if self.partial.len() == want {
                self.open_chunk(Source::Partial, out)?;
                self.partial.clear();
            }
        }
        Ok(())
    }

    /// Checks that every chunk of the range arrived: [`CryptError::Truncated`] if bytes are missing.
    pub fn finish(self) -> Result<(), CryptError> {
        match self.failed {
            Some(e) => Err(e),
            None if self.index < self.end_index => Err(CryptError::Truncated),
            None => Ok(()),
        }
    }

    /// The sealed length of chunk `index` (< the body's chunk count).
    fn sealed_chunk_len(&self, index: u64) -> usize {
        // At most CHUNK_SIZE + 16, so it fits.
        usize::try_from(chunk_plain_len(self.plain_len, index)).unwrap_or(CHUNK_SIZE) + TAG_LEN
    }

    /// Records the first failure and returns it.
    fn fail(&mut self, e: CryptError) -> Result<(), CryptError> {
        self.failed = Some(e.clone());
        Err(e)
    }

    /// Opens the complete chunk `self.index` and appends its part of the range to `out`.
    fn open_chunk(&mut self, source: Source<'_>, out: &mut Vec<u8>) -> Result<(), CryptError> {
        let index = self.index;
        let last = index + 1 == chunks(self.plain_len);
        let start = out.len();
        out.extend_from_slice(match source {
            Source::Input(chunk) => chunk,
            Source::Partial => &self.partial,
        });
        let opened = self.key.open_in_place(nonce(index), Aad::from(aad(index, last)), &mut out[start..]);
        let plain = match opened {
            Ok(plain) => plain.len(),
            Err(_) => {
                out.truncate(start);
                return self.fail(CryptError::Tampered { chunk: index });
            }
        };
        // Cut the chunk's plaintext [index * CHUNK, + plain) to the range.
        let chunk_start = index * CHUNK;
        let skip = usize::try_from(self.range.start.saturating_sub(chunk_start)).unwrap_or(plain).min(plain);
        let keep_end = usize::try_from(self.range.end.saturating_sub(chunk_start)).unwrap_or(plain).min(plain);
        let keep_end = keep_end.max(skip);
        if skip > 0 {
            out.copy_within(start + skip..start + keep_end, start);
        }
        out.truncate(start + keep_end - skip);
        self.index += 1;
        Ok(())
    }
}

/// Where a complete chunk's sealed bytes are.
enum Source<'a> {
    /// In the caller's input.
    Input(&'a [u8]),
    /// In the opener's partial buffer.
    Partial,
}

/// The plaintext length of chunk `index` of a body of `plain_len` bytes.
fn chunk_plain_len(plain_len: u64, index: u64) -> u64 {
    plain_len.saturating_sub(index.saturating_mul(CHUNK)).min(CHUNK)
}

/// Seals a whole body at once (inline bodies).
pub fn seal(key: &DataKey, plain: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(usize::try_from(sealed_len(plain.len() as u64)).unwrap_or(plain.len()));
    let mut sealer = Sealer::new(key);
    sealer.update(plain, &mut out);
    sealer.finish(&mut out);
    out
}

/// Opens a whole sealed body of `plain_len` plaintext bytes: the plaintext, or the error of the first
/// chunk that fails, [`CryptError::Truncated`] if it is short, or [`CryptError::Tampered`] naming the
/// chunk past the end if it is too long.
pub fn open(key: &DataKey, sealed: &[u8], plain_len: u64) -> Result<Vec<u8>, CryptError> {
    let (mut opener, _) = Opener::new(key, plain_len, 0, plain_len)?;
    let mut out = Vec::with_capacity(sealed.len());
    opener.update(sealed, &mut out)?;
    opener.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_around_chunk_boundaries() {
        let key = DataKey::generate();
        for n in [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE] {
            let plain: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            let sealed = seal(&key, &plain);
            assert_eq!(sealed.len() as u64, sealed_len(n as u64), "{n}");
            assert_eq!(open(&key, &sealed, n as u64), Ok(plain), "{n}");
        }
    }
}
