//! The mutating admission webhook (`POST /kura/v1/webhook/pods`), black box: AdmissionReviews shaped as
//! kube-apiserver sends them, built from typed Kubernetes pods (k8s-openapi); the returned JSON Patch is
//! applied with json-patch and the result must parse back as a typed pod. Then a mutated pod's
//! environment and token path, given to the AWS SDK for Rust as they are, get a session and write.

use crate::harness::{TestServer, wait_until};
use crate::issuer::FakeIssuer;
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine as _;
use k8s_openapi::api::core::v1::{Container, EnvVar, Pod, PodSpec, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const PATH: &str = "/kura/v1/webhook/pods";
const UID: &str = "0df28fbd-5f5f-11e8-bc74-36e6bb280816";
const WEB_TOKEN_DIR: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount";
const POD_TOKEN_DIR: &str = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount";

fn config(issuer_url: &str, endpoint: &str) -> String {
    let hp = issuer_url.trim_start_matches("http://").trim_start_matches("https://");
    format!(
        r#"
server:
  region: us-east-1
webhook:
  endpoint_url: {endpoint}
  token_expiration_seconds: 3600
policies:
  team-prefix:
    Version: "2012-10-17"
    Statement:
      - Effect: Allow
        Action: ["s3:GetObject", "s3:PutObject"]
        Resource: ["arn:aws:s3:::teams/${{k8s:namespace}}/*"]
buckets:
  - name: teams
identity:
  oidc_providers:
    - issuer: {issuer_url}
      audiences: [sts.amazonaws.com]
  roles:
    - name: app
      trust_policy:
        Statement:
          - Effect: Allow
            Principal: {{Federated: "arn:aws:iam::000000000000:oidc-provider/{hp}"}}
            Action: sts:AssumeRoleWithWebIdentity
            Condition:
              StringEquals: {{"{hp}:kubernetes.io/namespace": apps}}
      policies: [team-prefix]
  pod_identity:
    associations:
      - {{namespace: ci, service_account: runner, role: app}}
  web_identity:
    associations:
      - {{namespace: apps, service_account: reporter, role: app}}
"#
    )
}

fn start() -> TestServer {
    TestServer::start_with_config(&config("https://kubernetes.default.svc", "http://kura.storage.svc:9000"))
}

fn container(name: &str) -> Container {
    Container { name: name.to_owned(), image: Some("busybox".to_owned()), ..Default::default() }
}

fn pod(service_account: &str, containers: Vec<Container>) -> Pod {
    Pod {
        metadata: ObjectMeta { generate_name: Some("worker-".to_owned()), ..Default::default() },
        spec: Some(PodSpec {
            service_account_name: Some(service_account.to_owned()),
            containers,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An AdmissionReview as kube-apiserver sends it for a pod a ReplicaSet creates in `namespace`.
fn admission_review(namespace: &str, pod: &Pod) -> Value {
    json!({
        "kind": "AdmissionReview",
        "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": UID,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": {
                "username": "system:serviceaccount:kube-system:replicaset-controller",
                "uid": "a7e0ab33-5f29-416c-8f25-a7d4b2e3e2f1",
                "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"]
            },
            "object": serde_json::to_value(pod).expect("pod json"),
            "oldObject": null,
            "dryRun": false,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}
        }
    })
}

async fn post(server: &TestServer, body: Vec<u8>) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}{PATH}", server.endpoint()))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("post");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")))
}

