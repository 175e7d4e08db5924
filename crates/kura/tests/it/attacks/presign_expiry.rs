//! The 7-day cap on presigned URLs holds however the parameter is spelled (issue 12, item 6): kura
//! and s3s decode `X-Amz-%45xpires` to the same `X-Amz-Expires`, and two of them are refused.

use crate::harness::{TestServer, bucket_name, xml_code};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use std::time::Duration;

#[tokio::test]
async fn an_encoded_expires_parameter_cannot_lift_the_cap() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("expires");
    s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
    s3.put_object().bucket(&bucket).key("doc").body(ByteStream::from_static(b"doc")).send().await.expect("put");
    let cfg = PresigningConfig::expires_in(Duration::from_secs(300)).expect("cfg");
    let url = s3.get_object().bucket(&bucket).key("doc").presigned(cfg).await.expect("presign").uri().to_owned();
    let http = reqwest::Client::new();
    assert_eq!(http.get(&url).send().await.expect("get").status().as_u16(), 200);
    for (from, to) in [
        ("X-Amz-Expires=300", "X-Amz-%45xpires=31536000"),
        ("X-Amz-Expires=300", "X-Amz-Expires=300&X-Amz-%45xpires=31536000"),
        ("X-Amz-Expires=300", "X-Amz-Expires=31536000"),
        ("X-Amz-Expires=300", "X%2DAmz%2DExpires=31536000"),
    ] {
        let forged = url.replace(from, to);
        assert_ne!(forged, url);
        let resp = http.get(&forged).send().await.expect("get");
        assert_eq!(resp.status().as_u16(), 400, "{to}");
        assert_eq!(xml_code(&resp.text().await.expect("body")), "AuthorizationQueryParametersError", "{to}");
    }
}
