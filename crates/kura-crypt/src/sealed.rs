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
            // At most one sealed chunk, and no more than the range (a small body is small).
            partial: Vec::with_capacity(
                usize::try_from(sealed.end - sealed.start).unwrap_or(0).min(CHUNK_SIZE + TAG_LEN),
            ),
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
            let need = want - self.partial.len();
            if input.len() < need {
                // Not a whole chunk yet: keep it for the next call.
                self.partial.extend_from_slice(input);
                break;
            }
            // A whole chunk: the kept head and the input's rest go straight into `out` (one copy),
            // where it is opened in place.
            let (tail, rest) = input.split_at(need);
            let start = out.len();
            out.extend_from_slice(&self.partial);
            out.extend_from_slice(tail);
            self.partial.clear();
            input = rest;
            self.open_in_out(start, out)?;
        }
        Ok(())
    }

    /// Opens, where they lie, the whole chunks at the start of `buf` (none while a partial chunk is
    /// held: then everything goes through [`Opener::update`]), and packs their plaintext (cut to the
    /// range) to the front of `buf`, closing the gaps the tags leave, so that a reader's buffer opens
    /// to one slice. Returns how many plaintext bytes now start `buf`, and how many bytes of `buf`
    /// those chunks took; what follows them (a chunk cut short, or bytes past the range) is untouched,
    /// the caller's to feed to [`Opener::update`]. Saves the copy `update` makes. A chunk that fails
    /// gives [`CryptError::Tampered`], and nothing of `buf` may be used.
    pub fn open_in_place(&mut self, buf: &mut [u8]) -> Result<(usize, usize), CryptError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let (mut used, mut packed) = (0, 0);
        if !self.partial.is_empty() {
            return Ok((packed, used));
        }
        while self.index < self.end_index {
            let want = self.sealed_chunk_len(self.index);
            if buf.len() - used < want {
                break;
            }
            let index = self.index;
            let last = index + 1 == chunks(self.plain_len);
            let chunk = &mut buf[used..used + want];
            let Ok(plain) = self.key.open_in_place(nonce(index), Aad::from(aad(index, last)), chunk) else {
                let e = CryptError::Tampered { chunk: index };
                self.failed = Some(e.clone());
                return Err(e);
            };
            let (skip, keep_end) = self.cut(index, plain.len());
            // The chunk's kept plaintext moves down to the end of what is packed (never past the
            // chunk's own start, so what follows it is untouched); it is in cache, just opened.
            if used + skip != packed {
                buf.copy_within(used + skip..used + keep_end, packed);
            }
            packed += keep_end - skip;
            used += want;
            self.index += 1;
        }
        Ok((packed, used))
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

    /// Which bytes of chunk `index`'s plaintext (`plain` bytes, at `index * CHUNK` in the body) lie in
    /// the range: `skip..keep_end`, empty when none.
    fn cut(&self, index: u64, plain: usize) -> (usize, usize) {
        let chunk_start = index * CHUNK;
        let skip = usize::try_from(self.range.start.saturating_sub(chunk_start)).unwrap_or(plain).min(plain);
        let keep_end = usize::try_from(self.range.end.saturating_sub(chunk_start)).unwrap_or(plain).min(plain);
        (skip, keep_end.max(skip))
    }

    /// Records the first failure and returns it.
    fn fail(&mut self, e: CryptError) -> Result<(), CryptError> {
        self.failed = Some(e.clone());
        Err(e)
    }

    /// Opens chunk `self.index`, whose sealed bytes are `out[start..]`, in place, and cuts its
    /// plaintext to the range; on failure `out` is back to `start` bytes.
    fn open_in_out(&mut self, start: usize, out: &mut Vec<u8>) -> Result<(), CryptError> {
        let index = self.index;
        let last = index + 1 == chunks(self.plain_len);
        let opened = self.key.open_in_place(nonce(index), Aad::from(aad(index, last)), &mut out[start..]);
        let plain = match opened {
            Ok(plain) => plain.len(),
            Err(_) => {
                out.truncate(start);
                return self.fail(CryptError::Tampered { chunk: index });
            }
        };
        let (skip, keep_end) = self.cut(index, plain);
        if skip > 0 {
            out.copy_within(start + skip..start + keep_end, start);
        }
        out.truncate(start + keep_end - skip);
        self.index += 1;
        Ok(())
    }
}

