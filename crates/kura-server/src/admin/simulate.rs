//! Policy simulation: "may this principal do this action on this resource, and which statement
//! decides?" — evaluated by the same [`Authorizer`] that serves requests, over the live state.

use crate::authz::{Access, Authorizer};
use crate::base::account::ACCOUNT;
use crate::base::caller::Caller;
use crate::errors::{self, StoreResultExt};
use crate::iam::IamState;
use kura_policy::{Context, Outcome};
use kura_store::MetaStore;
use s3s::S3Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The request: `principal` is `root`, `anonymous`, a user's access key or its ARN.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulateBody {
    principal: String,
    action: String,
    resource: String,
    #[serde(default)]
    context: BTreeMap<String, ContextValue>,
}

/// A context value: one string or several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ContextValue {
    One(String),
    Many(Vec<String>),
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct SimulateAnswer {
    decision: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    statement: Option<StatementView>,
    explanation: String,
}

#[derive(Debug, Serialize)]
struct StatementView {
    policy: String,
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
}

/// Evaluates the simulated request.
pub async fn run(
    authz: &Authorizer,
    state: &IamState,
    meta: &dyn MetaStore,
    body: SimulateBody,
) -> S3Result<SimulateAnswer> {
    let caller = resolve_principal(state, &body.principal)?;
    let mut context = Context::new();
    caller.fill_context(&mut context);
    for (key, value) in body.context {
        match value {
            ContextValue::One(v) => context.insert(&key, v),
            ContextValue::Many(vs) => vs.into_iter().for_each(|v| context.insert(&key, v)),
        }
    }
    let bucket_name = body.resource.strip_prefix("arn:aws:s3:::").map(|r| r.split('/').next().unwrap_or(r));
    let info = match bucket_name.filter(|b| !b.is_empty() && !b.contains('*')) {
        Some(b) => meta.get_bucket(b).await.or_s3()?,
        None => None,
    };
    let access = Access {
        action: &body.action,
        resource: &body.resource,
        bucket: info.as_ref().map(|i| (i.name.as_str(), &i.settings)),
        context: &context,
    };
    let decision = authz.evaluate(state, &caller, &access);
    Ok(SimulateAnswer {
        decision: match decision.outcome {
            Outcome::Allow => "allow",
            Outcome::ExplicitDeny => "explicit-deny",
            Outcome::ImplicitDeny => "implicit-deny",
        },
        explanation: if matches!(caller, Caller::Root { .. }) && decision.outcome == Outcome::Allow {
            "allowed: no identity policy limits the root user, and no bucket policy denies it".to_owned()
        } else {
            decision.explain()
        },
        statement: decision.statement.map(|s| StatementView { policy: s.policy, index: s.index, sid: s.sid }),
    })
}

fn resolve_principal(state: &IamState, principal: &str) -> S3Result<Caller> {
    let user_prefix = format!("arn:aws:iam::{ACCOUNT}:user/");
    let name = principal.strip_prefix(&user_prefix).unwrap_or(principal);
    match name {
        "root" => Ok(Caller::Root { access_key: state.root.access_key.clone() }),
        "anonymous" | "*" => Ok(Caller::Anonymous),
        _ if name == state.root.access_key || principal == format!("arn:aws:iam::{ACCOUNT}:root") => {
            Ok(Caller::Root { access_key: state.root.access_key.clone() })
        }
        _ if state.user(name).is_some() => Ok(Caller::User { access_key: name.to_owned() }),
        _ => Err(errors::invalid_argument(format!(
            "principal {principal:?}: not root, anonymous, or a known user's access key or ARN"
        ))),
    }
}
