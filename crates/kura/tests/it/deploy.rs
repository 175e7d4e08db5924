//! The installation in `deploy/` (README, "Install on Kubernetes"). Every overlay under
//! `deploy/overlays/` is built with `kubectl kustomize`, and each object it yields is checked against
//! the Kubernetes API schema: deserialized into k8s-openapi's typed struct for its kind (cert-manager's
//! kinds into the strict structs of [`cert_manager`]) and serialized back, and the result must still
//! hold every field of the original, so a misspelt or misplaced field fails (serde alone would drop it
//! silently). A kind the test does not know fails too. Then the invariants the install relies on: no
//! Secret and nothing secret-looking in git, kura's security context and probes, every file kura.yaml
//! names provided by a volume of the right kind (secrets from Secrets mounted readOnly; the master keys
//! of encryption at rest always, from theirs), the TLS, webhook and agent wiring, and each ConfigMap's
//! kura.yaml accepted by kura's own parser. Also: the Grafana dashboard and the Prometheus rules parse
//! and name only kura's metrics, and the Dockerfile builds with the workspace's Rust.

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, PersistentVolumeClaim, PodSpec, Probe, Service, ServiceAccount, Volume,
    VolumeMount,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kura_server::config::{Config, MetadataBackend};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The namespace every namespaced object lives in (its DNS names are in the certificate).
const NAMESPACE: &str = "kura";
/// The overlays README documents; more may exist (every directory under deploy/overlays is built).
const DOCUMENTED_OVERLAYS: [&str; 4] = ["plain", "cert-manager", "workload-identity", "ha"];
/// The one user kura's pod runs as (and its group, and the volume group).
const KURA_UID: i64 = 65532;
/// The Secret holding the root credentials, made by the operator.
const ROOT_SECRET: &str = "kura-root";
/// The Secret holding the session keys (`identity.session_keys_file`), made by the operator.
const SESSION_KEYS_SECRET: &str = "kura-session-keys";
/// The Secret holding the master keys (`server.encryption.master_keys_file`), made by the operator.
const MASTER_KEYS_SECRET: &str = "kura-master-keys";
/// The Secret holding the PostgreSQL password (`server.metadata.postgres.password_file`), key
/// `password`: written by CloudNativePG for the example Cluster kura-db, or made by the operator.
const DB_SECRET: &str = "kura-db-app";
/// The Secret holding the CA of the PostgreSQL server's certificate (the URL's `sslrootcert`), key
/// `ca.crt`: written by CloudNativePG for the example Cluster kura-db (with the CA's key beside it, which
/// must not be mounted), or made by the operator with a managed PostgreSQL's CA bundle.
const DB_CA_SECRET: &str = "kura-db-ca";
/// The example CloudNativePG Cluster of the HA overlay, applied on its own (not part of any build).
const CNPG_EXAMPLE: &str = "deploy/overlays/ha/postgres-cloudnative-pg.yaml";
/// The webhook's path on kura's port.
const WEBHOOK_PATH: &str = "/kura/v1/webhook/pods";
/// The capabilities `kura agent` may add: NET_ADMIN for the address, NET_BIND_SERVICE for port 80.
const AGENT_CAPABILITIES: [&str; 2] = ["NET_ADMIN", "NET_BIND_SERVICE"];

/// What kind of series a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MetricType {
    Counter,
    Gauge,
    Histogram,
}

/// kura's metrics (`/kura/metrics`): the only `kura_*` names the dashboard and the alerts may use.
const METRICS: &[(&str, MetricType)] = &[
    ("kura_http_requests_total", MetricType::Counter),
    ("kura_http_request_duration_seconds", MetricType::Histogram),
    ("kura_http_request_bytes_total", MetricType::Counter),
    ("kura_http_response_bytes_total", MetricType::Counter),
    ("kura_http_requests_in_flight", MetricType::Gauge),
    ("kura_credentials_issued_total", MetricType::Counter),
    ("kura_credentials_refused_total", MetricType::Counter),
    ("kura_authn_failures_total", MetricType::Counter),
    ("kura_authz_denied_total", MetricType::Counter),
    ("kura_store_commit_batch_size", MetricType::Histogram),
    ("kura_store_commit_duration_seconds", MetricType::Histogram),
    ("kura_blob_fsync_duration_seconds", MetricType::Histogram),
    ("kura_build_info", MetricType::Gauge),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

// ------------------------------------------------------------------------------------------------
// Building the overlays

/// `kubectl`: from PATH, else where CI machines have it. Missing, the test fails (it never skips).
fn kubectl() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("kubectl")).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path.into_iter().chain([PathBuf::from("/usr/bin/kubectl")]).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!(
            "kubectl is needed to build deploy/overlays (`kubectl kustomize`) and is neither on PATH nor at \
             /usr/bin/kubectl: install it (https://kubernetes.io/docs/tasks/tools/) and run the tests again"
        )
    })
}

/// Every overlay directory (one with a kustomization.yaml), by name.
fn overlays() -> Vec<(String, PathBuf)> {
    let dir = repo().join("deploy/overlays");
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.join("kustomization.yaml").is_file())
        .map(|path| (path.file_name().expect("name").to_string_lossy().into_owned(), path))
        .collect();
    found.sort();
    found
}

/// `kubectl kustomize DIR`, split into its documents.
fn kustomize(dir: &Path) -> Vec<Value> {
    let out = Command::new(kubectl())
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("running kubectl kustomize {}: {e}", dir.display()));
    assert!(
        out.status.success(),
        "kubectl kustomize {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    yaml_documents(&String::from_utf8(out.stdout).expect("kustomize output is UTF-8"))
        .unwrap_or_else(|e| panic!("kubectl kustomize {}: {e}", dir.display()))
}

/// The documents of a YAML stream, as JSON values (empty documents skipped).
fn yaml_documents(text: &str) -> Result<Vec<Value>, String> {
    let mut documents = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value = Value::deserialize(document).map_err(|e| format!("not YAML: {e}"))?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    Ok(documents)
}

// ------------------------------------------------------------------------------------------------
// The schema: typed structs and the round trip

/// One object of a build, typed by its kind.
enum Object {
    Namespace(Namespace),
    ServiceAccount(ServiceAccount),
    ConfigMap(ConfigMap),
    Service(Service),
    StatefulSet(Box<StatefulSet>),
    Deployment(Box<Deployment>),
    PersistentVolumeClaim(Box<PersistentVolumeClaim>),
    DaemonSet(Box<DaemonSet>),
    PodDisruptionBudget(PodDisruptionBudget),
    MutatingWebhookConfiguration(MutatingWebhookConfiguration),
    ClusterRoleBinding(ClusterRoleBinding),
    Issuer(cert_manager::Issuer),
    Certificate(cert_manager::Certificate),
}

/// `apiVersion` and `kind` of a document.
fn kind_of(value: &Value) -> (String, String) {
    let field = |name: &str| value.get(name).and_then(Value::as_str).unwrap_or("?").to_owned();
    (field("apiVersion"), field("kind"))
}

/// The typed object for a document, or why it is not one the schema accepts whole.
fn typed(value: &Value) -> Result<Object, String> {
    let (api_version, kind) = kind_of(value);
    Ok(match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => Object::Namespace(round_trip(value)?),
        ("v1", "ServiceAccount") => Object::ServiceAccount(round_trip(value)?),
        ("v1", "ConfigMap") => Object::ConfigMap(round_trip(value)?),
        ("v1", "Service") => Object::Service(round_trip(value)?),
        ("apps/v1", "StatefulSet") => Object::StatefulSet(Box::new(round_trip(value)?)),
        ("apps/v1", "Deployment") => Object::Deployment(Box::new(round_trip(value)?)),
        ("v1", "PersistentVolumeClaim") => Object::PersistentVolumeClaim(Box::new(round_trip(value)?)),
        ("apps/v1", "DaemonSet") => Object::DaemonSet(Box::new(round_trip(value)?)),
        ("policy/v1", "PodDisruptionBudget") => Object::PodDisruptionBudget(round_trip(value)?),
        ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration") => {
            Object::MutatingWebhookConfiguration(round_trip(value)?)
        }
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => Object::ClusterRoleBinding(round_trip(value)?),
        ("cert-manager.io/v1", "Issuer") => Object::Issuer(round_trip(value)?),
        ("cert-manager.io/v1", "Certificate") => Object::Certificate(round_trip(value)?),
        ("v1", "Secret") => {
            return Err("a Secret: secrets are made by the operator (kubectl create secret), never kept in git".into());
        }
        _ => {
            return Err(format!(
                "unknown kind {api_version} {kind}: give it a typed check in deploy.rs (k8s-openapi, or a strict \
                 struct for a custom resource) before deploying it"
            ));
        }
    })
}

/// Deserializes `value` as `T`, serializes it back, and checks that nothing of `value` was lost.
fn round_trip<T: DeserializeOwned + Serialize>(value: &Value) -> Result<T, String> {
    let typed: T = serde_json::from_value(value.clone()).map_err(|e| format!("does not match the schema: {e}"))?;
    let back = serde_json::to_value(&typed).map_err(|e| format!("cannot serialize back: {e}"))?;
    let mut problems = Vec::new();
    compare(value, &back, "", &mut problems);
    if problems.is_empty() { Ok(typed) } else { Err(problems.join("; ")) }
}

/// Null, `{}` or `[]`: what a typed struct may add for a field the original left out.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// Records where `back` (the round trip) differs from `original`: a field of the original missing from
/// `back` was not in the schema; a value changed was read as something else.
fn compare(original: &Value, back: &Value, path: &str, problems: &mut Vec<String>) {
    match (original, back) {
        (Value::Object(o), Value::Object(b)) => {
            for (key, value) in o {
                let at = format!("{path}.{key}");
                match b.get(key) {
                    Some(returned) => compare(value, returned, &at, problems),
                    None if value.is_null() => {}
                    None => {
                        problems.push(format!("{at}: not a field here (misspelt or misplaced?): dropped by the schema"))
                    }
                }
            }
            for (key, value) in b {
                // An embedded resource (a StatefulSet's volumeClaimTemplates) is written back with its
                // apiVersion and kind, which the original may leave out.
                let identity = key == "apiVersion" || key == "kind";
                if !o.contains_key(key) && !is_empty(value) && !identity {
                    problems.push(format!("{path}.{key}: appeared in the round trip as {value}"));
                }
            }
        }
        (Value::Array(o), Value::Array(b)) if o.len() == b.len() => {
            for (i, (x, y)) in o.iter().zip(b).enumerate() {
                compare(x, y, &format!("{path}[{i}]"), problems);
            }
        }
        (Value::Number(x), Value::Number(y)) if x.as_f64().map(f64::to_bits) == y.as_f64().map(f64::to_bits) => {}
        (Value::Null, returned) if is_empty(returned) => {}
        _ if original == back => {}
        _ => problems.push(format!("{path}: {original} came back as {back}")),
    }
}

