//! The mutating admission webhook (`POST /kura/v1/webhook/pods`, AdmissionReview `admission.k8s.io/v1`):
//! kube-apiserver sends each new pod; kura answers with a JSON Patch that gives the pod's containers the
//! variables and projected service-account token the AWS SDKs need to get credentials from kura by
//! themselves. kura's own configuration decides, without the Kubernetes API:
//! - a pod whose namespace and service account have a pod-identity association
//!   (`identity.pod_identity.associations`) gets container credentials (EKS Pod Identity's variables and
//!   token, with the audience `/kura/v1/credentials` expects), whichever issuer the association names:
//!   an AdmissionReview does not say which cluster sends it, and the injection grants nothing, since
//!   `/kura/v1/credentials` matches the token's issuer too;
//! - a pod whose service account has a web-identity association (`identity.web_identity.associations`),
//!   or that names a role in the annotation `kura.io/role` which the role's trust policy would let its
//!   service-account token assume, gets web identity (IRSA's variables and token);
//! - both get the S3 endpoint (`webhook:`), the region and, when configured, a CA bundle.
//!
//! What a container already sets is kept; volumes and mounts already present are not added twice; so the
//! webhook's output passed through it again changes nothing. The pod is read with a few serde structs
//! of its own (the fields that matter); everything else passes through untouched, since only patch
//! operations are sent back.

use crate::audit::AuditSlot;
use crate::config::webhook::WebhookSettings;
use crate::iam::Iam;
use crate::identity::{Identity, Role};
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The endpoint's path.
pub const PATH: &str = "/kura/v1/webhook/pods";
/// The largest AdmissionReview read (kube-apiserver's own request limit is 3 MiB; a pod is far smaller).
pub const MAX_BODY: usize = 1 << 20;

/// The most containers and init containers (together) of a pod the webhook mutates; a review with
/// more is refused, since its answer's size grows with each.
pub const MAX_CONTAINERS: usize = 256;
/// The AdmissionReview version served.
pub const API_VERSION: &str = "admission.k8s.io/v1";
/// The annotation naming the role a pod wants by web identity.
pub const ROLE_ANNOTATION: &str = "kura.io/role";
/// The audience of the web-identity token (IRSA's).
pub const WEB_IDENTITY_AUDIENCE: &str = "sts.amazonaws.com";
/// Where the web-identity token is mounted (IRSA's directory).
pub const WEB_IDENTITY_TOKEN_DIR: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount";
/// Where the pod-identity token is mounted (EKS Pod Identity's directory).
pub const POD_IDENTITY_TOKEN_DIR: &str = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount";

/// A projected service-account token to mount in every container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenVolume {
    /// The volume's name.
    pub volume: &'static str,
    /// The directory it is mounted at (read-only).
    pub dir: &'static str,
    /// The token's file name in that directory.
    pub file: &'static str,
    /// The token's audience.
    pub audience: String,
    /// `expirationSeconds`.
    pub expiration_secs: u64,
}

impl TokenVolume {
    /// The token file's path in the container.
    pub fn path(&self) -> String {
        format!("{}/{}", self.dir, self.file)
    }

    fn volume_json(&self) -> Value {
        json!({
            "name": self.volume,
            "projected": {"sources": [{"serviceAccountToken": {
                "audience": self.audience,
                "expirationSeconds": self.expiration_secs,
                "path": self.file,
            }}]},
        })
    }

    fn mount_json(&self) -> Value {
        json!({"name": self.volume, "mountPath": self.dir, "readOnly": true})
    }
}

/// What the webhook adds to a pod: variables (in order) and token volumes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Injection {
    /// `(name, value)` for every container and init container.
    pub env: Vec<(String, String)>,
    /// Token volumes, mounted in every container and init container.
    pub tokens: Vec<TokenVolume>,
}

impl Injection {
    fn set(&mut self, name: &str, value: &str) {
        if !self.env.iter().any(|(n, _)| n == name) {
            self.env.push((name.to_owned(), value.to_owned()));
        }
    }
}

