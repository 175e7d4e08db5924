//! The HTTP status of a successful S3 answer. s3s 0.14's generated operations serialise each output
//! with a fixed status and ignore `S3Response::status`, so a status AWS answers differently (206 for
//! a ranged HEAD, 204 for PutBucketTagging) would be lost. The handlers name it with [`with_status`],
//! which also carries it in the response's extensions (s3s copies those to the HTTP response), and
//! the dispatch applies it ([`apply`]).

use s3s::S3Response;

/// The status a handler answers with, as carried to the dispatch.
#[derive(Debug, Clone, Copy)]
struct AnswerStatus(http::StatusCode);

/// `output` answered with `status`.
pub fn with_status<T>(output: T, status: http::StatusCode) -> S3Response<T> {
    let mut resp = S3Response::with_status(output, status);
    resp.extensions.insert(AnswerStatus(status));
    resp
}

/// Gives the HTTP response the status its handler named, if it named one.
pub fn apply<B>(resp: &mut http::Response<B>) {
    if let Some(AnswerStatus(status)) = resp.extensions_mut().remove::<AnswerStatus>() {
        *resp.status_mut() = status;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_named_status_reaches_the_http_response() {
        let named = with_status((), http::StatusCode::PARTIAL_CONTENT);
        let mut resp = http::Response::new(());
        *resp.extensions_mut() = named.extensions;
        apply(&mut resp);
        assert_eq!(resp.status(), http::StatusCode::PARTIAL_CONTENT);
        let mut plain = http::Response::new(());
        apply(&mut plain);
        assert_eq!(plain.status(), http::StatusCode::OK);
    }
}
