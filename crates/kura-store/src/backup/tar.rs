//! The ustar subset kura writes and reads: regular files with short names, nothing else.
//!
//! Written by hand rather than with the `tar` crate: the writer must stream asynchronously (the crate
//! writes to a blocking `std::io::Write`), and the reader must accept exactly what kura writes and refuse
//! the rest (links, directories, device files, pax and GNU extensions), where a general reader would
//! accept all of them for the restore to refuse one by one. A header is 512 bytes; each entry's data is
//! padded with zeros to a multiple of 512; two zero blocks end the archive.

use super::{BackupError, BackupResult};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The tar block size.
pub(super) const BLOCK: usize = 512;

/// The end of an archive: two zero blocks.
pub(super) const END: [u8; 2 * BLOCK] = [0; 2 * BLOCK];

/// The largest size an octal size field holds (11 digits); larger sizes use the base-256 form GNU tar
/// and bsdtar read.
const MAX_OCTAL_SIZE: u64 = 0o77777777777;

/// Zeros that pad an entry of `size` bytes to a whole number of blocks.
pub(super) fn padding(size: u64) -> usize {
    // The remainder is below 512, so the conversion is lossless.
    (BLOCK - (size % BLOCK as u64) as usize) % BLOCK
}

/// The header of a regular file `name` (at most 100 bytes) of `size` bytes, with permission bits `mode`
/// and modification time `mtime` (seconds since the epoch).
pub(super) fn header(name: &str, size: u64, mode: u32, mtime: u64) -> BackupResult<[u8; BLOCK]> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > 100 {
        return Err(BackupError::Invalid(format!("the entry name {name:?} does not fit a tar header")));
    }
    let mut h = [0u8; BLOCK];
    h[..bytes.len()].copy_from_slice(bytes);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    if size <= MAX_OCTAL_SIZE {
        octal(&mut h[124..136], size);
    } else {
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    octal(&mut h[136..148], mtime.min(MAX_OCTAL_SIZE));
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[265..269].copy_from_slice(b"kura");
    h[297..301].copy_from_slice(b"kura");
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    octal(&mut h[148..155], u64::from(sum));
    h[155] = b' ';
    Ok(h)
}

/// Writes `value` as zero-padded octal digits filling all but the last byte of `field`, then a NUL.
/// Callers pass values that fit.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    let text = &text.as_bytes()[text.len().saturating_sub(digits)..];
    field[..digits].copy_from_slice(text);
    field[digits] = 0;
}

/// One entry's header as read: its name and size, and where it starts in the archive (for errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    /// The name, as written (checked by the caller against the names a backup holds).
    pub name: String,
    /// The size of its data.
    pub size: u64,
    /// Offset of its header in the archive.
    pub offset: u64,
}

/// A strict reader of the ustar subset above.
pub(super) struct TarReader<R> {
    inner: R,
    /// Bytes read so far.
    offset: u64,
    /// Data of the current entry not read yet.
    data_left: u64,
    /// Padding of the current entry not skipped yet.
    padding_left: usize,
}

impl<R: AsyncRead + Unpin> TarReader<R> {
    /// A reader at the start of an archive.
    pub(super) fn new(inner: R) -> Self {
        Self { inner, offset: 0, data_left: 0, padding_left: 0 }
    }

    /// Fills `buf` from the archive; its end here means the archive is truncated.
    async fn fill(&mut self, buf: &mut [u8]) -> BackupResult<()> {
        match self.inner.read_exact(buf).await {
            Ok(_) => {
                self.offset += buf.len() as u64;
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(BackupError::Refused(format!(
                "the archive ends early (after about {} bytes): it is truncated",
                self.offset
            ))),
            Err(e) => Err(BackupError::Io { context: "reading the archive".into(), source: e }),
        }
    }

    /// Skips what is left of the current entry (unread data and padding).
    async fn skip_rest(&mut self) -> BackupResult<()> {
        let mut scratch = vec![0u8; 64 * 1024];
        while self.data_left > 0 {
            let n = usize::try_from(self.data_left).unwrap_or(usize::MAX).min(scratch.len());
            self.fill(&mut scratch[..n]).await?;
            self.data_left -= n as u64;
        }
        let pad = std::mem::take(&mut self.padding_left);
        self.fill(&mut scratch[..pad]).await
    }

    /// The next entry's header, or `None` at the end of the archive (two zero blocks, then nothing but
    /// zeros). Whatever the previous entry's data left unread is skipped.
    pub(super) async fn next_entry(&mut self) -> BackupResult<Option<Entry>> {
        self.skip_rest().await?;
        let offset = self.offset;
        let mut block = [0u8; BLOCK];
        self.fill(&mut block).await?;
        if block.iter().all(|&b| b == 0) {
            self.fill(&mut block).await?;
            if block.iter().any(|&b| b != 0) {
                return Err(BackupError::Refused(format!("a damaged end-of-archive marker at byte {offset}")));
            }
            return self.trailing_zeros().await.map(|()| None);
        }
        let entry = parse_header(&block, offset)?;
        self.data_left = entry.size;
        self.padding_left = padding(entry.size);
        Ok(Some(entry))
    }

    /// After the end marker a tar writer may pad to its record size, with zeros only.
    async fn trailing_zeros(&mut self) -> BackupResult<()> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = self.inner.read(&mut buf).await.map_err(BackupError::io("reading the archive"))?;
            if n == 0 {
                return Ok(());
            }
            if buf[..n].iter().any(|&b| b != 0) {
                return Err(BackupError::Refused(format!(
                    "data follows the end of the archive (at byte {})",
                    self.offset
                )));
            }
            self.offset += n as u64;
        }
    }

    /// Reads the current entry's next bytes into `buf` (at most its length) and returns how many; 0
    /// once the entry's data is all read.
    pub(super) async fn read_data(&mut self, buf: &mut [u8]) -> BackupResult<usize> {
        let n = usize::try_from(self.data_left).unwrap_or(usize::MAX).min(buf.len());
        self.fill(&mut buf[..n]).await?;
        self.data_left -= n as u64;
        Ok(n)
    }
}