/// Decides what the pods of `namespace/service_account` with `annotations` get, from the identity
/// configuration, the webhook settings and the region; also returns warnings for the user (shown by
/// kubectl).
pub fn plan(
    identity: &Identity,
    settings: &WebhookSettings,
    region: &str,
    (namespace, service_account): (&str, &str),
    annotations: &BTreeMap<String, String>,
) -> (Injection, Vec<String>) {
    let mut warnings = Vec::new();
    let pod_identity = identity.has_pod_identity_association(namespace, service_account);
    let web_role: Option<&Role> = match identity.web_identity_role(namespace, service_account) {
        Some(role) => Some(role),
        None => match annotations.get(ROLE_ANNOTATION).map(|r| r.trim()) {
            None => None,
            Some(name) => match identity.role(name) {
                Some(role)
                    if identity.web_identity_would_allow(role, namespace, service_account, WEB_IDENTITY_AUDIENCE) =>
                {
                    Some(role)
                }
                Some(_) => {
                    warnings.push(format!(
                        "kura: {ROLE_ANNOTATION}: role {name:?} does not trust service account \
                         {namespace}/{service_account} (from a provider accepting audience {WEB_IDENTITY_AUDIENCE}); \
                         nothing injected for it"
                    ));
                    None
                }
                None => {
                    warnings.push(format!(
                        "kura: {ROLE_ANNOTATION}: kura has no role named {name:?}; nothing injected for it"
                    ));
                    None
                }
            },
        },
    };
    if !pod_identity && web_role.is_none() {
        return (Injection::default(), warnings);
    }
    let Some(endpoint) = settings.endpoint_url.as_deref() else {
        warnings.push(
            "kura: no endpoint to give the pod (set webhook.endpoint_url or server.internal_urls); nothing injected"
                .to_owned(),
        );
        return (Injection::default(), warnings);
    };
    let mut inject = Injection::default();
    if let Some(role) = web_role {
        let token = TokenVolume {
            volume: "aws-iam-token",
            dir: WEB_IDENTITY_TOKEN_DIR,
            file: "token",
            audience: WEB_IDENTITY_AUDIENCE.to_owned(),
            expiration_secs: settings.token_expiration_secs,
        };
        inject.set("AWS_ROLE_ARN", &role.arn);
        inject.set("AWS_WEB_IDENTITY_TOKEN_FILE", &token.path());
        inject.set("AWS_ENDPOINT_URL_STS", endpoint);
        inject.tokens.push(token);
    }
    if pod_identity {
        let token = TokenVolume {
            volume: "eks-pod-identity-token",
            dir: POD_IDENTITY_TOKEN_DIR,
            file: "eks-pod-identity-token",
            audience: identity.pod_identity_audience().to_owned(),
            expiration_secs: settings.token_expiration_secs,
        };
        inject.set("AWS_CONTAINER_CREDENTIALS_FULL_URI", &settings.credentials_full_uri);
        inject.set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &token.path());
        inject.tokens.push(token);
    }
    inject.set("AWS_ENDPOINT_URL_S3", endpoint);
    inject.set("AWS_REGION", region);
    inject.set("AWS_DEFAULT_REGION", region);
    if let Some(ca) = &settings.ca_bundle {
        inject.set("AWS_CA_BUNDLE", ca);
    }
    (inject, warnings)
}

/// The parts of a pod the webhook reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    /// `metadata`.
    #[serde(default)]
    pub metadata: Option<PodMeta>,
    /// `spec`.
    #[serde(default)]
    pub spec: Option<PodSpec>,
}

/// The parts of a pod's `metadata` the webhook reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMeta {
    /// `namespace` (often empty on CREATE: the review's `request.namespace` says it).
    #[serde(default)]
    pub namespace: Option<String>,
    /// `annotations`.
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// The parts of a pod's `spec` the webhook reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// `serviceAccountName` (`default` when absent, as Kubernetes sets it).
    #[serde(default)]
    pub service_account_name: Option<String>,
    /// `containers`.
    #[serde(default)]
    pub containers: Option<Vec<Container>>,
    /// `initContainers`.
    #[serde(default)]
    pub init_containers: Option<Vec<Container>>,
    /// `volumes`.
    #[serde(default)]
    pub volumes: Option<Vec<Named>>,
}

