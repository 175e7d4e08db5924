//! Server-side encryption on the wire: the one reading of a request's SSE headers (SSE-S3, SSE-KMS,
//! SSE-C, the copy source's SSE-C key) with AWS's errors, the bucket default (Put/Get/DeleteBucketEncryption
//! documents to and from the stored form), and the SSE headers of a response.
//!
//! What a write asks for is [`for_write`]: the request's headers, else the bucket default, else nothing.
//! SSE-C keys on reads, UploadPart and copy sources are [`customer_key`] / [`copy_source_customer_key`].
//! Everything here is pure: the key service and the sealing of bodies are elsewhere.
//!
//! kura does not offer dual-layer encryption, so `aws:kms:dsse` is refused (header and bucket default)
//! rather than accepted and silently done as single-layer `aws:kms`.

use crate::errors;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use kura_store::{BucketEncryption, SseKind};
use md5::{Digest, Md5};
use s3s::S3Result;
use s3s::dto::*;
use std::collections::BTreeSet;

/// `x-amz-server-side-encryption: AES256` (SSE-S3), and the only SSE-C algorithm.
pub const AES256: &str = ServerSideEncryption::AES256;
/// `x-amz-server-side-encryption: aws:kms` (SSE-KMS).
pub const AWS_KMS: &str = ServerSideEncryption::AWS_KMS;
/// `aws:kms:dsse` (dual-layer SSE-KMS): a valid AWS value kura refuses.
pub const AWS_KMS_DSSE: &str = ServerSideEncryption::AWS_KMS_DSSE;
/// Longest KMS key id, ARN or alias accepted (KMS's own limit on a KeyId: 2048 characters).
pub const MAX_KMS_KEY_ID_LEN: usize = 2048;
/// Largest encryption context accepted, in bytes of its decoded JSON. AWS publishes no limit of its
/// own; the context is kept with the object like user metadata, so it gets user metadata's 2 KiB.
pub const MAX_CONTEXT_BYTES: usize = 2048;

/// The request headers that only a write may carry; a read that sends one is refused as AWS does.
pub const WRITE_ONLY_HEADERS: [&str; 4] = [
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-context",
    "x-amz-server-side-encryption-bucket-key-enabled",
];

/// What a write asks for: SSE-S3, SSE-KMS (a key, an additional context, a bucket key), or SSE-C.
#[derive(Debug, PartialEq, Eq)]
pub enum SseRequest {
    /// SSE-S3 (`AES256`).
    S3,
    /// SSE-KMS (`aws:kms`).
    Kms {
        /// The key as named (id, ARN, alias); `None` is the AWS-managed default (`alias/aws/s3`).
        key_id: Option<String>,
        /// The additional encryption context: its JSON, decoded from base64 and checked to be an object
        /// of string values.
        context: Option<String>,
        /// `x-amz-server-side-encryption-bucket-key-enabled`, if sent (else the bucket's setting holds).
        bucket_key: Option<bool>,
    },
    /// SSE-C, with the customer's key.
    Customer(CustomerKey),
}

/// A customer-provided key (SSE-C), checked against its MD5. Its Debug form shows no key material.
#[derive(Debug, PartialEq, Eq)]
pub struct CustomerKey {
    /// The key itself.
    pub key: kura_crypt::DataKey,
    /// The base64 MD5 of the key, as sent and verified (what the response repeats).
    pub key_md5: String,
}

/// The SSE-C headers of one request: the object's own, or the copy source's. No Debug: it holds a key.
#[derive(Default, Clone, Copy)]
pub struct CustomerHeaders<'a> {
    /// `…-customer-algorithm`.
    pub algorithm: Option<&'a str>,
    /// `…-customer-key`: base64 of the key.
    pub key: Option<&'a str>,
    /// `…-customer-key-MD5`: base64 of the key's MD5.
    pub key_md5: Option<&'a str>,
}

/// The SSE headers of a write, as s3s parsed them (an empty header is an absent one).
#[derive(Default, Clone, Copy)]
pub struct WriteHeaders<'a> {
    /// `x-amz-server-side-encryption`.
    pub sse: Option<&'a str>,
    /// `x-amz-server-side-encryption-aws-kms-key-id`.
    pub kms_key_id: Option<&'a str>,
    /// `x-amz-server-side-encryption-context`.
    pub context: Option<&'a str>,
    /// `x-amz-server-side-encryption-bucket-key-enabled`.
    pub bucket_key: Option<bool>,
    /// The SSE-C headers.
    pub customer: CustomerHeaders<'a>,
}

/// An input that creates an object or an upload: PutObject, CreateMultipartUpload, CopyObject (its
/// destination).
pub trait SseWrite {
    /// Its SSE headers.
    fn sse_write_headers(&self) -> WriteHeaders<'_>;
}

/// An input that may carry an SSE-C key for the object it names.
pub trait SseCustomer {
    /// Its SSE-C headers.
    fn sse_customer_headers(&self) -> CustomerHeaders<'_>;
}

/// An input that copies: CopyObject, UploadPartCopy.
pub trait SseCopySource {
    /// The SSE-C headers of the copy source (`x-amz-copy-source-server-side-encryption-customer-*`).
    fn copy_source_customer_headers(&self) -> CustomerHeaders<'_>;
}

macro_rules! sse_customer_input {
    ($($input:ty),* $(,)?) => {$(
        impl SseCustomer for $input {
            fn sse_customer_headers(&self) -> CustomerHeaders<'_> {
                CustomerHeaders {
                    algorithm: self.sse_customer_algorithm.as_deref(),
                    key: self.sse_customer_key.as_deref(),
                    key_md5: self.sse_customer_key_md5.as_deref(),
                }
            }
        }
    )*};
}