/// cert-manager's `Issuer` and `Certificate` (cert-manager.io/v1), as far as deploy/ uses them. Unknown
/// fields are refused, so a field these structs do not cover must be added here, from cert-manager's API
/// reference, before it is used.
mod cert_manager {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use serde::{Deserialize, Serialize};

    /// `Issuer`.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct Issuer {
        pub api_version: String,
        pub kind: String,
        pub metadata: ObjectMeta,
        pub spec: IssuerSpec,
    }

    /// `Issuer.spec`: exactly one issuer type.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct IssuerSpec {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub self_signed: Option<SelfSignedIssuer>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub ca: Option<CaIssuer>,
    }

    /// `spec.selfSigned`.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct SelfSignedIssuer {}

    /// `spec.ca`: signs with the CA in a Secret.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct CaIssuer {
        pub secret_name: String,
    }

    /// `Certificate`.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct Certificate {
        pub api_version: String,
        pub kind: String,
        pub metadata: ObjectMeta,
        pub spec: CertificateSpec,
    }

    /// `Certificate.spec`.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct CertificateSpec {
        pub secret_name: String,
        pub issuer_ref: IssuerRef,
        #[serde(rename = "isCA", skip_serializing_if = "Option::is_none")]
        pub is_ca: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub common_name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub dns_names: Option<Vec<String>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub duration: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub renew_before: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub private_key: Option<PrivateKey>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub usages: Option<Vec<KeyUsage>>,
    }

    /// `spec.issuerRef`.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct IssuerRef {
        pub name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub kind: Option<IssuerKind>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub group: Option<String>,
    }

    /// `issuerRef.kind`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
    pub enum IssuerKind {
        Issuer,
        ClusterIssuer,
    }

    /// `spec.privateKey`.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct PrivateKey {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub algorithm: Option<KeyAlgorithm>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub size: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub rotation_policy: Option<RotationPolicy>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub encoding: Option<KeyEncoding>,
    }

    /// `privateKey.algorithm`.
    #[derive(Debug, Clone, Copy, Deserialize, Serialize)]
    pub enum KeyAlgorithm {
        #[serde(rename = "RSA")]
        Rsa,
        #[serde(rename = "ECDSA")]
        Ecdsa,
        Ed25519,
    }

    /// `privateKey.rotationPolicy`.
    #[derive(Debug, Clone, Copy, Deserialize, Serialize)]
    pub enum RotationPolicy {
        Never,
        Always,
    }

    /// `privateKey.encoding`.
    #[derive(Debug, Clone, Copy, Deserialize, Serialize)]
    pub enum KeyEncoding {
        #[serde(rename = "PKCS1")]
        Pkcs1,
        #[serde(rename = "PKCS8")]
        Pkcs8,
    }

    /// `spec.usages` (cert-manager's KeyUsage values).
    #[derive(Debug, Clone, Copy, Deserialize, Serialize)]
    #[serde(rename_all = "lowercase")]
    pub enum KeyUsage {
        #[serde(rename = "signing")]
        Signing,
        #[serde(rename = "digital signature")]
        DigitalSignature,
        #[serde(rename = "content commitment")]
        ContentCommitment,
        #[serde(rename = "key encipherment")]
        KeyEncipherment,
        #[serde(rename = "key agreement")]
        KeyAgreement,
        #[serde(rename = "data encipherment")]
        DataEncipherment,
        #[serde(rename = "cert sign")]
        CertSign,
        #[serde(rename = "crl sign")]
        CrlSign,
        #[serde(rename = "server auth")]
        ServerAuth,
        #[serde(rename = "client auth")]
        ClientAuth,
    }
}

/// CloudNativePG's `Cluster` (postgresql.cnpg.io/v1), as far as the HA overlay's example uses it. Unknown
/// fields are refused, so a field these structs do not cover must be added here, from the operator's API
/// reference, before it is used.
mod cnpg {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use serde::{Deserialize, Serialize};

    /// `Cluster`.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct Cluster {
        pub api_version: String,
        pub kind: String,
        pub metadata: ObjectMeta,
        pub spec: ClusterSpec,
    }

    /// `Cluster.spec`.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct ClusterSpec {
        pub instances: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub image_name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub postgresql: Option<PostgresConfiguration>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub bootstrap: Option<Bootstrap>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub affinity: Option<Affinity>,
        pub storage: Storage,
    }

    /// `spec.postgresql`.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct PostgresConfiguration {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub synchronous: Option<Synchronous>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub parameters: Option<std::collections::BTreeMap<String, String>>,
    }

    /// `spec.postgresql.synchronous`: quorum-based synchronous replication.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct Synchronous {
        pub method: SyncMethod,
        pub number: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub data_durability: Option<DataDurability>,
    }

    /// `synchronous.method`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
    #[serde(rename_all = "lowercase")]
    pub enum SyncMethod {
        Any,
        First,
    }

    /// `synchronous.dataDurability` (`required` when left out).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
    #[serde(rename_all = "lowercase")]
    pub enum DataDurability {
        Required,
        Preferred,
    }

    /// `spec.bootstrap`.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Bootstrap {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub initdb: Option<InitDb>,
    }

    /// `spec.bootstrap.initdb`: the application database, its owner, and the Secret of the owner's
    /// password (by default the operator writes `<cluster>-app`).
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct InitDb {
        pub database: String,
        pub owner: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub secret: Option<LocalObjectReference>,
    }

    /// A Secret in the Cluster's namespace.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct LocalObjectReference {
        pub name: String,
    }

    /// `spec.affinity`.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct Affinity {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub enable_pod_anti_affinity: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub topology_key: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub pod_anti_affinity_type: Option<AntiAffinityType>,
    }

    /// `affinity.podAntiAffinityType`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
    #[serde(rename_all = "lowercase")]
    pub enum AntiAffinityType {
        Preferred,
        Required,
    }

    /// `spec.storage`.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct Storage {
        pub size: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub storage_class: Option<String>,
    }
}

// ------------------------------------------------------------------------------------------------
// Secret-looking text

/// Why `text` looks like it holds a secret (empty when it does not): a PEM block, an access key id,
/// a long random-looking string (a base64 key, a secret key).
fn secret_findings(text: &str) -> Vec<String> {
    let mut findings = Vec::new();
    if text.contains("-----BEGIN") {
        findings.push("a PEM block".to_owned());
    }
    let token_chars = |c: char| c.is_ascii_alphanumeric() || "+/=_.:-".contains(c);
    for token in text.split(|c: char| !token_chars(c)).filter(|t| !t.is_empty()) {
        let id_like = token.len() == 20
            && ["AKIA", "ASIA", "KURA"].iter().any(|p| token.starts_with(p))
            && token[4..].chars().all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c));
        let key_like = token.len() >= 24
            && token.chars().all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c))
            && token.chars().any(|c| c.is_ascii_uppercase())
            && token.chars().any(|c| c.is_ascii_lowercase())
            && token.chars().any(|c| c.is_ascii_digit());
        if id_like {
            findings.push(format!("an access key id ({}…)", &token[..4]));
        } else if key_like {
            findings.push(format!("a key-like string ({}…)", &token[..4]));
        }
    }
    findings
}

/// Every string in a value (keys included), for the secret scan.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => {
            for (k, v) in map {
                out.push(k.clone());
                strings(v, out);
            }
        }
        _ => {}
    }
}

/// Keys of kura.yaml that hold a secret inline (their `_file` forms are how secrets are given).
const INLINE_SECRET_KEYS: [&str; 5] = ["secret_key", "secret", "password", "token", "private_key"];

/// Paths in a parsed kura.yaml (as YAML, generically) where a secret is given inline.
fn inline_secrets(value: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let at = format!("{path}.{k}");
                if INLINE_SECRET_KEYS.contains(&k.as_str()) && !v.is_null() {
                    out.push(at.clone());
                }
                inline_secrets(v, &at, out);
            }
        }
        Value::Array(items) => {
            items.iter().enumerate().for_each(|(i, v)| inline_secrets(v, &format!("{path}[{i}]"), out))
        }
        _ => {}
    }
}

// ------------------------------------------------------------------------------------------------
// Pod helpers

fn pod_spec_of_statefulset(sts: &StatefulSet) -> Option<&PodSpec> {
    sts.spec.as_ref()?.template.spec.as_ref()
}

fn pod_spec_of_daemonset(ds: &DaemonSet) -> Option<&PodSpec> {
    ds.spec.as_ref()?.template.spec.as_ref()
}

fn pod_spec_of_deployment(deployment: &Deployment) -> Option<&PodSpec> {
    deployment.spec.as_ref()?.template.spec.as_ref()
}

/// kura's server workload, whichever kind runs it: the base's StatefulSet (one replica on redb, its
/// own volume) or the HA overlay's Deployment (stateless replicas on PostgreSQL and a shared claim).
struct ServerWorkload {
    kind: &'static str,
    replicas: Option<i32>,
    selector: LabelSelector,
    labels: Option<BTreeMap<String, String>>,
    pod: PodSpec,
    /// A StatefulSet's volumeClaimTemplates by name; `None` for a Deployment.
    claim_templates: Option<Vec<String>>,
    /// A StatefulSet's governing Service.
    service_name: Option<String>,
}

impl ServerWorkload {
    fn of_statefulset(sts: &StatefulSet) -> Self {
        let spec = sts.spec.clone().unwrap_or_default();
        Self {
            kind: "StatefulSet",
            replicas: spec.replicas,
            labels: spec.template.metadata.as_ref().and_then(|m| m.labels.clone()),
            pod: pod_spec_of_statefulset(sts).cloned().unwrap_or_default(),
            claim_templates: Some(
                spec.volume_claim_templates.iter().flatten().filter_map(|c| c.metadata.name.clone()).collect(),
            ),
            service_name: spec.service_name,
            selector: spec.selector,
        }
    }

    fn of_deployment(deployment: &Deployment) -> Self {
        let spec = deployment.spec.clone().unwrap_or_default();
        Self {
            kind: "Deployment",
            replicas: spec.replicas,
            labels: spec.template.metadata.as_ref().and_then(|m| m.labels.clone()),
            pod: pod_spec_of_deployment(deployment).cloned().unwrap_or_default(),
            claim_templates: None,
            service_name: None,
            selector: spec.selector,
        }
    }
}

/// The value after `flag` in `args`.
fn flag<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).map(String::as_str)
}

/// The mount of `container` that holds `file`, and its volume.
fn mount_of<'a>(spec: &'a PodSpec, container: &'a Container, file: &str) -> Option<(&'a VolumeMount, &'a Volume)> {
    let mount = container
        .volume_mounts
        .iter()
        .flatten()
        .filter(|m| file.starts_with(&format!("{}/", m.mount_path.trim_end_matches('/'))))
        .max_by_key(|m| m.mount_path.len())?;
    let volume = spec.volumes.iter().flatten().find(|v| v.name == mount.name)?;
    Some((mount, volume))
}