/// Sends `pod` for review; returns the review's `response` and the pod with the patch applied (typed:
/// a malformed patch fails here), or the pod unchanged when there is no patch.
async fn mutate(server: &TestServer, namespace: &str, pod: &Pod) -> (Value, Pod) {
    let review = admission_review(namespace, pod);
    let (status, answer) = post(server, review.to_string().into_bytes()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(answer["kind"], "AdmissionReview");
    let response = answer["response"].clone();
    assert_eq!(response["uid"], UID);
    assert_eq!(response["allowed"], true, "{response}");
    let Some(patch) = response["patch"].as_str() else {
        assert_eq!(response.get("patchType"), None);
        return (response, pod.clone());
    };
    assert_eq!(response["patchType"], "JSONPatch");
    let bytes = base64::engine::general_purpose::STANDARD.decode(patch).expect("base64 patch");
    let ops: json_patch::Patch = serde_json::from_slice(&bytes).expect("an RFC 6902 patch");
    let mut doc = serde_json::to_value(pod).expect("pod json");
    json_patch::patch(&mut doc, &ops).expect("the patch applies");
    (response, serde_json::from_value(doc).expect("the patched pod is a valid pod"))
}

fn env_of(c: &Container) -> BTreeMap<String, String> {
    c.env.iter().flatten().map(|e| (e.name.clone(), e.value.clone().unwrap_or_default())).collect()
}

fn mounts_of(c: &Container) -> Vec<(String, String, Option<bool>)> {
    c.volume_mounts.iter().flatten().map(|m| (m.name.clone(), m.mount_path.clone(), m.read_only)).collect()
}

fn volumes_of(p: &Pod) -> Vec<Volume> {
    p.spec.as_ref().and_then(|s| s.volumes.clone()).unwrap_or_default()
}

fn token_source(v: &Volume) -> (String, Option<i64>, String) {
    let sources = v.projected.as_ref().and_then(|p| p.sources.clone()).unwrap_or_default();
    let t = sources[0].service_account_token.clone().expect("a service-account token source");
    (t.audience.unwrap_or_default(), t.expiration_seconds, t.path)
}

fn spec(p: &Pod) -> &PodSpec {
    p.spec.as_ref().expect("spec")
}

#[tokio::test]
async fn a_web_identity_pod_gets_irsa_variables_and_a_token() {
    let server = start();
    let (response, mutated) = mutate(&server, "apps", &pod("reporter", vec![container("app")])).await;
    assert_eq!(response.get("warnings"), None);
    let c = &spec(&mutated).containers[0];
    let expected: BTreeMap<String, String> = [
        ("AWS_ROLE_ARN", "arn:aws:iam::000000000000:role/app"),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"),
        ("AWS_ENDPOINT_URL_STS", "http://kura.storage.svc:9000"),
        ("AWS_ENDPOINT_URL_S3", "http://kura.storage.svc:9000"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(env_of(c), expected);
    assert_eq!(mounts_of(c), [("aws-iam-token".to_owned(), WEB_TOKEN_DIR.to_owned(), Some(true))]);
    let volumes = volumes_of(&mutated);
    assert_eq!(volumes.len(), 1);
    assert_eq!(volumes[0].name, "aws-iam-token");
    assert_eq!(token_source(&volumes[0]), ("sts.amazonaws.com".to_owned(), Some(3600), "token".to_owned()));
}

#[tokio::test]
async fn a_pod_identity_pod_gets_eks_variables_and_a_token_for_kura() {
    let server = start();
    let (_, mutated) = mutate(&server, "ci", &pod("runner", vec![container("job")])).await;
    let env = env_of(&spec(&mutated).containers[0]);
    assert_eq!(env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], "http://169.254.170.23/v1/credentials");
    assert_eq!(
        env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"],
        "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"
    );
    assert_eq!(env["AWS_ENDPOINT_URL_S3"], "http://kura.storage.svc:9000");
    assert!(!env.contains_key("AWS_ROLE_ARN"), "{env:?}");
    let volumes = volumes_of(&mutated);
    assert_eq!(volumes[0].name, "eks-pod-identity-token");
    assert_eq!(
        token_source(&volumes[0]),
        ("kura".to_owned(), Some(3600), "eks-pod-identity-token".to_owned()),
        "the audience /kura/v1/credentials expects"
    );
    assert_eq!(
        mounts_of(&spec(&mutated).containers[0]),
        [("eks-pod-identity-token".to_owned(), POD_TOKEN_DIR.to_owned(), Some(true))]
    );
}

#[tokio::test]
async fn existing_settings_are_kept_every_container_is_covered_and_a_second_pass_changes_nothing() {
    let server = start();
    let mut app = container("app");
    app.env = Some(vec![
        EnvVar {
            name: "AWS_ROLE_ARN".to_owned(),
            value: Some("arn:aws:iam::000000000000:role/mine".to_owned()),
            ..Default::default()
        },
        EnvVar { name: "LOG".to_owned(), value: Some("debug".to_owned()), ..Default::default() },
    ]);
    app.volume_mounts =
        Some(vec![VolumeMount { name: "data".to_owned(), mount_path: "/data".to_owned(), ..Default::default() }]);
    let mut original = pod("reporter", vec![app, container("sidecar")]);
    let spec_mut = original.spec.as_mut().expect("spec");
    spec_mut.init_containers = Some(vec![container("init")]);
    spec_mut.volumes = Some(vec![Volume { name: "data".to_owned(), ..Default::default() }]);

    let (_, mutated) = mutate(&server, "apps", &original).await;
    let s = spec(&mutated);
    let app = env_of(&s.containers[0]);
    assert_eq!(app["AWS_ROLE_ARN"], "arn:aws:iam::000000000000:role/mine", "a variable the container sets is kept");
    assert_eq!(app["LOG"], "debug");
    assert_eq!(app["AWS_WEB_IDENTITY_TOKEN_FILE"], "/var/run/secrets/eks.amazonaws.com/serviceaccount/token");
    assert_eq!(s.containers[0].env.as_ref().map(Vec::len), Some(7), "no variable twice");
    assert_eq!(
        mounts_of(&s.containers[0]),
        [
            ("data".to_owned(), "/data".to_owned(), None),
            ("aws-iam-token".to_owned(), WEB_TOKEN_DIR.to_owned(), Some(true))
        ]
    );
    for c in s.containers.iter().skip(1).chain(s.init_containers.iter().flatten()) {
        assert_eq!(env_of(c)["AWS_ROLE_ARN"], "arn:aws:iam::000000000000:role/app", "{}", c.name);
        assert_eq!(mounts_of(c), [("aws-iam-token".to_owned(), WEB_TOKEN_DIR.to_owned(), Some(true))], "{}", c.name);
    }
    let names: Vec<String> = volumes_of(&mutated).into_iter().map(|v| v.name).collect();
    assert_eq!(names, ["data", "aws-iam-token"]);

    let (response, again) = mutate(&server, "apps", &mutated).await;
    assert_eq!(response, json!({"uid": UID, "allowed": true}), "idempotent: nothing to add");
    assert_eq!(again, mutated);
}

#[tokio::test]
async fn the_role_annotation_is_honoured_only_when_the_trust_policy_allows_the_service_account() {
    let server = start();
    let mut wanting = pod("web", vec![container("app")]);
    wanting.metadata.annotations = Some(BTreeMap::from([("kura.io/role".to_owned(), "app".to_owned())]));
    let (_, mutated) = mutate(&server, "apps", &wanting).await;
    assert_eq!(env_of(&spec(&mutated).containers[0])["AWS_ROLE_ARN"], "arn:aws:iam::000000000000:role/app");

    let (response, unchanged) = mutate(&server, "elsewhere", &wanting).await;
    assert_eq!(unchanged, wanting);
    assert_eq!(response.get("patch"), None);
    assert_eq!(
        response["warnings"],
        json!(["kura: kura.io/role: role \"app\" does not trust service account elsewhere/web (from a provider \
             accepting audience sts.amazonaws.com); nothing injected for it"])
    );
}

#[tokio::test]
async fn a_pod_with_nothing_to_inject_is_allowed_unchanged() {
    let server = start();
    let plain = pod("default", vec![container("app")]);
    let (response, unchanged) = mutate(&server, "apps", &plain).await;
    assert_eq!(response, json!({"uid": UID, "allowed": true}));
    assert_eq!(unchanged, plain);
}

#[tokio::test]
async fn malformed_reviews_get_a_clear_refusal() {
    let server = start();
    let (status, body) = post(&server, b"{not json".to_vec()).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "kura webhook: the body is not JSON (an AdmissionReview admission.k8s.io/v1): key must be a string at line 1 \
         column 2"
    );

    let good = admission_review("apps", &pod("reporter", vec![container("app")]));
    let mut v1beta1 = good.clone();
    v1beta1["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let mut no_object = good.clone();
    no_object["request"].as_object_mut().expect("request").remove("object");
    let mut bad_pod = good.clone();
    bad_pod["request"]["object"]["spec"]["containers"] = json!({"name": "app"});
    for (review, message) in [
        (
            v1beta1,
            "kura webhook: expected apiVersion admission.k8s.io/v1 and kind AdmissionReview, got \
             admission.k8s.io/v1beta1 AdmissionReview (set admissionReviewVersions: [v1])",
        ),
        (no_object, "kura webhook: the AdmissionReview request has no object (the pod)"),
        (bad_pod, "kura webhook: request.object is not a pod: invalid type: map, expected a sequence"),
    ] {
        let (status, answer) = post(&server, review.to_string().into_bytes()).await;
        assert_eq!(status, 200);
        assert_eq!(
            answer["response"],
            json!({"uid": UID, "allowed": false, "status": {"code": 400, "message": message}})
        );
    }

    let resp = reqwest::get(format!("{}{PATH}", server.endpoint())).await.expect("get");
    assert_eq!(resp.status().as_u16(), 405);
    let (status, body) = post(&server, vec![b' '; (1 << 20) + 1]).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (413, Some("kura webhook: the AdmissionReview is larger than 1 MiB"))
    );
    // The server is still there.
    assert_eq!(post(&server, good.to_string().into_bytes()).await.0, 200);
}

/// The mutated pod's environment, exactly, given to the AWS SDK for Rust's default chain (with the
/// token written at the pod's path, mapped into a scratch directory): AssumeRoleWithWebIdentity, then
/// PutObject.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_with_a_mutated_pods_environment_assumes_the_role_and_writes() {
    let issuer = FakeIssuer::start().await;
    let server = TestServer::start_with_config(&config(&issuer.url, "http://kura.storage.svc:9000"));
    // Now that the port is known, point the webhook at it (a reload, as a ConfigMap edit would).
    std::fs::write(server.config(), config(&issuer.url, &server.endpoint())).expect("config");
    server.hangup();
    let review = admission_review("apps", &pod("reporter", vec![container("app")]));
    wait_until(|| {
        let review = review.to_string().into_bytes();
        let server = &server;
        async move {
            let (_, answer) = post(server, review).await;
            let patch = answer["response"]["patch"].as_str().unwrap_or_default().to_owned();
            let ops = base64::engine::general_purpose::STANDARD.decode(patch).unwrap_or_default();
            String::from_utf8_lossy(&ops).contains(&server.endpoint())
        }
    })
    .await;
    let (_, mutated) = mutate(&server, "apps", &pod("reporter", vec![container("app")])).await;
    let env = env_of(&spec(&mutated).containers[0]);
    assert_eq!(env["AWS_ENDPOINT_URL_S3"], server.endpoint());

    let root = server.scratch("pod-root");
    let token_path = &env["AWS_WEB_IDENTITY_TOKEN_FILE"];
    let on_disk = root.join(token_path.trim_start_matches('/'));
    std::fs::create_dir_all(on_disk.parent().expect("dir")).expect("mkdir");
    std::fs::write(&on_disk, issuer.token("apps", "reporter")).expect("token");
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .env(aws_types::os_shim_internal::Env::from_slice(&vars))
        .fs(aws_types::os_shim_internal::Fs::from_test_dir(&root, "/"))
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::new(&sdk);
    s3.put_object()
        .bucket("teams")
        .key("apps/from-the-webhook.txt")
        .body(ByteStream::from_static(b"mutated"))
        .send()
        .await
        .expect("PutObject with the session the pod's environment got");
    let got = s3.get_object().bucket("teams").key("apps/from-the-webhook.txt").send().await.expect("get");
    assert_eq!(got.body.collect().await.expect("body").into_bytes().as_ref(), b"mutated");
    let denied = s3.put_object().bucket("teams").key("ci/x").body(ByteStream::from_static(b"x")).send().await;
    assert_eq!(denied.map(|_| ()).map_err(|e| crate::harness::code(&e)), Err("AccessDenied".to_owned()));
}