macro_rules! sse_write_input {
    ($($input:ty),* $(,)?) => {$(
        impl SseWrite for $input {
            fn sse_write_headers(&self) -> WriteHeaders<'_> {
                WriteHeaders {
                    sse: self.server_side_encryption.as_ref().map(ServerSideEncryption::as_str),
                    kms_key_id: self.ssekms_key_id.as_deref(),
                    context: self.ssekms_encryption_context.as_deref(),
                    bucket_key: self.bucket_key_enabled,
                    customer: self.sse_customer_headers(),
                }
            }
        }
    )*};
}

macro_rules! sse_copy_source_input {
    ($($input:ty),* $(,)?) => {$(
        impl SseCopySource for $input {
            fn copy_source_customer_headers(&self) -> CustomerHeaders<'_> {
                CustomerHeaders {
                    algorithm: self.copy_source_sse_customer_algorithm.as_deref(),
                    key: self.copy_source_sse_customer_key.as_deref(),
                    key_md5: self.copy_source_sse_customer_key_md5.as_deref(),
                }
            }
        }
    )*};
}

sse_customer_input!(
    PutObjectInput,
    CreateMultipartUploadInput,
    UploadPartInput,
    CopyObjectInput,
    UploadPartCopyInput,
    GetObjectInput,
    HeadObjectInput,
    GetObjectAttributesInput,
    ListPartsInput,
);
sse_write_input!(PutObjectInput, CreateMultipartUploadInput, CopyObjectInput);
sse_copy_source_input!(CopyObjectInput, UploadPartCopyInput);

/// What a write asks for: the request's SSE headers, else the bucket's default encryption, else
/// `None` (a plain object).
pub fn for_write(input: &impl SseWrite, default: Option<&BucketEncryption>) -> S3Result<Option<SseRequest>> {
    match parse_write(&input.sse_write_headers())? {
        Some(asked) => Ok(Some(asked)),
        None => default.map(from_default).transpose(),
    }
}

/// The SSE-C key a request gives for the object it names (GetObject, HeadObject, GetObjectAttributes,
/// UploadPart, UploadPartCopy's destination), checked; `None` when it sends no SSE-C header.
pub fn customer_key(input: &impl SseCustomer) -> S3Result<Option<CustomerKey>> {
    parse_customer(&input.sse_customer_headers())
}

/// The SSE-C key a copy gives for its source, checked; `None` when it sends none.
pub fn copy_source_customer_key(input: &impl SseCopySource) -> S3Result<Option<CustomerKey>> {
    parse_customer(&input.copy_source_customer_headers())
}

/// The SSE-C key of a request whose s3s input has no SSE-C fields (CompleteMultipartUpload, though
/// AWS's model has them), read from its headers, checked as [`customer_key`]; a header that is not
/// visible ASCII is refused rather than taken as absent.
pub fn customer_key_from_headers(headers: &http::HeaderMap) -> S3Result<Option<CustomerKey>> {
    let get = |name: &str| -> S3Result<Option<&str>> {
        headers
            .get(name)
            .map(|v| v.to_str().map_err(|_| errors::invalid_argument(format!("The {name} header is not ASCII text."))))
            .transpose()
    };
    parse_customer(&CustomerHeaders {
        algorithm: get("x-amz-server-side-encryption-customer-algorithm")?,
        key: get("x-amz-server-side-encryption-customer-key")?,
        key_md5: get("x-amz-server-side-encryption-customer-key-md5")?,
    })
}

/// Refuses a read (or UploadPart) that carries a header only a write may send, as AWS does (400
/// InvalidArgument): s3s drops these headers from such inputs, so they are read from the request.
pub fn refuse_write_headers(headers: &http::HeaderMap) -> S3Result<()> {
    match WRITE_ONLY_HEADERS.iter().find(|name| headers.contains_key(**name)) {
        Some(name) => Err(errors::invalid_argument(format!("{name} header is not supported for this operation."))),
        None => Ok(()),
    }
}

/// Reads the SSE headers of a write, with AWS's rules: one method at a time, SSE-C complete and
/// consistent, the KMS headers only with `aws:kms`, the context a base64 JSON object of strings.
pub fn parse_write(h: &WriteHeaders<'_>) -> S3Result<Option<SseRequest>> {
    let customer = h.customer.algorithm.is_some() || h.customer.key.is_some() || h.customer.key_md5.is_some();
    if let Some(method) = h.sse
        && ![AES256, AWS_KMS].contains(&method)
    {
        return Err(match method {
            AWS_KMS_DSSE => errors::invalid_argument(
                "kura does not offer dual-layer encryption (aws:kms:dsse): use aws:kms (SSE-KMS) or AES256 (SSE-S3).",
            ),
            _ => errors::invalid_argument("The encryption method specified is not supported"),
        });
    }
    if customer && h.sse.is_some() {
        return Err(errors::invalid_argument(
            "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
        ));
    }
    let kms_only = h.kms_key_id.is_some() || h.context.is_some() || h.bucket_key.is_some();
    if kms_only && h.sse != Some(AWS_KMS) {
        return Err(errors::invalid_argument(
            "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms",
        ));
    }
    if customer {
        return Ok(parse_customer(&h.customer)?.map(SseRequest::Customer));
    }
    Ok(match h.sse {
        None => None,
        Some(AES256) => Some(SseRequest::S3),
        Some(_) => Some(SseRequest::Kms {
            key_id: h.kms_key_id.map(kms_key_id).transpose()?,
            context: h.context.map(decode_context).transpose()?,
            bucket_key: h.bucket_key,
        }),
    })
}

