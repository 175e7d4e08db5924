//! What the policy engine needs to know about KMS: the actions S3 asks for when it uses a key on a
//! caller's behalf, the key ARN, the condition keys of such a request, and the key policy of the
//! AWS-managed key `alias/aws/s3`.
//!
//! How the server authorises one use of a KMS key through S3 (as AWS: "kms:ViaService"):
//! 1. The action is [`GENERATE_DATA_KEY`] on writes and [`DECRYPT`] on reads (also for a multipart
//!    upload's parts, a copy's source and its destination); policies may name them with wildcards
//!    (`kms:GenerateDataKey*`, `kms:*`), which the engine's action patterns already match.
//! 2. The resource is [`key_arn`]: `arn:aws:kms:REGION:ACCOUNT:key/ID`, never an alias.
//! 3. The context ([`context_keys`]): `kms:EncryptionContext:<k>` for each pair of the encryption
//!    context (S3 always adds `aws:s3:arn`), `kms:EncryptionContextKeys` (multi-valued),
//!    `kms:ViaService` = `s3.REGION.amazonaws.com`, `kms:CallerAccount`, plus the caller's own keys.
//! 4. The key policy: a key that kura manages for S3 ([`s3_managed_key_policy`]) allows every caller
//!    of the account through S3, as AWS's `aws/s3` key does; other keys have no key policy of their
//!    own, which is AWS's default key policy ("the account's IAM policies decide").

use crate::policy::Policy;
use serde_json::json;

/// `kms:GenerateDataKey`: S3 needs it to encrypt a new object (or part) with a KMS key.
pub const GENERATE_DATA_KEY: &str = "kms:GenerateDataKey";
/// `kms:Decrypt`: S3 needs it to read an object encrypted with a KMS key (and to complete or copy it).
pub const DECRYPT: &str = "kms:Decrypt";
/// `kms:Encrypt`.
pub const ENCRYPT: &str = "kms:Encrypt";
/// `kms:DescribeKey`.
pub const DESCRIBE_KEY: &str = "kms:DescribeKey";
/// `kms:ReEncryptFrom`.
pub const REENCRYPT_FROM: &str = "kms:ReEncryptFrom";
/// `kms:ReEncryptTo`.
pub const REENCRYPT_TO: &str = "kms:ReEncryptTo";

/// Every KMS action the server evaluates.
pub const ACTIONS: &[&str] = &[GENERATE_DATA_KEY, DECRYPT, ENCRYPT, DESCRIBE_KEY, REENCRYPT_FROM, REENCRYPT_TO];

/// `kms:ViaService`: the service that used the key on the caller's behalf.
pub const VIA_SERVICE: &str = "kms:ViaService";
/// `kms:CallerAccount`: the account of the caller.
pub const CALLER_ACCOUNT: &str = "kms:CallerAccount";
/// `kms:EncryptionContextKeys`: every key of the encryption context (multi-valued).
pub const ENCRYPTION_CONTEXT_KEYS: &str = "kms:EncryptionContextKeys";
/// Prefix of `kms:EncryptionContext:<context key>`.
pub const ENCRYPTION_CONTEXT_PREFIX: &str = "kms:EncryptionContext:";

/// `arn:aws:kms:REGION:ACCOUNT:key/ID`.
pub fn key_arn(region: &str, account: &str, id: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:key/{id}")
}

/// `arn:aws:kms:REGION:ACCOUNT:alias/NAME` for an alias `alias/NAME`.
pub fn alias_arn(region: &str, account: &str, alias: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:{alias}")
}

/// `s3.REGION.amazonaws.com`: the value of `kms:ViaService` for uses through S3.
pub fn s3_service(region: &str) -> String {
    format!("s3.{region}.amazonaws.com")
}

/// The KMS condition keys of one use of a key by S3: the encryption context's pairs and keys,
/// `kms:ViaService` and `kms:CallerAccount` (absent for a caller without an account: anonymous).
pub fn context_keys<'a>(
    region: &str,
    caller_account: Option<&str>,
    encryption_context: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<(String, String)> {
    let mut keys = vec![(VIA_SERVICE.to_owned(), s3_service(region))];
    if let Some(account) = caller_account {
        keys.push((CALLER_ACCOUNT.to_owned(), account.to_owned()));
    }
    for (k, v) in encryption_context {
        keys.push((format!("{ENCRYPTION_CONTEXT_PREFIX}{k}"), v.to_owned()));
        keys.push((ENCRYPTION_CONTEXT_KEYS.to_owned(), k.to_owned()));
    }
    keys
}

