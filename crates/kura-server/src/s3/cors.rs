//! CORS on the S3 API: Put/Get/DeleteBucketCors (the rules live in the bucket settings, checked by
//! [`crate::cors::validate`] through [`crate::buckets::set_cors`]), the unauthenticated preflight
//! (`OPTIONS`, answered from the rules before authentication, as AWS does) and the CORS headers of
//! actual responses. The dispatch (`http`) calls [`preflight`] and [`actual_headers`]; which rule
//! matches is decided by the pure [`crate::cors`].

use super::KuraS3;
use crate::buckets;
use crate::cors;
use crate::errors::{self, bucket_settings_error};
use http::{HeaderMap, Method, Uri};
use kura_store::{CorsConfig, CorsRule, MetaStore, StoreError};
use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result};

/// The name the audit line and the metrics give a preflight.
pub const PREFLIGHT_OPERATION: &str = "PreflightCors";

pub(super) async fn put_bucket_cors(
    s3: &KuraS3,
    req: S3Request<PutBucketCorsInput>,
) -> S3Result<S3Response<PutBucketCorsOutput>> {
    let input = req.input;
    let config = CorsConfig { rules: input.cors_configuration.cors_rules.into_iter().map(rule_from_wire).collect() };
    buckets::set_cors(s3.meta.as_ref(), &input.bucket, Some(config)).await.map_err(bucket_settings_error)?;
    Ok(S3Response::new(PutBucketCorsOutput {}))
}

pub(super) async fn get_bucket_cors(
    s3: &KuraS3,
    req: S3Request<GetBucketCorsInput>,
) -> S3Result<S3Response<GetBucketCorsOutput>> {
    let settings = buckets::get(s3.meta.as_ref(), &req.input.bucket).await.map_err(bucket_settings_error)?;
    let config = settings.cors.ok_or_else(errors::no_such_cors_configuration)?;
    Ok(S3Response::new(GetBucketCorsOutput { cors_rules: Some(config.rules.into_iter().map(rule_to_wire).collect()) }))
}

pub(super) async fn delete_bucket_cors(
    s3: &KuraS3,
    req: S3Request<DeleteBucketCorsInput>,
) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
    buckets::set_cors(s3.meta.as_ref(), &req.input.bucket, None).await.map_err(bucket_settings_error)?;
    Ok(super::status::with_status(DeleteBucketCorsOutput {}, http::StatusCode::NO_CONTENT))
}

fn rule_from_wire(rule: CORSRule) -> CorsRule {
    CorsRule {
        id: rule.id,
        allowed_origins: rule.allowed_origins,
        allowed_methods: rule.allowed_methods,
        allowed_headers: rule.allowed_headers.unwrap_or_default(),
        expose_headers: rule.expose_headers.unwrap_or_default(),
        max_age_seconds: rule.max_age_seconds,
    }
}

fn rule_to_wire(rule: CorsRule) -> CORSRule {
    let some = |list: Vec<String>| (!list.is_empty()).then_some(list);
    CORSRule {
        id: rule.id,
        allowed_origins: rule.allowed_origins,
        allowed_methods: rule.allowed_methods,
        allowed_headers: some(rule.allowed_headers),
        expose_headers: some(rule.expose_headers),
        max_age_seconds: rule.max_age_seconds,
    }
}

/// The bucket a path-style S3 path names: its first segment, percent-decoded as s3s decodes it;
/// `None` for the root or a segment that is not a bucket name.
pub fn bucket_of(uri: &Uri) -> Option<String> {
    let first = uri.path().trim_start_matches('/').split('/').next().filter(|s| !s.is_empty())?;
    let name = percent_encoding::percent_decode_str(first).decode_utf8().ok()?;
    crate::base::names::validate_bucket_name(&name).ok()?;
    Some(name.into_owned())
}

/// A header's value as text, if it is present and visible ASCII (what a browser sends).
fn text<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The bucket's CORS rules; `None` when the bucket does not exist or has none.
async fn rules_of(meta: &dyn MetaStore, bucket: &str) -> Result<Option<CorsConfig>, S3Error> {
    match buckets::get(meta, bucket).await {
        Ok(settings) => Ok(settings.cors),
        Err(buckets::SettingsError::Store(StoreError::NoSuchBucket(_))) => Ok(None),
        Err(e) => Err(bucket_settings_error(e)),
    }
}

/// Answers a preflight (`OPTIONS` on a bucket or object path): the CORS headers of a 200, or the error
/// AWS gives. Nothing is authenticated, executed or read but the bucket's rules: the answer is the
/// same whether or not the object exists. A bucket that does not exist has no rules (403, like one
/// without CORS), so a preflight never tells an anonymous caller which buckets exist.
pub async fn preflight(
    meta: &dyn MetaStore,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Vec<(&'static str, String)>, S3Error> {
    let Some(origin_header) = headers.get(http::header::ORIGIN) else {
        return Err(errors::cors_bad_request("Insufficient information. Origin request header needed."));
    };
    let Some(method_header) = headers.get(http::header::ACCESS_CONTROL_REQUEST_METHOD) else {
        return Err(errors::cors_bad_request(
            "Insufficient information. Access-Control-Request-Method request header needed.",
        ));
    };
    let (Ok(origin), Ok(method)) = (origin_header.to_str(), method_header.to_str()) else {
        return Err(errors::cors_forbidden());
    };
    let requested = match text(headers, "access-control-request-headers") {
        Some(value) => cors::requested_headers(value).ok_or_else(errors::cors_forbidden)?,
        None => Vec::new(),
    };
    let Some(bucket) = bucket_of(uri) else { return Err(errors::cors_forbidden()) };
    let Some(config) = rules_of(meta, &bucket).await? else { return Err(errors::cors_forbidden()) };
    let grant = cors::preflight(&config, origin, method, &requested).ok_or_else(errors::cors_forbidden)?;
    Ok(cors::response_headers(&grant, &requested, true))
}

/// The CORS headers of the answer to an actual request (success or error) carrying `Origin`: those of
/// the first rule of the bucket that allows the origin and the method, or none. The method judged is
/// `Access-Control-Request-Method` when the request carries one (as AWS and the ceph suite do; browsers
/// never send it on an actual request), else the request's. Reads the bucket settings only when the
/// request has an `Origin`.
pub async fn actual_headers(
    meta: &dyn MetaStore,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Vec<(&'static str, String)> {
    let Some(origin) = text(headers, http::header::ORIGIN.as_str()) else { return Vec::new() };
    let Some(bucket) = bucket_of(uri) else { return Vec::new() };
    let config = match rules_of(meta, &bucket).await {
        Ok(Some(config)) => config,
        Ok(None) => return Vec::new(),
        Err(e) => {
            tracing::debug!(error = %e, "CORS rules not read");
            return Vec::new();
        }
    };
    let judged = text(headers, http::header::ACCESS_CONTROL_REQUEST_METHOD.as_str()).unwrap_or(method.as_str());
    cors::actual(&config, origin, judged).map(|g| cors::response_headers(&g, &[], false)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_is_the_first_segment_of_the_path() {
        let b = |p: &str| bucket_of(&p.parse::<Uri>().expect("uri"));
        assert_eq!(b("/photos/a/b.jpg?x=1").as_deref(), Some("photos"));
        assert_eq!(b("/photos").as_deref(), Some("photos"));
        assert_eq!(b("/%70hotos/k").as_deref(), Some("photos"));
        assert_eq!(b("/"), None);
        assert_eq!(b("/Not_A_Bucket/k"), None);
        assert_eq!(b("/%ff%fe/k"), None);
    }
}
