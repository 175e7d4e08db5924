//! Presigned POST forms (browser uploads), built by `kura presign post` and by upload tickets: a policy
//! with the bucket, the key prefix (or key), the size range, the content type and the credential, signed
//! with kura-sigv4.

use base64::Engine as _;
use std::time::{Duration, SystemTime};

/// The largest single upload S3 allows, the default `content-length-range` maximum.
pub const MAX_POST_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// A presigned POST (browser upload) form.
pub struct PostForm<'a> {
    /// Where the form posts: `http(s)://host[:port]`.
    pub endpoint: &'a str,
    /// Signing region.
    pub region: &'a str,
    /// Access key id.
    pub access_key: &'a str,
    /// Secret key (never printed).
    pub secret: &'a str,
    /// Session token of temporary credentials (a policy condition and a form field).
    pub session_token: Option<&'a str>,
    /// The bucket.
    pub bucket: &'a str,
    /// The key prefix the form may upload under (or the one key, with `exact_key`).
    pub prefix: &'a str,
    /// `prefix` is the one key allowed (an `eq` condition), not a prefix.
    pub exact_key: bool,
    /// Largest upload (`content-length-range`).
    pub max_size: u64,
    /// Required Content-Type.
    pub content_type: Option<&'a str>,
    /// Lifetime of the policy.
    pub expires: Duration,
}

impl PostForm<'_> {
    /// `{"url", "fields"}`: post the fields, then the `file` field, to `url` as multipart/form-data.
    pub fn build(&self, now: SystemTime) -> Result<serde_json::Value, String> {
        let amz_date = kura_sigv4::format_amz_date(now);
        let date = amz_date.get(..8).unwrap_or_default();
        let credential = format!("{}/{date}/{}/s3/aws4_request", self.access_key, self.region);
        let expiration = time::OffsetDateTime::from(now + self.expires)
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| format!("formatting the expiration: {e}"))?;
        let key_condition = if self.exact_key {
            serde_json::json!({ "key": self.prefix })
        } else {
            serde_json::json!(["starts-with", "$key", self.prefix])
        };
        let mut conditions = vec![
            serde_json::json!({ "bucket": self.bucket }),
            key_condition,
            serde_json::json!(["content-length-range", 0, self.max_size]),
            serde_json::json!({ "x-amz-algorithm": kura_sigv4::ALGORITHM }),
            serde_json::json!({ "x-amz-credential": credential }),
            serde_json::json!({ "x-amz-date": amz_date }),
        ];
        let mut fields = serde_json::Map::new();
        // `${filename}` becomes the uploaded file's name; a form may also set its own key under the prefix.
        let key = if self.exact_key { self.prefix.to_owned() } else { format!("{}${{filename}}", self.prefix) };
        fields.insert("key".into(), key.into());
        if let Some(t) = self.content_type {
            conditions.push(serde_json::json!({ "Content-Type": t }));
            fields.insert("Content-Type".into(), t.into());
        }
        if let Some(token) = self.session_token {
            conditions.push(serde_json::json!({ "x-amz-security-token": token }));
            fields.insert("x-amz-security-token".into(), token.into());
        }
        let policy = serde_json::json!({ "expiration": expiration, "conditions": conditions });
        let policy_b64 = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
        let key = kura_sigv4::derive_key(self.secret, date, self.region, "s3");
        fields.insert("x-amz-algorithm".into(), kura_sigv4::ALGORITHM.into());
        fields.insert("x-amz-credential".into(), credential.into());
        fields.insert("x-amz-date".into(), amz_date.into());
        fields.insert("x-amz-signature".into(), kura_sigv4::sign_post_policy(&key, &policy_b64).into());
        fields.insert("policy".into(), policy_b64.into());
        let url = format!("{}/{}", self.endpoint, kura_sigv4::encode_query_component(self.bucket));
        Ok(serde_json::json!({ "url": url, "fields": fields }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_forms_carry_a_signed_policy_with_the_limits() {
        let form = PostForm {
            endpoint: "https://s3.example.com",
            region: "us-east-1",
            access_key: "AKID",
            secret: "secret-0123456789",
            session_token: Some("tok"),
            bucket: "uploads",
            prefix: "user-1/",
            exact_key: false,
            max_size: 1024,
            content_type: Some("image/png"),
            expires: Duration::from_secs(3600),
        };
        let v = form.build(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000)).expect("form");
        assert_eq!(v["url"], "https://s3.example.com/uploads");
        let fields = &v["fields"];
        assert_eq!(fields["key"], "user-1/${filename}");
        assert_eq!(fields["x-amz-security-token"], "tok");
        let policy =
            base64::engine::general_purpose::STANDARD.decode(fields["policy"].as_str().expect("p")).expect("b64");
        let policy: serde_json::Value = serde_json::from_slice(&policy).expect("json");
        assert_eq!(policy["expiration"], "2023-11-14T23:13:20Z");
        let conditions = policy["conditions"].to_string();
        assert!(conditions.contains(r#"["content-length-range",0,1024]"#), "{conditions}");
        assert!(conditions.contains(r#"["starts-with","$key","user-1/"]"#), "{conditions}");
        let key = kura_sigv4::derive_key("secret-0123456789", "20231114", "us-east-1", "s3");
        assert_eq!(
            fields["x-amz-signature"],
            kura_sigv4::sign_post_policy(&key, fields["policy"].as_str().expect("p"))
        );
    }
}
