//! What an unsigned reader of a public object may ask for: the object as stored. The `response-*`
//! parameters, which make kura answer with another Content-Type, Content-Disposition or caching, need a
//! signature (a presigned URL carries one), as on AWS: otherwise anyone could turn a public attachment
//! into an inline HTML page on kura's origin with a link.

use crate::harness::TestServer;
use aws_sdk_s3::primitives::ByteStream;

#[tokio::test]
async fn anonymous_reads_cannot_override_response_headers() {
    let server = TestServer::start_with_config("buckets:\n  - name: public\n    anonymous: download\n");
    let s3 = server.client();
    s3.put_object()
        .bucket("public")
        .key("report.bin")
        .content_type("application/octet-stream")
        .content_disposition("attachment")
        .body(ByteStream::from_static(b"<h1>report</h1>"))
        .send()
        .await
        .expect("put");
    let url = format!("{}/public/report.bin", server.endpoint());
    let plain = reqwest::get(&url).await.expect("get");
    assert_eq!(plain.status().as_u16(), 200, "the object itself is public");

    for (method, query) in [
        (reqwest::Method::GET, "response-content-type=text/html"),
        (reqwest::Method::GET, "response-content-disposition=inline"),
        (reqwest::Method::GET, "response-cache-control=max-age%3D31536000"),
        (reqwest::Method::HEAD, "response-content-type=text/html"),
    ] {
        let resp = reqwest::Client::new().request(method.clone(), format!("{url}?{query}")).send().await.expect("send");
        assert_eq!(resp.status().as_u16(), 400, "{method} ?{query}");
        if method == reqwest::Method::GET {
            let body = resp.text().await.expect("body");
            assert!(body.contains("<Code>InvalidRequest</Code>"), "{body}");
        }
    }

    // Signed, the same override is the signer's to ask for.
    let got = s3
        .get_object()
        .bucket("public")
        .key("report.bin")
        .response_content_type("text/plain")
        .send()
        .await
        .expect("a signed override");
    assert_eq!(got.content_type(), Some("text/plain"));
}
