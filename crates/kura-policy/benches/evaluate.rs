//! One evaluation of a realistic 10-statement policy (StringLike, IpAddress, Bool, policy variables).

use criterion::{Criterion, criterion_group, criterion_main};
use kura_policy::{Context, NamedPolicy, Policy, PolicySet, Principal, Request, evaluate};
use std::hint::black_box;

const POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "DenyInsecure", "Effect": "Deny", "Action": "s3:*", "Resource": "*",
     "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    {"Sid": "DenyOutsideNetworks", "Effect": "Deny", "Action": "s3:*", "Resource": "*",
     "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32"]}}},
    {"Sid": "DenyK9s", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::artifacts/*",
     "Condition": {"StringLike": {"k8s:serviceaccount": "k9s-*"}}},
    {"Sid": "ListOwnPrefix", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::home",
     "Condition": {"StringLike": {"s3:prefix": ["home/${aws:username}/*", "home/${aws:username}"]}}},
    {"Sid": "Buckets", "Effect": "Allow", "Action": ["s3:ListAllMyBuckets", "s3:GetBucketLocation"], "Resource": "arn:aws:s3:::*"},
    {"Sid": "Home", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
     "Resource": "arn:aws:s3:::home/${aws:username}/*"},
    {"Sid": "Namespace", "Effect": "Allow", "Action": ["s3:Get*", "s3:Put*"],
     "Resource": "arn:aws:s3:::artifacts/${k8s:namespace}/*",
     "Condition": {"StringEquals": {"k8s:namespace": ["ci", "build"]}}},
    {"Sid": "Reports", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*",
     "Condition": {"StringLike": {"aws:userid": "*:ci-*"}, "IpAddress": {"aws:SourceIp": "10.1.0.0/16"}}},
    {"Sid": "Multipart", "Effect": "Allow", "Action": ["s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
     "Resource": "arn:aws:s3:::artifacts/${k8s:namespace}/*"},
    {"Sid": "Tagged", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/*",
     "Condition": {"StringEquals": {"s3:ExistingObjectTag/team": "${aws:PrincipalTag/team}"}}}
  ]
}"#;

fn bench(c: &mut Criterion) {
    let policy = Policy::parse(POLICY).expect("policy parses");
    let principal = Principal::assumed_role("000000000000", "ci-uploader", "ci-job-42");
    let mut ctx = Context::new();
    ctx.insert("aws:SecureTransport", "true");
    ctx.insert("aws:SourceIp", "10.1.2.3");
    ctx.insert("k8s:namespace", "ci");
    ctx.insert("k8s:serviceaccount", "k8s-default-aws-cli-demo");
    ctx.insert("aws:CurrentTime", "2025-01-01T00:00:00Z");
    let identity = [NamedPolicy { name: "ci", policy: &policy }];
    let set = PolicySet { identity: &identity, ..Default::default() };
    let resource = "arn:aws:s3:::artifacts/ci/build/output.tar.gz";
    let request = Request { principal: &principal, action: "s3:PutObject", resource, context: &ctx };
    assert!(evaluate(&set, &request).is_allowed());
    c.bench_function("evaluate 10-statement policy (allow)", |b| {
        b.iter(|| evaluate(black_box(&set), black_box(&request)))
    });
    let denied =
        Request { principal: &principal, action: "s3:DeleteBucket", resource: "arn:aws:s3:::artifacts", context: &ctx };
    assert!(!evaluate(&set, &denied).is_allowed());
    c.bench_function("evaluate 10-statement policy (implicit deny)", |b| {
        b.iter(|| evaluate(black_box(&set), black_box(&denied)))
    });
    c.bench_function("parse 10-statement policy", |b| b.iter(|| Policy::parse(black_box(POLICY))));
}

mod group {
    #![allow(missing_docs)]
    use super::*;
    criterion_group!(benches, bench);
}

criterion_main!(group::benches);