/// Reads one set of SSE-C headers: `None` when none is sent; else the algorithm must be AES256, the key
/// the base64 of exactly 32 bytes, and the MD5 sent and equal to the key's.
pub fn parse_customer(h: &CustomerHeaders<'_>) -> S3Result<Option<CustomerKey>> {
    let Some(algorithm) = h.algorithm else {
        if h.key.is_none() && h.key_md5.is_none() {
            return Ok(None);
        }
        return Err(errors::invalid_argument(
            "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption \
             algorithm.",
        ));
    };
    if algorithm != AES256 {
        return Err(errors::invalid_encryption_algorithm());
    }
    let Some(encoded) = h.key else {
        return Err(errors::invalid_argument(
            "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate \
             secret key.",
        ));
    };
    // A 32-byte key is 44 base64 characters: anything longer is refused before it is decoded.
    let key = (encoded.len() == 44)
        .then(|| B64.decode(encoded).ok())
        .flatten()
        .and_then(|bytes| kura_crypt::DataKey::from_slice(&bytes).ok())
        .ok_or_else(|| errors::invalid_argument("The secret key was invalid for the specified algorithm."))?;
    let Some(key_md5) = h.key_md5 else {
        return Err(errors::invalid_argument(
            "Requests specifying Server Side Encryption with Customer provided keys must provide the client \
             calculated MD5 of the secret key.",
        ));
    };
    let digest = Md5::digest(key.expose());
    if B64.decode(key_md5).ok().as_deref() != Some(digest.as_slice()) {
        return Err(errors::invalid_argument(
            "The calculated MD5 hash of the key did not match the hash that was provided.",
        ));
    }
    Ok(Some(CustomerKey { key, key_md5: key_md5.to_owned() }))
}

/// A KMS key id as sent: 1 to [`MAX_KMS_KEY_ID_LEN`] characters (which key it names is the key
/// service's question).
fn kms_key_id(id: &str) -> S3Result<String> {
    if id.chars().count() > MAX_KMS_KEY_ID_LEN {
        return Err(errors::invalid_argument(format!(
            "The KMS key id in x-amz-server-side-encryption-aws-kms-key-id is longer than {MAX_KMS_KEY_ID_LEN} \
             characters."
        )));
    }
    Ok(id.to_owned())
}

/// Decodes `x-amz-server-side-encryption-context`: base64 of UTF-8 JSON that is one object of string
/// values, each key once, none under the `aws:` prefix AWS reserves for the context S3 adds itself
/// (`aws:s3:arn`, which a caller must not be able to set), at most [`MAX_CONTEXT_BYTES`]. Answers the JSON.
pub fn decode_context(encoded: &str) -> S3Result<String> {
    let malformed = || {
        errors::invalid_argument(
            "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string holding JSON \
             which represents a string-string map",
        )
    };
    if encoded.len() > MAX_CONTEXT_BYTES.div_ceil(3) * 4 {
        return Err(errors::invalid_argument(format!(
            "The encryption context in x-amz-server-side-encryption-context is larger than {MAX_CONTEXT_BYTES} bytes."
        )));
    }
    let bytes = B64.decode(encoded).map_err(|_| malformed())?;
    if bytes.len() > MAX_CONTEXT_BYTES {
        return Err(errors::invalid_argument(format!(
            "The encryption context in x-amz-server-side-encryption-context is larger than {MAX_CONTEXT_BYTES} bytes."
        )));
    }
    let json = String::from_utf8(bytes).map_err(|_| malformed())?;
    let pairs: ContextPairs = serde_json::from_str(&json).map_err(|_| malformed())?;
    let mut seen = BTreeSet::new();
    for (key, _) in &pairs.0 {
        if !seen.insert(key.as_str()) {
            return Err(errors::invalid_argument(format!(
                "The encryption context names the key {key:?} twice: each key may appear once."
            )));
        }
        if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
            return Err(errors::invalid_argument(format!(
                "The encryption context key {key:?} is reserved: S3 sets the aws: keys (aws:s3:arn) itself."
            )));
        }
    }
    Ok(json)
}

/// A JSON object of string values, in the order sent, duplicates kept (so they can be refused:
/// serde_json's maps keep only the last).
struct ContextPairs(Vec<(String, String)>);

impl<'de> serde::Deserialize<'de> for ContextPairs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> serde::de::Visitor<'de> for Pairs {
            type Value = ContextPairs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object of string values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<ContextPairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry::<String, String>()? {
                    pairs.push(pair);
                }
                Ok(ContextPairs(pairs))
            }
        }
        d.deserialize_map(Pairs)
    }
}

/// What a bucket default asks of a write that sends no SSE header.
fn from_default(default: &BucketEncryption) -> S3Result<SseRequest> {
    match default.algorithm.as_str() {
        AES256 => Ok(SseRequest::S3),
        AWS_KMS => Ok(SseRequest::Kms {
            key_id: default.kms_key_id.clone(),
            context: None,
            bucket_key: Some(default.bucket_key_enabled),
        }),
        other => {
            tracing::error!(algorithm = %other, "a bucket's stored default encryption is not one kura serves");
            Err(errors::internal_error("The bucket's default encryption could not be applied."))
        }
    }
}

// ---- Bucket default encryption (Put/GetBucketEncryption) ----

