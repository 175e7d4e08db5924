//! The attack suite: each file replays one class of attack from the security review (issue 12) against a
//! real `kura server` and asserts the exact refusal and that nothing changed. Keep it growing: every
//! hole found becomes a test here before it is fixed.

mod admin_escalation;
mod anonymous_reads;
mod bodies;
mod condition_keys;
mod connections;
mod copy_source;
mod differential;
mod digests;
mod host_names;
mod implied_actions;
mod keys;
mod kms_digests;
mod limits;
mod post_forms;
mod presign_expiry;
mod reload;
mod request_time;
mod sigv2;
mod tickets;
mod unsigned_headers;
mod versions;

use crate::harness::{TestServer, status};

/// Asserts that `bucket/key` does not exist: what a refused write must leave behind.
pub async fn absent(server: &TestServer, bucket: &str, key: &str) {
    let err = server.client().head_object().bucket(bucket).key(key).send().await.expect_err("nothing was written");
    assert_eq!(status(&err), 404, "{bucket}/{key} must not exist");
}

/// Asserts that `bucket` does not exist: what a refused CreateBucket must leave behind.
pub async fn no_bucket(server: &TestServer, bucket: &str) {
    let err = server.client().head_bucket().bucket(bucket).send().await.expect_err("no bucket was created");
    assert_eq!(status(&err), 404, "bucket {bucket} must not exist");
}
