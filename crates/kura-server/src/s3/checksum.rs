//! The checksum of a multipart object: which algorithm and type an upload declares (and which
//! combinations S3 refuses), and the object's checksum made from its parts' checksums without
//! reading the data again: `FULL_OBJECT` by CRC combination, `COMPOSITE` as a checksum of the part
//! checksums with a `-N` suffix.

use super::body::{ChecksumAlgo, FULL_OBJECT};
use crate::errors;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kura_store::{Checksums, PartInfo};
use md5::Digest as _;
use s3s::S3Result;

/// The checksum type of a checksum made from part checksums.
pub const COMPOSITE: &str = "COMPOSITE";

/// What an upload's object checksum will be: its algorithm and type (`FULL_OBJECT` or `COMPOSITE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadChecksum {
    /// The algorithm every part is checked and stored with.
    pub algo: ChecksumAlgo,
    /// Whether the object's checksum covers its bytes (`true`) or its parts' checksums.
    pub full_object: bool,
}

impl UploadChecksum {
    /// The type's wire name.
    pub fn type_name(self) -> &'static str {
        if self.full_object { FULL_OBJECT } else { COMPOSITE }
    }

    /// Reads CreateMultipartUpload's `x-amz-checksum-algorithm` and `x-amz-checksum-type` as S3 does:
    /// a type needs an algorithm; SHA-1 and SHA-256 are only `COMPOSITE`, CRC64NVME only
    /// `FULL_OBJECT`; without a type, CRC64NVME is `FULL_OBJECT` and the others `COMPOSITE`.
    pub fn declared(algorithm: Option<&str>, checksum_type: Option<&str>) -> S3Result<Option<Self>> {
        let full_object = match checksum_type {
            None => None,
            Some(t) if t == FULL_OBJECT => Some(true),
            Some(t) if t == COMPOSITE => Some(false),
            Some(_) => {
                return Err(errors::invalid_request(
                    "Value for x-amz-checksum-type header is invalid: use FULL_OBJECT or COMPOSITE.",
                ));
            }
        };
        let Some(algorithm) = algorithm else {
            return match full_object {
                None => Ok(None),
                Some(_) => Err(errors::invalid_request(
                    "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.",
                )),
            };
        };
        let algo = ChecksumAlgo::parse(algorithm)?;
        let crc = matches!(algo, ChecksumAlgo::Crc32 | ChecksumAlgo::Crc32c | ChecksumAlgo::Crc64Nvme);
        let full_object = full_object.unwrap_or(algo == ChecksumAlgo::Crc64Nvme);
        if (full_object && !crc) || (!full_object && algo == ChecksumAlgo::Crc64Nvme) {
            let kind = if full_object { FULL_OBJECT } else { COMPOSITE };
            return Err(errors::invalid_request(format!(
                "The {kind} checksum type cannot be used with the {} checksum algorithm.",
                algo.name().to_ascii_lowercase()
            )));
        }
        Ok(Some(Self { algo, full_object }))
    }

    /// The object checksum of `parts` (in order), when every part has a checksum of this algorithm.
    pub fn of_parts(self, parts: &[&PartInfo]) -> Option<String> {
        if self.full_object { full_object(self.algo, parts) } else { composite(self.algo, parts) }
    }
}

/// The upload checksum a completed upload without a declared one gets from its parts: CRC64NVME parts
/// (kura's default) make a full-object checksum; parts that all carry another algorithm a composite.
pub fn inferred(parts: &[&PartInfo]) -> Option<UploadChecksum> {
    let first = parts.first()?;
    let algo =
        [ChecksumAlgo::Crc64Nvme, ChecksumAlgo::Crc32, ChecksumAlgo::Crc32c, ChecksumAlgo::Sha1, ChecksumAlgo::Sha256]
            .into_iter()
            .find(|a| a.get(&first.checksums).is_some())?;
    Some(UploadChecksum { algo, full_object: algo == ChecksumAlgo::Crc64Nvme })
}

/// A part's stored checksum of `algo` as its raw big-endian bytes.
fn part_digest(algo: ChecksumAlgo, part: &PartInfo) -> Option<Vec<u8>> {
    B64.decode(algo.get(&part.checksums)?).ok()
}

/// The checksum of the concatenation of the parts' checksums, then `-N`.
fn composite(algo: ChecksumAlgo, parts: &[&PartInfo]) -> Option<String> {
    let mut concat = Vec::new();
    for p in parts {
        concat.extend(part_digest(algo, p)?);
    }
    let digest = match algo {
        ChecksumAlgo::Crc32 => crc32fast::hash(&concat).to_be_bytes().to_vec(),
        ChecksumAlgo::Crc32c => crc32c::crc32c(&concat).to_be_bytes().to_vec(),
        ChecksumAlgo::Crc64Nvme => return None,
        ChecksumAlgo::Sha1 => sha1::Sha1::digest(&concat).to_vec(),
        ChecksumAlgo::Sha256 => sha2::Sha256::digest(&concat).to_vec(),
    };
    Some(format!("{}-{}", B64.encode(digest), parts.len()))
}