/// The plaintext length of chunk `index` of a body of `plain_len` bytes.
fn chunk_plain_len(plain_len: u64, index: u64) -> u64 {
    plain_len.saturating_sub(index.saturating_mul(CHUNK)).min(CHUNK)
}

/// Seals a whole body at once (inline bodies).
pub fn seal(key: &DataKey, plain: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(usize::try_from(sealed_len(plain.len() as u64)).unwrap_or(plain.len()));
    let key = key.aead();
    let count = chunks(plain.len() as u64);
    // The chunks straight from the input (no held-back copy: the length is known).
    let mut pieces = plain.chunks(CHUNK_SIZE);
    for index in 0..count {
        seal_chunk(&key, index, index + 1 == count, pieces.next().unwrap_or_default(), &mut out);
    }
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
    use proptest::prelude::*;

    const C: usize = CHUNK_SIZE;

    fn plain(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8 ^ seed).collect()
    }

    /// Seals `plain` feeding the sealer pieces of the given sizes (cycled; 0-sized pieces included).
    fn seal_in_pieces(key: &DataKey, plain: &[u8], pieces: &[usize]) -> Vec<u8> {
        let mut sealer = Sealer::new(key);
        let mut out = Vec::new();
        let mut rest = plain;
        for &size in pieces.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (piece, tail) = rest.split_at(size.min(rest.len()));
            sealer.update(piece, &mut out);
            rest = tail;
        }
        sealer.update(&[], &mut out);
        sealer.finish(&mut out);
        out
    }

    /// Opens plaintext `[offset, offset+len)` of `sealed` (the whole body): reads only the sealed range
    /// the opener asks for, fed in pieces of the given sizes.
    fn open_in_pieces(
        key: &DataKey,
        sealed: &[u8],
        plain_len: u64,
        offset: u64,
        len: u64,
        pieces: &[usize],
    ) -> Result<Vec<u8>, CryptError> {
        open_pieces(key, sealed, (plain_len, offset, len), pieces, false)
    }

    /// [`open_in_pieces`] as a reader with its own buffers does it: each piece's whole chunks opened
    /// where they lie ([`Opener::open_in_place`]), what remains of it fed to [`Opener::update`].
    fn open_in_place_pieces(
        key: &DataKey,
        sealed: &[u8],
        plain_len: u64,
        offset: u64,
        len: u64,
        pieces: &[usize],
    ) -> Result<Vec<u8>, CryptError> {
        open_pieces(key, sealed, (plain_len, offset, len), pieces, true)
    }

    /// The two above: `in_place` opens each piece's whole chunks where they lie first.
    fn open_pieces(
        key: &DataKey,
        sealed: &[u8],
        (plain_len, offset, len): (u64, u64, u64),
        pieces: &[usize],
        in_place: bool,
    ) -> Result<Vec<u8>, CryptError> {
        let (mut opener, range) = Opener::new(key, plain_len, offset, len)?;
        let end = (range.end as usize).min(sealed.len());
        let mut rest = sealed.get(range.start as usize..end).unwrap_or_default();
        let mut out = Vec::new();
        for &size in pieces.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (piece, tail) = rest.split_at(size.max(1).min(rest.len()));
            let mut buf = piece.to_vec();
            let used = if in_place {
                let (opened, used) = opener.open_in_place(&mut buf)?;
                out.extend_from_slice(&buf[..opened]);
                used
            } else {
                0
            };
            opener.update(&buf[used..], &mut out)?;
            rest = tail;
        }
        opener.finish()?;
        Ok(out)
    }

    #[test]
    fn chunks_open_where_they_lie_into_one_slice_and_a_flipped_byte_fails_for_good() {
        let key = DataKey::generate();
        let n = 3 * C + 5;
        let plain = plain(n, 0x33);
        let sealed = seal(&key, &plain);
        let whole = C + TAG_LEN;
        // Buffers of whole chunks, of four chunks, and cut mid-chunk: all open to the plaintext, also for
        // a range that starts and ends inside chunks.
        for pieces in [&[whole][..], &[4 * whole], &[whole + 7], &[2 * whole - 1, whole + 1]] {
            assert_eq!(open_in_place_pieces(&key, &sealed, n as u64, 0, n as u64, pieces).as_ref(), Ok(&plain));
            let (offset, len) = (C / 2, 2 * C);
            let opened = open_in_place_pieces(&key, &sealed, n as u64, offset as u64, len as u64, pieces);
            assert_eq!(opened.as_deref(), Ok(&plain[offset..offset + len]), "{pieces:?}");
        }
        // A flipped byte in the second chunk: the first opens, the second fails, and so does every later call.
        let mut bad = sealed.clone();
        bad[whole + 100] ^= 1;
        let (mut opener, _) = Opener::new(&key, n as u64, 0, n as u64).expect("opener");
        let mut buf = bad[..2 * whole].to_vec();
        assert_eq!(opener.open_in_place(&mut buf), Err(CryptError::Tampered { chunk: 1 }));
        let mut next = bad[2 * whole..].to_vec();
        assert_eq!(opener.open_in_place(&mut next), Err(CryptError::Tampered { chunk: 1 }));
        assert!(opener.finish().is_err());
        // Three whole chunks and a cut one from a range starting mid-chunk: the plaintext is packed
        // to the front, and the cut chunk is left as it was, for `update`.
        let (mut opener, _) = Opener::new(&key, n as u64, 10, n as u64 - 10).expect("opener");
        let mut buf = sealed[..3 * whole + 7].to_vec();
        assert_eq!(opener.open_in_place(&mut buf), Ok((3 * C - 10, 3 * whole)));
        assert_eq!(&buf[..3 * C - 10], &plain[10..3 * C]);
        assert_eq!(&buf[3 * whole..], &sealed[3 * whole..3 * whole + 7]);
    }

    /// The sealed bytes of chunk `i` of a body of `n` bytes.
    fn chunk_range(n: usize, i: usize) -> Range<usize> {
        let start = i * (C + TAG_LEN);
        start..(start + (n - i * C).min(C) + TAG_LEN)
    }

    #[test]
    fn round_trips_around_chunk_boundaries() {
        let key = DataKey::generate();
        let odd = [1, 7, 4093, C, C + 3, 0, 2 * C + 1, 13];
        for n in [0, 1, C - 1, C, C + 1, 3 * C] {
            let plain = plain(n, 0x5A);
            let sealed = seal(&key, &plain);
            assert_eq!(sealed.len() as u64, sealed_len(n as u64), "{n}");
            assert_eq!(open(&key, &sealed, n as u64).as_ref(), Ok(&plain), "{n}");
            // Same key, same bytes, whatever the pieces (the nonces are the chunk indexes).
            for pieces in [&odd[..], &[1], &[C], &[C + 1], &[C - 1], &[3 * C + 5]] {
                assert_eq!(seal_in_pieces(&key, &plain, pieces), sealed, "{n} {pieces:?}");
                let opened = open_in_pieces(&key, &sealed, n as u64, 0, n as u64, pieces);
                assert_eq!(opened.as_ref(), Ok(&plain), "{n} {pieces:?}");
            }
        }
    }

    #[test]
    fn the_sealer_streams_holding_back_at_most_one_chunk() {
        let key = DataKey::generate();
        let mut sealer = Sealer::new(&key);
        let mut out = Vec::new();
        sealer.update(&plain(C, 9), &mut out);
        assert!(out.is_empty(), "a full chunk may still be the last");
        sealer.update(&[1], &mut out);
        assert_eq!(out.len(), C + 16);
        sealer.update(&plain(2 * C, 9), &mut out);
        assert_eq!(out.len(), 3 * (C + 16), "only the last byte is held back");
        sealer.finish(&mut out);
        assert_eq!(out.len() as u64, sealed_len(3 * C as u64 + 1));
    }

    #[test]
    fn sealed_len_adds_one_tag_per_chunk() {
        let c = C as u64;
        assert_eq!(sealed_len(0), 16);
        assert_eq!(sealed_len(1), 17);
        assert_eq!(sealed_len(c - 1), c + 15);
        assert_eq!(sealed_len(c), c + 16);
        assert_eq!(sealed_len(c + 1), c + 1 + 32);
        assert_eq!(sealed_len(3 * c), 3 * c + 48);
        assert_eq!(sealed_len(u64::MAX), u64::MAX);
    }

    #[test]
    fn sealed_ranges_cover_exactly_the_needed_chunks() {
        let key = DataKey::generate();
        let c = C as u64;
        let s = c + 16;
        let range = |plain_len, offset, len| Opener::new(&key, plain_len, offset, len).map(|(_, r)| r);
        assert_eq!(range(0, 0, 0), Ok(0..16), "the empty body's one chunk is checked");
        assert_eq!(range(10, 0, 10), Ok(0..26));
        assert_eq!(range(10, 3, 4), Ok(0..26));
        assert_eq!(range(10, 3, 0), Ok(0..0), "an empty range reads nothing");
        assert_eq!(range(3 * c, 0, 3 * c), Ok(0..3 * s));
        assert_eq!(range(3 * c, c, 1), Ok(s..2 * s));
        assert_eq!(range(3 * c, c - 1, 2), Ok(0..2 * s));
        assert_eq!(range(3 * c, 2 * c, c), Ok(2 * s..3 * s));
        assert_eq!(range(2 * c + 5, 2 * c, 5), Ok(2 * s..2 * s + 21));
        assert_eq!(range(2 * c + 5, 2 * c + 4, 1), Ok(2 * s..2 * s + 21));
    }

    #[test]
    fn ranges_outside_the_body_are_refused() {
        let key = DataKey::generate();
        let bad = |plain_len, offset, len| {
            assert_eq!(
                Opener::new(&key, plain_len, offset, len).map(|(_, r)| r),
                Err(CryptError::BadRange { offset, len, plain_len })
            );
        };
        bad(10, 0, 11);
        bad(10, 11, 0);
        bad(10, 5, 6);
        bad(0, 0, 1);
        bad(10, u64::MAX, 2);
        bad(u64::MAX, 0, 1);
        assert!(matches!(open(&key, &seal(&key, b"abc"), u64::MAX), Err(CryptError::BadRange { .. })));
    }

    #[test]
    fn a_flipped_bit_in_any_chunk_is_tampered_with_its_index() {
        let key = DataKey::generate();
        let n = 3 * C + 100;
        let plain = plain(n, 1);
        let sealed = seal(&key, &plain);
        for chunk in 0..4 {
            let r = chunk_range(n, chunk);
            // The first byte, a middle byte, and the last byte of the tag.
            for byte in [r.start, r.start + 50, r.end - 1] {
                let mut edited = sealed.clone();
                edited[byte] ^= 0x10;
                let want = Err(CryptError::Tampered { chunk: chunk as u64 });
                assert_eq!(open(&key, &edited, n as u64), want, "chunk {chunk} byte {byte}");
                assert_eq!(open_in_pieces(&key, &edited, n as u64, 0, n as u64, &[999]), want);
                // A ranged read of that chunk alone fails the same way.
                let offset = (chunk * C) as u64;
                assert_eq!(open_in_pieces(&key, &edited, n as u64, offset, 10, &[7]), want);
                // A ranged read of another chunk does not read it, and succeeds.
                let other = ((chunk + 1) % 4 * C) as u64;
                let ok = open_in_pieces(&key, &edited, n as u64, other, 10, &[7]);
                assert_eq!(ok.as_deref(), Ok(&plain[other as usize..other as usize + 10]));
            }
        }
    }

    #[test]
    fn the_empty_body_is_authenticated() {
        let key = DataKey::generate();
        let sealed = seal(&key, b"");
        assert_eq!(sealed.len(), 16);
        for byte in 0..16 {
            let mut edited = sealed.clone();
            edited[byte] ^= 1;
            assert_eq!(open(&key, &edited, 0), Err(CryptError::Tampered { chunk: 0 }));
        }
        assert_eq!(open(&DataKey::generate(), &sealed, 0), Err(CryptError::Tampered { chunk: 0 }));
        assert_eq!(open(&key, &[], 0), Err(CryptError::Truncated));
    }

    #[test]
    fn swapped_chunks_are_tampered() {
        let key = DataKey::generate();
        let n = 3 * C;
        let sealed = seal(&key, &plain(n, 2));
        let mut swapped = Vec::new();
        swapped.extend_from_slice(&sealed[chunk_range(n, 1)]);
        swapped.extend_from_slice(&sealed[chunk_range(n, 0)]);
        swapped.extend_from_slice(&sealed[chunk_range(n, 2)]);
        assert_eq!(open(&key, &swapped, n as u64), Err(CryptError::Tampered { chunk: 0 }));
        // The same chunk twice (a copy over its neighbour).
        let mut duplicated = sealed.clone();
        duplicated.copy_within(chunk_range(n, 0), chunk_range(n, 1).start);
        assert_eq!(open(&key, &duplicated, n as u64), Err(CryptError::Tampered { chunk: 1 }));
        // Two full chunks where the last one is swapped with a middle one.
        let mut last_first = sealed.clone();
        let (a, b) = (chunk_range(n, 1), chunk_range(n, 2));
        last_first[a.clone()].copy_from_slice(&sealed[b.clone()]);
        last_first[b].copy_from_slice(&sealed[a]);
        assert_eq!(open(&key, &last_first, n as u64), Err(CryptError::Tampered { chunk: 1 }));
    }

    #[test]
    fn a_cut_body_never_opens() {
        let key = DataKey::generate();
        let n = 3 * C;
        let sealed = seal(&key, &plain(n, 3));
        let cut = &sealed[..chunk_range(n, 1).end];
        // The stored length says 3 chunks: the bytes are missing.
        assert_eq!(open(&key, cut, n as u64), Err(CryptError::Truncated));
        assert_eq!(open_in_pieces(&key, cut, n as u64, 0, n as u64, &[1000]), Err(CryptError::Truncated));
        assert_eq!(open_in_pieces(&key, cut, n as u64, 2 * C as u64, 1, &[1000]), Err(CryptError::Truncated));
        // A cut inside a chunk.
        assert_eq!(open(&key, &sealed[..sealed.len() - 1], n as u64), Err(CryptError::Truncated));
        // Even with a length that matches the cut, the new last chunk was sealed as "not last".
        assert_eq!(open(&key, cut, 2 * C as u64), Err(CryptError::Tampered { chunk: 1 }));
        assert_eq!(open_in_pieces(&key, cut, 2 * C as u64, C as u64, 5, &[3]), Err(CryptError::Tampered { chunk: 1 }));
    }

    #[test]
    fn a_body_sealed_for_one_length_does_not_open_as_another() {
        let key = DataKey::generate();
        for (sealed_n, opened_n) in [
            (2 * C, 3 * C),   // shorter as longer, more chunks: its last chunk is marked last
            (C + 10, C + 20), // same chunk count, longer: bytes missing
            (C + 20, C + 10), // same chunk count, shorter: the last chunk is cut
            (3 * C, 2 * C),   // longer as shorter: chunk 1 is not the last
            (C, C + 1),       // one byte more needs one more chunk
            (0, 1),
            (1, 0),
        ] {
            let sealed = seal(&key, &plain(sealed_n, 4));
            let opened = open(&key, &sealed, opened_n as u64);
            assert!(
                matches!(opened, Err(CryptError::Tampered { .. } | CryptError::Truncated)),
                "{sealed_n} as {opened_n}: {opened:?}"
            );
        }
    }

    #[test]
    fn a_chunk_from_another_body_is_tampered() {
        let (key, other_key) = (DataKey::generate(), DataKey::generate());
        let n = 3 * C;
        let sealed = seal(&key, &plain(n, 5));
        let other = seal(&other_key, &plain(n, 6));
        let mut spliced = sealed.clone();
        spliced[chunk_range(n, 1)].copy_from_slice(&other[chunk_range(n, 1)]);
        assert_eq!(open(&key, &spliced, n as u64), Err(CryptError::Tampered { chunk: 1 }));
        // Same index, same plaintext, other key: still refused.
        let same_plain = seal(&other_key, &plain(n, 5));
        let mut spliced = sealed.clone();
        spliced[chunk_range(n, 2)].copy_from_slice(&same_plain[chunk_range(n, 2)]);
        assert_eq!(open(&key, &spliced, n as u64), Err(CryptError::Tampered { chunk: 2 }));
    }

    #[test]
    fn the_wrong_key_opens_nothing() {
        let key = DataKey::generate();
        let sealed = seal(&key, &plain(C + 7, 7));
        let wrong = DataKey::generate();
        assert_eq!(open(&wrong, &sealed, (C + 7) as u64), Err(CryptError::Tampered { chunk: 0 }));
        let mut out = b"kept".to_vec();
        let (mut opener, _) = Opener::new(&wrong, (C + 7) as u64, C as u64, 7).expect("opener");
        assert_eq!(opener.update(&sealed[C + 16..], &mut out), Err(CryptError::Tampered { chunk: 1 }));
        assert_eq!(out, b"kept", "nothing of a failed chunk is handed out");
    }

    #[test]
    fn errors_are_sticky_and_extra_bytes_are_refused() {
        let key = DataKey::generate();
        let n = 2 * C;
        let sealed = seal(&key, &plain(n, 8));
        let mut edited = sealed.clone();
        edited[3] ^= 1;
        let (mut opener, _) = Opener::new(&key, n as u64, 0, n as u64).expect("opener");
        let mut out = Vec::new();
        assert_eq!(opener.update(&edited[..C + 16], &mut out), Err(CryptError::Tampered { chunk: 0 }));
        // Feeding the good rest does not resume after a failure.
        assert_eq!(opener.update(&edited[C + 16..], &mut out), Err(CryptError::Tampered { chunk: 0 }));
        assert_eq!(opener.finish(), Err(CryptError::Tampered { chunk: 0 }));
        assert!(out.is_empty());

        // A body longer than its length: the bytes past the end are refused.
        let longer = [sealed.as_slice(), b"x"].concat();
        assert_eq!(open(&key, &longer, n as u64), Err(CryptError::Tampered { chunk: 2 }));
        // So are bytes past a ranged read's sealed range, and bytes for an empty range.
        let (mut opener, range) = Opener::new(&key, n as u64, 0, 1).expect("opener");
        assert_eq!(range, 0..(C + 16) as u64);
        let mut out = Vec::new();
        assert_eq!(opener.update(&sealed[..C + 17], &mut out), Err(CryptError::Tampered { chunk: 1 }));
        let (mut opener, range) = Opener::new(&key, n as u64, 5, 0).expect("opener");
        assert!(range.is_empty());
        assert_eq!(opener.update(&sealed[..1], &mut Vec::new()), Err(CryptError::Tampered { chunk: 0 }));
        let (opener, _) = Opener::new(&key, n as u64, 5, 0).expect("opener");
        assert_eq!(opener.finish(), Ok(()));
    }

    /// A length near chunk boundaries more often than a uniform draw would give.
    fn body_len() -> impl Strategy<Value = usize> {
        prop_oneof![0..=3 * C + 100, (0..=3usize, 0..=4usize).prop_map(|(k, d)| (k * C + d).saturating_sub(2))]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Every range of every body opens to exactly its plaintext slice, whatever the pieces the
        /// sealer and the opener are fed.
        #[test]
        fn every_range_opens_to_its_slice(
            (n, offset, len) in body_len().prop_flat_map(|n| (Just(n), 0..=n))
                .prop_flat_map(|(n, offset)| (Just(n), Just(offset), 0..=n - offset)),
            seal_pieces in prop::collection::vec(0..=C + 100, 1..6),
            open_pieces in prop::collection::vec(1..=C + 100, 1..6),
            seed in any::<u8>(),
        ) {
            let key = DataKey::generate();
            let plain = plain(n, seed);
            let sealed = seal_in_pieces(&key, &plain, &seal_pieces);
            prop_assert_eq!(sealed.len() as u64, sealed_len(n as u64));
            let (_, range) = Opener::new(&key, n as u64, offset as u64, len as u64).expect("range");
            prop_assert!(range.end <= sealed.len() as u64);
            let opened = open_in_pieces(&key, &sealed, n as u64, offset as u64, len as u64, &open_pieces);
            prop_assert_eq!(opened.as_deref(), Ok(&plain[offset..offset + len]));
            let in_place = open_in_place_pieces(&key, &sealed, n as u64, offset as u64, len as u64, &open_pieces);
            prop_assert_eq!(in_place.as_deref(), Ok(&plain[offset..offset + len]));
        }
    }
}
