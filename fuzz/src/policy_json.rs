//! IAM policy JSON (`kura-policy`): parsing, validation for each policy type, the public check, the
//! JSON round trip and evaluation.

use kura_policy::{Context, NamedPolicy, Policy, PolicySet, Principal, Request, evaluate};

/// The account of every principal.
const ACCOUNT: &str = "000000000000";

/// Parses the input as a policy; when it parses, validates it as each policy type, asks whether it
/// is public, and evaluates it as an identity, resource and session policy for a few principals and
/// actions. Checks that a parsed policy's JSON parses again.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(policy) = Policy::parse(text) else { return };
    let _ = policy.validate_identity();
    let _ = policy.validate_resource();
    let _ = policy.validate_bucket_policy("bucket");
    let _ = policy.is_public();
    let _ = policy.has_variables();
    let json = policy.to_json();
    if let Err(e) = Policy::parse(&json) {
        panic!("a parsed policy's JSON does not parse again: {e}\n{json}");
    }

    let ctx = context();
    let principals = [
        Principal::anonymous(),
        Principal::root(ACCOUNT),
        Principal::user(ACCOUNT, "alice"),
        Principal::assumed_role(ACCOUNT, "reader", "session-1"),
        Principal::web_identity(ACCOUNT, "arn:aws:iam::000000000000:oidc-provider/oidc.example", "system:sa"),
    ];
    let requests = [
        ("s3:GetObject", "arn:aws:s3:::bucket/home/alice/a.txt"),
        ("s3:ListBucket", "arn:aws:s3:::bucket"),
        ("s3:PutObject", "arn:aws:s3:::other/key"),
        ("s3:ListAllMyBuckets", kura_policy::s3::ACCOUNT_RESOURCE),
        ("sts:AssumeRoleWithWebIdentity", "arn:aws:iam::000000000000:role/reader"),
    ];
    let named = [NamedPolicy { name: "fuzz", policy: &policy }];
    let sets = [
        PolicySet { identity: &named, ..Default::default() },
        PolicySet { resource: Some(named[0]), ..Default::default() },
        PolicySet { identity: &named, resource: Some(named[0]), session: &named },
    ];
    for principal in &principals {
        for (action, resource) in requests {
            let req = Request { principal, action, resource, context: &ctx };
            for set in &sets {
                let decision = evaluate(set, &req);
                let _ = decision.is_allowed();
                let _ = decision.explain();
            }
        }
    }
}

/// The condition keys and variables a server request carries.
fn context() -> Context {
    let mut ctx = Context::new();
    ctx.insert("aws:username", "alice");
    ctx.insert("aws:userid", "AIDAALICE");
    ctx.insert("aws:SourceIp", "10.1.2.3");
    ctx.insert("aws:SecureTransport", "true");
    ctx.insert("aws:CurrentTime", "2024-05-01T12:00:00Z");
    ctx.insert("aws:EpochTime", "1714564800");
    ctx.insert("aws:PrincipalTag/team", "storage");
    ctx.insert_many("s3:prefix", ["home/alice/", "public/"]);
    ctx.insert("s3:max-keys", "100");
    ctx.insert("s3:x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    ctx.insert("jwt:sub", "system:serviceaccount:team-a:app");
    ctx.insert_many("jwt:aud", ["kura", "other"]);
    ctx
}