/// Checks a PutBucketEncryption document as AWS does and answers the stored form: exactly one rule,
/// which applies an SSEAlgorithm of AES256 or aws:kms (aws:kms:dsse refused: see the module
/// documentation), a KMSMasterKeyID only with aws:kms, and the rule's BucketKeyEnabled.
pub fn bucket_encryption_from_wire(config: &ServerSideEncryptionConfiguration) -> S3Result<BucketEncryption> {
    let [rule] = config.rules.as_slice() else {
        return Err(errors::malformed_xml(format!(
            "A ServerSideEncryptionConfiguration must have exactly one Rule; this one has {}.",
            config.rules.len()
        )));
    };
    let Some(default) = &rule.apply_server_side_encryption_by_default else {
        return Err(errors::malformed_xml(
            "The Rule must have an ApplyServerSideEncryptionByDefault with an SSEAlgorithm (AES256 or aws:kms).",
        ));
    };
    let algorithm = default.sse_algorithm.as_str();
    match algorithm {
        AES256 | AWS_KMS => {}
        AWS_KMS_DSSE => {
            return Err(errors::invalid_request(
                "kura does not offer dual-layer encryption, so aws:kms:dsse cannot be a bucket's default: use \
                 aws:kms (SSE-KMS) or AES256 (SSE-S3).",
            ));
        }
        other => {
            return Err(errors::malformed_xml(format!(
                "SSEAlgorithm {other:?} is not one of AES256, aws:kms, aws:kms:dsse."
            )));
        }
    }
    let kms_key_id = match default.kms_master_key_id.as_deref() {
        None => None,
        Some(_) if algorithm != AWS_KMS => {
            return Err(errors::invalid_argument(
                "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse",
            ));
        }
        Some("") => return Err(errors::invalid_argument("The KMSMasterKeyID must not be empty.")),
        Some(id) if id.chars().count() > MAX_KMS_KEY_ID_LEN => {
            return Err(errors::invalid_argument(format!(
                "The KMSMasterKeyID is longer than {MAX_KMS_KEY_ID_LEN} characters."
            )));
        }
        Some(id) => Some(id.to_owned()),
    };
    Ok(BucketEncryption {
        algorithm: algorithm.to_owned(),
        kms_key_id,
        bucket_key_enabled: rule.bucket_key_enabled.unwrap_or(false),
    })
}

/// The stored default encryption as GetBucketEncryption answers it.
pub fn bucket_encryption_to_wire(default: &BucketEncryption) -> ServerSideEncryptionConfiguration {
    ServerSideEncryptionConfiguration {
        rules: vec![ServerSideEncryptionRule {
            apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                kms_master_key_id: default.kms_key_id.clone(),
                sse_algorithm: ServerSideEncryption::from(default.algorithm.clone()),
            }),
            bucket_key_enabled: Some(default.bucket_key_enabled),
        }],
    }
}

// ---- Response headers ----

/// The SSE headers of a response about one object (or upload, or part).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SseResponse {
    /// `x-amz-server-side-encryption`: AES256 or aws:kms (never for SSE-C).
    pub algorithm: Option<ServerSideEncryption>,
    /// `x-amz-server-side-encryption-aws-kms-key-id`: the key's ARN.
    pub kms_key_id: Option<String>,
    /// `x-amz-server-side-encryption-context`: base64 of the additional context, where the output has it.
    pub context: Option<String>,
    /// `x-amz-server-side-encryption-bucket-key-enabled`: only when a bucket key is on.
    pub bucket_key: Option<bool>,
    /// `x-amz-server-side-encryption-customer-algorithm`: AES256 for SSE-C.
    pub customer_algorithm: Option<String>,
    /// `x-amz-server-side-encryption-customer-key-MD5`: the request's, for SSE-C.
    pub customer_key_md5: Option<String>,
}

/// The SSE headers for an object (or upload) encrypted as `kind`; `customer_key_md5` is the verified
/// MD5 the request sent, repeated for SSE-C.
pub fn response(kind: &SseKind, customer_key_md5: Option<&str>) -> SseResponse {
    match kind {
        SseKind::S3 => SseResponse { algorithm: Some(ServerSideEncryption::from_static(AES256)), ..Default::default() },
        SseKind::Kms { key_arn, context, bucket_key } => SseResponse {
            algorithm: Some(ServerSideEncryption::from_static(AWS_KMS)),
            kms_key_id: Some(key_arn.clone()),
            context: context.as_ref().map(|json| B64.encode(json)),
            bucket_key: bucket_key.then_some(true),
            ..Default::default()
        },
        SseKind::Customer => SseResponse {
            customer_algorithm: Some(AES256.to_owned()),
            customer_key_md5: customer_key_md5.map(str::to_owned),
            ..Default::default()
        },
    }
}

/// The SSE-C response headers of `r`, for an output s3s gives no SSE-C fields (CompleteMultipartUpload:
/// AWS answers an SSE-C completion with the algorithm and the key's MD5, as an UploadPart).
pub fn customer_response_headers(r: &SseResponse) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    let pairs = [
        ("x-amz-server-side-encryption-customer-algorithm", &r.customer_algorithm),
        ("x-amz-server-side-encryption-customer-key-md5", &r.customer_key_md5),
    ];
    for (name, value) in pairs {
        if let Some(v) = value.as_deref().and_then(|v| http::HeaderValue::from_str(v).ok()) {
            headers.insert(name, v);
        }
    }
    headers
}

/// An S3 output that carries SSE headers.
pub trait SseOutput {
    /// Sets its SSE fields from `r` (the fields it does not have are left out, as AWS does).
    fn set_sse(&mut self, r: SseResponse);
}

macro_rules! sse_output {
    (@field $out:ident, $r:ident, context) => {
        $out.ssekms_encryption_context = $r.context;
    };
    (@field $out:ident, $r:ident, customer) => {
        $out.sse_customer_algorithm = $r.customer_algorithm;
        $out.sse_customer_key_md5 = $r.customer_key_md5;
    };
    ($($output:ty $(: $($extra:ident),+)?;)*) => {$(
        impl SseOutput for $output {
            fn set_sse(&mut self, r: SseResponse) {
                $($(sse_output!(@field self, r, $extra);)+)?
                self.server_side_encryption = r.algorithm;
                self.ssekms_key_id = r.kms_key_id;
                self.bucket_key_enabled = r.bucket_key;
            }
        }
    )*};
}

