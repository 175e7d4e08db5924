//! Encryption at rest for kura: pure, synchronous building blocks, no I/O except the master key file.
//!
//! - [`DataKey`]: a 256-bit AES key. Every encrypted body (an object's segment, a multipart part, an
//!   inline body) gets its own fresh one.
//! - [`wrap`] / [`unwrap`]: one key sealed under another (AES-256-GCM, a random 12-byte nonce; the blob
//!   is `nonce || ciphertext || tag`, 60 bytes), bound to an AAD (the object's identity), so a wrapped
//!   key copied to another object does not open.
//! - [`MasterKeyring`]: kura's master keys, read from a file of `KID BASE64KEY` lines; the first one
//!   wraps, every one unwraps (rotation: put a new key first, keep the old ones while data needs them).
//! - Sealed bodies ([`Sealer`], [`Opener`], [`seal`], [`open`]): the chunked stream format below.
//!
//! # The sealed body format
//!
//! The plaintext is cut into chunks of [`CHUNK_SIZE`] (64 KiB) bytes; the last one may be shorter, and
//! the empty body is one empty chunk. A body of `n` bytes has `max(1, ceil(n / CHUNK_SIZE))` chunks.
//! Each chunk `i` is sealed on its own with AES-256-GCM under the body's data key and stored as
//! `ciphertext || tag` (16 bytes of tag), one after the other, nothing else: no header, so
//! [`sealed_len`]`(n) = n + 16 * chunks` and the sealed range of any plaintext range is computed, not
//! read (a ranged read opens only the chunks it needs).
//!
//! - Nonce: 4 zero bytes `||` `i` as a big-endian `u64`.
//! - AAD: `b"kura-sealed-v1"` `||` `i` (big-endian `u64`) `||` one byte, 1 for the last chunk, else 0.
//!
//! Why this detects every change that is not a fresh encryption:
//! - An edited chunk (ciphertext or tag) fails its tag check: [`CryptError::Tampered`] names the chunk.
//! - A chunk moved to another place (swapped, duplicated, spliced in from another body) is opened with
//!   another index in its nonce and AAD, or under another key: its tag fails.
//! - A body cut after a chunk boundary ends with a chunk sealed as "not last"; the reader, which knows
//!   the plaintext length from the metadata, expects that chunk to be the last one (AAD flag 1) and
//!   fails, or it expects more bytes than arrive ([`CryptError::Truncated`]). A body sealed for another
//!   length never opens as this one: its last chunk either has another length or another last flag.
//!
//! So a reader gets the right bytes or an error, never wrong bytes.
//!
//! Why a deterministic nonce is safe: GCM breaks only if one key seals two different plaintexts under
//! the same nonce. Every data key seals exactly one body, once ([`DataKey::generate`] makes a fresh
//! random key for it; a rewrite of the body gets a new key), and inside that body every chunk has its
//! own index, hence its own nonce. The key wrap, where one key encrypts many keys, uses random nonces.

mod key;
mod keyring;
mod sealed;

pub use key::{DataKey, unwrap, wrap};
pub use keyring::{MasterKeyring, SealedKey};
pub use sealed::{CHUNK_SIZE, Opener, Sealer, open, seal, sealed_len};

/// Why a key or a sealed body could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptError {
    /// A chunk of a sealed body failed its authentication: edited, moved, from another body, or the
    /// key is not the body's key.
    #[error("sealed body: chunk {chunk} does not authenticate (edited, reordered, or another key)")]
    Tampered {
        /// The index of the first chunk that failed (0-based).
        chunk: u64,
    },
    /// The sealed body ended before the bytes its length promises.
    #[error("sealed body: truncated (fewer bytes than its length needs)")]
    Truncated,
    /// A wrapped key does not open with this key and AAD (wrong key, edited blob, other object).
    #[error("the wrapped key does not open with this key (wrong key, or it belongs to another object)")]
    WrongKey,
    /// A wrapped key names a master key id this keyring does not hold.
    #[error("no key with id {0} (was it removed from the key file?)")]
    UnknownKey(String),
    /// The master key file cannot be read, created or parsed (the message says where and why).
    #[error("master key file: {0}")]
    KeyFile(String),
    /// Key material of the wrong length.
    #[error("a key must be exactly 32 bytes (AES-256)")]
    BadKey,
    /// A plaintext range that does not lie inside the body (a caller's mistake: ranges are resolved
    /// against the object's size before a body is opened).
    #[error("range {offset}+{len} is outside the body of {plain_len} bytes")]
    BadRange {
        /// The range's first byte.
        offset: u64,
        /// The range's length.
        len: u64,
        /// The body's plaintext length.
        plain_len: u64,
    },
}
