//! Object keys, user metadata and tags: what S3 accepts where a request brings them (the rules s3s does
//! not apply itself), and tags to and from the wire.

use crate::errors;
use kura_store::{ObjectHeaders, Tags};
use s3s::S3Result;

/// Parses an `x-amz-tagging` header (`k1=v1&k2=v2`, URL-encoded) into tags, validating them.
pub fn parse_tagging_header(header: &str) -> S3Result<Tags> {
    let mut tags = Tags::new();
    for pair in header.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = url_decode(k)?;
        let v = url_decode(v)?;
        if tags.insert(k.clone(), v).is_some() {
            return Err(errors::duplicate_tag_key(&k));
        }
    }
    validate_tags(&tags)?;
    Ok(tags)
}

fn url_decode(s: &str) -> S3Result<String> {
    let s = s.replace('+', " ");
    percent_encoding::percent_decode_str(&s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| errors::invalid_argument("The x-amz-tagging header is not valid UTF-8 URL encoding."))
}

/// Validates a tag set against S3's limits (10 tags on objects, 128-char keys, 256-char values).
pub fn validate_tags(tags: &Tags) -> S3Result<()> {
    if tags.len() > 10 {
        return Err(errors::invalid_tag("Object tags cannot be greater than 10."));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(errors::invalid_tag(format!("The tag key {k:?} must be 1 to 128 characters long.")));
        }
        if v.chars().count() > 256 {
            return Err(errors::invalid_tag(format!("The value of tag {k:?} must be at most 256 characters.")));
        }
    }
    Ok(())
}

/// Converts a wire tag set into stored tags (validated).
pub fn tags_from_wire(set: &[s3s::dto::Tag]) -> S3Result<Tags> {
    let mut tags = Tags::new();
    for t in set {
        let k = t.key.clone().unwrap_or_default();
        if tags.insert(k.clone(), t.value.clone().unwrap_or_default()).is_some() {
            return Err(errors::duplicate_tag_key(&k));
        }
    }
    validate_tags(&tags)?;
    Ok(tags)
}

/// Stored tags → wire tag set.
pub fn tags_to_wire(tags: &Tags) -> Vec<s3s::dto::Tag> {
    tags.iter().map(|(k, v)| s3s::dto::Tag { key: Some(k.clone()), value: Some(v.clone()) }).collect()
}

/// The most bytes the stored headers of an object take together (its Content-Type, Cache-Control…
/// and user metadata): AWS's limit on a PUT's header section, 8 KiB. Without it a header of any size
/// was stored and answered on every HEAD, larger than common clients read (botocore gives up).
pub const MAX_STORED_HEADERS: usize = 8 * 1024;

/// Limits on what an object stores of its request's headers, as S3: user metadata at most 2 KiB of
/// names and values together (MetadataTooLarge), and everything stored at most
/// [`MAX_STORED_HEADERS`] (RequestHeaderSectionTooLarge).
pub fn check_metadata_size(h: &ObjectHeaders) -> S3Result<()> {
    let user: usize = h.user_metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if user > 2048 {
        return Err(errors::metadata_too_large());
    }
    let standard = [
        &h.content_type,
        &h.content_encoding,
        &h.content_disposition,
        &h.content_language,
        &h.cache_control,
        &h.expires,
        &h.website_redirect_location,
        &h.storage_class,
    ];
    let total = user + standard.iter().filter_map(|v| v.as_ref()).map(String::len).sum::<usize>();
    if total > MAX_STORED_HEADERS {
        return Err(s3s::S3Error::with_message(
            s3s::S3ErrorCode::RequestHeaderSectionTooLarge,
            format!(
                "Your request header section exceeds the maximum allowed size: the headers an object keeps \
                 (Content-Type, Cache-Control, Content-Disposition… and x-amz-meta-*) may take {MAX_STORED_HEADERS} \
                 bytes together."
            ),
        ));
    }
    Ok(())
}

/// Maximum key length in bytes, as S3.
pub const MAX_KEY_LEN: usize = 1024;

/// Rejects keys S3 would reject.
pub fn check_key(key: &str) -> S3Result<()> {
    if key.is_empty() {
        return Err(errors::invalid_argument("The object key must not be empty."));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(errors::key_too_long());
    }
    if let Some(c) = key.chars().find(|&c| !is_xml_char(c)) {
        // Listings are XML 1.0 documents, which cannot carry these characters at all.
        return Err(errors::invalid_argument(format!(
            "The object key contains the character U+{:04X}, which XML 1.0 cannot represent (control characters \
             other than tab, line feed and carriage return, U+FFFE, U+FFFF): choose another key.",
            u32::from(c)
        )));
    }
    Ok(())
}

/// Whether XML 1.0 allows `c` in a document (its `Char` production).
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::S3ErrorCode;

    #[test]
    fn keys_must_be_representable_in_xml() {
        for key in ["a/b.txt", "tab\there", "line\nfeed\r", "ünïcødé/日本", "emoji-\u{1F600}", "\u{FFFD}"] {
            assert!(check_key(key).is_ok(), "{key:?}");
        }
        for key in ["nul\0", "a\u{1}b", "\u{B}", "\u{C}", "\u{1F}", "\u{FFFE}", "x\u{FFFF}"] {
            let err = check_key(key).expect_err(key);
            assert_eq!(err.code(), &S3ErrorCode::InvalidArgument, "{key:?}");
        }
    }
}
