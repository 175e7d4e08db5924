//! The audit log: every auth type is attributed correctly, and no secret or token is ever written.

use crate::harness::{ACCESS_KEY, SECRET_KEY, TestServer};
use crate::identity::{DEPLOYER_SECRET, config, s3_with, web_identity};
use crate::issuer::FakeIssuer;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use std::time::Duration;

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[tokio::test]
async fn every_auth_type_is_attributed_and_no_secret_is_written() {
    let issuer = FakeIssuer::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("audit.log");
    let yaml = format!(
        "{}  - name: public\n    anonymous: download\naudit:\n  path: {}\n",
        config(&issuer, ""),
        log.display()
    )
    .replace("buckets:\n  - name: teams\n", "buckets:\n  - name: teams\n");
    let yaml = yaml.replacen(
        "buckets:\n  - name: teams\n",
        "buckets:\n  - name: teams\n  - name: public\n    anonymous: download\n",
        1,
    );
    let yaml = yaml.replace("  - name: public\n    anonymous: download\naudit:", "audit:");
    let server = TestServer::start_with_config(&yaml);
    let root = server.client();
    root.put_object()
        .bucket("public")
        .key("readme.txt")
        .body(ByteStream::from_static(b"hi"))
        .send()
        .await
        .expect("header");

    // presigned (root), anonymous, a bad signature, a web-identity session and its S3 request, a POST upload.
    let url = root
        .get_object()
        .bucket("public")
        .key("readme.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).expect("cfg"))
        .await
        .expect("presign");
    assert_eq!(reqwest::get(url.uri()).await.expect("presigned").status().as_u16(), 200);
    let anonymous = format!("{}/public/readme.txt", server.endpoint());
    assert_eq!(reqwest::get(&anonymous).await.expect("anonymous").status().as_u16(), 200);
    let wrong = server.client_with("deployer", "not-the-secret-000000");
    assert!(wrong.list_buckets().send().await.is_err());
    // Key and secret swapped: what stands as the key is a secret, and must not reach the audit log.
    let swapped = server.client_with("wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY", "deployer");
    assert!(swapped.list_buckets().send().await.is_err());
    let jwt = issuer.token("alpha", "app");
    let session = web_identity(&server, &jwt, "alpha-pod").await.expect("session");
    let token = session.session_token().expect("token").to_owned();
    let session_secret = session.secret_access_key().to_owned();
    s3_with(&server, session)
        .put_object()
        .bucket("teams")
        .key("alpha/x")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("session put");
    let form: serde_json::Value =
        serde_json::from_str(&crate::presign::presign(&server, &["post", "s3://teams/posted/"])).expect("form");
    let (status, body) = crate::harness::post_form(&form, "posted/a.txt", b"posted").await;
    assert!((200..300).contains(&status), "{status}: {body}");

    let pod_token = issuer.key(0).sign(&issuer.claims("alpha", "app", &["kura"]));
    let pod = reqwest::Client::new()
        .get(format!("{}/kura/v1/credentials", server.endpoint()))
        .header("authorization", &pod_token)
        .send()
        .await
        .expect("pod credentials");
    assert_eq!(pod.status().as_u16(), 200);
    let pod_body = pod.text().await.expect("body");

    // The writer thread is asynchronous: wait for the last line.
    let mut records = Vec::new();
    for _ in 0..50 {
        records = lines(&log);
        if records.iter().any(|r| r["api"] == "credentials") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let find = |f: &dyn Fn(&serde_json::Value) -> bool| records.iter().find(|r| f(r)).cloned();
    let put = find(&|r| r["operation"] == "PutObject" && r["bucket"] == "public").expect("header put");
    assert_eq!(put["caller"]["auth_type"], "header");
    assert_eq!(put["caller"]["principal"], "arn:aws:iam::000000000000:root");
    assert_eq!(put["caller"]["access_key"], ACCESS_KEY);
    assert_eq!(put["key"], "readme.txt");
    assert_eq!(put["status"], 200);
    assert!(put["signed_host"].as_str().is_some_and(|h| h.starts_with("127.0.0.1:")));
    let presigned = find(&|r| r["operation"] == "GetObject" && r["caller"]["auth_type"] == "presigned");
    assert!(presigned.is_some(), "presigned GET");
    let anon = find(&|r| r["operation"] == "GetObject" && r["caller"]["auth_type"] == "anonymous").expect("anonymous");
    assert_eq!(anon["caller"]["principal"], "anonymous");
    let bad = find(&|r| r["error_code"] == "SignatureDoesNotMatch").expect("bad signature");
    assert_eq!(bad["caller"]["access_key"], "deployer");
    assert_eq!(bad["status"], 403);
    let unknown = find(&|r| r["error_code"] == "InvalidAccessKeyId").expect("an unknown key");
    assert_eq!(unknown["caller"]["access_key"], "HIDDEN_DUE_TO_SECURITY_REASONS");
    assert!(!std::fs::read_to_string(&log).expect("log").contains("wJalrXUtnFEMIK7MDENG"), "no secret in the log");
    let sts = find(&|r| r["operation"] == "AssumeRoleWithWebIdentity").expect("sts");
    assert_eq!(sts["api"], "sts");
    assert_eq!(sts["caller"]["auth_type"], "web-identity");
    assert_eq!(sts["caller"]["namespace"], "alpha");
    assert_eq!(sts["caller"]["service_account"], "app");
    let session_put = find(&|r| r["operation"] == "PutObject" && r["bucket"] == "teams").expect("session put");
    assert_eq!(session_put["caller"]["principal"], "arn:aws:sts::000000000000:assumed-role/app/alpha-pod");
    assert_eq!(session_put["caller"]["role"], "app");
    assert_eq!(session_put["caller"]["session"], "alpha-pod");
    assert_eq!(session_put["caller"]["sub"], "system:serviceaccount:alpha:app");
    assert_eq!(session_put["caller"]["namespace"], "alpha");
    let post = find(&|r| r["operation"] == "PostObject").expect("post");
    assert_eq!(post["caller"]["auth_type"], "post");
    assert_eq!(post["key"], "posted/a.txt");

    let pod = find(&|r| r["api"] == "credentials").expect("pod identity");
    assert_eq!(pod["caller"]["auth_type"], "pod-identity");
    assert_eq!(pod["caller"]["service_account"], "app");
    assert_eq!(pod["caller"]["role"], "app");

    let text = std::fs::read_to_string(&log).expect("log");
    let pod_json: serde_json::Value = serde_json::from_str(&pod_body).expect("json");
    let pod_secret = pod_json["SecretAccessKey"].as_str().expect("secret").to_owned();
    let pod_session = pod_json["Token"].as_str().expect("token").to_owned();
    for secret in [&pod_token, &pod_secret, &pod_session] {
        assert!(!text.contains(secret.as_str()), "a pod secret or token leaked into the audit log");
    }
    for secret in [SECRET_KEY, DEPLOYER_SECRET, &session_secret, &token, &jwt, "not-the-secret-000000"] {
        assert!(!text.contains(secret), "a secret or token leaked into the audit log");
    }
    assert!(!text.contains("Signature="), "no signature in the log");
}

/// An encrypted write or read names its key in the audit line (`sse`): the KMS key ARN for SSE-KMS,
/// the wrapping master key's id for SSE-S3, only the algorithm for SSE-C, whose key and key MD5 never
/// reach the log; a copy also names its source's (`copy_source_sse`).
#[tokio::test]
async fn encrypted_reads_and_writes_name_their_key_and_never_a_customer_key() {
    use aws_sdk_s3::types::ServerSideEncryption;
    use base64::Engine as _;
    use md5::Digest as _;
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("audit.log");
    let server = TestServer::start_with_config(&format!(
        "kms:\n  keys:\n    - id: audited\naudit:\n  path: {}\n",
        log.display()
    ));
    let s3 = server.client();
    s3.create_bucket().bucket("sealed").send().await.expect("bucket");
    let put = s3
        .put_object()
        .bucket("sealed")
        .key("kms")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("audited")
        .body(ByteStream::from_static(b"kms"))
        .send()
        .await
        .expect("kms put");
    let arn = put.ssekms_key_id().expect("arn").to_owned();
    assert!(arn.starts_with("arn:aws:kms:") && arn.ends_with("/audited"), "{arn}");
    s3.get_object().bucket("sealed").key("kms").send().await.expect("kms get");
    s3.put_object()
        .bucket("sealed")
        .key("s3")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from_static(b"s3"))
        .send()
        .await
        .expect("s3 put");
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = [42u8; 32];
    let (key_b64, md5_b64) = (b64.encode(key), b64.encode(md5::Md5::digest(key)));
    let customer = |r: aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder| {
        r.sse_customer_algorithm("AES256").sse_customer_key(&key_b64).sse_customer_key_md5(&md5_b64)
    };
    customer(s3.put_object().bucket("sealed").key("c").body(ByteStream::from_static(b"c")))
        .send()
        .await
        .expect("c put");
    // Copies open their source's data keys: the line names the source's key beside the copy's.
    s3.copy_object()
        .bucket("sealed")
        .key("copy")
        .copy_source("sealed/kms")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .expect("copy");
    let upload = s3.create_multipart_upload().bucket("sealed").key("parts").send().await.expect("create upload");
    let upload_id = upload.upload_id().expect("upload id");
    s3.upload_part_copy()
        .bucket("sealed")
        .key("parts")
        .upload_id(upload_id)
        .part_number(1)
        .copy_source("sealed/kms")
        .send()
        .await
        .expect("part copy");
    s3.put_object().bucket("sealed").key("plain").body(ByteStream::from_static(b"p")).send().await.expect("plain");

    // The writer thread is asynchronous: wait for the last request's line.
    crate::harness::wait_until(|| async { lines(&log).iter().any(|r| r["key"] == "plain") }).await;
    let records = lines(&log);
    let find = |op: &str, key: &str| {
        records
            .iter()
            .find(|r| r["operation"] == op && r["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("{op} {key}"))
    };
    let kms = serde_json::json!({"kind": "SSE-KMS", "algorithm": "aws:kms", "key_id": arn});
    assert_eq!(find("PutObject", "kms")["sse"], kms);
    assert_eq!(find("GetObject", "kms")["sse"], kms);
    let s3_line = find("PutObject", "s3");
    assert_eq!((&s3_line["sse"]["kind"], &s3_line["sse"]["algorithm"]), (&"SSE-S3".into(), &"AES256".into()));
    assert!(s3_line["sse"]["key_id"].as_str().is_some_and(|id| !id.is_empty()), "the master key's id: {s3_line}");
    assert_eq!(find("PutObject", "c")["sse"], serde_json::json!({"kind": "SSE-C", "algorithm": "AES256"}));
    assert!(find("PutObject", "plain").get("sse").is_none(), "an unencrypted object has no sse");
    let copy = find("CopyObject", "copy");
    assert_eq!(copy["sse"]["kind"], "SSE-S3", "{copy}");
    assert_eq!(copy["copy_source_sse"], kms, "{copy}");
    assert_eq!(find("UploadPartCopy", "parts")["copy_source_sse"], kms);
    assert!(find("PutObject", "s3").get("copy_source_sse").is_none(), "only a copy has a source");

    let text = std::fs::read_to_string(&log).expect("log");
    assert!(!text.contains(&key_b64) && !text.contains(&md5_b64), "an SSE-C key or its MD5 reached the audit log");
    assert!(!text.contains(&hex::encode(key)), "an SSE-C key reached the audit log");
}