/// The parts of a container the webhook reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// `env`.
    #[serde(default)]
    pub env: Option<Vec<Named>>,
    /// `volumeMounts`.
    #[serde(default)]
    pub volume_mounts: Option<Vec<Mount>>,
}

/// Anything with a `name` (a variable, a volume).
#[derive(Debug, Default, Deserialize)]
pub struct Named {
    /// `name`.
    #[serde(default)]
    pub name: String,
}

/// A volume mount.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    /// `name` (the volume).
    #[serde(default)]
    pub name: String,
    /// `mountPath`.
    #[serde(default)]
    pub mount_path: String,
}

/// A JSON Pointer (RFC 6901) of `segments`, each escaped (`~` → `~0`, `/` → `~1`).
pub fn pointer(segments: &[&str]) -> String {
    segments.iter().map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1"))).collect()
}

/// The JSON Patch (RFC 6902) operations that give `pod` what `inject` lists, without overwriting a
/// variable, duplicating a volume or mounting over a path already mounted; empty when the pod has it all.
pub fn patch(pod: &Pod, inject: &Injection) -> Vec<Value> {
    let mut ops = Vec::new();
    let Some(spec) = &pod.spec else { return ops };
    let mut mounted: Vec<&str> = Vec::new();
    for (field, list) in [("containers", &spec.containers), ("initContainers", &spec.init_containers)] {
        for (i, c) in list.iter().flatten().enumerate() {
            let index = i.to_string();
            let has_var = |name: &str| c.env.iter().flatten().any(|v| v.name == name);
            let missing: Vec<Value> = inject
                .env
                .iter()
                .filter(|(name, _)| !has_var(name))
                .map(|(name, value)| json!({"name": name, "value": value}))
                .collect();
            append(&mut ops, &["spec", field, &index, "env"], c.env.is_some(), missing);
            let has_mount = |dir: &str| c.volume_mounts.iter().flatten().any(|m| m.mount_path == dir);
            let mut mounts = Vec::new();
            for token in inject.tokens.iter().filter(|t| !has_mount(t.dir)) {
                mounts.push(token.mount_json());
                mounted.push(token.volume);
            }
            append(&mut ops, &["spec", field, &index, "volumeMounts"], c.volume_mounts.is_some(), mounts);
        }
    }
    let has_volume = |name: &str| spec.volumes.iter().flatten().any(|v| v.name == name);
    let volumes: Vec<Value> = inject
        .tokens
        .iter()
        .filter(|t| mounted.contains(&t.volume) && !has_volume(t.volume))
        .map(TokenVolume::volume_json)
        .collect();
    append(&mut ops, &["spec", "volumes"], spec.volumes.is_some(), volumes);
    ops
}

/// Adds `items` to the array at `path`: one `add` of the whole array when it does not exist (or is
/// null), else one `add` per item at its end (`/-`).
fn append(ops: &mut Vec<Value>, path: &[&str], exists: bool, items: Vec<Value>) {
    if items.is_empty() {
        return;
    }
    if exists {
        let end = pointer(&[path, &["-"]].concat());
        ops.extend(items.into_iter().map(|item| json!({"op": "add", "path": end, "value": item})));
    } else {
        ops.push(json!({"op": "add", "path": pointer(path), "value": items}));
    }
}

/// Why a review was refused: the message sent back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