/// Where a file a kura.yaml names comes from.
#[derive(Debug, PartialEq, Eq)]
enum FileSource {
    /// A key of a Secret.
    Secret { name: String, key: String },
    /// A key of a ConfigMap.
    ConfigMap { name: String, key: String },
}

/// The Secret or ConfigMap key that provides `file` in `container`, or why none does.
fn file_source(spec: &PodSpec, container: &Container, file: &str) -> Result<FileSource, String> {
    let (mount, volume) = mount_of(spec, container, file)
        .ok_or_else(|| format!("{file}: no volume of container {} holds it", container.name))?;
    if mount.sub_path.is_some() {
        return Err(format!("{file}: mounted with subPath, which never sees updates"));
    }
    let relative = &file[mount.mount_path.trim_end_matches('/').len() + 1..];
    let key_of = |items: Option<&Vec<k8s_openapi::api::core::v1::KeyToPath>>| match items {
        None => Some(relative.to_owned()),
        Some(items) => items.iter().find(|i| i.path == relative).map(|i| i.key.clone()),
    };
    if let Some(secret) = &volume.secret {
        let name = secret.secret_name.clone().unwrap_or_default();
        let key =
            key_of(secret.items.as_ref()).ok_or_else(|| format!("{file}: not among the items of Secret {name}"))?;
        Ok(FileSource::Secret { name, key })
    } else if let Some(config_map) = &volume.config_map {
        let name = config_map.name.clone();
        let key = key_of(config_map.items.as_ref())
            .ok_or_else(|| format!("{file}: not among the items of ConfigMap {name}"))?;
        Ok(FileSource::ConfigMap { name, key })
    } else {
        Err(format!("{file}: volume {} is neither a Secret nor a ConfigMap", volume.name))
    }
}

/// The probe's HTTP path and scheme, if it is an httpGet probe.
fn http_probe(probe: Option<&Probe>) -> Option<(String, String, IntOrString)> {
    let get = probe?.http_get.as_ref()?;
    Some((get.path.clone().unwrap_or_default(), get.scheme.clone().unwrap_or_else(|| "HTTP".into()), get.port.clone()))
}

/// Whether `selector` (matchLabels only) selects pods labelled `labels`.
fn selects(selector: Option<&LabelSelector>, labels: Option<&BTreeMap<String, String>>) -> bool {
    let (Some(selector), Some(labels)) = (selector, labels) else { return false };
    let Some(wanted) = &selector.match_labels else { return false };
    selector.match_expressions.is_none() && !wanted.is_empty() && wanted.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The host of an `https://HOST:PORT/…` URL, and its port.
fn host_port(url: &str) -> Option<(String, u16)> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split('/').next()?;
    let default = if url.starts_with("https://") { 443 } else { 80 };
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_owned(), port.parse().ok()?)),
        None => Some((authority.to_owned(), default)),
    }
}

// ------------------------------------------------------------------------------------------------
// One overlay

/// A built overlay: its typed objects, and the failures found so far.
struct Build {
    name: String,
    objects: Vec<Object>,
    raw: Vec<Value>,
    failures: Vec<String>,
}

impl Build {
    fn new(name: &str, dir: &Path) -> Self {
        let raw = kustomize(dir);
        let mut build = Self { name: name.to_owned(), objects: Vec::new(), raw: raw.clone(), failures: Vec::new() };
        for value in &raw {
            let (api_version, kind) = kind_of(value);
            let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("?");
            match typed(value) {
                Ok(object) => build.objects.push(object),
                Err(e) => build.fail(format!("{api_version} {kind} {name}: {e}")),
            }
        }
        build
    }

    fn fail(&mut self, message: impl Into<String>) {
        self.failures.push(format!("overlay {}: {}", self.name, message.into()));
    }

    fn check(&mut self, ok: bool, message: impl FnOnce() -> String) {
        if !ok {
            let message = message();
            self.fail(message);
        }
    }

    fn statefulsets(&self) -> impl Iterator<Item = &StatefulSet> {
        self.objects.iter().filter_map(|o| if let Object::StatefulSet(s) = o { Some(s.as_ref()) } else { None })
    }
    fn deployments(&self) -> impl Iterator<Item = &Deployment> {
        self.objects.iter().filter_map(|o| if let Object::Deployment(d) = o { Some(d.as_ref()) } else { None })
    }
    fn daemonsets(&self) -> impl Iterator<Item = &DaemonSet> {
        self.objects.iter().filter_map(|o| if let Object::DaemonSet(d) = o { Some(d.as_ref()) } else { None })
    }
    fn services(&self) -> impl Iterator<Item = &Service> {
        self.objects.iter().filter_map(|o| if let Object::Service(s) = o { Some(s) } else { None })
    }
    fn config_maps(&self) -> impl Iterator<Item = &ConfigMap> {
        self.objects.iter().filter_map(|o| if let Object::ConfigMap(c) = o { Some(c) } else { None })
    }
    fn certificates(&self) -> impl Iterator<Item = &cert_manager::Certificate> {
        self.objects.iter().filter_map(|o| if let Object::Certificate(c) = o { Some(c) } else { None })
    }
    fn issuers(&self) -> impl Iterator<Item = &cert_manager::Issuer> {
        self.objects.iter().filter_map(|o| if let Object::Issuer(i) = o { Some(i) } else { None })
    }
    fn webhooks(&self) -> impl Iterator<Item = &MutatingWebhookConfiguration> {
        self.objects.iter().filter_map(|o| if let Object::MutatingWebhookConfiguration(w) = o { Some(w) } else { None })
    }
    fn namespace(&self) -> Option<&Namespace> {
        self.objects.iter().find_map(|o| if let Object::Namespace(n) = o { Some(n) } else { None })
    }
    fn service(&self, name: &str) -> Option<&Service> {
        self.services().find(|s| s.metadata.name.as_deref() == Some(name))
    }
    fn certificate_for_secret(&self, secret: &str) -> Option<&cert_manager::Certificate> {
        self.certificates().find(|c| c.spec.secret_name == secret)
    }

    /// Names, namespaces and the secret scan over every object.
    fn check_metadata(&mut self) {
        let mut problems = Vec::new();
        for object in &self.raw {
            let (_, kind) = kind_of(object);
            let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("?").to_owned();
            let namespace = object.pointer("/metadata/namespace").and_then(Value::as_str);
            let cluster_scoped =
                ["Namespace", "MutatingWebhookConfiguration", "ClusterRoleBinding"].contains(&kind.as_str());
            match (cluster_scoped, namespace) {
                (true, None) | (false, Some(NAMESPACE)) => {}
                (true, Some(ns)) => problems.push(format!("{kind} {name}: cluster-scoped, but has namespace {ns}")),
                (false, ns) => problems.push(format!("{kind} {name}: in namespace {ns:?}, not {NAMESPACE}")),
            }
            let mut texts = Vec::new();
            strings(object, &mut texts);
            for finding in texts.iter().flat_map(|t| secret_findings(t)) {
                problems.push(format!("{kind} {name}: holds {finding}: secrets belong in operator-made Secrets"));
            }
        }
        for p in problems {
            self.fail(p);
        }
        let namespaces = self.objects.iter().filter(|o| matches!(o, Object::Namespace(_))).count();
        self.check(namespaces == 1, || format!("{namespaces} Namespace objects, expected one ({NAMESPACE})"));
    }

