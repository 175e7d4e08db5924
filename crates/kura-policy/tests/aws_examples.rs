//! The evaluation examples of the AWS documentation, as a table: "Policy evaluation logic", "IAM JSON policy
//! elements: Condition operators", "Multivalued context keys", "Policy variables", "NotPrincipal", and the
//! Amazon S3 example bucket policies. Each expected result is the one the AWS documentation states.

use kura_policy::{Context, NamedPolicy, Outcome, Policy, PolicySet, Principal, Request, evaluate};

const ACCOUNT: &str = "111122223333";

struct Case {
    name: &'static str,
    identity: &'static [&'static str],
    resource: Option<&'static str>,
    session: &'static [&'static str],
    principal: Principal,
    action: &'static str,
    resource_arn: &'static str,
    context: &'static [(&'static str, &'static str)],
    expect: Outcome,
    /// The Sid of the deciding statement, when the docs name it.
    sid: Option<&'static str>,
}

fn user(name: &str) -> Principal {
    Principal::user(ACCOUNT, name)
}

fn run(case: &Case) {
    let parse = |j: &str| Policy::parse(j).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let identity: Vec<Policy> = case.identity.iter().map(|j| parse(j)).collect();
    let session: Vec<Policy> = case.session.iter().map(|j| parse(j)).collect();
    let resource = case.resource.map(parse);
    let identity_named: Vec<NamedPolicy<'_>> = identity
        .iter()
        .enumerate()
        .map(|(i, p)| NamedPolicy { name: ["identity0", "identity1"][i], policy: p })
        .collect();
    let session_named: Vec<NamedPolicy<'_>> =
        session.iter().map(|p| NamedPolicy { name: "session policy", policy: p }).collect();
    let set = PolicySet {
        identity: &identity_named,
        resource: resource.as_ref().map(|p| NamedPolicy { name: "bucket policy", policy: p }),
        session: &session_named,
    };
    let mut ctx = Context::new();
    for (k, v) in case.context {
        ctx.insert(k, *v);
    }
    let req = Request { principal: &case.principal, action: case.action, resource: case.resource_arn, context: &ctx };
    let d = evaluate(&set, &req);
    assert_eq!(d.outcome, case.expect, "{}: {}", case.name, d.explain());
    if let Some(sid) = case.sid {
        assert_eq!(d.statement.as_ref().and_then(|s| s.sid.as_deref()), Some(sid), "{}: {}", case.name, d.explain());
    }
}