/// Answers the AdmissionReview `review`: the AdmissionReview response (`allowed: true` with a patch,
/// `allowed: true` alone when there is nothing to add, or `allowed: false` with a message when the
/// review is malformed). `decide` plans the injection of a namespace, service account and annotations.
pub fn review(
    review: &Value,
    decide: impl FnOnce((&str, &str), &BTreeMap<String, String>) -> (Injection, Vec<String>),
) -> Value {
    let uid = review.pointer("/request/uid").and_then(Value::as_str).unwrap_or_default().to_owned();
    let response = match mutate(review, decide) {
        Ok((ops, warnings)) => {
            let mut r = json!({"uid": uid, "allowed": true});
            if !ops.is_empty() {
                let patch = serde_json::to_vec(&ops).unwrap_or_default();
                r["patchType"] = json!("JSONPatch");
                r["patch"] = json!(base64::engine::general_purpose::STANDARD.encode(patch));
            }
            if !warnings.is_empty() {
                r["warnings"] = json!(warnings);
            }
            r
        }
        Err(Refusal(message)) => {
            json!({"uid": uid, "allowed": false, "status": {"code": 400, "message": message}})
        }
    };
    json!({"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response})
}

type Mutation = (Vec<Value>, Vec<String>);

fn mutate(
    review: &Value,
    decide: impl FnOnce((&str, &str), &BTreeMap<String, String>) -> (Injection, Vec<String>),
) -> Result<Mutation, Refusal> {
    let refuse = |m: &str| Err(Refusal(format!("kura webhook: {m}")));
    if !review.is_object() {
        return refuse("the body is not an AdmissionReview object");
    }
    let api_version = review.get("apiVersion").and_then(Value::as_str);
    let kind = review.get("kind").and_then(Value::as_str);
    if api_version != Some(API_VERSION) || kind != Some("AdmissionReview") {
        return refuse(&format!(
            "expected apiVersion {API_VERSION} and kind AdmissionReview, got {} {} \
             (set admissionReviewVersions: [v1])",
            api_version.unwrap_or("(none)"),
            kind.unwrap_or("(none)")
        ));
    }
    let Some(request) = review.get("request").filter(|r| r.is_object()) else {
        return refuse("the AdmissionReview has no request");
    };
    if request.get("uid").and_then(Value::as_str).is_none_or(str::is_empty) {
        return refuse("the AdmissionReview request has no uid");
    }
    if let Some(k) = request.pointer("/kind/kind").and_then(Value::as_str)
        && k != "Pod"
    {
        return refuse(&format!("this webhook mutates pods, not {k} (rules: resources: [pods])"));
    }
    if request.get("operation").and_then(Value::as_str).is_some_and(|op| op != "CREATE") {
        // Pod specs are immutable after creation: nothing to add.
        return Ok((Vec::new(), Vec::new()));
    }
    let Some(object) = request.get("object").filter(|o| o.is_object()) else {
        return refuse("the AdmissionReview request has no object (the pod)");
    };
    let pod: Pod =
        Pod::deserialize(object).map_err(|e| Refusal(format!("kura webhook: request.object is not a pod: {e}")))?;
    let spec = pod.spec.as_ref();
    let count = |list: Option<&Vec<Container>>| list.map_or(0, Vec::len);
    let containers = spec.map_or(0, |s| count(s.containers.as_ref()) + count(s.init_containers.as_ref()));
    if containers > MAX_CONTAINERS {
        // The patch grows with every container: a small review listing thousands of empty ones (the
        // endpoint is unauthenticated, as kube-apiserver calls it) would cost gigabytes to answer.
        return refuse(&format!(
            "the pod lists {containers} containers and init containers; kura mutates pods of at most {MAX_CONTAINERS}"
        ));
    }
    let meta = pod.metadata.as_ref();
    let namespace = request
        .get("namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .or_else(|| meta.and_then(|m| m.namespace.as_deref()).filter(|n| !n.is_empty()))
        .unwrap_or("default");
    let service_account = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.as_deref())
        .filter(|s| !s.is_empty())
        .unwrap_or("default");
    let no_annotations = BTreeMap::new();
    let annotations = meta.and_then(|m| m.annotations.as_ref()).unwrap_or(&no_annotations);
    let (inject, warnings) = decide((namespace, service_account), annotations);
    Ok((patch(&pod, &inject), warnings))
}

/// Answers one HTTP request to [`PATH`].
pub async fn respond(iam: &Iam, req: http::Request<super::RequestBody>, slot: &AuditSlot) -> Response<s3s::Body> {
    use http_body_util::BodyExt as _;
    slot.fill(|f| f.operation = Some("MutatePod".to_owned()));
    if req.method() != Method::POST {
        return json_response(StatusCode::METHOD_NOT_ALLOWED, &error_body("use POST with an AdmissionReview"));
    }
    let body = match http_body_util::Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            return json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &error_body("the AdmissionReview is larger than 1 MiB"),
            );
        }
        Err(_) => return json_response(StatusCode::BAD_REQUEST, &error_body("the request body could not be read")),
    };
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &error_body(&format!("the body is not JSON (an AdmissionReview admission.k8s.io/v1): {e}")),
            );
        }
    };
    let state = iam.snapshot();
    let answer =
        review(&parsed, |who, annotations| plan(&state.identity, &state.webhook, iam.region(), who, annotations));
    let allowed = answer.pointer("/response/allowed").and_then(Value::as_bool).unwrap_or(false);
    let patched = answer.pointer("/response/patch").is_some();
    let text = |v: &Value, at: &str| v.pointer(at).and_then(Value::as_str).unwrap_or_default().to_owned();
    let (uid, namespace) = (text(&parsed, "/request/uid"), text(&parsed, "/request/namespace"));
    let message = text(&answer, "/response/status/message");
    // Debug-formatted: the review is anyone's text, and a newline in it must not forge a log line.
    tracing::info!(target: "kura::webhook", ?uid, ?namespace, allowed, patched, ?message, "admission review");
    json_response(StatusCode::OK, &answer)
}