    /// The kura.yaml of the ConfigMap `name` (`key`), parsed by kura with stand-ins for the files it reads.
    fn kura_config(&mut self, name: &str, key: &str, files: &[String]) -> Option<Config> {
        let Some(text) = self
            .config_maps()
            .find(|c| c.metadata.name.as_deref() == Some(name))
            .and_then(|c| c.data.as_ref()?.get(key).cloned())
        else {
            self.fail(format!("--config names key {key} of ConfigMap {name}, which the build does not have"));
            return None;
        };
        let generic: Value = match serde_yaml_ng::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                self.fail(format!("ConfigMap {name} {key}: not YAML: {e}"));
                return None;
            }
        };
        let mut inline = Vec::new();
        inline_secrets(&generic, "", &mut inline);
        for at in inline {
            self.fail(format!("ConfigMap {name} {key}: {at} gives a secret inline; use its _file form and a Secret"));
        }
        // The files kura reads while parsing (CA and JWKS files, users' secrets) exist only in the pod:
        // stand-ins in a temporary directory, under the same paths.
        let stand_ins = tempfile::tempdir().expect("tempdir");
        let mut text = text;
        for file in files {
            let stand_in = stand_ins.path().join(file.trim_start_matches('/'));
            std::fs::create_dir_all(stand_in.parent().expect("parent")).expect("mkdir");
            std::fs::write(&stand_in, "stand-in-secret-0123456789\n").expect("write stand-in");
            text = text.replace(file.as_str(), &stand_in.to_string_lossy());
        }
        match Config::parse(&text) {
            Ok(config) => Some(config),
            Err(e) => {
                self.fail(format!("ConfigMap {name} {key}: kura refuses it: {e}"));
                None
            }
        }
    }

    /// kura's StatefulSet, its config, its Services, its budget.
    fn check_server(&mut self) -> Option<Config> {
        let workloads: Vec<ServerWorkload> = self
            .statefulsets()
            .map(ServerWorkload::of_statefulset)
            .chain(self.deployments().map(ServerWorkload::of_deployment))
            .collect();
        let [workload] = workloads.as_slice() else {
            self.fail(format!(
                "{} StatefulSets and Deployments passed the schema check, expected one (kura)",
                workloads.len()
            ));
            return None;
        };
        let kind = workload.kind;
        let pod = workload.pod.clone();
        let labels = workload.labels.clone();
        self.check(selects(Some(&workload.selector), labels.as_ref()), || {
            format!("{kind} kura: its selector does not select its own pods")
        });
        self.check(pod.automount_service_account_token == Some(false), || {
            format!("{kind} kura: kura calls no Kubernetes API: automountServiceAccountToken must be false")
        });
        let Some(container) = pod.containers.iter().find(|c| c.name == "kura").cloned() else {
            self.fail(format!("{kind} kura: no container named kura"));
            return None;
        };
        let name = &format!("{kind} kura, container kura");

        // The command and its flags.
        let args = container.args.clone().unwrap_or_default();
        self.check(container.command.as_deref() == Some(&["/kura".to_owned()][..]), || {
            format!("{name}: command must be [/kura] (the Dockerfile's binary), not {:?}", container.command)
        });
        self.check(args.first().map(String::as_str) == Some("server"), || {
            format!("{name}: args must start with server")
        });
        let config_path = flag(&args, "--config").map(str::to_owned);
        let data = flag(&args, "--data").map(str::to_owned);

        // The data directory: a StatefulSet's claim template (one pod's volume), or for a Deployment a
        // claim of the build that every replica mounts, which must then be ReadWriteMany.
        match &data {
            Some(data) => {
                let mounted = container.volume_mounts.iter().flatten().find(|m| &m.mount_path == data);
                match workload.claim_templates.as_ref() {
                    Some(claims) => self.check(mounted.is_some_and(|m| claims.contains(&m.name)), || {
                        format!("{name}: --data {data} is not where a volumeClaimTemplate ({claims:?}) is mounted")
                    }),
                    None => self.check_shared_claim(name, &pod, mounted, data),
                }
            }
            None => self.fail(format!("{name}: no --data")),
        }

        // Root credentials from the operator's Secret, never literal.
        for (variable, key) in [("KURA_ROOT_ACCESS_KEY", "access-key"), ("KURA_ROOT_SECRET_KEY", "secret-key")] {
            let from = container
                .env
                .iter()
                .flatten()
                .find(|e| e.name == variable)
                .and_then(|e| e.value_from.as_ref()?.secret_key_ref.as_ref())
                .map(|r| (r.name.clone(), r.key.clone(), r.optional));
            self.check(from == Some((ROOT_SECRET.to_owned(), key.to_owned(), None)), || {
                format!(
                    "{name}: {variable} must come from key {key} of the Secret {ROOT_SECRET} (required), not {from:?}"
                )
            });
        }
        for env in container.env.iter().flatten() {
            let secretish = env.name.contains("SECRET") || env.name.contains("TOKEN") || env.name.contains("PASSWORD");
            self.check(!(secretish && env.value.is_some()), || {
                format!("{name}: {} is given a literal value", env.name)
            });
        }

        // Security context (the container's, over the pod's).
        let psc = pod.security_context.clone().unwrap_or_default();
        let csc = container.security_context.clone().unwrap_or_default();
        self.check(csc.run_as_non_root.or(psc.run_as_non_root) == Some(true), || format!("{name}: runAsNonRoot"));
        self.check(csc.run_as_user.or(psc.run_as_user) == Some(KURA_UID), || format!("{name}: runAsUser {KURA_UID}"));
        self.check(csc.run_as_group.or(psc.run_as_group) == Some(KURA_UID), || {
            format!("{name}: runAsGroup {KURA_UID}")
        });
        self.check(psc.fs_group == Some(KURA_UID), || format!("{name}: the pod's fsGroup must be {KURA_UID}"));
        self.check_hardening(name, &pod, &container, &[]);

        // Probes.
        let config = match &config_path {
            Some(path) => match file_source(&pod, &container, path) {
                Ok(FileSource::ConfigMap { name: cm, key }) => {
                    let files = self.config_files(&pod, &container, &cm, &key);
                    self.kura_config(&cm, &key, &files)
                }
                Ok(other) => {
                    self.fail(format!("{name}: --config {path} comes from {other:?}, not a ConfigMap"));
                    None
                }
                Err(e) => {
                    self.fail(format!("{name}: --config {e}"));
                    None
                }
            },
            None => {
                self.fail(format!("{name}: no --config"));
                None
            }
        };
        let tls = config.as_ref().is_some_and(|c| c.server.tls.is_some());
        // Without a config that parses (reported above), the probes' scheme cannot be judged.
        let schemes: &[&str] = match &config {
            None => &["HTTP", "HTTPS"],
            Some(_) if tls => &["HTTPS"],
            Some(_) => &["HTTP"],
        };
        let http_port =
            container.ports.iter().flatten().find(|p| p.name.as_deref() == Some("http")).map(|p| p.container_port);
        for (probe, path) in [
            (container.liveness_probe.as_ref(), "/kura/health/live"),
            (container.readiness_probe.as_ref(), "/kura/health/ready"),
        ] {
            let found = http_probe(probe);
            let port_ok = |p: &IntOrString| match p {
                IntOrString::String(s) => s == "http",
                IntOrString::Int(n) => Some(*n) == http_port,
            };
            self.check(
                found.as_ref().is_some_and(|(p, s, port)| p == path && schemes.contains(&s.as_str()) && port_ok(port)),
                || {
                    format!(
                        "{name}: probe must be httpGet {path} over {} on port http, not {found:?}",
                        schemes.join(" or ")
                    )
                },
            );
        }

        // The listen port is the container port the Service targets.
        if let Some(config) = &config {
            let port = config.server.address.map(|a| a.port());
            self.check(port.is_some() && port.map(i32::from) == http_port, || {
                format!(
                    "{name}: kura.yaml listens on {:?}, the container port http is {http_port:?}",
                    config.server.address
                )
            });
            self.check(config.server.address.is_some_and(|a| a.ip().is_unspecified()), || {
                format!("{name}: kura.yaml's server.address must listen on all addresses in a pod")
            });
        }
        let service = self.service("kura").cloned();
        match service.as_ref().and_then(|s| s.spec.clone()) {
            Some(svc) => {
                let port = svc.ports.iter().flatten().find(|p| p.name.as_deref() == Some("http")).cloned();
                self.check(
                    port.as_ref()
                        .is_some_and(|p| p.port == 9000 && p.target_port == Some(IntOrString::String("http".into()))),
                    || format!("Service kura: port http must be 9000 to the container port http, not {port:?}"),
                );
                if tls {
                    self.check(port.as_ref().is_some_and(|p| p.app_protocol.as_deref() == Some("https")), || {
                        "Service kura: kura serves TLS: appProtocol https".into()
                    });
                }
                self.check(selects_map(svc.selector.as_ref(), labels.as_ref()), || {
                    "Service kura: does not select kura's pods".into()
                });
            }
            None => self.fail("no Service kura"),
        }
        if kind == "StatefulSet" {
            let governing = workload.service_name.clone().unwrap_or_default();
            let headless = self.service(&governing).and_then(|s| s.spec.as_ref()).and_then(|s| s.cluster_ip.clone());
            self.check(headless.as_deref() == Some("None"), || {
                format!("StatefulSet kura: serviceName {governing:?} must be a headless Service in the build")
            });
        }
        let budgets: Vec<PodDisruptionBudget> = self
            .objects
            .iter()
            .filter_map(|o| if let Object::PodDisruptionBudget(p) = o { Some(p.clone()) } else { None })
            .collect();
        self.check(
            budgets.iter().any(|b| selects(b.spec.as_ref().and_then(|s| s.selector.as_ref()), labels.as_ref())),
            || "no PodDisruptionBudget selects kura's pods".into(),
        );

        // Resources.
        let resources = container.resources.clone().unwrap_or_default();
        for (what, list) in [("requests", resources.requests), ("limits", resources.limits)] {
            let list = list.unwrap_or_default();
            self.check(list.contains_key("cpu") && list.contains_key("memory"), || {
                format!("{name}: {what} for cpu and memory")
            });
        }

        if let Some(config) = &config {
            // Encryption at rest: the master keys from their Secret (checked with the other files), never
            // only the generated DATA/master-keys on the volume, which a lost volume or a backup without
            // secrets would take with it.
            self.check(config.server.encryption.master_keys_file.is_some(), || {
                format!(
                    "{name}: kura.yaml must set server.encryption.master_keys_file (the Secret {MASTER_KEYS_SECRET})"
                )
            });
            self.check_tls(&pod, &container, config);
            self.check_database_tls(&pod, &container, config);
            self.check_replicas(workload, &budgets, config);
        }
        config
    }

    /// On PostgreSQL: the URL asks for `sslmode=verify-full`, its `sslrootcert` is key `ca.crt` of the
    /// Secret [`DB_CA_SECRET`], mounted read-only, and nothing else of that Secret is mounted (its
    /// `ca.key` signs the database's certificates).
    fn check_database_tls(&mut self, pod: &PodSpec, container: &Container, config: &Config) {
        let MetadataBackend::Postgres(postgres) = &config.server.metadata else { return };
        let query = postgres.url.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let param = |name: &str| {
            query.split('&').find_map(|p| p.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v.to_owned()))
        };
        self.check(param("sslmode").as_deref() == Some("verify-full"), || {
            "server.metadata.postgres.url: sslmode=verify-full (the database's certificate checked)".into()
        });
        let Some(file) = param("sslrootcert") else {
            self.fail("server.metadata.postgres.url: no sslrootcert (the database's CA)");
            return;
        };
        match file_source(pod, container, &file) {
            Ok(FileSource::Secret { name, key }) if name == DB_CA_SECRET && key == "ca.crt" => {
                let (mount, volume) = mount_of(pod, container, &file).expect("file_source found it");
                self.check(mount.read_only == Some(true), || format!("sslrootcert {file}: mounted readOnly"));
                let items: Vec<String> = volume
                    .secret
                    .as_ref()
                    .and_then(|s| s.items.as_ref())
                    .map(|items| items.iter().map(|i| i.key.clone()).collect())
                    .unwrap_or_default();
                self.check(items == ["ca.crt"], || {
                    format!(
                        "volume {}: only the key ca.crt of the Secret {DB_CA_SECRET} (items), not {items:?}",
                        volume.name
                    )
                });
            }
            other => {
                self.fail(format!("sslrootcert {file}: must be key ca.crt of the Secret {DB_CA_SECRET}, not {other:?}"))
            }
        }
    }

    /// The replica count fits the metadata back end: redb is one process's file, so one StatefulSet
    /// replica; on PostgreSQL, a Deployment of at least two replicas on distinct nodes, a budget that
    /// keeps at least two of them up yet lets a drain evict one, and a Service that routes around a
    /// replica that is not ready.
    fn check_replicas(&mut self, workload: &ServerWorkload, budgets: &[PodDisruptionBudget], config: &Config) {
        let kind = workload.kind;
        let replicas = workload.replicas.unwrap_or(1);
        match &config.server.metadata {
            MetadataBackend::Postgres(_) => {
                self.check(kind == "Deployment", || {
                    format!("{kind} kura: on PostgreSQL the replicas are stateless: a Deployment, not a {kind}")
                });
                self.check(replicas >= 2, || {
                    format!("{kind} kura: {replicas} replica(s) on shared metadata; at least 2 for availability")
                });
                let anti_affinity = workload
                    .pod
                    .affinity
                    .as_ref()
                    .and_then(|a| a.pod_anti_affinity.as_ref())
                    .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())
                    .is_some_and(|terms| {
                        terms.iter().any(|t| {
                            t.topology_key == "kubernetes.io/hostname"
                                && selects(t.label_selector.as_ref(), workload.labels.as_ref())
                        })
                    });
                self.check(anti_affinity, || {
                    format!(
                        "{kind} kura: a required pod anti-affinity on kubernetes.io/hostname selecting kura's pods \
                         (never two replicas on one node)"
                    )
                });
                let min_available: Vec<Option<IntOrString>> = budgets
                    .iter()
                    .filter(|b| selects(b.spec.as_ref().and_then(|s| s.selector.as_ref()), workload.labels.as_ref()))
                    .map(|b| b.spec.as_ref().and_then(|s| s.min_available.clone()))
                    .collect();
                self.check(
                    matches!(min_available.as_slice(), [Some(IntOrString::Int(m))] if *m >= 2 && *m < replicas),
                    || {
                        format!(
                            "PodDisruptionBudget kura: one budget with minAvailable of at least 2 and below the \
                             {replicas} replicas (so a drain can evict one), not {min_available:?}"
                        )
                    },
                );
                let publish = self.service("kura").and_then(|s| s.spec.as_ref()?.publish_not_ready_addresses);
                self.check(publish != Some(true), || {
                    "Service kura: with several replicas, a replica that is not ready must leave the Service \
                     (publishNotReadyAddresses false)"
                        .into()
                });
            }
            _ => {
                self.check(kind == "StatefulSet" && replicas == 1, || {
                    format!("{kind} kura: {replicas} replica(s) on redb, which is one process's: one StatefulSet pod")
                });
            }
        }
    }

    /// A Deployment's data directory: the volume mounted there is a PersistentVolumeClaim of the build,
    /// and the claim is ReadWriteMany (every replica, on its own node, mounts it).
    fn check_shared_claim(&mut self, name: &str, pod: &PodSpec, mounted: Option<&VolumeMount>, data: &str) {
        let claim_name = mounted
            .and_then(|m| pod.volumes.iter().flatten().find(|v| v.name == m.name))
            .and_then(|v| v.persistent_volume_claim.as_ref())
            .map(|c| c.claim_name.clone());
        let Some(claim_name) = claim_name else {
            self.fail(format!("{name}: --data {data} is not where a PersistentVolumeClaim is mounted"));
            return;
        };
        let modes = self.objects.iter().find_map(|o| match o {
            Object::PersistentVolumeClaim(c) if c.metadata.name.as_deref() == Some(claim_name.as_str()) => {
                Some(c.spec.as_ref().and_then(|s| s.access_modes.clone()).unwrap_or_default())
            }
            _ => None,
        });
        match modes {
            Some(modes) => self.check(modes == ["ReadWriteMany"], || {
                format!("PersistentVolumeClaim {claim_name}: every replica mounts it: accessModes [ReadWriteMany], not {modes:?}")
            }),
            None => self.fail(format!("{name}: --data {data} mounts claim {claim_name}, which the build does not have")),
        }
    }

    /// The files a kura.yaml names (`*_file`), each checked against the container's volumes: secrets
    /// from Secrets only, everything from a mounted volume. Returns those the parser reads, for its
    /// stand-ins.
    fn config_files(&mut self, pod: &PodSpec, container: &Container, config_map: &str, key: &str) -> Vec<String> {
        let text = self
            .config_maps()
            .find(|c| c.metadata.name.as_deref() == Some(config_map))
            .and_then(|c| c.data.as_ref()?.get(key).cloned())
            .unwrap_or_default();
        let Ok(generic) = serde_yaml_ng::from_str::<Value>(&text) else { return Vec::new() };
        let mut named = Vec::new();
        file_fields(&generic, "", &mut named);
        let mut files = Vec::new();
        for (field, file) in named {
            let secret_field =
                ["secret_key_file", "session_keys_file", "master_keys_file", "key_file", "password_file"]
                    .contains(&field.rsplit('.').next().unwrap_or(""));
            match file_source(pod, container, &file) {
                Ok(FileSource::Secret { name, key }) => {
                    if field.ends_with("session_keys_file") {
                        self.check(name == SESSION_KEYS_SECRET && key == "session-keys", || {
                            format!("{field} {file}: must be key session-keys of the Secret {SESSION_KEYS_SECRET}, not {name}/{key}")
                        });
                    }
                    if field.ends_with("password_file") {
                        self.check(name == DB_SECRET && key == "password", || {
                            format!("{field} {file}: must be key password of the Secret {DB_SECRET}, not {name}/{key}")
                        });
                    }
                    if field.ends_with("master_keys_file") {
                        self.check(name == MASTER_KEYS_SECRET && key == "master-keys", || {
                            format!("{field} {file}: must be key master-keys of the Secret {MASTER_KEYS_SECRET}, not {name}/{key}")
                        });
                    }
                    let read_only = mount_of(pod, container, &file).is_some_and(|(m, _)| m.read_only == Some(true));
                    self.check(read_only, || format!("{field} {file}: the Secret {name} must be mounted readOnly"));
                }
                Ok(FileSource::ConfigMap { name, .. }) if secret_field => {
                    self.fail(format!("{field} {file}: a secret from ConfigMap {name}; it must come from a Secret"));
                }
                Ok(FileSource::ConfigMap { .. }) => {}
                Err(e) => self.fail(format!("kura.yaml {field}: {e}")),
            }
            // Parsing reads these (TLS files and the session keys are read at start, not by the parser).
            if ["ca_file", "jwks_file", "secret_key_file"].iter().any(|f| field.ends_with(f)) {
                files.push(file);
            }
        }
        files
    }

    /// With `server.tls`: the files come from a cert-manager Certificate's Secret, whose names include
    /// the Service's, issued through a CA that is bootstrapped in the build.
    fn check_tls(&mut self, pod: &PodSpec, container: &Container, config: &Config) {
        let Some(tls) = &config.server.tls else { return };
        let mut secrets = BTreeSet::new();
        for (field, file) in [("cert_file", &tls.cert_file), ("key_file", &tls.key_file)] {
            let file = file.to_string_lossy().into_owned();
            let wanted = if field == "cert_file" { "tls.crt" } else { "tls.key" };
            match file_source(pod, container, &file) {
                Ok(FileSource::Secret { name, key }) if key == wanted => {
                    secrets.insert(name);
                }
                other => self.fail(format!("server.tls.{field} {file}: must be {wanted} of a Secret, not {other:?}")),
            }
        }
        let Some(secret) = secrets.pop_first().filter(|_| secrets.is_empty()) else {
            self.fail("server.tls: the certificate and the key must come from one Secret");
            return;
        };
        let Some(certificate) = self.certificate_for_secret(&secret) else {
            self.fail(format!("server.tls: no Certificate in the build writes the Secret {secret}"));
            return;
        };
        let names = certificate.spec.dns_names.clone().unwrap_or_default();
        let chain = self.issuer_chain(&certificate.spec.issuer_ref.name);
        for wanted in [format!("kura.{NAMESPACE}.svc"), format!("kura.{NAMESPACE}.svc.cluster.local")] {
            self.check(names.contains(&wanted), || format!("Certificate for {secret}: dnsNames lack {wanted}"));
        }
        if let Err(e) = chain {
            self.fail(format!("Certificate for {secret}: {e}"));
        }
        let mut durations = Vec::new();
        for certificate in self.certificates() {
            let name = certificate.metadata.name.clone().unwrap_or_default();
            for (field, value) in
                [("duration", &certificate.spec.duration), ("renewBefore", &certificate.spec.renew_before)]
            {
                if let Some(value) = value
                    && !is_duration(value, &["h", "m", "s"])
                {
                    durations.push(format!("Certificate {name}: {field} {value:?} is not a duration (e.g. 2160h)"));
                }
            }
        }
        for problem in durations {
            self.fail(problem);
        }
    }

    /// Follows issuer `name` up to a self-signed issuer: a CA issuer's Secret must be written by a CA
    /// Certificate of the build, issued in turn by an issuer of the build.
    fn issuer_chain(&self, name: &str) -> Result<(), String> {
        let mut name = name.to_owned();
        for _ in 0..4 {
            let issuer = self
                .issuers()
                .find(|i| i.metadata.name.as_deref() == Some(name.as_str()))
                .ok_or_else(|| format!("issuer {name} is not in the build"))?;
            match (&issuer.spec.self_signed, &issuer.spec.ca) {
                (Some(_), None) => return Ok(()),
                (None, Some(ca)) => {
                    let certificate = self.certificate_for_secret(&ca.secret_name).ok_or_else(|| {
                        format!("CA issuer {name}: no Certificate writes its Secret {}", ca.secret_name)
                    })?;
                    if certificate.spec.is_ca != Some(true) {
                        return Err(format!("CA issuer {name}: the Certificate for {} is not isCA", ca.secret_name));
                    }
                    name = certificate.spec.issuer_ref.name.clone();
                }
                _ => return Err(format!("issuer {name}: give exactly one of selfSigned and ca")),
            }
        }
        Err("the issuer chain is longer than 4".into())
    }

    /// What every container of every workload holds to: no privilege escalation, read-only root,
    /// capabilities dropped (but `allowed_adds`), the runtime's seccomp profile.
    fn check_hardening(&mut self, name: &str, pod: &PodSpec, container: &Container, allowed_adds: &[&str]) {
        let psc = pod.security_context.clone().unwrap_or_default();
        let csc = container.security_context.clone().unwrap_or_default();
        self.check(csc.allow_privilege_escalation == Some(false), || format!("{name}: allowPrivilegeEscalation false"));
        self.check(csc.read_only_root_filesystem == Some(true), || format!("{name}: readOnlyRootFilesystem true"));
        self.check(csc.privileged != Some(true), || format!("{name}: never privileged"));
        let capabilities = csc.capabilities.clone().unwrap_or_default();
        self.check(capabilities.drop.as_deref() == Some(&["ALL".to_owned()][..]), || {
            format!("{name}: capabilities drop [ALL]")
        });
        for add in capabilities.add.iter().flatten() {
            self.check(allowed_adds.contains(&add.as_str()), || format!("{name}: adds capability {add}"));
        }
        let seccomp = csc.seccomp_profile.or(psc.seccomp_profile).map(|p| p.type_);
        self.check(seccomp.as_deref() == Some("RuntimeDefault"), || format!("{name}: seccompProfile RuntimeDefault"));
        let image = container.image.clone().unwrap_or_default();
        let tag = image.rsplit_once(':').map(|(_, t)| t).filter(|t| !t.contains('/'));
        self.check(tag.is_some_and(|t| t != "latest"), || format!("{name}: image {image:?} needs a fixed tag"));
    }

    /// The webhook registration: kura's path on its Service over TLS, the CA injected by cert-manager,
    /// never blocking pods, never kura's own namespace.
    fn check_webhooks(&mut self, config: Option<&Config>) {
        let registrations: Vec<MutatingWebhookConfiguration> = self.webhooks().cloned().collect();
        if registrations.is_empty() {
            return;
        }
        let Some(config) = config else { return };
        let tls_secret = self.tls_secret(config);
        for registration in &registrations {
            let reg = registration.metadata.name.clone().unwrap_or_default();
            let inject = registration
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("cert-manager.io/inject-ca-from"))
                .cloned();
            let expected = tls_secret
                .as_ref()
                .and_then(|s| self.certificate_for_secret(s))
                .and_then(|c| c.metadata.name.clone())
                .map(|c| format!("{NAMESPACE}/{c}"));
            self.check(inject.is_some() && inject == expected, || {
                format!("MutatingWebhookConfiguration {reg}: cert-manager.io/inject-ca-from must name the Certificate kura serves ({expected:?}), not {inject:?}")
            });
            for webhook in registration.webhooks.iter().flatten() {
                let at = format!("MutatingWebhookConfiguration {reg}, webhook {}", webhook.name);
                let service = webhook.client_config.service.clone();
                self.check(
                    service.as_ref().is_some_and(|s| {
                        s.name == "kura"
                            && s.namespace == NAMESPACE
                            && s.path.as_deref() == Some(WEBHOOK_PATH)
                            && s.port == Some(9000)
                    }),
                    || {
                        format!(
                            "{at}: clientConfig.service must be kura/{NAMESPACE}:9000{WEBHOOK_PATH}, not {service:?}"
                        )
                    },
                );
                self.check(webhook.client_config.url.is_none() && webhook.client_config.ca_bundle.is_none(), || {
                    format!("{at}: no url and no caBundle (cert-manager injects it)")
                });
                self.check(webhook.failure_policy.as_deref() == Some("Ignore"), || {
                    format!("{at}: failurePolicy Ignore")
                });
                self.check(webhook.side_effects == "None", || format!("{at}: sideEffects None"));
                self.check(webhook.admission_review_versions == ["v1"], || {
                    format!("{at}: admissionReviewVersions [v1]")
                });
                let excluded = webhook
                    .namespace_selector
                    .as_ref()
                    .and_then(|s| s.match_expressions.as_ref())
                    .into_iter()
                    .flatten()
                    .any(|e| {
                        e.key == "kubernetes.io/metadata.name"
                            && e.operator == "NotIn"
                            && e.values.iter().flatten().any(|v| v == NAMESPACE)
                    });
                self.check(excluded, || format!("{at}: namespaceSelector must exclude kura's namespace {NAMESPACE}"));
                let pods = webhook.rules.iter().flatten().any(|r| {
                    r.operations.iter().flatten().any(|o| o == "CREATE")
                        && r.resources.iter().flatten().any(|x| x == "pods")
                        && r.api_groups.iter().flatten().any(|g| g.is_empty())
                });
                self.check(pods, || format!("{at}: rules must cover CREATE of core pods"));
            }
        }
        self.check(config.server.tls.is_some(), || {
            "the webhook is registered, but kura does not serve TLS (kube-apiserver calls webhooks over HTTPS only)"
                .into()
        });
        let settings = config.webhook.resolve(&config.server);
        match settings.endpoint_url.as_deref().and_then(host_port) {
            Some((host, _)) => {
                let names = self.tls_names(config);
                self.check(names.contains(&host), || {
                    format!("kura.yaml webhook endpoint host {host} is not among the certificate's names {names:?}")
                });
            }
            None => self.fail("kura.yaml: the webhook has no endpoint (webhook.endpoint_url or server.internal_urls)"),
        }
    }

    /// The Secret kura's certificate comes from.
    fn tls_secret(&self, config: &Config) -> Option<String> {
        let statefulset = self.statefulsets().next()?;
        let pod = pod_spec_of_statefulset(statefulset)?;
        let container = pod.containers.iter().find(|c| c.name == "kura")?;
        let file = config.server.tls.as_ref()?.cert_file.to_string_lossy().into_owned();
        match file_source(pod, container, &file).ok()? {
            FileSource::Secret { name, .. } => Some(name),
            FileSource::ConfigMap { .. } => None,
        }
    }

    /// The DNS names of kura's certificate.
    fn tls_names(&self, config: &Config) -> Vec<String> {
        self.tls_secret(config)
            .and_then(|s| self.certificate_for_secret(&s))
            .and_then(|c| c.spec.dns_names.clone())
            .unwrap_or_default()
    }

    /// `kura agent`: on the node's network, reaching kura by a name of its certificate over HTTPS with
    /// the CA (only) of kura's Secret, with no capability but the two it needs.
    fn check_agents(&mut self, config: Option<&Config>) {
        let daemonsets: Vec<DaemonSet> = self.daemonsets().cloned().collect();
        for ds in &daemonsets {
            let ds_name = ds.metadata.name.clone().unwrap_or_default();
            let Some(pod) = pod_spec_of_daemonset(ds).cloned() else {
                self.fail(format!("DaemonSet {ds_name}: no pod spec"));
                continue;
            };
            self.check(pod.host_network == Some(true), || format!("DaemonSet {ds_name}: hostNetwork true"));
            self.check(pod.dns_policy.as_deref() == Some("ClusterFirstWithHostNet"), || {
                format!("DaemonSet {ds_name}: dnsPolicy ClusterFirstWithHostNet (to resolve kura's Service on the host network)")
            });
            self.check(pod.automount_service_account_token == Some(false), || {
                format!("DaemonSet {ds_name}: automountServiceAccountToken false")
            });
            for container in &pod.containers {
                let name = format!("DaemonSet {ds_name}, container {}", container.name);
                self.check_hardening(&name, &pod, container, &AGENT_CAPABILITIES);
                let adds = container
                    .security_context
                    .as_ref()
                    .and_then(|s| s.capabilities.as_ref())
                    .and_then(|c| c.add.clone());
                self.check(adds.iter().flatten().any(|a| a == "NET_ADMIN"), || format!("{name}: needs NET_ADMIN"));
                let args = container.args.clone().unwrap_or_default();
                self.check(container.command.as_deref() == Some(&["/kura".to_owned()][..]), || {
                    format!("{name}: command [/kura]")
                });
                self.check(args.first().map(String::as_str) == Some("agent"), || {
                    format!("{name}: args must start with agent")
                });
                let url = flag(&args, "--kura-url").unwrap_or_default().to_owned();
                let Some(config) = config else { continue };
                let names = self.tls_names(config);
                let hp = host_port(&url);
                self.check(
                    url.starts_with("https://") && hp.as_ref().is_some_and(|(h, p)| names.contains(h) && *p == 9000),
                    || format!("{name}: --kura-url {url:?} must be https:// on port 9000 with a name of kura's certificate {names:?}"),
                );
                let ca = flag(&args, "--ca-file").unwrap_or_default().to_owned();
                let source = file_source(&pod, container, &ca);
                let wanted = self.tls_secret(config).map(|s| FileSource::Secret { name: s, key: "ca.crt".into() });
                self.check(source.as_ref().ok() == wanted.as_ref(), || {
                    format!("{name}: --ca-file {ca} must be ca.crt of kura's Secret, not {source:?}")
                });
                let only_ca = mount_of(&pod, container, &ca)
                    .and_then(|(_, v)| v.secret.as_ref()?.items.clone())
                    .is_some_and(|items| items.iter().all(|i| i.key == "ca.crt"));
                self.check(only_ca, || format!("{name}: mount only ca.crt of kura's Secret (items), never its key"));
            }
        }
        // Pod Security Admission: host networking needs the privileged level; otherwise restricted.
        let host_network = daemonsets.iter().filter_map(pod_spec_of_daemonset).any(|p| p.host_network == Some(true));
        let enforce = self
            .namespace()
            .and_then(|n| n.metadata.labels.as_ref()?.get("pod-security.kubernetes.io/enforce").cloned());
        let wanted = if host_network { "privileged" } else { "restricted" };
        self.check(enforce.as_deref() == Some(wanted), || {
            format!("Namespace {NAMESPACE}: pod-security.kubernetes.io/enforce must be {wanted}, not {enforce:?}")
        });
    }

    /// Every pod runs as a ServiceAccount of the build that mounts no token; the only cluster-wide grant
    /// is reading the service-account issuer's public discovery documents.
    fn check_accounts(&mut self) {
        let mut problems = Vec::new();
        let accounts: BTreeMap<String, Option<bool>> = self
            .objects
            .iter()
            .filter_map(|o| if let Object::ServiceAccount(a) = o { Some(a) } else { None })
            .map(|a| (a.metadata.name.clone().unwrap_or_default(), a.automount_service_account_token))
            .collect();
        for (name, automount) in &accounts {
            if *automount != Some(false) {
                problems.push(format!("ServiceAccount {name}: automountServiceAccountToken must be false"));
            }
        }
        let pods = self
            .statefulsets()
            .filter_map(pod_spec_of_statefulset)
            .chain(self.deployments().filter_map(pod_spec_of_deployment))
            .chain(self.daemonsets().filter_map(pod_spec_of_daemonset));
        for pod in pods {
            let account = pod.service_account_name.clone().unwrap_or_default();
            if !accounts.contains_key(&account) {
                problems.push(format!("a pod runs as ServiceAccount {account:?}, which the build does not define"));
            }
        }
        for object in &self.objects {
            if let Object::ClusterRoleBinding(binding) = object {
                let name = binding.metadata.name.clone().unwrap_or_default();
                if binding.role_ref.kind != "ClusterRole"
                    || binding.role_ref.name != "system:service-account-issuer-discovery"
                {
                    problems.push(format!(
                        "ClusterRoleBinding {name}: grants {}, more than issuer discovery",
                        binding.role_ref.name
                    ));
                }
            }
        }
        for p in problems {
            self.fail(p);
        }
    }

    /// Every flag the manifests pass to kura is one `kura SUBCOMMAND --help` lists.
    fn check_flags(&mut self) {
        let mut commands = Vec::new();
        for pod in self
            .statefulsets()
            .filter_map(pod_spec_of_statefulset)
            .chain(self.deployments().filter_map(pod_spec_of_deployment))
            .chain(self.daemonsets().filter_map(pod_spec_of_daemonset))
        {
            for container in &pod.containers {
                commands.push(container.args.clone().unwrap_or_default());
            }
        }
        for args in commands {
            let Some(subcommand) = args.first() else { continue };
            let help = Command::new(env!("CARGO_BIN_EXE_kura"))
                .args([subcommand.as_str(), "--help"])
                .output()
                .expect("kura --help");
            let help = String::from_utf8_lossy(&help.stdout).into_owned();
            for flag in args.iter().filter(|a| a.starts_with("--")) {
                let flag = flag.split('=').next().unwrap_or(flag);
                self.check(help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")), || {
                    format!("kura {subcommand} has no flag {flag}")
                });
            }
        }
    }
}