// --- Policy evaluation logic: "Example identity-based and resource-based policy evaluation" (Carlos).
const CARLOS_IDENTITY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "AllowS3ListRead", "Effect": "Allow",
     "Action": ["s3:GetBucketLocation", "s3:GetAccountPublicAccessBlock", "s3:ListAccessPoints", "s3:ListAllMyBuckets"],
     "Resource": "arn:aws:s3:::*"},
    {"Sid": "AllowS3Self", "Effect": "Allow", "Action": "s3:*",
     "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/*", "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar"]},
    {"Sid": "DenyS3Logs", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::*log*"}
  ]
}"#;
const CARLOS_BUCKET: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::111122223333:user/carlossalazar"},
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/*", "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar"]
  }]
}"#;

// --- Policy variables: the home-directory policy of the "IAM policy elements: Variables and tags" page.
const HOME: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "ListHome", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket",
     "Condition": {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/*"]}}},
    {"Sid": "RWHome", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
     "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/home/${aws:username}/*"}
  ]
}"#;
const HOME_2008: &str = r#"{
  "Version": "2008-10-17",
  "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/home/${aws:username}/*"}]
}"#;
const TEAM_DEFAULT: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/${aws:PrincipalTag/team, 'company-wide'}/*"}]
}"#;
const K8S_PREFIX: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
    "Resource": "arn:aws:s3:::artifacts/${k8s:namespace}/${k8s:serviceaccount}/*"}]
}"#;

// --- S3 example bucket policies.
const IP_RESTRICTED: &str = r#"{
  "Version": "2012-10-17",
  "Id": "S3PolicyId1",
  "Statement": [{
    "Sid": "IPAllow", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
    "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket", "arn:aws:s3:::amzn-s3-demo-bucket/*"],
    "Condition": {"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}
  }]
}"#;
const IP_MIXED: &str = r#"{
  "Id": "PolicyId2",
  "Version": "2012-10-17",
  "Statement": [{
    "Sid": "AllowIPmix", "Effect": "Allow", "Principal": "*", "Action": "s3:*",
    "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket", "arn:aws:s3:::amzn-s3-demo-bucket/*"],
    "Condition": {
      "IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:DB8:1234:5678::/64"]},
      "NotIpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:DB8:1234:5678:ABCD::/80"]}
    }
  }]
}"#;
const TLS_ONLY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Sid": "RestrictToTLSRequestsOnly", "Action": "s3:*", "Effect": "Deny",
    "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket", "arn:aws:s3:::amzn-s3-demo-bucket/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    "Principal": "*"
  }]
}"#;
const PUBLIC_READ: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
    "Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket/*"]}]
}"#;
const PREFIX_LIST: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Sid": "statement1", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/Dave"},
    "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket",
    "Condition": {"StringEquals": {"s3:prefix": "projects"}}
  }, {
    "Sid": "statement2", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::111122223333:user/Dave"},
    "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket",
    "Condition": {"StringNotEquals": {"s3:prefix": "projects"}}
  }]
}"#;
const NOT_PRINCIPAL: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Effect": "Deny",
    "NotPrincipal": {"AWS": ["arn:aws:iam::444455556666:user/Bob", "arn:aws:iam::444455556666:root"]},
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::BUCKETNAME", "arn:aws:s3:::BUCKETNAME/*"]
  }]
}"#;
const NOT_PRINCIPAL_ROLE: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Effect": "Deny",
    "NotPrincipal": {"AWS": [
      "arn:aws:sts::444455556666:assumed-role/cross-account-read-only-role/cross-account-audit-app",
      "arn:aws:iam::444455556666:role/cross-account-read-only-role",
      "arn:aws:iam::444455556666:root"
    ]},
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::Bucket_Account_Audit", "arn:aws:s3:::Bucket_Account_Audit/*"]
  }]
}"#;
const NOT_PRINCIPAL_USER_ONLY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::444455556666:user/Bob"},
    "Action": "s3:*", "Resource": ["arn:aws:s3:::BUCKETNAME", "arn:aws:s3:::BUCKETNAME/*"]}]
}"#;
const ALLOW_ALL_S3: &str =
    r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}"#;

// --- The field report behind kura: deny one service-account family, allow the other.
const K8S_SA: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "AllowK8s", "Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::demo/*",
     "Condition": {"StringLike": {"k8s:serviceaccount": "k8s-default-aws-cli-*"}}},
    {"Sid": "DenyK9s", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::demo/*",
     "Condition": {"StringLike": {"k8s:serviceaccount": "k9s-*"}}}
  ]
}"#;

// --- Condition operators page.
const TAG_ADMIN: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Action": "iam:*AccessKey*", "Resource": "arn:aws:iam::111122223333:user/*",
    "Condition": {"StringEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}}}]
}"#;
const TAG_NOT_ADMIN: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Action": "iam:*AccessKey*", "Resource": "arn:aws:iam::111122223333:user/*",
    "Condition": {"StringNotEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}}}]
}"#;
const IGNORE_CASE: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
    "Condition": {"StringEqualsIgnoreCase": {"aws:PrincipalTag/Department": "Marketing"}}}]
}"#;
const MAX_KEYS: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket",
    "Condition": {"NumericLessThanEquals": {"s3:max-keys": "10"}}}]
}"#;
const TOKEN_TIME: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Action": "iam:*AccessKey*", "Resource": "arn:aws:iam::111122223333:user/*",
    "Condition": {"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}}}]
}"#;
const NOT_TEMPORARY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*",
    "Condition": {"Null": {"aws:TokenIssueTime": "true"}}}]
}"#;
const SOURCE_ARN: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sqs:SendMessage",
    "Resource": "arn:aws:sqs:us-east-1:111122223333:QUEUE-ID",
    "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:TOPIC-ID"}}}]
}"#;
const IF_EXISTS: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*",
    "Condition": {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}}}]
}"#;
const BINARY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
    "Condition": {"BinaryEquals": {"key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}}]
}"#;

// --- Multivalued context keys.
const FOR_ALL_TAGS: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": "*",
    "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}}]
}"#;
const FOR_ANY_TAGS: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Action": "ec2:CreateTags", "Resource": "*",
    "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": ["environment", "webserver"]}}}]
}"#;

fn ctx_none() -> &'static [(&'static str, &'static str)] {
    &[]
}

#[test]
fn aws_documented_examples() {
    use Outcome::{Allow, ExplicitDeny, ImplicitDeny};
    let cases = vec![
        // Carlos: the identity DenyS3Logs wins over the bucket policy / identity allows for the -logs bucket.
        Case {
            name: "carlos saves to -logs bucket: denied by DenyS3Logs",
            identity: &[CARLOS_IDENTITY],
            resource: None,
            session: &[],
            principal: user("carlossalazar"),
            action: "s3:PutObject",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/file.txt",
            context: ctx_none(),
            expect: ExplicitDeny,
            sid: Some("DenyS3Logs"),
        },
        Case {
            name: "carlos saves to his bucket: allowed (identity and bucket policy)",
            identity: &[CARLOS_IDENTITY],
            resource: Some(CARLOS_BUCKET),
            session: &[],
            principal: user("carlossalazar"),
            action: "s3:PutObject",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/file.txt",
            context: ctx_none(),
            expect: Allow,
            sid: Some("AllowS3Self"),
        },
        Case {
            name: "carlos lists all buckets: AllowS3ListRead on arn:aws:s3:::*",
            identity: &[CARLOS_IDENTITY],
            resource: None,
            session: &[],
            principal: user("carlossalazar"),
            action: "s3:ListAllMyBuckets",
            resource_arn: kura_policy::s3::ACCOUNT_RESOURCE,
            context: ctx_none(),
            expect: Allow,
            sid: Some("AllowS3ListRead"),
        },
        Case {
            name: "same account: the bucket policy alone allows carlos (no identity policy)",
            identity: &[],
            resource: Some(CARLOS_BUCKET),
            session: &[],
            principal: user("carlossalazar"),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/file.txt",
            context: ctx_none(),
            expect: Allow,
            sid: None,
        },
        Case {
            name: "bucket policy names carlos, not mary: implicit deny",
            identity: &[],
            resource: Some(CARLOS_BUCKET),
            session: &[],
            principal: user("mary"),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/file.txt",
            context: ctx_none(),
            expect: ImplicitDeny,
            sid: None,
        },
        // Session policies: the effective permissions are the intersection of identity and session policy.
        Case {
            name: "session policy limits the role's identity allow",
            identity: &[ALLOW_ALL_S3],
            resource: None,
            session: &[
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
            ],
            principal: Principal::assumed_role(ACCOUNT, "r", "s"),
            action: "s3:PutObject",
            resource_arn: "arn:aws:s3:::b/k",
            context: ctx_none(),
            expect: ImplicitDeny,
            sid: None,
        },
        Case {
            name: "session policy and identity both allow",
            identity: &[ALLOW_ALL_S3],
            resource: None,
            session: &[
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
            ],
            principal: Principal::assumed_role(ACCOUNT, "r", "s"),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::b/k",
            context: ctx_none(),
            expect: Allow,
            sid: None,
        },
        Case {
            name: "resource policy naming the session ARN is not limited by the session policy",
            identity: &[],
            resource: Some(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:sts::111122223333:assumed-role/r/s"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*"}]}"#,
            ),
            session: &[
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
            ],
            principal: Principal::assumed_role(ACCOUNT, "r", "s"),
            action: "s3:PutObject",
            resource_arn: "arn:aws:s3:::b/k",
            context: ctx_none(),
            expect: Allow,
            sid: None,
        },
        Case {
            name: "resource policy naming the role ARN is limited by the session policy",
            identity: &[],
            resource: Some(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/r"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*"}]}"#,
            ),
            session: &[
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
            ],
            principal: Principal::assumed_role(ACCOUNT, "r", "s"),
            action: "s3:PutObject",
            resource_arn: "arn:aws:s3:::b/k",
            context: ctx_none(),
            expect: ImplicitDeny,
            sid: None,
        },
        // Explicit deny in a bucket policy overrides an identity allow.
        Case {
            name: "bucket policy deny beats identity allow",
            identity: &[ALLOW_ALL_S3],
            resource: Some(TLS_ONLY),
            session: &[],
            principal: user("alice"),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket/x",
            context: &[("aws:SecureTransport", "false")],
            expect: ExplicitDeny,
            sid: Some("RestrictToTLSRequestsOnly"),
        },
        Case {
            name: "TLS request passes the SecureTransport deny",
            identity: &[ALLOW_ALL_S3],
            resource: Some(TLS_ONLY),
            session: &[],
            principal: user("alice"),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket/x",
            context: &[("aws:SecureTransport", "true")],
            expect: Allow,
            sid: None,
        },
        // IP restriction.
        Case {
            name: "request from outside 192.0.2.0/24 is denied",
            identity: &[ALLOW_ALL_S3],
            resource: Some(IP_RESTRICTED),
            session: &[],
            principal: user("alice"),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket/x",
            context: &[("aws:SourceIp", "198.51.100.7")],
            expect: ExplicitDeny,
            sid: Some("IPAllow"),
        },
        Case {
            name: "request from 192.0.2.44 passes",
            identity: &[ALLOW_ALL_S3],
            resource: Some(IP_RESTRICTED),
            session: &[],
            principal: user("alice"),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket/x",
            context: &[("aws:SourceIp", "192.0.2.44")],
            expect: Allow,
            sid: None,
        },
        Case {
            name: "mixed IPv4/IPv6: allowed IPv6 range",
            identity: &[],
            resource: Some(IP_MIXED),
            session: &[],
            principal: Principal::anonymous(),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket/x",
            context: &[("aws:SourceIp", "2001:db8:1234:5678:1::1")],
            expect: Allow,
            sid: Some("AllowIPmix"),
        },
        Case {
            name: "mixed IPv4/IPv6: the excluded /80 inside the allowed /64",
            identity: &[],
            resource: Some(IP_MIXED),
            session: &[],
            principal: Principal::anonymous(),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket/x",
            context: &[("aws:SourceIp", "2001:db8:1234:5678:abcd::1")],
            expect: ImplicitDeny,
            sid: None,
        },
        Case {
            name: "mixed IPv4/IPv6: excluded IPv4",
            identity: &[],
            resource: Some(IP_MIXED),
            session: &[],
            principal: Principal::anonymous(),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket/x",
            context: &[("aws:SourceIp", "203.0.113.9")],
            expect: ImplicitDeny,
            sid: None,
        },
        // Anonymous access only through the bucket policy.
        Case {
            name: "anonymous read through a public-read bucket policy",
            identity: &[],
            resource: Some(PUBLIC_READ),
            session: &[],
            principal: Principal::anonymous(),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket/index.html",
            context: ctx_none(),
            expect: Allow,
            sid: Some("PublicRead"),
        },
        Case {
            name: "anonymous write is not in the public-read policy",
            identity: &[],
            resource: Some(PUBLIC_READ),
            session: &[],
            principal: Principal::anonymous(),
            action: "s3:PutObject",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket/index.html",
            context: ctx_none(),
            expect: ImplicitDeny,
            sid: None,
        },
        Case {
            name: "identity policies never allow anonymous callers",
            identity: &[ALLOW_ALL_S3],
            resource: None,
            session: &[],
            principal: Principal::anonymous(),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket/index.html",
            context: ctx_none(),
            expect: ImplicitDeny,
            sid: None,
        },
        // s3:prefix on ListBucket (S3 "Limiting access to a specific folder", Dave).
        Case {
            name: "Dave lists with prefix=projects",
            identity: &[],
            resource: Some(PREFIX_LIST),
            session: &[],
            principal: user("Dave"),
            action: "s3:ListBucket",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket",
            context: &[("s3:prefix", "projects")],
            expect: Allow,
            sid: Some("statement1"),
        },
        Case {
            name: "Dave lists another prefix: denied by statement2",
            identity: &[ALLOW_ALL_S3],
            resource: Some(PREFIX_LIST),
            session: &[],
            principal: user("Dave"),
            action: "s3:ListBucket",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket",
            context: &[("s3:prefix", "private")],
            expect: ExplicitDeny,
            sid: Some("statement2"),
        },
        Case {
            name: "Dave lists without prefix: StringNotEquals on a missing key is true, so denied",
            identity: &[ALLOW_ALL_S3],
            resource: Some(PREFIX_LIST),
            session: &[],
            principal: user("Dave"),
            action: "s3:ListBucket",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket",
            context: ctx_none(),
            expect: ExplicitDeny,
            sid: Some("statement2"),
        },
        // Policy variables.
        Case {
            name: "home directory: own folder",
            identity: &[HOME],
            resource: None,
            session: &[],
            principal: user("alice"),
            action: "s3:PutObject",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket/home/alice/notes.txt",
            context: ctx_none(),
            expect: Allow,
            sid: Some("RWHome"),
        },
        Case {
            name: "home directory: someone else's folder",
            identity: &[HOME],
            resource: None,
            session: &[],
            principal: user("alice"),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket/home/bob/notes.txt",
            context: ctx_none(),
            expect: ImplicitDeny,
            sid: None,
        },
        Case {
            name: "home directory: list own prefix",
            identity: &[HOME],
            resource: None,
            session: &[],
            principal: user("alice"),
            action: "s3:ListBucket",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket",
            context: &[("s3:prefix", "home/alice/photos")],
            expect: Allow,
            sid: Some("ListHome"),
        },
        Case {
            name: "home directory: list another's prefix",
            identity: &[HOME],
            resource: None,
            session: &[],
            principal: user("alice"),
            action: "s3:ListBucket",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket",
            context: &[("s3:prefix", "home/bob/")],
            expect: ImplicitDeny,
            sid: None,
        },
        Case {
            name: "aws:username is absent for a role session: the variable matches nothing",
            identity: &[HOME],
            resource: None,
            session: &[],
            principal: Principal::assumed_role(ACCOUNT, "r", "alice"),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket/home/alice/x",
            context: ctx_none(),
            expect: ImplicitDeny,
            sid: None,
        },
        Case {
            name: "Version 2008-10-17: ${aws:username} is literal text",
            identity: &[HOME_2008],
            resource: None,
            session: &[],
            principal: user("alice"),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket/home/alice/x",
            context: ctx_none(),
            expect: ImplicitDeny,
            sid: None,
        },
        Case {
            name: "variable default used when the tag is absent",
            identity: &[TEAM_DEFAULT],
            resource: None,
            session: &[],
            principal: user("alice"),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket/company-wide/x",
            context: ctx_none(),
            expect: Allow,
            sid: None,
        },
        Case {
            name: "variable value used when the tag is present",
            identity: &[TEAM_DEFAULT],
            resource: None,
            session: &[],
            principal: user("alice"),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket/company-wide/x",
            context: &[("aws:PrincipalTag/team", "red")],
            expect: ImplicitDeny,
            sid: None,
        },
        Case {
            name: "kura variables: ${k8s:namespace}/${k8s:serviceaccount}",
            identity: &[K8S_PREFIX],
            resource: None,
            session: &[],
            principal: Principal::assumed_role("000000000000", "ci", "pod"),
            action: "s3:PutObject",
            resource_arn: "arn:aws:s3:::artifacts/gitlab/runner/job.log",
            context: &[("k8s:namespace", "gitlab"), ("k8s:serviceaccount", "runner")],
            expect: Allow,
            sid: None,
        },
        // k8s- vs k9s- service accounts.
        Case {
            name: "k8s-default-aws-cli-demo is allowed",
            identity: &[K8S_SA],
            resource: None,
            session: &[],
            principal: Principal::assumed_role("000000000000", "cli", "x"),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::demo/a",
            context: &[("k8s:serviceaccount", "k8s-default-aws-cli-demo")],
            expect: Allow,
            sid: Some("AllowK8s"),
        },
        Case {
            name: "k9s-default-aws-cli-demo is denied",
            identity: &[K8S_SA],
            resource: None,
            session: &[],
            principal: Principal::assumed_role("000000000000", "cli", "x"),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::demo/a",
            context: &[("k8s:serviceaccount", "k9s-default-aws-cli-demo")],
            expect: ExplicitDeny,
            sid: Some("DenyK9s"),
        },
        // NotPrincipal with Deny.
        Case {
            name: "NotPrincipal: Bob (user and account listed) is not denied",
            identity: &[ALLOW_ALL_S3],
            resource: Some(NOT_PRINCIPAL),
            session: &[],
            principal: Principal::user("444455556666", "Bob"),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::BUCKETNAME/x",
            context: ctx_none(),
            expect: Allow,
            sid: None,
        },
        Case {
            name: "NotPrincipal: Alice of the same account is denied",
            identity: &[ALLOW_ALL_S3],
            resource: Some(NOT_PRINCIPAL),
            session: &[],
            principal: Principal::user("444455556666", "Alice"),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::BUCKETNAME/x",
            context: ctx_none(),
            expect: ExplicitDeny,
            sid: None,
        },
        Case {
            name: "NotPrincipal: anonymous callers are denied",
            identity: &[],
            resource: Some(NOT_PRINCIPAL),
            session: &[],
            principal: Principal::anonymous(),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::BUCKETNAME/x",
            context: ctx_none(),
            expect: ExplicitDeny,
            sid: None,
        },
        Case {
            name: "NotPrincipal: the user without its account ARN is still denied (AWS warning)",
            identity: &[ALLOW_ALL_S3],
            resource: Some(NOT_PRINCIPAL_USER_ONLY),
            session: &[],
            principal: Principal::user("444455556666", "Bob"),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::BUCKETNAME/x",
            context: ctx_none(),
            expect: ExplicitDeny,
            sid: None,
        },
        Case {
            name: "NotPrincipal: session, role and account listed: the session is not denied",
            identity: &[ALLOW_ALL_S3],
            resource: Some(NOT_PRINCIPAL_ROLE),
            session: &[],
            principal: Principal::assumed_role(
                "444455556666",
                "cross-account-read-only-role",
                "cross-account-audit-app",
            ),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::Bucket_Account_Audit/x",
            context: ctx_none(),
            expect: Allow,
            sid: None,
        },
        Case {
            name: "NotPrincipal: another session of the same role is denied",
            identity: &[ALLOW_ALL_S3],
            resource: Some(NOT_PRINCIPAL_ROLE),
            session: &[],
            principal: Principal::assumed_role("444455556666", "cross-account-read-only-role", "other"),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::Bucket_Account_Audit/x",
            context: ctx_none(),
            expect: ExplicitDeny,
            sid: None,
        },
        // Condition operators page.
        Case {
            name: "StringEquals: matching tag",
            identity: &[TAG_ADMIN],
            resource: None,
            session: &[],
            principal: user("a"),
            action: "iam:CreateAccessKey",
            resource_arn: "arn:aws:iam::111122223333:user/a",
            context: &[("aws:PrincipalTag/job-category", "iamuser-admin")],
            expect: Allow,
            sid: None,
        },
        Case {
            name: "StringEquals: other tag value",
            identity: &[TAG_ADMIN],
            resource: None,
            session: &[],
            principal: user("a"),
            action: "iam:CreateAccessKey",
            resource_arn: "arn:aws:iam::111122223333:user/a",
            context: &[("aws:PrincipalTag/job-category", "dev-ops")],
            expect: ImplicitDeny,
            sid: None,
        },
        Case {
            name: "StringEquals: no tag",
            identity: &[TAG_ADMIN],
            resource: None,
            session: &[],
            principal: user("a"),
            action: "iam:CreateAccessKey",
            resource_arn: "arn:aws:iam::111122223333:user/a",
            context: ctx_none(),
            expect: ImplicitDeny,
            sid: None,
        },
        Case {
            name: "StringNotEquals: no tag matches",
            identity: &[TAG_NOT_ADMIN],
            resource: None,
            session: &[],
            principal: user("a"),
            action: "iam:DeleteAccessKey",
            resource_arn: "arn:aws:iam::111122223333:user/a",
            context: ctx_none(),
            expect: Allow,
            sid: None,
        },
        Case {
            name: "StringNotEquals: the excluded value does not match",
            identity: &[TAG_NOT_ADMIN],
            resource: None,
            session: &[],
            principal: user("a"),
            action: "iam:DeleteAccessKey",
            resource_arn: "arn:aws:iam::111122223333:user/a",
            context: &[("aws:PrincipalTag/job-category", "iamuser-admin")],
            expect: ImplicitDeny,
            sid: None,
        },
        Case {
            name: "StringEqualsIgnoreCase: marketing = Marketing",
            identity: &[IGNORE_CASE],
            resource: None,
            session: &[],
            principal: user("a"),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::b/k",
            context: &[("aws:PrincipalTag/department", "marketing")],
            expect: Allow,
            sid: None,
        },
        Case {
            name: "NumericLessThanEquals: max-keys 10",
            identity: &[MAX_KEYS],
            resource: None,
            session: &[],
            principal: user("a"),
            action: "s3:ListBucket",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket",
            context: &[("s3:max-keys", "10")],
            expect: Allow,
            sid: None,
        },
        Case {
            name: "NumericLessThanEquals: max-keys 11",
            identity: &[MAX_KEYS],
            resource: None,
            session: &[],
            principal: user("a"),
            action: "s3:ListBucket",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket",
            context: &[("s3:max-keys", "11")],
            expect: ImplicitDeny,
            sid: None,
        },
        Case {
            name: "NumericLessThanEquals: no max-keys",
            identity: &[MAX_KEYS],
            resource: None,
            session: &[],
            principal: user("a"),
            action: "s3:ListBucket",
            resource_arn: "arn:aws:s3:::amzn-s3-demo-bucket",
            context: ctx_none(),
            expect: ImplicitDeny,
            sid: None,
        },
        Case {
            name: "DateGreaterThan: token issued after",
            identity: &[TOKEN_TIME],
            resource: None,
            session: &[],
            principal: user("a"),
            action: "iam:CreateAccessKey",
            resource_arn: "arn:aws:iam::111122223333:user/a",
            context: &[("aws:TokenIssueTime", "2020-01-01T00:00:02Z")],
            expect: Allow,
            sid: None,
        },
        Case {
            name: "DateGreaterThan: token issued before",
            identity: &[TOKEN_TIME],
            resource: None,
            session: &[],
            principal: user("a"),
            action: "iam:CreateAccessKey",
            resource_arn: "arn:aws:iam::111122223333:user/a",
            context: &[("aws:TokenIssueTime", "2020-01-01T00:00:00Z")],
            expect: ImplicitDeny,
            sid: None,
        },
        Case {
            name: "Null true: long-term credentials (no TokenIssueTime)",
            identity: &[NOT_TEMPORARY],
            resource: None,
            session: &[],
            principal: user("a"),
            action: "ec2:RunInstances",
            resource_arn: "*",
            context: ctx_none(),
            expect: Allow,
            sid: None,
        },
        Case {
            name: "Null true: temporary credentials",
            identity: &[NOT_TEMPORARY],
            resource: None,
            session: &[],
            principal: user("a"),
            action: "ec2:RunInstances",
            resource_arn: "*",
            context: &[("aws:TokenIssueTime", "2024-01-01T00:00:00Z")],
            expect: ImplicitDeny,
            sid: None,
        },
        Case {
            name: "ArnEquals aws:SourceArn: matching topic",
            identity: &[],
            resource: Some(SOURCE_ARN),
            session: &[],
            principal: Principal::root(ACCOUNT),
            action: "sqs:SendMessage",
            resource_arn: "arn:aws:sqs:us-east-1:111122223333:QUEUE-ID",
            context: &[("aws:SourceArn", "arn:aws:sns:us-east-1:123456789012:TOPIC-ID")],
            expect: Allow,
            sid: None,
        },
        Case {
            name: "ArnEquals aws:SourceArn: other topic",
            identity: &[],
            resource: Some(SOURCE_ARN),
            session: &[],
            principal: Principal::root(ACCOUNT),
            action: "sqs:SendMessage",
            resource_arn: "arn:aws:sqs:us-east-1:111122223333:QUEUE-ID",
            context: &[("aws:SourceArn", "arn:aws:sns:us-east-1:123456789012:OTHER")],
            expect: ImplicitDeny,
            sid: None,
        },
        Case {
            name: "StringLikeIfExists: t2.micro",
            identity: &[IF_EXISTS],
            resource: None,
            session: &[],
            principal: user("a"),
            action: "ec2:RunInstances",
            resource_arn: "*",
            context: &[("ec2:InstanceType", "t2.micro")],
            expect: Allow,
            sid: None,
        },
        Case {
            name: "StringLikeIfExists: m5.large",
            identity: &[IF_EXISTS],
            resource: None,
            session: &[],
            principal: user("a"),
            action: "ec2:RunInstances",
            resource_arn: "*",
            context: &[("ec2:InstanceType", "m5.large")],
            expect: ImplicitDeny,
            sid: None,
        },
        Case {
            name: "StringLikeIfExists: key absent",
            identity: &[IF_EXISTS],
            resource: None,
            session: &[],
            principal: user("a"),
            action: "ec2:RunInstances",
            resource_arn: "*",
            context: ctx_none(),
            expect: Allow,
            sid: None,
        },
        Case {
            name: "BinaryEquals",
            identity: &[BINARY],
            resource: None,
            session: &[],
            principal: user("a"),
            action: "s3:GetObject",
            resource_arn: "arn:aws:s3:::b/k",
            context: &[("key", "QmluYXJ5VmFsdWVJbkJhc2U2NA==")],
            expect: Allow,
            sid: None,
        },
    ];
    for case in &cases {
        run(case);
    }
}

fn multi(policy: &str, action: &str, key: &str, values: &[&str]) -> Outcome {
    let p = Policy::parse(policy).expect("policy");
    let named = [NamedPolicy { name: "p", policy: &p }];
    let set = PolicySet { identity: &named, ..Default::default() };
    let alice = user("alice");
    let mut ctx = Context::new();
    if !values.is_empty() {
        ctx.insert_many(key, values.iter().copied());
    }
    evaluate(&set, &Request { principal: &alice, action, resource: "*", context: &ctx }).outcome
}

#[test]
fn multivalued_context_keys() {
    // "ForAllValues": every tag key in the request is in the list; an absent key also matches.
    assert_eq!(multi(FOR_ALL_TAGS, "dynamodb:PutItem", "aws:TagKeys", &["environment", "cost-center"]), Outcome::Allow);
    assert_eq!(multi(FOR_ALL_TAGS, "dynamodb:PutItem", "aws:TagKeys", &["environment"]), Outcome::Allow);
    assert_eq!(multi(FOR_ALL_TAGS, "dynamodb:PutItem", "aws:TagKeys", &["environment", "dept"]), Outcome::ImplicitDeny);
    assert_eq!(multi(FOR_ALL_TAGS, "dynamodb:PutItem", "aws:TagKeys", &[]), Outcome::Allow);
    // "ForAnyValue": at least one matches; an absent key does not match.
    assert_eq!(multi(FOR_ANY_TAGS, "ec2:CreateTags", "aws:TagKeys", &["webserver", "dept"]), Outcome::Allow);
    assert_eq!(multi(FOR_ANY_TAGS, "ec2:CreateTags", "aws:TagKeys", &["dept"]), Outcome::ImplicitDeny);
    assert_eq!(multi(FOR_ANY_TAGS, "ec2:CreateTags", "aws:TagKeys", &[]), Outcome::ImplicitDeny);
}

#[test]
fn explanations() {
    let p = Policy::parse(K8S_SA).expect("policy");
    let named = [NamedPolicy { name: "p", policy: &p }];
    let set = PolicySet { identity: &named, ..Default::default() };
    let pr = Principal::assumed_role("000000000000", "cli", "x");
    let mut ctx = Context::new();
    ctx.insert("k8s:serviceaccount", "k9s-default-aws-cli-demo");
    let d = evaluate(
        &set,
        &Request { principal: &pr, action: "s3:GetObject", resource: "arn:aws:s3:::demo/a", context: &ctx },
    );
    assert_eq!(d.explain(), "denied: statement 1 (Sid \"DenyK9s\") of policy \"p\" denies");
    let d = evaluate(
        &set,
        &Request { principal: &pr, action: "s3:GetObject", resource: "arn:aws:s3:::other/a", context: &ctx },
    );
    assert_eq!(d.explain(), "denied: no statement allows");
    let rw = kura_policy::canned::get("readwrite").expect("canned");
    let named = [NamedPolicy { name: "readwrite", policy: rw }];
    let set = PolicySet { identity: &named, ..Default::default() };
    let d = evaluate(
        &set,
        &Request { principal: &pr, action: "s3:GetObject", resource: "arn:aws:s3:::other/a", context: &ctx },
    );
    assert_eq!(d.explain(), "allowed by statement 0 of policy \"readwrite\"");
}

#[test]
fn trust_policy_for_web_identity() {
    // The kura design's trust policy: Federated provider + StringLike on the token's sub.
    let trust = Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
            "Principal":{"Federated":"arn:aws:iam::000000000000:oidc-provider/kubernetes.default.svc.cluster.local"},
            "Action":"sts:AssumeRoleWithWebIdentity",
            "Condition":{"StringLike":{"kubernetes.default.svc.cluster.local:sub":"system:serviceaccount:ci:*"},
                         "StringEquals":{"kubernetes.default.svc.cluster.local:aud":"sts.amazonaws.com"}}}]}"#,
    )
    .expect("trust policy");
    trust.validate_resource().expect("resource policy");
    let provider = "arn:aws:iam::000000000000:oidc-provider/kubernetes.default.svc.cluster.local";
    let caller = Principal::web_identity("000000000000", provider, "system:serviceaccount:ci:builder");
    let check = |caller: &Principal, sub: &str| {
        let mut ctx = Context::new();
        ctx.insert("kubernetes.default.svc.cluster.local:sub", sub);
        ctx.insert("kubernetes.default.svc.cluster.local:aud", "sts.amazonaws.com");
        let set = PolicySet {
            resource: Some(NamedPolicy { name: "trust policy of ci-uploader", policy: &trust }),
            ..Default::default()
        };
        evaluate(
            &set,
            &Request {
                principal: caller,
                action: "sts:AssumeRoleWithWebIdentity",
                resource: "arn:aws:iam::000000000000:role/ci-uploader",
                context: &ctx,
            },
        )
        .outcome
    };
    assert_eq!(check(&caller, "system:serviceaccount:ci:builder"), Outcome::Allow);
    assert_eq!(check(&caller, "system:serviceaccount:prod:builder"), Outcome::ImplicitDeny);
    let other = Principal::web_identity("000000000000", "arn:aws:iam::000000000000:oidc-provider/other", "x");
    assert_eq!(check(&other, "system:serviceaccount:ci:builder"), Outcome::ImplicitDeny);
    assert_eq!(check(&user("alice"), "system:serviceaccount:ci:builder"), Outcome::ImplicitDeny);
}