sse_output! {
    PutObjectOutput: context, customer;
    CopyObjectOutput: context, customer;
    CreateMultipartUploadOutput: context, customer;
    GetObjectOutput: customer;
    HeadObjectOutput: customer;
    UploadPartOutput: customer;
    UploadPartCopyOutput: customer;
    CompleteMultipartUploadOutput;
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::S3ErrorCode;

    /// ceph s3-tests' SSE-C key and its MD5.
    const KEY: &str = "pO3upElrwuEXSoFwCfnZPdSsmt/xWeFa0N9KgDijwVs=";
    const KEY_MD5: &str = "DWygnHRtgiJ77HCm+1rvHw==";

    fn customer<'a>(algorithm: Option<&'a str>, key: Option<&'a str>, key_md5: Option<&'a str>) -> CustomerHeaders<'a> {
        CustomerHeaders { algorithm, key, key_md5 }
    }

    fn good_customer() -> CustomerHeaders<'static> {
        customer(Some(AES256), Some(KEY), Some(KEY_MD5))
    }

    /// The code and message of a refusal.
    fn refusal<T: std::fmt::Debug>(r: S3Result<T>) -> (S3ErrorCode, String) {
        let e = r.expect_err("refused");
        assert_eq!(e.status_code().unwrap_or(http::StatusCode::BAD_REQUEST), http::StatusCode::BAD_REQUEST);
        (e.code().clone(), e.message().unwrap_or_default().to_owned())
    }

    fn assert_refused<T: std::fmt::Debug>(r: S3Result<T>, code: S3ErrorCode, text: &str) {
        let (got, message) = refusal(r);
        assert_eq!(got, code, "{message}");
        assert!(message.contains(text), "{message:?} does not say {text:?}");
    }

    fn write(sse: Option<&'static str>) -> WriteHeaders<'static> {
        WriteHeaders { sse, ..Default::default() }
    }

    fn b64(s: &str) -> String {
        B64.encode(s)
    }

    #[test]
    fn sse_s3_and_kms_are_read_from_the_headers() {
        assert_eq!(parse_write(&WriteHeaders::default()).expect("none"), None);
        assert_eq!(parse_write(&write(Some(AES256))).expect("s3"), Some(SseRequest::S3));
        let context = b64(r#"{"project":"blue","team":"x"}"#);
        let kms = WriteHeaders {
            sse: Some(AWS_KMS),
            kms_key_id: Some("alias/gitlab"),
            context: Some(&context),
            bucket_key: Some(true),
            ..Default::default()
        };
        assert_eq!(
            parse_write(&kms).expect("kms"),
            Some(SseRequest::Kms {
                key_id: Some("alias/gitlab".into()),
                context: Some(r#"{"project":"blue","team":"x"}"#.into()),
                bucket_key: Some(true),
            })
        );
        let bare = parse_write(&write(Some(AWS_KMS))).expect("kms without key");
        assert_eq!(bare, Some(SseRequest::Kms { key_id: None, context: None, bucket_key: None }));
    }

    #[test]
    fn an_unknown_method_is_invalid_argument() {
        for method in ["aes:kms", "aes256", "AES128", "aws:KMS", " AES256"] {
            assert_refused(
                parse_write(&write(Some(method))),
                S3ErrorCode::InvalidArgument,
                "The encryption method specified is not supported",
            );
        }
    }

    #[test]
    fn dual_layer_kms_is_refused_not_downgraded() {
        assert_refused(parse_write(&write(Some(AWS_KMS_DSSE))), S3ErrorCode::InvalidArgument, "aws:kms:dsse");
    }

    #[test]
    fn sse_c_with_another_method_is_refused() {
        for method in [AES256, AWS_KMS] {
            let h = WriteHeaders { sse: Some(method), customer: good_customer(), ..Default::default() };
            assert_refused(parse_write(&h), S3ErrorCode::InvalidArgument, "incompatible with the encryption method");
        }
        // Even half an SSE-C request conflicts.
        let h = WriteHeaders { sse: Some(AES256), customer: customer(Some(AES256), None, None), ..Default::default() };
        assert_refused(parse_write(&h), S3ErrorCode::InvalidArgument, "incompatible");
    }

    #[test]
    fn kms_headers_need_aws_kms() {
        let need = "requires HTTP header x-amz-server-side-encryption : aws:kms";
        let context = b64(r#"{"a":"b"}"#);
        for sse in [None, Some(AES256)] {
            let key = WriteHeaders { sse, kms_key_id: Some("k"), ..Default::default() };
            assert_refused(parse_write(&key), S3ErrorCode::InvalidArgument, need);
            let cx = WriteHeaders { sse, context: Some(&context), ..Default::default() };
            assert_refused(parse_write(&cx), S3ErrorCode::InvalidArgument, need);
            let bucket_key = WriteHeaders { sse, bucket_key: Some(false), ..Default::default() };
            assert_refused(parse_write(&bucket_key), S3ErrorCode::InvalidArgument, need);
        }
        let with_customer = WriteHeaders { kms_key_id: Some("k"), customer: good_customer(), ..Default::default() };
        assert_refused(parse_write(&with_customer), S3ErrorCode::InvalidArgument, need);
    }

    #[test]
    fn a_kms_key_id_is_bounded() {
        let long = "k".repeat(MAX_KMS_KEY_ID_LEN + 1);
        let h = WriteHeaders { sse: Some(AWS_KMS), kms_key_id: Some(&long), ..Default::default() };
        assert_refused(parse_write(&h), S3ErrorCode::InvalidArgument, "longer than 2048");
        let max = "k".repeat(MAX_KMS_KEY_ID_LEN);
        let h = WriteHeaders { sse: Some(AWS_KMS), kms_key_id: Some(&max), ..Default::default() };
        assert!(parse_write(&h).is_ok());
    }

    #[test]
    fn the_context_is_base64_of_a_json_object_of_strings() {
        let malformed = "shall be Base64-encoded UTF-8 string holding JSON which represents a string-string map";
        assert_eq!(decode_context(&b64("{}")).expect("empty object"), "{}");
        assert_eq!(decode_context(&b64(r#"{"k":"v"}"#)).expect("one pair"), r#"{"k":"v"}"#);
        for bad in [
            "not base64!".to_owned(),
            "eyJrIjoidiJ9".to_owned() + "=", // bad padding
            b64("not json"),
            b64(r#"["a","b"]"#),
            b64(r#""a""#),
            b64(r#"{"k":1}"#),
            b64(r#"{"k":{"nested":"v"}}"#),
            b64(r#"{"k":null}"#),
            b64(r#"{"k":"v"} trailing"#),
            B64.encode([b'{', b'"', 0xff, 0xfe, b'"', b':', b'"', b'v', b'"', b'}']),
        ] {
            assert_refused(decode_context(&bad), S3ErrorCode::InvalidArgument, malformed);
        }
    }

    #[test]
    fn the_context_names_each_key_once_and_no_aws_key() {
        assert_refused(decode_context(&b64(r#"{"a":"1","a":"2"}"#)), S3ErrorCode::InvalidArgument, "twice");
        for reserved in [r#"{"aws:s3:arn":"arn:aws:s3:::other/x"}"#, r#"{"AWS:anything":"v"}"#] {
            assert_refused(decode_context(&b64(reserved)), S3ErrorCode::InvalidArgument, "reserved");
        }
        assert!(decode_context(&b64(r#"{"awsome":"v","my:aws:":"v"}"#)).is_ok());
    }

    #[test]
    fn the_context_is_bounded_before_and_after_decoding() {
        // The largest accepted: a JSON object of exactly MAX_CONTEXT_BYTES.
        let filler = "x".repeat(MAX_CONTEXT_BYTES - r#"{"k":""}"#.len());
        let max = format!(r#"{{"k":"{filler}"}}"#);
        assert_eq!(max.len(), MAX_CONTEXT_BYTES);
        assert!(decode_context(&b64(&max)).is_ok());
        let over = format!(r#"{{"k":"{filler}x"}}"#);
        assert_refused(decode_context(&b64(&over)), S3ErrorCode::InvalidArgument, "larger than 2048 bytes");
        // A huge header is refused from its length, without decoding it.
        let huge = "A".repeat(1 << 20);
        assert_refused(decode_context(&huge), S3ErrorCode::InvalidArgument, "larger than 2048 bytes");
    }

    #[test]
    fn sse_c_is_read_and_checked() {
        let key = parse_customer(&good_customer()).expect("valid").expect("present");
        assert_eq!(key.key_md5, KEY_MD5);
        assert_eq!(B64.encode(key.key.expose()), KEY);
        assert!(!format!("{key:?}").contains(KEY), "the Debug form shows no key");
        assert!(parse_customer(&CustomerHeaders::default()).expect("none").is_none());
        let h = WriteHeaders { customer: good_customer(), ..Default::default() };
        assert!(matches!(parse_write(&h), Ok(Some(SseRequest::Customer(k))) if k.key_md5 == KEY_MD5));
    }

    #[test]
    fn sse_c_needs_the_aes256_algorithm() {
        for algorithm in ["AES192", "aws:kms", "aes256"] {
            let (code, message) = refusal(parse_customer(&customer(Some(algorithm), Some(KEY), Some(KEY_MD5))));
            assert_eq!(code, S3ErrorCode::InvalidEncryptionAlgorithmError);
            assert!(message.contains("Supported value: AES256"), "{message}");
        }
        let need = "must provide a valid encryption algorithm";
        assert_refused(parse_customer(&customer(None, Some(KEY), Some(KEY_MD5))), S3ErrorCode::InvalidArgument, need);
        assert_refused(parse_customer(&customer(None, None, Some(KEY_MD5))), S3ErrorCode::InvalidArgument, need);
    }

    #[test]
    fn sse_c_needs_a_32_byte_key() {
        let need = "must provide an appropriate secret key";
        assert_refused(
            parse_customer(&customer(Some(AES256), None, Some(KEY_MD5))),
            S3ErrorCode::InvalidArgument,
            need,
        );
        let short = B64.encode([7u8; 31]);
        let long = B64.encode([7u8; 33]);
        let huge = "A".repeat(1 << 16);
        for bad in [short.as_str(), long.as_str(), "not base64 at all, but 44 characters long!!", huge.as_str(), ""] {
            assert_refused(
                parse_customer(&customer(Some(AES256), Some(bad), Some(KEY_MD5))),
                S3ErrorCode::InvalidArgument,
                "The secret key was invalid for the specified algorithm.",
            );
        }
    }

    #[test]
    fn sse_c_needs_the_matching_md5() {
        assert_refused(
            parse_customer(&customer(Some(AES256), Some(KEY), None)),
            S3ErrorCode::InvalidArgument,
            "must provide the client calculated MD5 of the secret key",
        );
        let other_md5 = B64.encode(Md5::digest([1u8; 32]));
        for bad in ["AAAAAAAAAAAAAAAAAAAAAA==", other_md5.as_str(), "not base64", "DWygnHRtgiJ77HCm+1rvHw", ""] {
            assert_refused(
                parse_customer(&customer(Some(AES256), Some(KEY), Some(bad))),
                S3ErrorCode::InvalidArgument,
                "The calculated MD5 hash of the key did not match the hash that was provided.",
            );
        }
    }

    #[test]
    fn the_inputs_are_read_field_by_field() {
        let mut get = GetObjectInput::builder().bucket("b".into()).key("k".into()).build().expect("input");
        get.sse_customer_algorithm = Some(AES256.into());
        get.sse_customer_key = Some(KEY.into());
        get.sse_customer_key_md5 = Some(KEY_MD5.into());
        assert!(customer_key(&get).expect("valid").is_some());

        let mut copy = CopyObjectInput::builder()
            .bucket("b".into())
            .key("k".into())
            .copy_source(CopySource::Bucket { bucket: "s".into(), key: "k".into(), version_id: None })
            .build()
            .expect("input");
        copy.copy_source_sse_customer_algorithm = Some(AES256.into());
        copy.copy_source_sse_customer_key = Some(KEY.into());
        copy.copy_source_sse_customer_key_md5 = Some("AAAAAAAAAAAAAAAAAAAAAA==".into());
        assert_refused(copy_source_customer_key(&copy), S3ErrorCode::InvalidArgument, "did not match");
        // The destination's headers are read apart from the source's.
        assert!(customer_key(&copy).expect("no destination key").is_none());
        copy.server_side_encryption = Some(ServerSideEncryption::from_static(AES256));
        assert_eq!(for_write(&copy, None).expect("s3"), Some(SseRequest::S3));
    }

    #[test]
    fn a_write_without_headers_gets_the_bucket_default() {
        let new_put = || PutObjectInput::builder().bucket("b".into()).key("k".into()).build().expect("input");
        let put = new_put();
        assert_eq!(for_write(&put, None).expect("plain"), None);
        let s3 = BucketEncryption { algorithm: AES256.into(), kms_key_id: None, bucket_key_enabled: false };
        assert_eq!(for_write(&put, Some(&s3)).expect("default"), Some(SseRequest::S3));
        let kms =
            BucketEncryption { algorithm: AWS_KMS.into(), kms_key_id: Some("k1".into()), bucket_key_enabled: true };
        assert_eq!(
            for_write(&put, Some(&kms)).expect("default"),
            Some(SseRequest::Kms { key_id: Some("k1".into()), context: None, bucket_key: Some(true) })
        );
        // The request's own headers win over the default; a refused header is refused whatever the default.
        let mut asked = new_put();
        asked.server_side_encryption = Some(ServerSideEncryption::from_static(AES256));
        assert_eq!(for_write(&asked, Some(&kms)).expect("asked"), Some(SseRequest::S3));
        asked.server_side_encryption = Some(ServerSideEncryption::from_static("aes:kms"));
        assert_refused(for_write(&asked, Some(&kms)), S3ErrorCode::InvalidArgument, "not supported");
        let mut sse_c = new_put();
        sse_c.sse_customer_algorithm = Some(AES256.into());
        sse_c.sse_customer_key = Some(KEY.into());
        sse_c.sse_customer_key_md5 = Some(KEY_MD5.into());
        assert!(matches!(for_write(&sse_c, Some(&s3)), Ok(Some(SseRequest::Customer(_)))));
    }

    #[test]
    fn reads_refuse_write_only_headers() {
        assert!(refuse_write_headers(&http::HeaderMap::new()).is_ok());
        for name in WRITE_ONLY_HEADERS {
            let mut headers = http::HeaderMap::new();
            headers.insert(name, http::HeaderValue::from_static("aws:kms"));
            assert_refused(
                refuse_write_headers(&headers),
                S3ErrorCode::InvalidArgument,
                &format!("{name} header is not supported for this operation."),
            );
        }
    }

    fn config(rules: Vec<ServerSideEncryptionRule>) -> ServerSideEncryptionConfiguration {
        ServerSideEncryptionConfiguration { rules }
    }

    fn rule(algorithm: &str, key: Option<&str>, bucket_key: Option<bool>) -> ServerSideEncryptionRule {
        ServerSideEncryptionRule {
            apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                kms_master_key_id: key.map(str::to_owned),
                sse_algorithm: ServerSideEncryption::from(algorithm.to_owned()),
            }),
            bucket_key_enabled: bucket_key,
        }
    }

    #[test]
    fn a_bucket_default_round_trips() {
        for (algorithm, key, bucket_key) in [(AES256, None, None), (AWS_KMS, Some("alias/aws/s3"), Some(true))] {
            let stored = bucket_encryption_from_wire(&config(vec![rule(algorithm, key, bucket_key)])).expect("valid");
            assert_eq!(stored.algorithm, algorithm);
            assert_eq!(stored.kms_key_id.as_deref(), key);
            assert_eq!(stored.bucket_key_enabled, bucket_key.unwrap_or(false));
            let wire = bucket_encryption_to_wire(&stored);
            assert_eq!(wire, config(vec![rule(algorithm, key, Some(bucket_key.unwrap_or(false)))]));
            assert_eq!(bucket_encryption_from_wire(&wire).expect("again"), stored);
        }
    }

    #[test]
    fn a_bucket_default_is_one_rule_of_a_known_algorithm() {
        assert_refused(bucket_encryption_from_wire(&config(vec![])), S3ErrorCode::MalformedXML, "exactly one Rule");
        let two = config(vec![rule(AES256, None, None), rule(AES256, None, None)]);
        assert_refused(bucket_encryption_from_wire(&two), S3ErrorCode::MalformedXML, "exactly one Rule");
        let no_default = config(vec![ServerSideEncryptionRule {
            apply_server_side_encryption_by_default: None,
            bucket_key_enabled: Some(true),
        }]);
        assert_refused(
            bucket_encryption_from_wire(&no_default),
            S3ErrorCode::MalformedXML,
            "ApplyServerSideEncryptionByDefault",
        );
        for unknown in ["aes256", "SSE-KMS", "", "aws:kms "] {
            let c = config(vec![rule(unknown, None, None)]);
            assert_refused(bucket_encryption_from_wire(&c), S3ErrorCode::MalformedXML, "is not one of");
        }
        let dsse = config(vec![rule(AWS_KMS_DSSE, Some("k"), None)]);
        assert_refused(bucket_encryption_from_wire(&dsse), S3ErrorCode::InvalidRequest, "dual-layer");
    }

    #[test]
    fn a_bucket_default_names_a_kms_key_only_with_aws_kms() {
        let c = config(vec![rule(AES256, Some("k"), None)]);
        assert_refused(
            bucket_encryption_from_wire(&c),
            S3ErrorCode::InvalidArgument,
            "KMSMasterKeyID is not applicable",
        );
        let empty = config(vec![rule(AWS_KMS, Some(""), None)]);
        assert_refused(bucket_encryption_from_wire(&empty), S3ErrorCode::InvalidArgument, "must not be empty");
        let long = "k".repeat(MAX_KMS_KEY_ID_LEN + 1);
        let c = config(vec![rule(AWS_KMS, Some(&long), None)]);
        assert_refused(bucket_encryption_from_wire(&c), S3ErrorCode::InvalidArgument, "longer than 2048");
        // BucketKeyEnabled is kept with AES256 too, as S3 keeps it (it only matters for aws:kms).
        let c = config(vec![rule(AES256, None, Some(true))]);
        assert!(bucket_encryption_from_wire(&c).expect("valid").bucket_key_enabled);
    }

    #[test]
    fn response_headers_follow_the_kind() {
        let s3 = response(&SseKind::S3, None);
        assert_eq!(s3.algorithm.as_ref().map(ServerSideEncryption::as_str), Some(AES256));
        assert_eq!(s3, SseResponse { algorithm: s3.algorithm.clone(), ..Default::default() });

        let kms = SseKind::Kms {
            key_arn: "arn:aws:kms:us-east-1:000000000000:key/k".into(),
            context: Some(r#"{"a":"b"}"#.into()),
            bucket_key: false,
        };
        let r = response(&kms, None);
        assert_eq!(r.algorithm.as_ref().map(ServerSideEncryption::as_str), Some(AWS_KMS));
        assert_eq!(r.kms_key_id.as_deref(), Some("arn:aws:kms:us-east-1:000000000000:key/k"));
        assert_eq!(r.context.as_deref(), Some(b64(r#"{"a":"b"}"#).as_str()));
        assert_eq!(r.bucket_key, None, "the bucket-key header is sent only when it is on");
        let with_bucket_key = SseKind::Kms { key_arn: "a".into(), context: None, bucket_key: true };
        assert_eq!(response(&with_bucket_key, None).bucket_key, Some(true));

        let c = response(&SseKind::Customer, Some(KEY_MD5));
        assert_eq!(c.algorithm, None, "SSE-C answers no x-amz-server-side-encryption");
        assert_eq!((c.customer_algorithm.as_deref(), c.customer_key_md5.as_deref()), (Some(AES256), Some(KEY_MD5)));
    }

    #[test]
    fn outputs_get_the_fields_they_have() {
        let kms = SseKind::Kms { key_arn: "arn".into(), context: Some("{}".into()), bucket_key: true };
        let mut put = PutObjectOutput::default();
        put.set_sse(response(&kms, None));
        assert_eq!(put.server_side_encryption.as_ref().map(ServerSideEncryption::as_str), Some(AWS_KMS));
        assert_eq!((put.ssekms_key_id.as_deref(), put.bucket_key_enabled), (Some("arn"), Some(true)));
        assert_eq!(put.ssekms_encryption_context.as_deref(), Some(b64("{}").as_str()));

        let mut get = GetObjectOutput::default();
        get.set_sse(response(&SseKind::Customer, Some(KEY_MD5)));
        assert_eq!(get.sse_customer_key_md5.as_deref(), Some(KEY_MD5));
        assert_eq!(get.server_side_encryption, None);

        let mut complete = CompleteMultipartUploadOutput::default();
        complete.set_sse(response(&SseKind::S3, None));
        assert_eq!(complete.server_side_encryption.as_ref().map(ServerSideEncryption::as_str), Some(AES256));
    }

    #[test]
    fn a_customer_key_is_read_from_raw_headers_and_answered_in_them() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(customer_key_from_headers(&headers).expect("none"), None);
        headers.insert("x-amz-server-side-encryption-customer-algorithm", http::HeaderValue::from_static(AES256));
        headers.insert("x-amz-server-side-encryption-customer-key", http::HeaderValue::from_static(KEY));
        assert_refused(customer_key_from_headers(&headers), S3ErrorCode::InvalidArgument, "MD5 of the secret key");
        headers.insert("x-amz-server-side-encryption-customer-key-MD5", http::HeaderValue::from_static(KEY_MD5));
        let key = customer_key_from_headers(&headers).expect("valid").expect("a key");
        assert_eq!(key.key_md5, KEY_MD5);
        // Repeated: the first key is the one checked against the first MD5; a second key sent after it
        // never stands in for it, and a first key that does not match the MD5 is refused.
        let mut repeated = headers.clone();
        repeated.append("x-amz-server-side-encryption-customer-key", http::HeaderValue::from_static("b3RoZXI="));
        assert_eq!(customer_key_from_headers(&repeated).expect("first").expect("a key").key_md5, KEY_MD5);
        let mut swapped = http::HeaderMap::new();
        swapped.insert("x-amz-server-side-encryption-customer-algorithm", http::HeaderValue::from_static(AES256));
        swapped.insert("x-amz-server-side-encryption-customer-key", http::HeaderValue::from_static("b3RoZXI="));
        swapped.append("x-amz-server-side-encryption-customer-key", http::HeaderValue::from_static(KEY));
        swapped.insert("x-amz-server-side-encryption-customer-key-MD5", http::HeaderValue::from_static(KEY_MD5));
        assert!(customer_key_from_headers(&swapped).is_err(), "the second key is never the one used");
        // Not ASCII: refused, never taken as no key.
        let odd = http::HeaderValue::from_bytes(b"\xff\xfe").expect("opaque bytes");
        headers.insert("x-amz-server-side-encryption-customer-key", odd);
        assert_refused(customer_key_from_headers(&headers), S3ErrorCode::InvalidArgument, "not ASCII");

        let answered = customer_response_headers(&response(&SseKind::Customer, Some(KEY_MD5)));
        assert_eq!(
            answered.get("x-amz-server-side-encryption-customer-algorithm").map(|v| v.as_bytes()),
            Some(&b"AES256"[..])
        );
        assert_eq!(
            answered.get("x-amz-server-side-encryption-customer-key-md5").map(|v| v.as_bytes()),
            Some(KEY_MD5.as_bytes())
        );
        assert!(customer_response_headers(&response(&SseKind::S3, None)).is_empty());
    }
}