/// Whether a Service's selector (a plain map) selects pods labelled `labels`.
fn selects_map(selector: Option<&BTreeMap<String, String>>, labels: Option<&BTreeMap<String, String>>) -> bool {
    let (Some(selector), Some(labels)) = (selector, labels) else { return false };
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Every `*_file` (and `ca_file`, `jwks_file`) value of a kura.yaml, with its field path.
fn file_fields(value: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let at = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match v {
                    Value::String(file) if k.ends_with("_file") => out.push((at, file.clone())),
                    _ => file_fields(v, &at, out),
                }
            }
        }
        Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| file_fields(v, &format!("{path}[{i}]"), out)),
        _ => {}
    }
}

/// A duration such as `90d`, `2160h`, `1h30m` with the given units.
fn is_duration(text: &str, units: &[&str]) -> bool {
    let mut rest = text;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let Some(unit) = units.iter().filter(|u| rest.starts_with(**u)).max_by_key(|u| u.len()) else { return false };
        rest = &rest[unit.len()..];
    }
    true
}

#[test]
fn every_overlay_builds_and_holds_to_the_schema_and_the_invariants() {
    let overlays = overlays();
    let names: Vec<&str> = overlays.iter().map(|(n, _)| n.as_str()).collect();
    for documented in DOCUMENTED_OVERLAYS {
        assert!(
            names.contains(&documented),
            "deploy/overlays/{documented} (documented in README) is missing: {names:?}"
        );
    }
    let mut failures = Vec::new();
    for (name, dir) in &overlays {
        let mut build = Build::new(name, dir);
        build.check_metadata();
        let config = build.check_server();
        build.check_webhooks(config.as_ref());
        build.check_agents(config.as_ref());
        build.check_accounts();
        build.check_flags();
        failures.append(&mut build.failures);
    }
    assert!(failures.is_empty(), "deploy/ has {} problem(s):\n  {}", failures.len(), failures.join("\n  "));
}