/// The CRC of the whole object, combined from each part's CRC and size.
fn full_object(algo: ChecksumAlgo, parts: &[&PartInfo]) -> Option<String> {
    let mut crcs = Vec::with_capacity(parts.len());
    for p in parts {
        crcs.push((crc_value(&part_digest(algo, p)?)?, p.size));
    }
    let combined = combine(algo, &crcs)?;
    Some(match algo {
        ChecksumAlgo::Crc64Nvme => B64.encode(combined.to_be_bytes()),
        _ => B64.encode(u32::try_from(combined).ok()?.to_be_bytes()),
    })
}

/// A stored 4- or 8-byte big-endian CRC as a number.
fn crc_value(bytes: &[u8]) -> Option<u64> {
    match bytes.len() {
        4 => Some(u64::from(u32::from_be_bytes(bytes.try_into().ok()?))),
        8 => Some(u64::from_be_bytes(bytes.try_into().ok()?)),
        _ => None,
    }
}

/// The CRC of consecutive pieces from each piece's CRC and length (none for a non-CRC algorithm).
pub fn combine(algo: ChecksumAlgo, pieces: &[(u64, u64)]) -> Option<u64> {
    let crc = match algo {
        ChecksumAlgo::Crc32 => crc_fast::CrcAlgorithm::Crc32IsoHdlc,
        ChecksumAlgo::Crc32c => crc_fast::CrcAlgorithm::Crc32Iscsi,
        ChecksumAlgo::Crc64Nvme => crc_fast::CrcAlgorithm::Crc64Nvme,
        ChecksumAlgo::Sha1 | ChecksumAlgo::Sha256 => return None,
    };
    let (first, rest) = pieces.split_first()?;
    Some(rest.iter().fold(first.0, |acc, (value, len)| crc_fast::checksum_combine(crc, acc, *value, *len)))
}

/// Checks a checksum the client sent with CompleteMultipartUpload against the object's: a
/// full-object value must equal it; a composite one may leave out the `-N` suffix.
pub fn verify_declared(algo: ChecksumAlgo, declared: &str, computed: Option<&str>) -> S3Result<()> {
    let declared = declared.trim();
    let matches = computed.is_some_and(|c| c == declared || c.split_once('-').is_some_and(|(d, _)| d == declared));
    if matches {
        return Ok(());
    }
    Err(errors::bad_digest(format!(
        "The {} you specified did not match the calculated checksum.",
        algo.name().to_ascii_lowercase()
    )))
}

