//! KMS authorisation with the GitLab field report's policy (Terraform's `jsonencode` of
//! `gitlab_s3_kms_policy`, bucket ARNs for `name_prefix = "gl"`).

use super::*;
use crate::base::claims::{SessionClaims, SessionKind};
use crate::base::credentials::{Credentials, Secret};
use crate::config::Config;
use crate::identity::Identity;
use crate::identity::session::Keyring;
use crate::kms::{KeyOrigin, KeyState};
use std::sync::Arc;

const REGION: &str = "ap-northeast-1";
const KEY_ARN: &str = "arn:aws:kms:ap-northeast-1:000000000000:key/4f1c4a5e-0000-4000-8000-000000000001";

/// The GitLab report's KMS statement, as `jsonencode` renders it (the `for` over the buckets unrolled).
fn gitlab_kms_policy(resource: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Action":["kms:Decrypt","kms:GenerateDataKey"],"Effect":"Allow","Condition":{{"StringLike":{{"kms:EncryptionContext:aws:s3:arn":["arn:aws:s3:::gl-artifacts","arn:aws:s3:::gl-backups","arn:aws:s3:::gl-lfs","arn:aws:s3:::gl-packages","arn:aws:s3:::gl-registry","arn:aws:s3:::gl-tmp","arn:aws:s3:::gl-uploads"]}}}},"Resource":"{resource}"}}]}}"#
    )
}

