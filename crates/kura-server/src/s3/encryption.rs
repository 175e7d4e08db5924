//! Encryption at rest in the object operations: the data key a write seals a body with and how that
//! key is kept, and the data keys a read opens a body with.
//!
//! - **SSE-S3**: a fresh data key per body, wrapped by the primary master key ([`crate::kms::Vault`]).
//! - **SSE-KMS**: a fresh data key per body from the key service, bound to the encryption context
//!   (`aws:s3:arn` = the object's ARN, or the bucket's with a bucket key, plus the client's context).
//!   The caller must be allowed `kms:GenerateDataKey` on the key to write and `kms:Decrypt` to read,
//!   exactly as on AWS ([`crate::authz::kms`]).
//! - **SSE-C**: a fresh data key per body, wrapped by the customer's key, which is never kept: the
//!   wrap's authentication tag is what proves that a later request sent the same key.
//!
//! The wraps of SSE-S3 and SSE-C keys carry the object's bucket and key as associated data, so a
//! wrapped key moved to another object does not open; SSE-KMS binds the same through its context.
//! Multipart parts get a key each (one per segment of the completed object).

use super::KuraS3;
use super::sealed;
use super::sse::{CustomerKey, SseRequest, SseResponse};
use crate::authz::Authenticated;
use crate::errors;
use crate::kms::{EncryptionContext, KmsKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kura_crypt::DataKey;
use kura_store::{ObjectEncryption, ObjectMeta, SseKind, StoredKey};
use s3s::S3Result;

/// What [`StoredKey::key_id`] says for a data key wrapped by the customer's key (SSE-C).
const CUSTOMER: &str = "customer";

/// What an SSE-C ETag key is derived under (from the customer's key).
const CUSTOMER_ETAG_LABEL: &[u8] = b"kura sse-c etag v1";

/// The AWS-managed key SSE-KMS uses when a request names none.
const DEFAULT_KMS_KEY: &str = "alias/aws/s3";

/// How a write encrypts: decided (and, for SSE-KMS, authorised) once per request, then asked for one
/// data key per body it stores.
pub(super) struct Sealing {
    /// What the object records.
    pub kind: SseKind,
    /// SSE-C: the customer's key (never stored).
    customer: Option<CustomerKey>,
    /// SSE-KMS: the key, as the key service describes it.
    kms: Option<KmsKey>,
}

/// A fresh data key for one body and the form it is kept in.
pub(super) struct BodyKey {
    /// The key the body is sealed with.
    pub key: DataKey,
    /// The wrapped key the object (or part) records.
    pub stored: StoredKey,
}

impl Sealing {
    /// How a write asking for `sse` (the request's headers or the bucket default; `None`: no
    /// encryption) to `bucket`/`key` encrypts. For SSE-KMS, resolves the key and authorises
    /// `kms:GenerateDataKey` for the caller.
    pub(super) async fn prepare(
        s3: &KuraS3,
        who: Option<&Authenticated>,
        (bucket, key): (&str, &str),
        sse: Option<SseRequest>,
    ) -> S3Result<Option<Self>> {
        let Some(sse) = sse else { return Ok(None) };
        Ok(Some(match sse {
            SseRequest::S3 => Self { kind: SseKind::S3, customer: None, kms: None },
            SseRequest::Customer(customer) => Self { kind: SseKind::Customer, customer: Some(customer), kms: None },
            SseRequest::Kms { key_id, context, bucket_key } => {
                let named = key_id.as_deref().unwrap_or(DEFAULT_KMS_KEY);
                let kms_key = s3.vault.kms().describe(named).await.map_err(errors::kms_error)?;
                let kind =
                    SseKind::Kms { key_arn: kms_key.arn.clone(), context, bucket_key: bucket_key.unwrap_or(false) };
                let full = kms_context(&kind, bucket, key)?;
                authorize(s3, who, "kms:GenerateDataKey", &kms_key, &full)?;
                Self { kind, customer: None, kms: Some(kms_key) }
            }
        }))
    }

    /// How the parts of an upload created as `kind` are encrypted; SSE-C needs the same customer key
    /// with every part (checked against the upload's by [`check_upload_customer`]).
    pub(super) async fn for_upload(
        s3: &KuraS3,
        who: Option<&Authenticated>,
        (bucket, key): (&str, &str),
        kind: &SseKind,
        customer: Option<CustomerKey>,
    ) -> S3Result<Self> {
        match kind {
            SseKind::S3 => Ok(Self { kind: SseKind::S3, customer: None, kms: None }),
            SseKind::Customer => {
                let customer = customer.ok_or_else(customer_key_required)?;
                Ok(Self { kind: SseKind::Customer, customer: Some(customer), kms: None })
            }
            SseKind::Kms { key_arn, .. } => {
                let kms_key = s3.vault.kms().describe(key_arn).await.map_err(errors::kms_error)?;
                authorize(s3, who, "kms:GenerateDataKey", &kms_key, &kms_context(kind, bucket, key)?)?;
                Ok(Self { kind: kind.clone(), customer: None, kms: Some(kms_key) })
            }
        }
    }

    /// A fresh data key for one body of `bucket`/`key`.
    pub(super) async fn body_key(&self, s3: &KuraS3, bucket: &str, key: &str) -> S3Result<BodyKey> {
        let aad = wrap_aad(bucket, key);
        match (&self.kind, &self.customer, &self.kms) {
            (SseKind::Kms { .. }, _, Some(kms_key)) => {
                let context = kms_context(&self.kind, bucket, key)?;
                let (key, stored) =
                    s3.vault.kms().generate_data_key(&kms_key.arn, &context).await.map_err(errors::kms_error)?;
                Ok(BodyKey { key, stored })
            }
            (SseKind::Customer, Some(customer), _) => {
                let key = DataKey::generate();
                let blob = kura_crypt::wrap(&customer.key, &key, &aad);
                Ok(BodyKey { key, stored: StoredKey { key_id: CUSTOMER.to_owned(), blob: B64.encode(blob) } })
            }
            _ => {
                let (key, stored) = s3.vault.seal_s3(&aad);
                Ok(BodyKey { key, stored })
            }
        }
    }

    /// SSE-C: what an upload keeps to check that each part comes with the same customer key (a random
    /// key wrapped by it); `None` for other kinds.
    pub(super) fn customer_check(&self, bucket: &str, key: &str) -> Option<StoredKey> {
        let customer = self.customer.as_ref()?;
        let blob = kura_crypt::wrap(&customer.key, &DataKey::generate(), &wrap_aad(bucket, key));
        Some(StoredKey { key_id: CUSTOMER.to_owned(), blob: B64.encode(blob) })
    }

    /// The response headers of the write.
    pub(super) fn response(&self) -> SseResponse {
        super::sse::response(&self.kind, self.customer.as_ref().map(|c| c.key_md5.as_str()))
    }

    /// The ETag of a body (an object's, or a part's) with MD5 `md5_hex` sealed under `key`: the MD5 for
    /// SSE-S3 (as on S3); for SSE-KMS and SSE-C an opaque value that is not the plaintext's MD5 (as on
    /// S3, where it is not either), so an ETag never reveals a digest of what the keys protect. SSE-KMS
    /// keys it with the body's data key; SSE-C with the customer's key, so the same bytes sent again
    /// with the same key (a part uploaded twice) keep their ETag, as clients that retry a part expect.
    pub(super) fn etag(&self, md5_hex: &str, key: &DataKey) -> String {
        use aws_lc_rs::hmac::{HMAC_SHA256, Key, sign};
        let mac = |key: &[u8]| hex::encode(&sign(&Key::new(HMAC_SHA256, key), md5_hex.as_bytes()).as_ref()[..16]);
        match (&self.kind, &self.customer) {
            (SseKind::S3, _) => md5_hex.to_owned(),
            // A key of its own derived from the customer's, which also wraps data keys.
            (SseKind::Customer, Some(customer)) => {
                mac(sign(&Key::new(HMAC_SHA256, customer.key.expose()), CUSTOMER_ETAG_LABEL).as_ref())
            }
            (SseKind::Kms { .. } | SseKind::Customer, _) => mac(key.expose()),
        }
    }

    /// What the object records, given the key of each of its bodies.
    pub(super) fn record(&self, keys: Vec<StoredKey>) -> ObjectEncryption {
        ObjectEncryption { kind: self.kind.clone(), keys }
    }
}

/// A fresh data key for one body when the write encrypts (`sealing`), else `None`.
pub(super) async fn body_key_for(
    s3: &KuraS3,
    sealing: Option<&Sealing>,
    (bucket, key): (&str, &str),
) -> S3Result<Option<BodyKey>> {
    match sealing {
        Some(sealing) => Ok(Some(sealing.body_key(s3, bucket, key).await?)),
        None => Ok(None),
    }
}

/// The ETag of a body with MD5 `md5_hex` written under `sealing` with `body_key` (see [`Sealing::etag`]).
pub(super) fn etag_for(sealing: Option<&Sealing>, body_key: Option<&BodyKey>, md5_hex: String) -> String {
    match (sealing, body_key) {
        (Some(sealing), Some(k)) => sealing.etag(&md5_hex, &k.key),
        _ => md5_hex,
    }
}

/// The data keys of `object` (one per segment, or one for an inline body), or `None` when it is not
/// encrypted. SSE-C needs `customer` (the key the request sent) to be the object's key; SSE-KMS
/// authorises `kms:Decrypt` for the caller.
pub(super) async fn open_keys(
    s3: &KuraS3,
    who: Option<&Authenticated>,
    bucket: &str,
    object: &ObjectMeta,
    customer: Option<&CustomerKey>,
) -> S3Result<Option<Vec<DataKey>>> {
    check_customer(object.encryption.as_ref().map(|e| &e.kind), customer)?;
    let Some(encryption) = &object.encryption else { return Ok(None) };
    let aad = wrap_aad(bucket, &object.key);
    let mut keys = Vec::with_capacity(encryption.keys.len());
    match &encryption.kind {
        SseKind::S3 => {
            for stored in &encryption.keys {
                keys.push(s3.vault.open_s3(stored, &aad).map_err(errors::kms_error)?);
            }
        }
        SseKind::Customer => {
            let customer = customer.ok_or_else(customer_key_required)?;
            for stored in &encryption.keys {
                let blob = B64.decode(&stored.blob).map_err(|_| errors::body_integrity())?;
                keys.push(kura_crypt::unwrap(&customer.key, &blob, &aad).map_err(|_| customer_key_mismatch())?);
            }
        }
        SseKind::Kms { key_arn, .. } => {
            let context = authorize_decrypt(s3, who, (bucket, &object.key), &encryption.kind, key_arn).await?;
            for stored in &encryption.keys {
                keys.push(s3.vault.kms().decrypt(stored, &context).await.map_err(errors::kms_error)?);
            }
        }
    }
    Ok(Some(keys))
}

/// Authorises `kms:Decrypt` on the KMS key `key_arn` of an object or upload (`kind`) at `bucket`/`key`
/// for the caller; answers the encryption context the key is used under.
async fn authorize_decrypt(
    s3: &KuraS3,
    who: Option<&Authenticated>,
    (bucket, key): (&str, &str),
    kind: &SseKind,
    key_arn: &str,
) -> S3Result<EncryptionContext> {
    let kms_key = s3.vault.kms().describe(key_arn).await.map_err(errors::kms_error)?;
    let context = kms_context(kind, bucket, key)?;
    authorize(s3, who, "kms:Decrypt", &kms_key, &context)?;
    Ok(context)
}

/// A request for what only the plaintext of an SSE-KMS object or upload could tell — its checksums
/// (HeadObject with checksum mode, GetObjectAttributes' Checksum and ObjectParts, ListParts) — needs
/// `kms:Decrypt` on its key, as AWS requires: a checksum of a small plaintext gives the plaintext away.
/// Anything not under SSE-KMS passes.
pub(super) async fn authorize_plaintext_digests(
    s3: &KuraS3,
    who: Option<&Authenticated>,
    (bucket, key): (&str, &str),
    kind: Option<&SseKind>,
) -> S3Result<()> {
    match kind {
        Some(kind @ SseKind::Kms { key_arn, .. }) => {
            authorize_decrypt(s3, who, (bucket, key), kind, key_arn).await.map(|_| ())
        }
        _ => Ok(()),
    }
}

/// A request that reads only an object's record (HeadObject, GetObjectAttributes) must still prove it
/// holds an SSE-C object's key, as a GET does: the key must be sent, and must open the object's data
/// keys (no body is read; no KMS key is used); any other object must be sent no SSE-C key.
pub(super) async fn check_record_read(
    s3: &KuraS3,
    who: Option<&Authenticated>,
    bucket: &str,
    object: &ObjectMeta,
    customer: Option<&CustomerKey>,
) -> S3Result<()> {
    let kind = object.encryption.as_ref().map(|e| &e.kind);
    check_customer(kind, customer)?;
    if kind == Some(&SseKind::Customer) {
        open_keys(s3, who, bucket, object, customer).await?;
    }
    Ok(())
}

/// A request about a multipart upload (UploadPart, UploadPartCopy's destination, Complete) must send
/// the upload's SSE-C key when it was created with one (`kind`, `check`: what the upload keeps), and no
/// SSE-C key otherwise.
pub(super) fn check_upload_customer(
    kind: Option<&SseKind>,
    check: Option<&StoredKey>,
    customer: Option<&CustomerKey>,
    (bucket, key): (&str, &str),
) -> S3Result<()> {
    match (kind, customer) {
        (Some(SseKind::Customer), None) => Err(customer_key_required()),
        (Some(SseKind::Customer), Some(customer)) => {
            let Some(check) = check else { return Ok(()) };
            let blob = B64.decode(&check.blob).map_err(|_| customer_key_mismatch())?;
            kura_crypt::unwrap(&customer.key, &blob, &wrap_aad(bucket, key)).map_err(|_| customer_key_mismatch())?;
            Ok(())
        }
        (_, Some(_)) => Err(errors::invalid_request(
            "The multipart upload was not created with customer-provided encryption: send no SSE-C key with \
             its requests.",
        )),
        (_, None) => Ok(()),
    }
}

/// Records in the request's audit line how the object it wrote or read is encrypted (`kind`) and with
/// which key (`stored`: one of its data keys as kept, if at hand): the KMS key ARN for SSE-KMS, the id
/// of the master key that wrapped the data key for SSE-S3, nothing but the algorithm for SSE-C (the
/// customer key's MD5 is a fingerprint of the key and stays out too).
pub(super) fn audit(extensions: &http::Extensions, kind: &SseKind, stored: Option<&StoredKey>) {
    let Some(slot) = extensions.get::<crate::audit::AuditSlot>() else { return };
    let sse = sse_use(kind, stored);
    slot.fill(|f| f.sse = Some(sse));
}

/// [`audit`] for a stored object (or one about to be): nothing when it is not encrypted.
pub(super) fn audit_object(extensions: &http::Extensions, object: &ObjectMeta) {
    if let Some(encryption) = &object.encryption {
        audit(extensions, &encryption.kind, encryption.keys.first());
    }
}

/// Records in a copy's audit line how its source is encrypted (as [`audit`] does for what it writes):
/// a copy opens the source's data keys, so its line names their key too.
pub(super) fn audit_copy_source(extensions: &http::Extensions, source: &ObjectMeta) {
    let (Some(slot), Some(encryption)) = (extensions.get::<crate::audit::AuditSlot>(), &source.encryption) else {
        return;
    };
    let sse = sse_use(&encryption.kind, encryption.keys.first());
    slot.fill(|f| f.copy_source_sse = Some(sse));
}

/// What an audit line says of an encryption: the kind, the algorithm and the key (never material).
fn sse_use(kind: &SseKind, stored: Option<&StoredKey>) -> crate::audit::SseUse {
    match kind {
        SseKind::S3 => crate::audit::SseUse {
            kind: "SSE-S3",
            algorithm: super::sse::AES256,
            key_id: stored.map(|k| k.key_id.clone()),
        },
        SseKind::Kms { key_arn, .. } => {
            crate::audit::SseUse { kind: "SSE-KMS", algorithm: super::sse::AWS_KMS, key_id: Some(key_arn.clone()) }
        }
        SseKind::Customer => crate::audit::SseUse { kind: "SSE-C", algorithm: super::sse::AES256, key_id: None },
    }
}

/// The response headers a read of `object` answers with (`None` for an unencrypted object).
pub(super) fn read_response(object: &ObjectMeta, customer: Option<&CustomerKey>) -> Option<SseResponse> {
    let encryption = object.encryption.as_ref()?;
    Some(super::sse::response(&encryption.kind, customer.map(|c| c.key_md5.as_str())))
}

/// A read (HEAD included) of an SSE-C object must send its key; any other object (`kind`: how it is
/// encrypted, if it is) must not.
pub(super) fn check_customer(kind: Option<&SseKind>, customer: Option<&CustomerKey>) -> S3Result<()> {
    match (kind, customer) {
        (Some(SseKind::Customer), None) => Err(customer_key_required()),
        (None | Some(SseKind::S3 | SseKind::Kms { .. }), Some(_)) => Err(errors::invalid_request(
            "The encryption parameters are not applicable to this object: it is not encrypted with a \
             customer-provided key.",
        )),
        _ => Ok(()),
    }
}

/// The associated data of an SSE-S3 or SSE-C key wrap: the object's bucket and key.
fn wrap_aad(bucket: &str, key: &str) -> Vec<u8> {
    sealed::key_aad(bucket, key, "")
}

/// The full encryption context of an SSE-KMS data key: the client's context plus `aws:s3:arn`.
fn kms_context(kind: &SseKind, bucket: &str, key: &str) -> S3Result<EncryptionContext> {
    let SseKind::Kms { context, bucket_key, .. } = kind else { return Ok(EncryptionContext::new()) };
    let mut full: EncryptionContext = match context {
        Some(json) => serde_json::from_str(json)
            .map_err(|_| errors::invalid_argument("The encryption context must be a JSON object of string values."))?,
        None => EncryptionContext::new(),
    };
    let arn = if *bucket_key { kura_policy::s3::bucket_arn(bucket) } else { kura_policy::s3::object_arn(bucket, key) };
    full.insert("aws:s3:arn".to_owned(), arn);
    Ok(full)
}

fn authorize(
    s3: &KuraS3,
    who: Option<&Authenticated>,
    action: &str,
    key: &KmsKey,
    context: &EncryptionContext,
) -> S3Result<()> {
    match (&s3.access, who) {
        (Some(access), Some(who)) => access.authorize_kms(who, action, key, context, &s3.region),
        _ => Ok(()),
    }
}

fn customer_key_required() -> s3s::S3Error {
    errors::invalid_request(
        "The object was stored using a form of Server Side Encryption. The correct parameters must be provided \
         to retrieve the object.",
    )
}

fn customer_key_mismatch() -> s3s::S3Error {
    errors::invalid_request(
        "The provided encryption parameters did not match the ones used originally: send the customer key the \
         object was written with.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::Digest as _;

    fn customer(seed: u8) -> CustomerKey {
        let key = DataKey::from_slice(&[seed; 32]).expect("32 bytes");
        CustomerKey { key_md5: B64.encode(md5::Md5::digest([seed; 32])), key }
    }

    fn sealing(kind: SseKind, customer: Option<CustomerKey>) -> Sealing {
        Sealing { kind, customer, kms: None }
    }

    const MD5: &str = "5d41402abc4b2a76b9719d911017c592";

    #[test]
    fn etags_hide_the_md5_except_for_sse_s3() {
        let (k1, k2) = (DataKey::generate(), DataKey::generate());
        assert_eq!(sealing(SseKind::S3, None).etag(MD5, &k1), MD5);
        let kms = sealing(SseKind::Kms { key_arn: "arn".into(), context: None, bucket_key: false }, None);
        let (a, b) = (kms.etag(MD5, &k1), kms.etag(MD5, &k2));
        assert!(a != MD5 && a.len() == 32 && a.bytes().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b, "SSE-KMS: keyed by each body's data key");
        let c = sealing(SseKind::Customer, Some(customer(1)));
        assert_ne!(c.etag(MD5, &k1), MD5);
        assert_eq!(c.etag(MD5, &k1), c.etag(MD5, &k2), "SSE-C: the same bytes and key, the same ETag");
        assert_ne!(c.etag(MD5, &k1), sealing(SseKind::Customer, Some(customer(2))).etag(MD5, &k1));
        assert_eq!(etag_for(None, None, MD5.to_owned()), MD5);
    }

    #[test]
    fn an_upload_takes_only_its_own_customer_key() {
        let object = ("b", "k");
        let upload = sealing(SseKind::Customer, Some(customer(1)));
        let check = upload.customer_check(object.0, object.1);
        let c = Some(&SseKind::Customer);
        let refused = |r: S3Result<()>| r.expect_err("refused").code().clone();
        assert!(check_upload_customer(c, check.as_ref(), Some(&customer(1)), object).is_ok());
        assert_eq!(refused(check_upload_customer(c, check.as_ref(), None, object)), s3s::S3ErrorCode::InvalidRequest);
        let other = Some(&customer(2));
        assert_eq!(refused(check_upload_customer(c, check.as_ref(), other, object)), s3s::S3ErrorCode::InvalidRequest);
        // The check is bound to the upload's object: it does not vouch for a key on another.
        let moved = check_upload_customer(c, check.as_ref(), Some(&customer(1)), ("b", "other"));
        assert_eq!(refused(moved), s3s::S3ErrorCode::InvalidRequest);
        for kind in [None, Some(&SseKind::S3)] {
            assert!(check_upload_customer(kind, None, None, object).is_ok());
            let keyed = check_upload_customer(kind, None, Some(&customer(1)), object);
            assert_eq!(refused(keyed), s3s::S3ErrorCode::InvalidRequest);
        }
    }
}