/// The object checksums recorded for `upload` made of `parts`, if it can be computed.
pub fn object_checksums(upload: UploadChecksum, parts: &[&PartInfo]) -> Checksums {
    let mut checksums = Checksums::default();
    if let Some(value) = upload.of_parts(parts) {
        super::body::set_checksum(&mut checksums, upload.algo, value);
        checksums.checksum_type = Some(upload.type_name().to_owned());
    }
    checksums
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn direct(algo: ChecksumAlgo, data: &[u8]) -> u64 {
        match algo {
            ChecksumAlgo::Crc32 => u64::from(crc32fast::hash(data)),
            ChecksumAlgo::Crc32c => u64::from(crc32c::crc32c(data)),
            _ => crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, data),
        }
    }

    proptest! {
        /// Combining the CRCs of consecutive pieces equals the CRC of the whole, for each CRC S3
        /// combines (computed directly by independent implementations where there is one).
        #[test]
        fn combined_crcs_equal_the_crc_of_the_whole(
            pieces in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6),
        ) {
            let whole: Vec<u8> = pieces.concat();
            for algo in [ChecksumAlgo::Crc32, ChecksumAlgo::Crc32c, ChecksumAlgo::Crc64Nvme] {
                let crcs: Vec<(u64, u64)> = pieces.iter().map(|p| (direct(algo, p), p.len() as u64)).collect();
                prop_assert_eq!(combine(algo, &crcs), Some(direct(algo, &whole)), "{:?}", algo);
            }
        }
    }

    fn part(number: u32, algo: ChecksumAlgo, data: &[u8]) -> PartInfo {
        let mut checksums = Checksums::default();
        let value = match algo {
            ChecksumAlgo::Crc64Nvme => B64.encode(direct(algo, data).to_be_bytes()),
            _ => B64.encode(u32::try_from(direct(algo, data)).unwrap_or_default().to_be_bytes()),
        };
        crate::s3::body::set_checksum(&mut checksums, algo, value);
        PartInfo {
            number,
            etag: String::new(),
            size: data.len() as u64,
            blob: kura_store::BlobId(0),
            last_modified_ms: 0,
            checksums,
            key: None,
        }
    }

    #[test]
    fn a_full_object_checksum_is_the_checksum_of_the_whole_object() {
        let (a, b) = (vec![b'A'; 5 * 1024 * 1024], vec![b'B'; 1000]);
        let whole = [a.as_slice(), b.as_slice()].concat();
        for algo in [ChecksumAlgo::Crc32, ChecksumAlgo::Crc32c, ChecksumAlgo::Crc64Nvme] {
            let parts = [part(1, algo, &a), part(2, algo, &b)];
            let refs: Vec<&PartInfo> = parts.iter().collect();
            let sums = object_checksums(UploadChecksum { algo, full_object: true }, &refs);
            let expected = part(1, algo, &whole);
            assert_eq!(algo.get(&sums), algo.get(&expected.checksums), "{algo:?}");
            assert_eq!(sums.checksum_type.as_deref(), Some(FULL_OBJECT));
        }
    }

    #[test]
    fn known_values_from_the_s3_tests_suite() {
        // ceph s3-tests' test_multipart_use_cksum_helper_crc64nvme: parts of 5 MiB of 'A', 'B', 'C'.
        let parts: Vec<PartInfo> = [b'A', b'B', b'C']
            .iter()
            .zip(1..)
            .map(|(c, n)| part(n, ChecksumAlgo::Crc64Nvme, &vec![*c; 5 * 1024 * 1024]))
            .collect();
        assert_eq!(parts[0].checksums.crc64nvme.as_deref(), Some("L/E4WYn8v98="));
        let refs: Vec<&PartInfo> = parts.iter().collect();
        let upload = UploadChecksum { algo: ChecksumAlgo::Crc64Nvme, full_object: true };
        assert_eq!(upload.of_parts(&refs).as_deref(), Some("i+6LR0y3eFo="));
    }

    #[test]
    fn composite_is_the_checksum_of_the_part_checksums() {
        let parts = [part(1, ChecksumAlgo::Crc32, b"one"), part(2, ChecksumAlgo::Crc32, b"two")];
        let refs: Vec<&PartInfo> = parts.iter().collect();
        let mut concat = Vec::new();
        for p in &parts {
            concat.extend(B64.decode(p.checksums.crc32.as_deref().unwrap_or_default()).unwrap_or_default());
        }
        let expected = format!("{}-2", B64.encode(crc32fast::hash(&concat).to_be_bytes()));
        let upload = UploadChecksum { algo: ChecksumAlgo::Crc32, full_object: false };
        assert_eq!(upload.of_parts(&refs), Some(expected.clone()));
        assert!(verify_declared(ChecksumAlgo::Crc32, &expected, Some(&expected)).is_ok());
        assert!(
            verify_declared(ChecksumAlgo::Crc32, expected.split('-').next().unwrap_or(""), Some(&expected)).is_ok()
        );
        assert!(verify_declared(ChecksumAlgo::Crc32, "AAAAAA==-2", Some(&expected)).is_err());
        assert!(verify_declared(ChecksumAlgo::Crc32, &expected, None).is_err());
    }

    #[test]
    fn s3_refuses_the_combinations_it_does_not_support() {
        let ok = |a: Option<&str>, t: Option<&str>| UploadChecksum::declared(a, t).ok().flatten();
        assert_eq!(ok(None, None), None);
        assert_eq!(ok(Some("CRC32"), None).map(|u| u.full_object), Some(false));
        assert_eq!(ok(Some("CRC64NVME"), None).map(|u| u.full_object), Some(true));
        assert_eq!(ok(Some("CRC32C"), Some("FULL_OBJECT")).map(|u| u.full_object), Some(true));
        assert_eq!(ok(Some("SHA1"), Some("COMPOSITE")).map(|u| u.full_object), Some(false));
        for (a, t) in [
            (Some("SHA256"), Some("FULL_OBJECT")),
            (Some("SHA1"), Some("FULL_OBJECT")),
            (Some("CRC64NVME"), Some("COMPOSITE")),
            (None, Some("FULL_OBJECT")),
            (None, Some("COMPOSITE")),
            (Some("CRC32"), Some("full_object")),
            (Some("MD5"), None),
        ] {
            let err = UploadChecksum::declared(a, t).expect_err("refused");
            assert_eq!(err.code(), &s3s::S3ErrorCode::InvalidRequest, "{a:?} {t:?}");
        }
    }
}
