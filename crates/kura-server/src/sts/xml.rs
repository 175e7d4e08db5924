//! STS response documents (the AWS Query protocol's XML), written by hand: they are few and fixed.

use crate::base::account::assumed_role_arn;
use crate::base::clock::iso8601;
use crate::identity::Issued;

/// The STS XML namespace.
pub const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

pub use crate::base::xml::escape;

/// Wraps an action's result: `<ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>`.
pub fn response(action: &str, result: &str, request_id: &str) -> String {
    format!(
        "<{action}Response xmlns=\"{NAMESPACE}\"><{action}Result>{result}</{action}Result><ResponseMetadata>\
         <RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
        escape(request_id)
    )
}

/// `<Credentials>` and `<AssumedRoleUser>` of an issued session.
pub fn session(issued: &Issued) -> String {
    let c = &issued.credentials;
    let claims = &issued.claims;
    format!(
        "<Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey><SessionToken>{}\
         </SessionToken><Expiration>{}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>{}:{}\
         </AssumedRoleId><Arn>{}</Arn></AssumedRoleUser>",
        escape(&c.access_key),
        escape(c.secret_key.expose()),
        escape(&c.session_token),
        iso8601(c.expires),
        escape(&issued.role.id),
        escape(&claims.session),
        escape(&assumed_role_arn(&claims.role, &claims.session)),
    )
}