/// Reads a header block, refusing anything but a regular file in a ustar header with a valid checksum.
fn parse_header(h: &[u8; BLOCK], offset: u64) -> BackupResult<Entry> {
    let refuse = |why: String| BackupError::Refused(format!("the entry at byte {offset} {why}"));
    let stored = parse_octal(&h[148..156]).ok_or_else(|| refuse("has an unreadable header checksum".into()))?;
    let computed: u64 =
        h.iter().enumerate().map(|(i, &b)| if (148..156).contains(&i) { 32 } else { u64::from(b) }).sum();
    if stored != computed {
        return Err(refuse("has a damaged header (its checksum does not match)".into()));
    }
    if &h[257..263] != b"ustar\0" || &h[263..265] != b"00" {
        return Err(refuse("is not a POSIX ustar header (kura backups are ustar archives)".into()));
    }
    let name = field_text(&h[0..100]).ok_or_else(|| refuse("has a name that is not UTF-8".into()))?;
    let prefix = field_text(&h[345..500]).ok_or_else(|| refuse("has a name prefix that is not UTF-8".into()))?;
    let name = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
    let kind = match h[156] {
        b'0' | 0 => None,
        b'1' => Some("a hard link"),
        b'2' => Some("a symbolic link"),
        b'3' | b'4' => Some("a device file"),
        b'5' => Some("a directory"),
        b'6' => Some("a FIFO"),
        b'x' | b'g' => Some("a pax extended header"),
        b'L' | b'K' => Some("a GNU long-name extension"),
        _ => Some("of an unknown tar type"),
    };
    if let Some(kind) = kind {
        return Err(BackupError::Refused(format!(
            "entry {name:?} (at byte {offset}) is {kind}: a kura backup holds regular files only"
        )));
    }
    let size = parse_size(&h[124..136]).ok_or_else(|| refuse(format!("({name:?}) has an unreadable size")))?;
    Ok(Entry { name, size, offset })
}

/// The text of a NUL-terminated (or full) header field.
fn field_text(field: &[u8]) -> Option<String> {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8(field[..end].to_vec()).ok()
}

/// An octal number field: optional leading spaces, octal digits, then NULs or spaces.
fn parse_octal(field: &[u8]) -> Option<u64> {
    let text = field.iter().skip_while(|&&b| b == b' ').take_while(|&&b| b != 0 && b != b' ');
    let mut value: u64 = 0;
    let mut digits = 0;
    for &b in text {
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        value = value.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
        digits += 1;
    }
    (digits > 0).then_some(value)
}

/// A size field: octal, or GNU's base-256 form (first byte 0x80, then big-endian) for large sizes.
fn parse_size(field: &[u8]) -> Option<u64> {
    match field.first() {
        Some(0x80) => {
            let (high, low) = field[1..].split_at(field.len() - 9);
            if high.iter().any(|&b| b != 0) {
                return None;
            }
            Some(u64::from_be_bytes(low.try_into().ok()?))
        }
        Some(b) if b & 0x80 != 0 => None,
        _ => parse_octal(field),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_carry_a_valid_checksum() {
        for size in [0, 1, 511, 512, 5 * 1024 * 1024, MAX_OCTAL_SIZE, MAX_OCTAL_SIZE + 1, u64::MAX / 2] {
            let h = header("blobs/0123", size, 0o644, 1_700_000_000).expect("header");
            let entry = parse_header(&h, 0).expect("parse");
            assert_eq!(entry, Entry { name: "blobs/0123".into(), size, offset: 0 });
        }
        assert!(header(&"x".repeat(101), 1, 0o644, 0).is_err());
        assert!(header("", 1, 0o644, 0).is_err());
    }

    #[test]
    fn padding_fills_the_last_block() {
        assert_eq!(padding(0), 0);
        assert_eq!(padding(1), 511);
        assert_eq!(padding(512), 0);
        assert_eq!(padding(513), 511);
    }

    #[test]
    fn damaged_or_foreign_headers_are_refused() {
        let mut h = header("meta/000001.jsonl", 10, 0o644, 0).expect("header");
        h[0] = b'n';
        assert!(parse_header(&h, 0).is_err(), "checksum");
        let mut h = header("x", 10, 0o644, 0).expect("header");
        h[257..263].copy_from_slice(b"ustar ");
        assert!(parse_header(&h, 0).is_err(), "magic");
        assert_eq!(parse_size(&[0xff; 12]), None, "negative base-256");
        assert_eq!(parse_octal(b"   \0"), None);
        assert_eq!(parse_octal(b"0009\0"), None);
        assert_eq!(parse_octal(b"77777777777777777777777"), None, "overflow");
    }
}