/// The HA overlay's optional CloudNativePG Cluster (applied on its own, never part of a build): it holds
/// to the operator's schema (as far as [`cnpg`] covers it), keeps no secret, replicates synchronously (a
/// failover loses no acknowledged commit), spreads its instances over nodes, and is the database the
/// overlay's kura.yaml names: its read-write Service, database and owner, and the Secret the operator
/// writes for the owner is the one the Deployment mounts as the password file.
#[test]
fn deploy_cloudnative_pg_example_is_the_ha_overlays_database() {
    let path = repo().join(CNPG_EXAMPLE);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let documents = yaml_documents(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let [document] = documents.as_slice() else {
        panic!("{}: one Cluster, not {} objects", path.display(), documents.len())
    };
    assert_eq!(kind_of(document), ("postgresql.cnpg.io/v1".to_owned(), "Cluster".to_owned()));
    let cluster: cnpg::Cluster = round_trip(document).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut texts = Vec::new();
    strings(document, &mut texts);
    let findings: Vec<String> = texts.iter().flat_map(|t| secret_findings(t)).collect();
    assert!(findings.is_empty(), "{}: {findings:?}", path.display());
    let name = cluster.metadata.name.clone().expect("the Cluster's name");
    assert_eq!(cluster.metadata.namespace.as_deref(), Some(NAMESPACE));
    let spec = &cluster.spec;
    assert!(spec.instances >= 3, "a primary and at least two standbys, not {}", spec.instances);
    let synchronous = spec.postgresql.as_ref().and_then(|p| p.synchronous.as_ref()).expect("synchronous replication");
    assert!(synchronous.number >= 1 && synchronous.number < spec.instances, "{synchronous:?}");
    assert_ne!(synchronous.data_durability, Some(cnpg::DataDurability::Preferred), "a failover may lose commits");
    let affinity = spec.affinity.as_ref().expect("affinity");
    assert_eq!(affinity.enable_pod_anti_affinity, Some(true));
    assert_eq!(affinity.topology_key.as_deref(), Some("kubernetes.io/hostname"));
    assert_eq!(affinity.pod_anti_affinity_type, Some(cnpg::AntiAffinityType::Required));
    let initdb = spec.bootstrap.as_ref().and_then(|b| b.initdb.as_ref()).expect("bootstrap.initdb");
    let app_secret = initdb.secret.as_ref().map_or(format!("{name}-app"), |s| s.name.clone());
    assert_eq!(app_secret, DB_SECRET, "the Secret with the owner's password is the one kura mounts");

    // The overlay's kura.yaml names this database.
    let build = Build::new("ha", &repo().join("deploy/overlays/ha"));
    let kura_yaml = build
        .config_maps()
        .find(|c| c.metadata.name.as_deref() == Some("kura-config"))
        .and_then(|c| c.data.as_ref()?.get("kura.yaml").cloned())
        .expect("the ha overlay's kura.yaml");
    let config = Config::parse(&kura_yaml).expect("the ha overlay's kura.yaml parses");
    let MetadataBackend::Postgres(postgres) = &config.server.metadata else {
        panic!("the ha overlay is on PostgreSQL")
    };
    let url = postgres.url.strip_prefix("postgres://").expect("postgres:// URL");
    let (user, rest) = url.split_once('@').expect("USER@HOST");
    let (authority, database) = rest.split_once('/').expect("HOST:PORT/DB");
    let host = authority.split(':').next().unwrap_or_default();
    assert_eq!(user, initdb.owner);
    assert_eq!(database.split('?').next(), Some(initdb.database.as_str()));
    assert!(
        [format!("{name}-rw.{NAMESPACE}.svc"), format!("{name}-rw.{NAMESPACE}.svc.cluster.local")]
            .contains(&host.to_owned()),
        "kura.yaml's host {host} is not the Cluster's read-write Service {name}-rw"
    );

    // A field the structs do not know is refused (the check is strict).
    let mut misspelt = document.clone();
    misspelt["spec"]["instance"] = 3.into();
    assert!(round_trip::<cnpg::Cluster>(&misspelt).expect_err("refused").contains("instance"));
}

/// The round trip is what catches a misspelt field: prove it does, for a core kind and a cert-manager one.
#[test]
fn deploy_round_trip_catches_misspelt_and_misplaced_fields() {
    let good: Value = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "kura"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "serviceName": "kura",
                 "template": {"metadata": {"labels": {"a": "b"}},
                              "spec": {"containers": [{"name": "kura", "image": "kura:1", "ports": [{"containerPort": 9000}],
                                                       "resources": {"limits": {"memory": "1Gi"}}}],
                                       "volumes": [{"name": "d", "emptyDir": {}}]}}}
    });
    assert!(typed(&good).is_ok(), "{:?}", typed(&good).err());
    let mut misspelt = good.clone();
    misspelt["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always".into();
    let err = typed(&misspelt).err().expect("a misspelt field is refused");
    assert!(err.contains("containers[0].imagePullPolicyy"), "{err}");
    let mut misplaced = good.clone();
    misplaced["spec"]["template"]["spec"]["readinessProbe"] = serde_json::json!({"httpGet": {"path": "/", "port": 1}});
    assert!(
        typed(&misplaced).err().expect("a misplaced field is refused").contains("spec.template.spec.readinessProbe")
    );
    let certificate = serde_json::json!({
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "c"},
        "spec": {"secretName": "s", "issuerRef": {"name": "i", "kind": "Issuer"}, "dnsName": ["kura"]}
    });
    assert!(typed(&certificate).err().expect("unknown cert-manager field").contains("dnsName"));
    let unknown =
        serde_json::json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "x"}});
    assert!(typed(&unknown).err().expect("unknown kind").contains("unknown kind"));
    let secret = serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "kura-root"}});
    assert!(typed(&secret).err().expect("a Secret in git").contains("never kept in git"));
}