/// The role of the report (trusted by EKS Pod Identity) with the KMS policy, a role with an extra
/// explicit Deny, and a user with only S3 permissions.
fn state(extra_policies: &str, extra_users: &str) -> IamState {
    let yaml = format!(
        r#"policies:
  gitlab-s3-kms: {kms}
  deny-kms: {{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Action":"kms:*","Resource":"*"}}]}}
{extra_policies}
users:
  - access_key: alice
    secret_key: alice-secret-0123
    policies: [readwrite]
{extra_users}
identity:
  roles:
    - name: gitlab-eks-global
      trust_policy:
        Version: "2012-10-17"
        Statement:
          - Action: [sts:AssumeRole, sts:TagSession]
            Effect: Allow
            Principal: {{Service: pods.eks.amazonaws.com}}
      policies: [readwrite, gitlab-s3-kms]
    - name: denied
      trust_policy:
        Statement:
          - Action: sts:AssumeRole
            Effect: Allow
            Principal: {{Service: pods.eks.amazonaws.com}}
      policies: [readwrite, gitlab-s3-kms, deny-kms]
"#,
        kms = gitlab_kms_policy(KEY_ARN)
    );
    let config = Config::parse(&yaml).expect("config");
    let ring = Arc::new(Keyring::parse(&Keyring::new_key_line()).expect("ring"));
    let identity = Identity::build(&config.identity, ring, None).expect("identity");
    let root = Credentials { access_key: "root".into(), secret_key: Secret::new("root-secret-0123") };
    IamState::build(root, &config, Vec::new(), Vec::new(), Arc::new(identity))
}

fn session(role: &str, policy: Option<&str>) -> Caller {
    let claims = SessionClaims {
        access_key: "ASIAEXAMPLEEXAMPLE01".into(),
        role: role.into(),
        session: "eks-gitlab-webservice".into(),
        kind: SessionKind::PodIdentity,
        issued: 0,
        expires: u64::MAX,
        policy: policy.map(str::to_owned),
        vars: Default::default(),
        tags: Default::default(),
        transitive_tags: Default::default(),
        source: "test".into(),
    };
    Caller::Session { access_key: claims.access_key.clone(), claims: Arc::new(claims) }
}

fn key(arn: &str, manager: KeyManager) -> KmsKey {
    KmsKey {
        id: arn.rsplit('/').next().unwrap_or_default().to_owned(),
        arn: arn.to_owned(),
        aliases: Vec::new(),
        state: KeyState::Enabled,
        creation_date: 0,
        deletion_date: None,
        description: String::new(),
        manager,
        origin: KeyOrigin::Admin,
    }
}

/// Whether `caller` may do `action` on `key` with `aws:s3:arn` = `s3_arn` through S3 in `REGION`.
fn allowed(state: &IamState, caller: &Caller, action: &str, key: &KmsKey, s3_arn: &str) -> bool {
    let context: EncryptionContext = [("aws:s3:arn".to_owned(), s3_arn.to_owned())].into();
    let request = Context::new();
    let use_ = KmsUse { action, key, context: &context, request: &request, region: REGION };
    let decision = evaluate_kms(state, caller, &use_);
    assert_eq!(decision.is_allowed(), authorize_kms(state, caller, &use_).is_ok());
    decision.is_allowed()
}

/// With a customer-managed key, the report's statement is all there is: it allows exactly the two
/// actions on its key when the context names one of its buckets (bucket keys: the context is the
/// bucket ARN). A per-object context (`arn:aws:s3:::gl-lfs/obj`) does not match its `StringLike`
/// values, which hold no wildcard: as on AWS, that needs a pattern such as `arn:aws:s3:::gl-lfs/*`.
#[test]
fn the_gitlab_statement_allows_its_actions_on_its_key_for_its_buckets() {
    let state = state("", "");
    let pod = session("gitlab-eks-global", None);
    let customer = key(KEY_ARN, KeyManager::Customer);
    for action in [kura_policy::kms::GENERATE_DATA_KEY, kura_policy::kms::DECRYPT] {
        assert!(allowed(&state, &pod, action, &customer, "arn:aws:s3:::gl-lfs"), "{action}");
        assert!(allowed(&state, &pod, action, &customer, "arn:aws:s3:::gl-registry"), "{action}");
        assert!(!allowed(&state, &pod, action, &customer, "arn:aws:s3:::gl-lfs/objects/a"), "{action}");
        assert!(!allowed(&state, &pod, action, &customer, "arn:aws:s3:::other"), "{action}");
        assert!(!allowed(&state, &pod, action, &customer, "arn:aws:s3:::gl-lfs-evil"), "{action}");
    }
    assert!(!allowed(&state, &pod, kura_policy::kms::ENCRYPT, &customer, "arn:aws:s3:::gl-lfs"));
    let other = key("arn:aws:kms:ap-northeast-1:000000000000:key/other", KeyManager::Customer);
    assert!(!allowed(&state, &pod, kura_policy::kms::DECRYPT, &other, "arn:aws:s3:::gl-lfs"));
    // The user has S3 permissions only: no customer key for it.
    let alice = Caller::User { access_key: "alice".into() };
    assert!(!allowed(&state, &alice, kura_policy::kms::GENERATE_DATA_KEY, &customer, "arn:aws:s3:::gl-lfs"));
    // The error names the action and the key, as AWS's does.
    let context: EncryptionContext = [("aws:s3:arn".to_owned(), "arn:aws:s3:::x/y".to_owned())].into();
    let request = Context::new();
    let use_ = KmsUse { action: "kms:Decrypt", key: &customer, context: &context, request: &request, region: REGION };
    let err = authorize_kms(&state, &alice, &use_).expect_err("denied");
    assert_eq!(err.code(), &s3s::S3ErrorCode::AccessDenied);
    let message = err.message().unwrap_or_default();
    assert!(message.contains("kms:Decrypt") && message.contains(KEY_ARN), "{message}");
}

/// The report's key is `alias/aws/s3`, which kura manages: its key policy lets every caller of the
/// account use it through S3, so the pod writes and reads objects of any bucket (as on AWS, where
/// the IAM statement adds nothing for that key); an explicit Deny still wins, a session policy still
/// limits, and anonymous callers never use it.
#[test]
fn the_s3_managed_key_serves_the_account_through_s3() {
    let state = state("", "");
    let managed = key(KEY_ARN, KeyManager::Kura);
    let object = "arn:aws:s3:::gl-lfs/objects/a";
    let pod = session("gitlab-eks-global", None);
    assert!(allowed(&state, &pod, kura_policy::kms::GENERATE_DATA_KEY, &managed, object));
    assert!(allowed(&state, &pod, kura_policy::kms::DECRYPT, &managed, object));
    let alice = Caller::User { access_key: "alice".into() };
    assert!(allowed(&state, &alice, kura_policy::kms::DECRYPT, &managed, object));
    let denied = session("denied", None);
    assert!(!allowed(&state, &denied, kura_policy::kms::DECRYPT, &managed, object));
    let s3_only = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    assert!(!allowed(&state, &session("gitlab-eks-global", Some(s3_only)), "kms:Decrypt", &managed, object));
    let with_kms =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*","kms:*"],"Resource":"*"}]}"#;
    assert!(allowed(&state, &session("gitlab-eks-global", Some(with_kms)), "kms:Decrypt", &managed, object));
    assert!(!allowed(&state, &Caller::Anonymous, kura_policy::kms::DECRYPT, &managed, object));
    assert!(allowed(
        &state,
        &Caller::Root { access_key: "root".into() },
        "kms:Decrypt",
        &key(KEY_ARN, KeyManager::Customer),
        object
    ));
}

/// The other condition keys: wildcards on the context, `kms:ViaService`, `kms:CallerAccount`,
/// `kms:EncryptionContextKeys`, and wildcard actions.
#[test]
fn kms_condition_keys_and_wildcard_actions() {
    let extra = r#"  objects: {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:GenerateDataKey*","Resource":"arn:aws:kms:*:000000000000:key/*","Condition":{"StringLike":{"kms:EncryptionContext:aws:s3:arn":"arn:aws:s3:::gl-*/*"},"StringEquals":{"kms:ViaService":"s3.ap-northeast-1.amazonaws.com","kms:CallerAccount":"000000000000"},"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["aws:s3:arn"]}}}]}
  elsewhere: {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"s3.eu-west-1.amazonaws.com"}}}]}"#;
    let users = "  - access_key: bob\n    secret_key: bob-secret-01234\n    policies: [objects]\n  - access_key: carol\n    secret_key: carol-secret-0123\n    policies: [elsewhere]";
    let state = state(extra, users);
    let customer = key(KEY_ARN, KeyManager::Customer);
    let bob = Caller::User { access_key: "bob".into() };
    assert!(allowed(&state, &bob, "kms:GenerateDataKey", &customer, "arn:aws:s3:::gl-lfs/objects/a"));
    assert!(!allowed(&state, &bob, "kms:GenerateDataKey", &customer, "arn:aws:s3:::gl-lfs"));
    assert!(!allowed(&state, &bob, "kms:Decrypt", &customer, "arn:aws:s3:::gl-lfs/objects/a"));
    // An extra context pair fails ForAllValues on the context keys.
    let context: EncryptionContext =
        [("aws:s3:arn", "arn:aws:s3:::gl-lfs/a"), ("extra", "x")].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
    let request = Context::new();
    let use_ =
        KmsUse { action: "kms:GenerateDataKey", key: &customer, context: &context, request: &request, region: REGION };
    assert!(!evaluate_kms(&state, &bob, &use_).is_allowed());
    // Through S3 in another region: kms:ViaService does not match.
    let carol = Caller::User { access_key: "carol".into() };
    assert!(!allowed(&state, &carol, "kms:Decrypt", &customer, "arn:aws:s3:::gl-lfs/a"));
    let use_ =
        KmsUse { action: "kms:Decrypt", key: &customer, context: &context, request: &request, region: "eu-west-1" };
    assert!(evaluate_kms(&state, &carol, &use_).is_allowed());
}
