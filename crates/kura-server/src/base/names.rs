//! The names S3 allows that kura checks itself (for names that do not come through s3s, such as the
//! configuration file's and upload tickets').

/// The bucket name that would shadow kura's own endpoints under `/kura/`.
pub const RESERVED_BUCKET: &str = "kura";

/// Checks a bucket name against S3's naming rules and kura's reserved name (for names that do not
/// come through s3s, such as the config file's).
pub fn validate_bucket_name(name: &str) -> Result<(), String> {
    if name == RESERVED_BUCKET {
        return Err("the bucket name \"kura\" is reserved for kura's own endpoints (/kura/...)".into());
    }
    if !s3s::path::check_bucket_name(name) {
        return Err(format!(
            "{name:?} is not a valid bucket name: 3-63 characters of a-z, 0-9, '.' and '-', starting and ending \
             with a letter or digit"
        ));
    }
    Ok(())
}