/// The secret scan must find what it is there for, and leave the manifests' ordinary text alone.
#[test]
fn deploy_secret_scan_finds_keys() {
    for (text, what) in [
        ("ABCD q83rH0c0AyT+fk5fJ0eOEZ6fEUxRNr0IPGw3lTPoM0E=", "key-like"),
        ("access: KURAQ7ZKD2L4XJ5M3NWA", "access key id"),
        ("secret_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "key-like"),
        ("-----BEGIN PRIVATE KEY-----\nMIG...\n", "PEM"),
    ] {
        let findings = secret_findings(text);
        assert!(findings.iter().any(|f| f.contains(what)), "{text:?}: {findings:?}");
    }
    for text in [
        "/etc/kura-session-keys/session-keys",
        "https://kubernetes.default.svc.cluster.local",
        "arn:aws:iam::000000000000:oidc-provider/kubernetes.default.svc.cluster.local",
        "system:service-account-issuer-discovery",
        "ClusterFirstWithHostNet RuntimeDefault registry.example.invalid/kura:0.1.0",
    ] {
        assert!(secret_findings(text).is_empty(), "{text:?}: {:?}", secret_findings(text));
    }
    let mut inline = Vec::new();
    let config: Value = serde_yaml_ng::from_str("users: [{access_key: a, secret_key: b}]").expect("yaml");
    inline_secrets(&config, "", &mut inline);
    assert_eq!(inline, [".users[0].secret_key"]);
}

// ------------------------------------------------------------------------------------------------
// Metrics: the dashboard and the alerts

/// Whether `name` is a series kura exports: a counter or gauge by its name, a histogram by its
/// `_bucket`, `_sum` and `_count` series.
fn exported(name: &str) -> Option<&'static str> {
    METRICS.iter().find_map(|(metric, kind)| {
        let ok = match kind {
            MetricType::Counter | MetricType::Gauge => name == *metric,
            MetricType::Histogram => {
                ["_bucket", "_sum", "_count"].iter().any(|s| name.strip_suffix(s) == Some(*metric))
            }
        };
        ok.then_some(*metric)
    })
}

/// The metric-like names in a PromQL expression (string literals skipped).
fn promql_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut chars = expr.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '"' || c == '\'' || c == '`' {
            while let Some((_, d)) = chars.next() {
                if d == '\\' {
                    chars.next();
                } else if d == c {
                    break;
                }
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_ascii_alphanumeric() || d == '_' || d == ':' {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            names.push(expr[i..end].to_owned());
        } else if c.is_ascii_digit() || c == '$' {
            // a number (1e3, 0x10) or a variable ($__rate_interval): not a name
            while chars.peek().is_some_and(|&(_, d)| d.is_ascii_alphanumeric() || d == '_' || d == '.') {
                chars.next();
            }
        }
    }
    names
}

/// Whether every bracket of `expr` closes, in order (outside string literals).
fn balanced(expr: &str) -> bool {
    let mut stack = Vec::new();
    let mut quote = None;
    let mut escaped = false;
    for c in expr.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' | '[' | '{' => stack.push(c),
            ')' | ']' | '}' => {
                let open = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if stack.pop() != Some(open) {
                    return false;
                }
            }
            _ => {}
        }
    }
    stack.is_empty() && quote.is_none()
}

/// Checks the kura_* names of `expr`; returns the metrics it uses.
fn check_expr(expr: &str, at: &str, failures: &mut Vec<String>) -> BTreeSet<&'static str> {
    let mut used = BTreeSet::new();
    if !balanced(expr) {
        failures.push(format!("{at}: unbalanced brackets or quotes in {expr:?}"));
    }
    for name in promql_names(expr).into_iter().filter(|n| n.starts_with("kura_")) {
        match exported(&name) {
            Some(metric) => {
                used.insert(metric);
            }
            None => failures.push(format!("{at}: {name} is not one of kura's metrics (or not a series of it)")),
        }
    }
    used
}

