//! The XML request bodies kura accepts, read with s3s's restXml deserializer exactly as s3s reads
//! them (`Deserialize`, then end of input): DeleteObjects, CompleteMultipartUpload, Put*Tagging,
//! PutPublicAccessBlock, Put*Acl, CreateBucket; and VersioningConfiguration, which clients send to
//! buckets (kura answers NotImplemented after parsing).

use s3s::dto::{
    AccessControlPolicy, CompletedMultipartUpload, CreateBucketConfiguration, Delete, PublicAccessBlockConfiguration,
    Tagging, VersioningConfiguration,
};
use s3s::xml::{Deserialize, Deserializer};

/// Parses one body as `T` as s3s does; the result is only formatted.
fn parse<T: for<'xml> Deserialize<'xml> + std::fmt::Debug>(data: &[u8]) {
    let mut d = Deserializer::new(data);
    if let Ok(value) = T::deserialize(&mut d) {
        let _ = d.expect_eof();
        let _ = format!("{value:?}");
    }
}

/// Parses the input as each body type.
pub fn run(data: &[u8]) {
    parse::<Delete>(data);
    parse::<CompletedMultipartUpload>(data);
    parse::<Tagging>(data);
    parse::<PublicAccessBlockConfiguration>(data);
    parse::<AccessControlPolicy>(data);
    parse::<CreateBucketConfiguration>(data);
    parse::<VersioningConfiguration>(data);
}
