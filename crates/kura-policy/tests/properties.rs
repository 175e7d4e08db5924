//! Property tests over the public API: parse → to_json → parse is the identity.

use kura_policy::Policy;
use proptest::prelude::*;
use serde_json::{Value, json};

fn one_or_many(pool: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop::collection::vec(prop::sample::select(pool), 1..4).prop_flat_map(|v| {
        let single = v.len() == 1;
        prop::bool::ANY.prop_map(move |as_string| if single && as_string { json!(v[0]) } else { json!(v) })
    })
}

const ACTIONS: &[&str] = &["s3:GetObject", "s3:Get*", "s3:*", "*", "sts:AssumeRoleWithWebIdentity", "s3:List?ucket"];
const RESOURCES: &[&str] = &[
    "*",
    "arn:aws:s3:::b",
    "arn:aws:s3:::b/*",
    "arn:aws:s3:::b/home/${aws:username}/*",
    "arn:aws:s3:::b/${k8s:namespace, 'default'}/${*}",
];
const PRINCIPALS: &[&str] = &[
    r#""*""#,
    r#"{"AWS":"*"}"#,
    r#"{"AWS":["111122223333","arn:aws:iam::111122223333:user/a"]}"#,
    r#"{"Federated":"arn:aws:iam::000000000000:oidc-provider/issuer"}"#,
    r#"{"Service":"s3.amazonaws.com","CanonicalUser":"abc"}"#,
];
const CONDITIONS: &[&str] = &[
    r#"{"StringLike":{"s3:prefix":["home/${aws:username}/*",""]}}"#,
    r#"{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]},"Bool":{"aws:SecureTransport":true}}"#,
    r#"{"NumericLessThanEquals":{"s3:max-keys":10},"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}"#,
    r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]},"Null":{"aws:TokenIssueTime":"true"}}"#,
    r#"{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:111122223333:*"},"StringNotEqualsIfExists":{"k":"v"}}"#,
    r#"{"BinaryEquals":{"k":"aGVsbG8="},"ForAnyValue:StringLike":{"aws:TagKeys":"team-*"}}"#,
];

fn statement() -> impl Strategy<Value = Value> {
    (
        prop::option::of("[A-Za-z0-9]{1,8}"),
        prop::bool::ANY,
        prop::option::of((prop::bool::ANY, prop::sample::select(PRINCIPALS))),
        (prop::bool::ANY, one_or_many(ACTIONS)),
        prop::option::of((prop::bool::ANY, one_or_many(RESOURCES))),
        prop::option::of(prop::sample::select(CONDITIONS)),
    )
        .prop_map(|(sid, allow, principal, (not_action, action), resource, condition)| {
            let mut m = serde_json::Map::new();
            if let Some(sid) = sid {
                m.insert("Sid".into(), json!(sid));
            }
            m.insert("Effect".into(), json!(if allow { "Allow" } else { "Deny" }));
            if let Some((not, p)) = principal {
                let v: Value = serde_json::from_str(p).expect("principal json");
                m.insert(if not { "NotPrincipal" } else { "Principal" }.into(), v);
            }
            m.insert(if not_action { "NotAction" } else { "Action" }.into(), action);
            if let Some((not, r)) = resource {
                m.insert(if not { "NotResource" } else { "Resource" }.into(), r);
            }
            if let Some(c) = condition {
                m.insert("Condition".into(), serde_json::from_str(c).expect("condition json"));
            }
            Value::Object(m)
        })
}

fn policy() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec![None, Some("2012-10-17"), Some("2008-10-17")]),
        prop::option::of("[a-z0-9-]{1,10}"),
        prop::collection::vec(statement(), 1..5),
        prop::bool::ANY,
    )
        .prop_map(|(version, id, statements, as_object)| {
            let mut m = serde_json::Map::new();
            if let Some(v) = version {
                m.insert("Version".into(), json!(v));
            }
            if let Some(id) = id {
                m.insert("Id".into(), json!(id));
            }
            let statement = if as_object && statements.len() == 1 { statements[0].clone() } else { json!(statements) };
            m.insert("Statement".into(), statement);
            Value::Object(m)
        })
}

proptest! {
    #[test]
    fn parse_to_json_parse_round_trips(doc in policy()) {
        let p = Policy::from_value(doc.clone()).map_err(|e| TestCaseError::fail(format!("{e}: {doc}")))?;
        let json = p.to_json();
        let q = Policy::parse(&json).map_err(|e| TestCaseError::fail(format!("{e}: {json}")))?;
        prop_assert_eq!(&p, &q);
        prop_assert_eq!(json, q.to_json());
        prop_assert_eq!(p.is_public(), q.is_public());
    }
}