/// Every panel, rows' nested panels included.
fn panels(value: &Value, out: &mut Vec<Value>) {
    for panel in value.get("panels").and_then(Value::as_array).into_iter().flatten() {
        out.push(panel.clone());
        panels(panel, out);
    }
}

#[test]
fn deploy_grafana_dashboard_uses_only_kuras_metrics() {
    let path = repo().join("deploy/grafana/kura-dashboard.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dashboard: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
    let mut failures = Vec::new();
    for field in ["uid", "title", "schemaVersion", "panels", "templating"] {
        if dashboard.get(field).is_none() {
            failures.push(format!("no {field}"));
        }
    }
    let variables: Vec<&str> = dashboard
        .pointer("/templating/list")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.get("name").and_then(Value::as_str))
        .collect();
    let mut all = Vec::new();
    panels(&dashboard, &mut all);
    let mut used = BTreeSet::new();
    let mut ids = BTreeSet::new();
    let mut areas: Vec<(String, [i64; 4])> = Vec::new();
    for panel in &all {
        let title = panel.get("title").and_then(Value::as_str).unwrap_or("?").to_owned();
        let id = panel.get("id").and_then(Value::as_i64);
        if !id.is_some_and(|id| ids.insert(id)) {
            failures.push(format!("panel {title}: missing or duplicate id {id:?}"));
        }
        let grid = |k: &str| panel.pointer(&format!("/gridPos/{k}")).and_then(Value::as_i64).unwrap_or(-1);
        let (x, y, w, h) = (grid("x"), grid("y"), grid("w"), grid("h"));
        if x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > 24 {
            failures.push(format!("panel {title}: gridPos {x},{y} {w}x{h} is outside the 24-column grid"));
        }
        for (other, [ox, oy, ow, oh]) in &areas {
            if x < ox + ow && *ox < x + w && y < oy + oh && *oy < y + h {
                failures.push(format!("panel {title} overlaps panel {other}"));
            }
        }
        areas.push((title.clone(), [x, y, w, h]));
        if panel.get("type").and_then(Value::as_str) == Some("row") {
            continue;
        }
        let targets = panel.get("targets").and_then(Value::as_array).cloned().unwrap_or_default();
        if targets.is_empty() {
            failures.push(format!("panel {title}: no query"));
        }
        for target in targets {
            let expr = target.get("expr").and_then(Value::as_str).unwrap_or_default();
            if expr.is_empty() {
                failures.push(format!("panel {title}: a target without expr"));
            }
            used.extend(check_expr(expr, &format!("panel {title}"), &mut failures));
            for variable in expr.split('$').skip(1).map(|v| v.trim_start_matches('{')) {
                let name: String = variable.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if !name.starts_with("__") && !variables.contains(&name.as_str()) {
                    failures.push(format!("panel {title}: ${name} is not a dashboard variable"));
                }
            }
        }
        let datasource = panel.pointer("/datasource/uid").and_then(Value::as_str);
        if datasource != Some("${datasource}") {
            failures
                .push(format!("panel {title}: datasource must be the ${{datasource}} variable, not {datasource:?}"));
        }
    }
    for (metric, _) in METRICS {
        if !used.contains(metric) {
            failures.push(format!("no panel shows {metric}"));
        }
    }
    assert!(failures.is_empty(), "{}:\n  {}", path.display(), failures.join("\n  "));
}

/// A Prometheus rule file, as far as alerting rules go (unknown keys refused).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleGroup {
    name: String,
    #[serde(default)]
    interval: Option<String>,
    rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    alert: String,
    expr: String,
    #[serde(rename = "for")]
    for_: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Prometheus's duration units.
const PROMETHEUS_UNITS: [&str; 7] = ["ms", "s", "m", "h", "d", "w", "y"];

#[test]
fn deploy_alert_rules_parse_and_use_only_kuras_metrics() {
    let path = repo().join("deploy/prometheus/alerts.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file: RuleFile = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut failures = Vec::new();
    let mut names = BTreeSet::new();
    let mut exprs = Vec::new();
    for group in &file.groups {
        if let Some(interval) = &group.interval
            && !is_duration(interval, &PROMETHEUS_UNITS)
        {
            failures.push(format!("group {}: interval {interval:?}", group.name));
        }
        for rule in &group.rules {
            let at = format!("alert {}", rule.alert);
            if !names.insert(rule.alert.clone()) {
                failures.push(format!("{at}: defined twice"));
            }
            if !rule.alert.starts_with("Kura") || !rule.alert.chars().all(|c| c.is_ascii_alphanumeric()) {
                failures.push(format!("{at}: name it KuraSomething (CamelCase)"));
            }
            if !rule.for_.as_deref().is_some_and(|f| is_duration(f, &PROMETHEUS_UNITS)) {
                failures.push(format!("{at}: `for` must be a duration, not {:?}", rule.for_));
            }
            if !["warning", "critical"].contains(&rule.labels.get("severity").map(String::as_str).unwrap_or("")) {
                failures.push(format!("{at}: labels.severity must be warning or critical"));
            }
            for annotation in ["summary", "description"] {
                if rule.annotations.get(annotation).is_none_or(|a| a.trim().is_empty()) {
                    failures.push(format!("{at}: annotations.{annotation}"));
                }
            }
            check_expr(&rule.expr, &at, &mut failures);
            exprs.push(rule.expr.clone());
        }
    }
    // What the alerts must cover, and that they name deploy/'s objects.
    let base = kustomize(&repo().join("deploy/overlays/plain"));
    let statefulset = base.iter().find(|o| kind_of(o).1 == "StatefulSet").expect("the StatefulSet");
    let claim =
        statefulset.pointer("/spec/volumeClaimTemplates/0/metadata/name").and_then(Value::as_str).expect("claim");
    let sts = statefulset.pointer("/metadata/name").and_then(Value::as_str).expect("name");
    // The HA overlay's shared claim too (its Deployment's data volume).
    let ha = kustomize(&repo().join("deploy/overlays/ha"));
    let deployment = ha.iter().find(|o| kind_of(o).1 == "Deployment").expect("the HA overlay's Deployment");
    let volumes = deployment.pointer("/spec/template/spec/volumes").and_then(Value::as_array).expect("volumes");
    let ha_claim = volumes
        .iter()
        .find(|v| v.get("name").and_then(Value::as_str) == Some("data"))
        .and_then(|v| v.pointer("/persistentVolumeClaim/claimName"))
        .and_then(Value::as_str)
        .expect("the HA overlay's data claim");
    assert!(
        ha.iter()
            .any(|o| kind_of(o).1 == "PersistentVolumeClaim" && o.pointer("/metadata/name") == Some(&ha_claim.into())),
        "the HA overlay builds its claim {ha_claim}"
    );
    let pvc = format!("persistentvolumeclaim=~\"{claim}-{sts}-[0-9]+|{ha_claim}\"");
    // The readiness alert watches the pods of both: the StatefulSet's, and the Deployment's through its
    // ReplicaSets (named after it).
    let ha_name = deployment.pointer("/metadata/name").and_then(Value::as_str).expect("the Deployment's name");
    let owners = format!("owner_name=~\"{sts}|{ha_name}-[a-z0-9]+\"");
    if !exprs.iter().any(|e| e.contains("kube_pod_status_ready") && e.contains(&owners)) {
        failures.push(format!("the readiness alert does not select the pods owned by {owners}"));
    }
    // Every volume alert watches both.
    for expr in exprs.iter().filter(|e| e.contains("kubelet_volume_stats")) {
        let selectors = expr.matches("persistentvolumeclaim=~").count();
        if expr.matches(pvc.as_str()).count() != selectors {
            failures.push(format!("a volume alert does not select the claims {pvc}: {expr}"));
        }
    }
    for (what, needle) in [
        ("a high 5xx ratio", "status_class=\"5xx\""),
        ("readiness", "kube_pod_status_ready"),
        ("p99 latency", "histogram_quantile(0.99"),
        ("credential refusals", "kura_credentials_refused_total"),
        ("disk space", "kubelet_volume_stats_available_bytes"),
        ("kura's volume claims", pvc.as_str()),
        ("kura's namespace", "namespace=\"kura\""),
    ] {
        if !exprs.iter().any(|e| e.contains(needle)) {
            failures.push(format!("no alert on {what} ({needle})"));
        }
    }
    // The scrape job the alerts' job="kura" refers to.
    let scrape_path = repo().join("deploy/prometheus/scrape-config.yaml");
    let scrape: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&scrape_path).expect("scrape-config.yaml"))
        .unwrap_or_else(|e| panic!("{}: {e}", scrape_path.display()));
    let job = scrape.get(0).cloned().unwrap_or_default();
    if job.get("job_name").and_then(Value::as_str) != Some("kura")
        || job.get("metrics_path").and_then(Value::as_str) != Some("/kura/metrics")
    {
        failures.push(format!("{}: one job `kura` scraping /kura/metrics", scrape_path.display()));
    }
    if exprs.iter().any(|e| e.contains("job=")) && !exprs.iter().any(|e| e.contains("job=\"kura\"")) {
        failures.push("alerts select a job other than the scrape job kura".into());
    }
    assert!(failures.is_empty(), "{}:\n  {}", path.display(), failures.join("\n  "));
}

#[test]
fn deploy_dockerfile_builds_with_the_workspace_toolchain() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).expect("Dockerfile at the repository root");
    let workspace = std::fs::read_to_string(repo().join("Cargo.toml")).expect("Cargo.toml");
    let rust_version = workspace
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("workspace rust-version");
    assert!(
        dockerfile.contains(&format!("FROM rust:{rust_version}-bookworm AS builder")),
        "the Dockerfile's builder must be rust:{rust_version} (the workspace's rust-version)"
    );
    assert!(dockerfile.contains("cargo build --release --locked -p kura"), "a locked release build of kura");
    // Both images hold the binary where the manifests run it (command: [/kura]).
    let stages: Vec<&str> = dockerfile.split("\nFROM ").skip(1).collect();
    for stage in ["AS agent", "AS server"] {
        let body = stages.iter().find(|s| s.lines().next().is_some_and(|l| l.ends_with(stage))).expect(stage);
        assert!(body.contains(" /kura\n") || body.contains(" /kura \\\n"), "{stage}: copies the binary to /kura");
    }
    let server = stages.last().expect("stages");
    assert!(server.starts_with("gcr.io/distroless/cc-debian12:nonroot AS server"), "the default target is the server");
    assert!(server.contains("USER 65532:65532"), "the server runs as 65532");
    let agent = stages.iter().find(|s| s.contains("AS agent")).expect("agent stage");
    assert!(agent.contains("iproute2"), "the agent image has `ip`");
}