/// The key policy of a key kura manages for S3 (`alias/aws/s3`), as AWS writes it for `aws/s3`:
/// every principal of the account may use the key through S3 (`kms:ViaService` and
/// `kms:CallerAccount`), so any caller S3 lets write may encrypt with it; identity policies still
/// deny explicitly.
pub fn s3_managed_key_policy(region: &str, account: &str) -> Policy {
    let doc = json!({
        "Version": "2012-10-17",
        "Id": "auto-s3",
        "Statement": [{
            "Sid": "Allow access through S3 for all principals in the account that are authorized to use S3",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {VIA_SERVICE: s3_service(region), CALLER_ACCOUNT: account}}
        }]
    });
    Policy::from_value(doc).expect("the aws/s3 key policy parses")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Context, NamedPolicy, PolicySet, Principal, Request, evaluate};

    const ACCOUNT: &str = "000000000000";
    const KEY: &str = "arn:aws:kms:us-east-1:000000000000:key/k1";

    fn context(pairs: &[(&str, &str)]) -> Context {
        context_of(Some(ACCOUNT), pairs)
    }

    fn context_of(account: Option<&str>, pairs: &[(&str, &str)]) -> Context {
        let mut cx = Context::new();
        for (k, v) in context_keys("us-east-1", account, pairs.iter().copied()) {
            cx.insert(&k, v);
        }
        cx
    }

    #[test]
    fn names_and_keys() {
        assert_eq!(key_arn("eu-west-1", ACCOUNT, "k1"), "arn:aws:kms:eu-west-1:000000000000:key/k1");
        assert_eq!(alias_arn("eu-west-1", ACCOUNT, "alias/x"), "arn:aws:kms:eu-west-1:000000000000:alias/x");
        let cx = context(&[("aws:s3:arn", "arn:aws:s3:::b/k"), ("team", "a")]);
        assert_eq!(cx.get("kms:ViaService"), Some(&["s3.us-east-1.amazonaws.com".to_owned()][..]));
        assert_eq!(cx.get("KMS:EncryptionContext:aws:s3:arn"), Some(&["arn:aws:s3:::b/k".to_owned()][..]));
        assert_eq!(cx.get("kms:EncryptionContextKeys").map(<[String]>::len), Some(2));
    }

    /// `kms:GenerateDataKey*`, `kms:ReEncrypt*` and `kms:*` are ordinary action patterns.
    #[test]
    fn wildcard_actions_cover_the_kms_actions() {
        let policy = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
               "Action":["kms:GenerateDataKey*","kms:ReEncrypt*"],"Resource":"arn:aws:kms:*:000000000000:key/*"}]}"#,
        )
        .expect("policy");
        let named = [NamedPolicy { name: "p", policy: &policy }];
        let set = PolicySet { identity: &named, ..Default::default() };
        let alice = Principal::user(ACCOUNT, "alice");
        let cx = Context::new();
        for (action, allowed) in [
            (GENERATE_DATA_KEY, true),
            ("kms:GenerateDataKeyWithoutPlaintext", true),
            (REENCRYPT_FROM, true),
            (REENCRYPT_TO, true),
            (DECRYPT, false),
        ] {
            let req = Request { principal: &alice, action, resource: KEY, context: &cx };
            assert_eq!(evaluate(&set, &req).is_allowed(), allowed, "{action}");
        }
    }

    /// The managed key's policy lets any principal of the account through S3, and nobody otherwise.
    #[test]
    fn the_s3_managed_key_policy_allows_the_account_through_s3_only() {
        let policy = s3_managed_key_policy("us-east-1", ACCOUNT);
        let set =
            PolicySet { resource: Some(NamedPolicy { name: "key policy", policy: &policy }), ..Default::default() };
        let alice = Principal::user(ACCOUNT, "alice");
        let via_s3 = context(&[("aws:s3:arn", "arn:aws:s3:::b/k")]);
        let allowed = Request { principal: &alice, action: DECRYPT, resource: KEY, context: &via_s3 };
        assert!(evaluate(&set, &allowed).is_allowed());
        let direct = Context::new();
        let refused = Request { principal: &alice, action: DECRYPT, resource: KEY, context: &direct };
        assert!(!evaluate(&set, &refused).is_allowed());
        let mut other_region = Context::new();
        other_region.insert(VIA_SERVICE, s3_service("eu-west-1"));
        other_region.insert(CALLER_ACCOUNT, ACCOUNT);
        let refused = Request { principal: &alice, action: DECRYPT, resource: KEY, context: &other_region };
        assert!(!evaluate(&set, &refused).is_allowed());
        let nobody = Principal::anonymous();
        let no_account = context_of(None, &[("aws:s3:arn", "arn:aws:s3:::b/k")]);
        let refused = Request { principal: &nobody, action: DECRYPT, resource: KEY, context: &no_account };
        assert!(!evaluate(&set, &refused).is_allowed(), "anonymous callers have no account");
    }
}