fn error_body(message: &str) -> Value {
    json!({"message": format!("kura webhook: {message}")})
}

fn json_response(status: StatusCode, body: &Value) -> Response<s3s::Body> {
    let mut resp = Response::new(s3s::Body::from(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::identity::session::Keyring;
    use std::sync::Arc;

    /// Applies `add` operations (all the webhook emits) to `doc`.
    fn apply(doc: &mut Value, ops: &[Value]) {
        for op in ops {
            assert_eq!(op["op"], "add", "{op}");
            let path = op["path"].as_str().expect("path");
            let (parent, last) = path.rsplit_once('/').expect("pointer");
            let last = last.replace("~1", "/").replace("~0", "~");
            let target = doc.pointer_mut(parent).expect("parent exists");
            match target {
                Value::Array(a) if last == "-" => a.push(op["value"].clone()),
                Value::Object(m) => {
                    m.insert(last, op["value"].clone());
                }
                other => panic!("cannot add at {path} in {other}"),
            }
        }
    }

    fn inject() -> Injection {
        Injection {
            env: vec![
                ("AWS_ROLE_ARN".into(), "arn:aws:iam::000000000000:role/app".into()),
                ("AWS_REGION".into(), "r".into()),
            ],
            tokens: vec![TokenVolume {
                volume: "aws-iam-token",
                dir: WEB_IDENTITY_TOKEN_DIR,
                file: "token",
                audience: WEB_IDENTITY_AUDIENCE.into(),
                expiration_secs: 86_400,
            }],
        }
    }

    fn mutated(pod: &Value) -> (Vec<Value>, Value) {
        let parsed = Pod::deserialize(pod).expect("pod");
        let ops = patch(&parsed, &inject());
        let mut out = pod.clone();
        apply(&mut out, &ops);
        (ops, out)
    }

    #[test]
    fn pointers_escape_tilde_and_slash() {
        assert_eq!(pointer(&["spec", "containers", "0", "env"]), "/spec/containers/0/env");
        assert_eq!(pointer(&["metadata", "annotations", "kura.io/role"]), "/metadata/annotations/kura.io~1role");
        assert_eq!(pointer(&["a~b", "c/d~/"]), "/a~0b/c~1d~0~1");
    }

    #[test]
    fn a_bare_pod_gets_arrays_created_once() {
        let pod = json!({"spec": {"containers": [{"name": "app", "image": "x"}]}});
        let (ops, out) = mutated(&pod);
        assert_eq!(ops.len(), 3, "{ops:?}");
        assert_eq!(ops[0]["path"], "/spec/containers/0/env");
        assert_eq!(
            out["spec"]["containers"][0]["env"][0],
            json!({"name": "AWS_ROLE_ARN", "value": "arn:aws:iam::000000000000:role/app"})
        );
        assert_eq!(
            out["spec"]["containers"][0]["volumeMounts"],
            json!([{"name": "aws-iam-token", "mountPath": WEB_IDENTITY_TOKEN_DIR, "readOnly": true}])
        );
        assert_eq!(
            out["spec"]["volumes"],
            json!([{"name": "aws-iam-token", "projected": {"sources": [{"serviceAccountToken":
                {"audience": "sts.amazonaws.com", "expirationSeconds": 86400, "path": "token"}}]}}])
        );
        assert_eq!(out["spec"]["containers"][0]["image"], "x", "the rest passes through");
    }

    #[test]
    fn existing_variables_mounts_and_volumes_are_kept_and_the_result_is_a_fixed_point() {
        let pod = json!({"spec": {
            "containers": [
                {"name": "app", "env": [{"name": "AWS_ROLE_ARN", "value": "mine"}], "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                {"name": "sidecar", "env": null},
            ],
            "initContainers": [{"name": "init", "env": []}],
            "volumes": [{"name": "data", "emptyDir": {}}],
        }});
        let (ops, out) = mutated(&pod);
        assert!(ops.iter().all(|o| o["path"] != "/spec/volumes"), "the array exists: append: {ops:?}");
        let app = &out["spec"]["containers"][0];
        assert_eq!(
            app["env"],
            json!([{"name": "AWS_ROLE_ARN", "value": "mine"}, {"name": "AWS_REGION", "value": "r"}])
        );
        assert_eq!(app["volumeMounts"].as_array().map(Vec::len), Some(2));
        assert_eq!(out["spec"]["containers"][1]["env"].as_array().map(Vec::len), Some(2), "null env replaced");
        assert_eq!(out["spec"]["initContainers"][0]["env"].as_array().map(Vec::len), Some(2));
        assert_eq!(out["spec"]["volumes"].as_array().map(Vec::len), Some(2));
        let (again, same) = mutated(&out);
        assert!(again.is_empty(), "{again:?}");
        assert_eq!(same, out);
    }

    #[test]
    fn a_path_already_mounted_is_left_alone_and_gets_no_volume() {
        let pod = json!({"spec": {"containers": [{"name": "app", "env": [],
            "volumeMounts": [{"name": "own", "mountPath": WEB_IDENTITY_TOKEN_DIR}]}]}});
        let (ops, _) = mutated(&pod);
        assert_eq!(ops.len(), 2, "two variables, no mount, no volume: {ops:?}");
    }

    fn admission(object: Value) -> Value {
        json!({"apiVersion": API_VERSION, "kind": "AdmissionReview", "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "namespace": "apps", "operation": "CREATE", "object": object}})
    }

    #[test]
    fn reviews_are_answered_with_the_same_uid() {
        let pod = json!({"metadata": {"annotations": {"kura.io/role": "app"}}, "spec": {"serviceAccountName": "web", "containers": [{"name": "a"}]}});
        let mut asked = None;
        let r = review(&admission(pod.clone()), |who, ann| {
            asked = Some((who.0.to_owned(), who.1.to_owned(), ann.get(ROLE_ANNOTATION).cloned()));
            (inject(), vec!["w".to_owned()])
        });
        assert_eq!(asked, Some(("apps".into(), "web".into(), Some("app".into()))));
        assert_eq!(r["apiVersion"], API_VERSION);
        assert_eq!(r["kind"], "AdmissionReview");
        let resp = &r["response"];
        assert_eq!(resp["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
        assert_eq!(resp["allowed"], true);
        assert_eq!(resp["patchType"], "JSONPatch");
        assert_eq!(resp["warnings"], json!(["w"]));
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(resp["patch"].as_str().expect("patch")).expect("b64");
        let ops: Vec<Value> = serde_json::from_slice(&bytes).expect("ops");
        assert_eq!(ops.len(), 3);

        let r = review(&admission(pod), |_, _| (Injection::default(), Vec::new()));
        assert_eq!(r["response"], json!({"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "allowed": true}));
    }

    #[test]
    fn malformed_reviews_are_refused_with_a_message() {
        let ok = admission(json!({"spec": {"containers": []}}));
        let mut wrong_version = ok.clone();
        wrong_version["apiVersion"] = json!("admission.k8s.io/v1beta1");
        let mut no_object = ok.clone();
        no_object["request"].as_object_mut().expect("request").remove("object");
        let mut not_a_pod = ok.clone();
        not_a_pod["request"]["object"] = json!({"spec": {"containers": "many"}});
        let mut other_kind = ok.clone();
        other_kind["request"]["kind"]["kind"] = json!("Service");
        let mut crowded = ok.clone();
        crowded["request"]["object"]["spec"]["containers"] = json!(vec![json!({"name": "c"}); 200]);
        crowded["request"]["object"]["spec"]["initContainers"] = json!(vec![json!({"name": "i"}); 57]);
        for (body, message) in [
            (json!([1]), "kura webhook: the body is not an AdmissionReview object"),
            (
                wrong_version,
                "kura webhook: expected apiVersion admission.k8s.io/v1 and kind AdmissionReview, got admission.k8s.io/v1beta1 AdmissionReview (set admissionReviewVersions: [v1])",
            ),
            (
                json!({"apiVersion": API_VERSION, "kind": "AdmissionReview"}),
                "kura webhook: the AdmissionReview has no request",
            ),
            (no_object, "kura webhook: the AdmissionReview request has no object (the pod)"),
            (other_kind, "kura webhook: this webhook mutates pods, not Service (rules: resources: [pods])"),
            (
                crowded,
                "kura webhook: the pod lists 257 containers and init containers; kura mutates pods of at most 256",
            ),
        ] {
            let r = review(&body, |_, _| panic!("not planned"));
            assert_eq!(r["response"]["allowed"], false, "{body}");
            assert_eq!(r["response"]["status"]["code"], 400);
            assert_eq!(r["response"]["status"]["message"], message);
        }
        let r = review(&not_a_pod, |_, _| panic!("not planned"));
        let message = r["response"]["status"]["message"].as_str().expect("message");
        assert!(
            message.starts_with("kura webhook: request.object is not a pod: invalid type: string \"many\""),
            "{message}"
        );
        assert_eq!(r["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
        let mut update = ok;
        update["request"]["operation"] = json!("UPDATE");
        assert_eq!(review(&update, |_, _| panic!("not planned"))["response"]["allowed"], true);
    }

    const CONFIG: &str = r#"
server:
  internal_urls: [http://kura.storage.svc:9000]
identity:
  oidc_providers:
    - issuer: https://kubernetes.default.svc
      audiences: [sts.amazonaws.com]
  roles:
    - name: app
      trust_policy:
        Statement:
          - Effect: Allow
            Principal: {Federated: "arn:aws:iam::000000000000:oidc-provider/kubernetes.default.svc"}
            Action: sts:AssumeRoleWithWebIdentity
            Condition:
              StringEquals: {"kubernetes.default.svc:kubernetes.io/namespace": apps}
    - name: locked
      trust_policy:
        Statement:
          - Effect: Allow
            Principal: {Federated: "arn:aws:iam::000000000000:oidc-provider/kubernetes.default.svc"}
            Action: sts:AssumeRoleWithWebIdentity
            Condition:
              StringEquals: {"kubernetes.default.svc:sub": "system:serviceaccount:other:x"}
  pod_identity:
    associations:
      - {namespace: ci, service_account: runner, role: app}
  web_identity:
    associations:
      - {namespace: ci, service_account: reporter, role: locked}
"#;

    fn setup(text: &str) -> (Identity, WebhookSettings) {
        let config = Config::parse(text).expect("config");
        let ring = Arc::new(Keyring::parse(&Keyring::new_key_line()).expect("ring"));
        let identity = Identity::build(&config.identity, ring, None).expect("identity");
        (identity, config.webhook.resolve(&config.server))
    }

    fn names(i: &Injection) -> Vec<&str> {
        i.env.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn the_configuration_decides_what_a_pod_gets() {
        let (identity, settings) = setup(CONFIG);
        let none = BTreeMap::new();
        let plan = |who, ann: &BTreeMap<String, String>| plan(&identity, &settings, "eu-west-1", who, ann);

        let (i, w) = plan(("ci", "runner"), &none);
        assert!(w.is_empty());
        assert_eq!(
            i.env,
            [
                ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.23/v1/credentials"),
                (
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                    "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"
                ),
                ("AWS_ENDPOINT_URL_S3", "http://kura.storage.svc:9000"),
                ("AWS_REGION", "eu-west-1"),
                ("AWS_DEFAULT_REGION", "eu-west-1"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        assert_eq!(i.tokens[0].audience, "kura", "the audience /kura/v1/credentials expects");

        // A configured association needs no trust check (the config is the grant to name the role).
        let (i, _) = plan(("ci", "reporter"), &none);
        assert_eq!(
            names(&i),
            [
                "AWS_ROLE_ARN",
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                "AWS_ENDPOINT_URL_STS",
                "AWS_ENDPOINT_URL_S3",
                "AWS_REGION",
                "AWS_DEFAULT_REGION"
            ]
        );
        assert_eq!(i.env[0].1, "arn:aws:iam::000000000000:role/locked");
        assert_eq!(i.env[1].1, "/var/run/secrets/eks.amazonaws.com/serviceaccount/token");
        assert_eq!(i.tokens[0].audience, "sts.amazonaws.com");

        // The annotation: honoured only when the trust policy would allow the service account's token.
        let ann = |role: &str| BTreeMap::from([(ROLE_ANNOTATION.to_owned(), role.to_owned())]);
        let (i, w) = plan(("apps", "web"), &ann("app"));
        assert_eq!(i.env[0].1, "arn:aws:iam::000000000000:role/app");
        assert!(w.is_empty());
        let (i, w) = plan(("other", "web"), &ann("app"));
        assert_eq!(i, Injection::default());
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("role \"app\" does not trust service account other/web"), "{w:?}");
        let (i, w) = plan(("apps", "web"), &ann("nobody"));
        assert_eq!(
            (i, w),
            (
                Injection::default(),
                vec!["kura: kura.io/role: kura has no role named \"nobody\"; nothing injected for it".to_owned()]
            )
        );
        assert_eq!(plan(("apps", "web"), &none), (Injection::default(), Vec::new()));
    }

    #[test]
    fn a_pod_association_of_any_cluster_gets_its_variables() {
        // The review does not say which cluster sends the pod; the credentials endpoint checks the issuer.
        let two = CONFIG
            .replace(
                "      audiences: [sts.amazonaws.com]\n  roles:",
                "      audiences: [sts.amazonaws.com]\n    - issuer: https://cluster-b.example\n      audiences: [kura]\n  roles:",
            )
            .replace("{namespace: ci, service_account: runner,", "{issuer: https://cluster-b.example, namespace: ci, service_account: runner,");
        let (identity, settings) = setup(&two);
        let (i, w) = plan(&identity, &settings, "eu-west-1", ("ci", "runner"), &BTreeMap::new());
        assert!(w.is_empty());
        assert_eq!(names(&i)[..2], ["AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]);
    }

    #[test]
    fn without_an_endpoint_nothing_is_injected() {
        let (identity, settings) = setup(&CONFIG.replace("  internal_urls: [http://kura.storage.svc:9000]\n", ""));
        let (i, w) = plan(&identity, &settings, "us-east-1", ("ci", "runner"), &BTreeMap::new());
        assert_eq!(i, Injection::default());
        assert!(w[0].contains("webhook.endpoint_url"), "{w:?}");
        let with_ca = CONFIG.replace("server:\n", "webhook:\n  ca_bundle: /etc/ssl/kura.pem\nserver:\n");
        let (identity, settings) = setup(&with_ca);
        let (i, _) = plan(&identity, &settings, "us-east-1", ("ci", "runner"), &BTreeMap::new());
        assert_eq!(i.env.last(), Some(&("AWS_CA_BUNDLE".to_owned(), "/etc/ssl/kura.pem".to_owned())));
    }
}