/// The webhook is unauthenticated (kube-apiserver calls it), so its input is anyone's: a review whose
/// uid and namespace carry a newline cannot forge a line in kura's log, and a pod listing thousands of
/// containers (whose patch would cost gigabytes to build) is refused.
#[tokio::test]
async fn hostile_reviews_neither_forge_log_lines_nor_grow_the_answer() {
    let server =
        TestServer::start_with_default_log(&config("https://kubernetes.default.svc", "http://kura.storage.svc:9000"));
    let mut forged = admission_review("apps\nkura::console: root signed in", &pod("reporter", vec![container("app")]));
    forged["request"]["uid"] = json!("u\nFORGED kura::request: 200 DeleteBucket");
    let (status, _) = post(&server, forged.to_string().into_bytes()).await;
    assert_eq!(status, 200);
    let line = server.wait_for_log(&["admission review", "FORGED"]).await;
    assert!(line.contains(r"u\nFORGED"), "the uid is escaped: {line}");
    assert!(
        !server.log_lines().iter().any(|l| l.starts_with("FORGED") || l.starts_with("kura::console")),
        "no forged line"
    );

    let crowded = admission_review("apps", &pod("reporter", vec![container("app"); 5000]));
    let (status, answer) = post(&server, crowded.to_string().into_bytes()).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer["response"]["status"]["message"],
        "kura webhook: the pod lists 5000 containers and init containers; kura mutates pods of at most 256"
    );
    assert_eq!(answer["response"]["allowed"], false);
}
