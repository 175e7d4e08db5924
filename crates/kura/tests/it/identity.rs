//! Workload identity end to end: a fake OIDC issuer on loopback, `kura server` with roles and
//! pod-identity associations, and the AWS SDK for Rust (STS and S3) as the client.

use crate::harness::{ACCESS_KEY, SECRET_KEY, TestServer, code, xml_code};
use crate::issuer::{FakeIssuer, Key, now};
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use std::time::{Duration, SystemTime};

pub const DEPLOYER_SECRET: &str = "deployer-secret-0123456789";

pub fn config(issuer: &FakeIssuer, extra_server: &str) -> String {
    let hp = issuer.host_path();
    format!(
        r#"
server:
  region: us-east-1
{extra_server}
users:
  - access_key: deployer
    secret_key: {DEPLOYER_SECRET}
    policies: [assume-app]
policies:
  assume-app:
    Statement:
      - Effect: Allow
        Action: sts:AssumeRole
        Resource: arn:aws:iam::000000000000:role/app
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
    - issuer: {url}
      audiences: [sts.amazonaws.com]
  roles:
    - name: app
      max_session_duration: 7200
      trust_policy:
        Statement:
          - Effect: Allow
            Principal: {{Federated: "arn:aws:iam::000000000000:oidc-provider/{hp}"}}
            Action: sts:AssumeRoleWithWebIdentity
            Condition:
              StringLike: {{"{hp}:sub": "system:serviceaccount:*:app"}}
              StringEquals: {{"{hp}:aud": "sts.amazonaws.com"}}
          - Effect: Allow
            Principal: {{AWS: "arn:aws:iam::000000000000:user/deployer"}}
            Action: sts:AssumeRole
      policies: [team-prefix]
  pod_identity:
    associations:
      - {{namespace: alpha, service_account: app, role: app}}
"#,
        url = issuer.url
    )
}

fn sts(server: &TestServer, creds: Option<Credentials>) -> aws_sdk_sts::Client {
    let mut b = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(server.endpoint())
        .region(Region::new("us-east-1"));
    if let Some(c) = creds {
        b = b.credentials_provider(c);
    }
    aws_sdk_sts::Client::from_conf(b.build())
}

pub fn s3_with(server: &TestServer, creds: Credentials) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(server.endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(creds)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The temporary credentials of an STS result, as SDK credentials.
fn to_creds(c: &aws_sdk_sts::types::Credentials) -> Credentials {
    Credentials::new(c.access_key_id(), c.secret_access_key(), Some(c.session_token().to_owned()), None, "sts")
}

pub async fn web_identity(server: &TestServer, token: &str, session: &str) -> Result<Credentials, String> {
    let out = sts(server, None)
        .assume_role_with_web_identity()
        .role_arn("arn:aws:iam::000000000000:role/app")
        .role_session_name(session)
        .web_identity_token(token)
        .send()
        .await
        .map_err(|e| sts_code(&e))?;
    Ok(to_creds(out.credentials().ok_or("no credentials")?))
}

fn sts_code<E: aws_sdk_sts::error::ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    e: &aws_sdk_sts::error::SdkError<E, R>,
) -> String {
    match e {
        aws_sdk_sts::error::SdkError::ServiceError(s) => s.err().code().unwrap_or("").to_owned(),
        other => format!("{other:?}"),
    }
}

async fn put(s3: &aws_sdk_s3::Client, key: &str) -> Result<(), String> {
    s3.put_object()
        .bucket("teams")
        .key(key)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code(&e))
}

#[tokio::test]
async fn web_identity_sessions_are_confined_to_their_namespace() {
    let issuer = FakeIssuer::start().await;
    let server = TestServer::start_with_config(&config(&issuer, ""));
    let alpha = web_identity(&server, &issuer.token("alpha", "app"), "alpha-pod").await.expect("alpha assumes");
    // As read from a token file (`kubectl create token > file`): with its trailing newline.
    let beta = web_identity(&server, &format!("{}\n", issuer.token("beta", "app")), "beta-pod")
        .await
        .expect("beta assumes with a token file's trailing newline");
    assert!(alpha.access_key_id().starts_with("ASIA"), "{}", alpha.access_key_id());

    let (a, b) = (s3_with(&server, alpha.clone()), s3_with(&server, beta));
    put(&a, "alpha/report.txt").await.expect("alpha in its prefix");
    put(&b, "beta/report.txt").await.expect("beta in its prefix");
    assert_eq!(put(&a, "beta/evil.txt").await, Err("AccessDenied".to_owned()));
    assert_eq!(put(&b, "alpha/evil.txt").await, Err("AccessDenied".to_owned()));
    let got = a.get_object().bucket("teams").key("alpha/report.txt").send().await.expect("read own");
    assert_eq!(got.content_length(), Some(1));

    let me = sts(&server, Some(alpha)).get_caller_identity().send().await.expect("whoami");
    assert_eq!(me.arn(), Some("arn:aws:sts::000000000000:assumed-role/app/alpha-pod"));
    assert_eq!(me.account(), Some("000000000000"));
    assert!(me.user_id().is_some_and(|id| id.starts_with("AROA") && id.ends_with(":alpha-pod")));

    let root = Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "t");
    let me = sts(&server, Some(root)).get_caller_identity().send().await.expect("root whoami");
    assert_eq!(me.arn(), Some("arn:aws:iam::000000000000:root"));
}

#[tokio::test]
async fn attacks_on_web_identity_tokens_are_refused() {
    let issuer = FakeIssuer::start().await;
    let other = FakeIssuer::start().await;
    let server = TestServer::start_with_config(&config(&issuer, ""));
    let es = issuer.key(0);
    let claims = issuer.claims("alpha", "app", &["sts.amazonaws.com"]);
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut c = claims.clone();
        f(&mut c);
        es.sign(&c)
    };
    let unsigned = {
        use base64::Engine as _;
        let b64 = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.", b64(json!({"alg": "none", "kid": "es-1"})), b64(claims.clone()))
    };
    // HS256 keyed with the RSA key's public modulus (the classic algorithm-confusion attack).
    let confused = {
        let rs = issuer.key(1);
        let n = rs.jwk["n"].as_str().expect("n").to_owned();
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("rs-1".into());
        jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(n.as_bytes())).expect("hs256")
    };
    let tampered = {
        let token = issuer.token("alpha", "app");
        let parts: Vec<&str> = token.split('.').collect();
        use base64::Engine as _;
        let mut payload: serde_json::Value =
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1]).expect("b64"))
                .expect("json");
        payload["sub"] = "system:serviceaccount:kube-system:app".into();
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string());
        format!("{}.{payload}.{}", parts[0], parts[2])
    };
    let unknown_kid = Key::es256("not-published").sign(&claims);
    let foreign = {
        let mut c = claims.clone();
        c["iss"] = other.url.clone().into();
        other.key(0).sign(&c)
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("alg none", unsigned, "InvalidIdentityToken"),
        ("HS256 with the RSA public key", confused, "InvalidIdentityToken"),
        ("expired", with(&|c| c["exp"] = (now() - 3600).into()), "ExpiredTokenException"),
        ("nbf in the future", with(&|c| c["nbf"] = (now() + 3600).into()), "InvalidIdentityToken"),
        ("wrong iss", with(&|c| c["iss"] = "https://evil.example".into()), "InvalidIdentityToken"),
        (
            "kube-apiserver audience",
            with(&|c| c["aud"] = json!(["https://kubernetes.default.svc"])),
            "InvalidIdentityToken",
        ),
        ("unknown kid", unknown_kid, "InvalidIdentityToken"),
        ("tampered payload", tampered, "InvalidIdentityToken"),
        ("token from another provider", foreign, "InvalidIdentityToken"),
        ("service account the trust policy does not name", issuer.token("alpha", "intruder"), "AccessDenied"),
        ("garbage", "not.a.jwt".to_owned(), "InvalidIdentityToken"),
    ];
    for (name, token, expected) in cases {
        let got = web_identity(&server, &token, "attack").await.map(|_| ()).expect_err(name);
        assert_eq!(got, expected, "{name}");
    }
}

#[tokio::test]
async fn session_tokens_are_checked_on_every_request() {
    let issuer = FakeIssuer::start().await;
    let server = TestServer::start_with_config(&config(&issuer, ""));
    let good = web_identity(&server, &issuer.token("alpha", "app"), "alpha-pod").await.expect("assume");
    let other = web_identity(&server, &issuer.token("alpha", "app"), "alpha-2").await.expect("assume");
    put(&s3_with(&server, good.clone()), "alpha/ok").await.expect("good session");

    let token = good.session_token().expect("token").to_owned();
    let with_token = |t: Option<String>| Credentials::new(good.access_key_id(), good.secret_access_key(), t, None, "t");
    let mut edited = token.clone().into_bytes();
    edited[5] = if edited[5] == b'A' { b'B' } else { b'A' };
    let edited = String::from_utf8(edited).expect("ascii");
    assert_eq!(put(&s3_with(&server, with_token(None)), "alpha/x").await, Err("InvalidAccessKeyId".into()));
    assert_eq!(put(&s3_with(&server, with_token(Some(edited))), "alpha/x").await, Err("InvalidToken".into()));
    let swapped = with_token(other.session_token().map(str::to_owned));
    assert_eq!(put(&s3_with(&server, swapped), "alpha/x").await, Err("InvalidToken".into()));

    // An expired session, sealed with the server's own key file.
    let keys = std::fs::read_to_string(server.data.join("session-keys")).expect("key file");
    let ring = kura_server::identity::session::Keyring::parse(&keys).expect("ring");
    let expired = ring.mint(kura_server::identity::session::SessionClaims {
        access_key: String::new(),
        role: "app".into(),
        session: "old".into(),
        kind: kura_server::identity::session::SessionKind::WebIdentity,
        issued: now() - 7200,
        expires: now() - 60,
        policy: None,
        vars: [("k8s:namespace".to_owned(), "alpha".to_owned())].into(),
        tags: Default::default(),
        transitive_tags: Default::default(),
        source: "test".into(),
    });
    let expired = Credentials::new(
        &expired.access_key,
        expired.secret_key.expose(),
        Some(expired.session_token.clone()),
        None,
        "t",
    );
    assert_eq!(put(&s3_with(&server, expired.clone()), "alpha/x").await, Err("ExpiredToken".into()));
    // A presigned URL made with that session dies with it.
    let url = s3_with(&server, expired)
        .get_object()
        .bucket("teams")
        .key("alpha/ok")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).expect("cfg"))
        .await
        .expect("presign");
    let resp = reqwest::get(url.uri()).await.expect("get");
    assert_eq!(resp.status().as_u16(), 400);
    assert!(resp.text().await.expect("body").contains("ExpiredToken"));
    // And one made with a live session works.
    let url = s3_with(&server, good.clone())
        .get_object()
        .bucket("teams")
        .key("alpha/ok")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).expect("cfg"))
        .await
        .expect("presign");
    assert_eq!(reqwest::get(url.uri()).await.expect("get").status().as_u16(), 200);

    // A second kura with the same key file accepts the session; one with its own key does not.
    let twin_config = config(&issuer, "").replacen(
        "\nidentity:\n",
        &format!("\nidentity:\n  session_keys_file: {}\n", server.data.join("session-keys").display()),
        1,
    );
    let twin = TestServer::start_with_config(&twin_config);
    put(&s3_with(&twin, good.clone()), "alpha/from-twin").await.expect("twin accepts the session");
    let stranger = TestServer::start_with_config(&config(&issuer, ""));
    assert_eq!(put(&s3_with(&stranger, good), "alpha/x").await, Err("InvalidAccessKeyId".into()));
}

#[tokio::test]
async fn assume_role_needs_trust_and_identity_permission() {
    let issuer = FakeIssuer::start().await;
    let server = TestServer::start_with_config(&config(&issuer, ""));
    let deployer = Credentials::new("deployer", DEPLOYER_SECRET, None, None, "t");
    let out = sts(&server, Some(deployer))
        .assume_role()
        .role_arn("arn:aws:iam::000000000000:role/app")
        .role_session_name("deploy-42")
        .duration_seconds(900)
        .policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#)
        .send()
        .await
        .expect("deployer assumes app");
    let user = out.assumed_role_user().expect("user");
    assert_eq!(user.arn(), "arn:aws:sts::000000000000:assumed-role/app/deploy-42");
    // The session policy narrows the role: no writes, even where the role allows them.
    let session = s3_with(&server, to_creds(out.credentials().expect("creds")));
    assert_eq!(put(&session, "x/y").await, Err("AccessDenied".into()));

    let assume = |creds: Credentials, role: &str, session: &str| {
        sts(&server, Some(creds))
            .assume_role()
            .role_arn(format!("arn:aws:iam::000000000000:role/{role}"))
            .role_session_name(session)
    };
    let root = Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "t");
    let err = assume(root, "app", "root").send().await.expect_err("root may not assume roles");
    assert_eq!(sts_code(&err), "AccessDenied");
    let deployer = Credentials::new("deployer", DEPLOYER_SECRET, None, None, "t");
    for (duration, policy, expected) in [
        (Some(60), None, "ValidationError"),
        (Some(7201), None, "ValidationError"),
        (None, Some("{not json"), "MalformedPolicyDocument"),
    ] {
        let call = assume(deployer.clone(), "app", "bad").set_duration_seconds(duration);
        let err = call.set_policy(policy.map(str::to_owned)).send().await.expect_err(expected);
        assert_eq!(sts_code(&err), expected);
    }
    let err = assume(deployer, "nope", "x1").send().await.expect_err("unknown role");
    assert_eq!(sts_code(&err), "AccessDenied");
}

/// `ExternalId` reaches the trust policy as `sts:ExternalId` (the confused-deputy guard AWS users write
/// for third parties): a role that requires it cannot be assumed without it or with another.
#[tokio::test]
async fn an_external_id_is_the_trust_policys_sts_external_id() {
    let server = TestServer::start_with_config(&format!(
        r#"
users:
  - access_key: deployer
    secret_key: {DEPLOYER_SECRET}
    policies: [assume-partner]
policies:
  assume-partner:
    Statement:
      - Effect: Allow
        Action: sts:AssumeRole
        Resource: arn:aws:iam::000000000000:role/partner
identity:
  roles:
    - name: partner
      trust_policy:
        Statement:
          - Effect: Allow
            Principal: {{AWS: "arn:aws:iam::000000000000:user/deployer"}}
            Action: sts:AssumeRole
            Condition: {{StringEquals: {{"sts:ExternalId": "partner-42"}}}}
      policies: [readonly]
"#
    ));
    let deployer = Credentials::new("deployer", DEPLOYER_SECRET, None, None, "t");
    let assume = |external_id: Option<&str>| {
        sts(&server, Some(deployer.clone()))
            .assume_role()
            .role_arn("arn:aws:iam::000000000000:role/partner")
            .role_session_name("partner-job")
            .set_external_id(external_id.map(str::to_owned))
            .send()
    };
    for wrong in [None, Some("partner-41")] {
        let err = assume(wrong).await.expect_err("the trust policy requires partner-42");
        assert_eq!(sts_code(&err), "AccessDenied", "{wrong:?}");
    }
    let err = assume(Some("x")).await.expect_err("too short");
    assert_eq!(sts_code(&err), "ValidationError");
    let out = assume(Some("partner-42")).await.expect("the right external id");
    assert!(out.credentials().is_some_and(|c| c.access_key_id().starts_with("ASIA")));
}

/// A presigned `GET /?Action=AssumeRole` of role app by the deployer, dated `signed_at` and valid
/// `expires` seconds from then, as a plain HTTP client would send it: the status and the body.
async fn presigned_assume_role(server: &TestServer, signed_at: SystemTime, expires: u64) -> (u16, String) {
    let host = server.endpoint().trim_start_matches("http://").to_owned();
    let amz_date = kura_sigv4::format_amz_date(signed_at);
    let scope = kura_sigv4::Scope::new(&amz_date[..8], "us-east-1", "sts");
    let (credential, expires) = (format!("deployer/{scope}"), expires.to_string());
    let query = kura_sigv4::canonical_query(&[
        ("Action", "AssumeRole"),
        ("Version", "2011-06-15"),
        ("RoleArn", "arn:aws:iam::000000000000:role/app"),
        ("RoleSessionName", "dated"),
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", &credential),
        ("X-Amz-Date", &amz_date),
        ("X-Amz-Expires", &expires),
        ("X-Amz-SignedHeaders", "host"),
    ]);
    let creq = kura_sigv4::CanonicalRequest {
        method: "GET",
        path: "/",
        query: &query,
        headers: &[("host", &host)],
        payload_hash: kura_sigv4::EMPTY_SHA256,
    };
    let key = kura_sigv4::derive_key(DEPLOYER_SECRET, &scope.date, &scope.region, &scope.service);
    let string_to_sign = kura_sigv4::string_to_sign(&amz_date, &scope, &kura_sigv4::canonical_request(&creq));
    let url =
        format!("{}/?{query}&X-Amz-Signature={}", server.endpoint(), kura_sigv4::signature(&key, &string_to_sign));
    let resp = reqwest::get(url).await.expect("get");
    (resp.status().as_u16(), resp.text().await.expect("body"))
}

#[tokio::test]
async fn a_presigned_assume_role_dated_ahead_is_refused_as_s3_refuses_it() {
    // Dated ahead, a presigned URL would mint credentials now and stay valid until its date plus
    // X-Amz-Expires: one dated two years ahead would be a two-year credential factory.
    let issuer = FakeIssuer::start().await;
    let server = TestServer::start_with_config(&config(&issuer, ""));
    let now = SystemTime::now();
    let (status, body) = presigned_assume_role(&server, now, 3600).await;
    assert_eq!(status, 200, "dated now: {body}");
    assert!(body.contains("<AccessKeyId>ASIA"), "{body}");
    for ahead in [Duration::from_secs(24 * 3600), Duration::from_secs(730 * 24 * 3600)] {
        let (status, body) = presigned_assume_role(&server, now + ahead, 604_800).await;
        assert_eq!((status, xml_code(&body)), (403, "RequestTimeTooSkewed"), "{ahead:?} ahead: {body}");
        assert!(!body.contains("AccessKeyId") && !body.contains("SessionToken"), "no credentials: {body}");
    }
    // A presigned URL dated long ago is bounded by its expiry, as before.
    let (status, body) = presigned_assume_role(&server, now - Duration::from_secs(2 * 3600), 3600).await;
    assert_eq!((status, xml_code(&body)), (403, "SignatureDoesNotMatch"), "expired: {body}");
    // The S3 gate answers the same for an S3 URL dated a day ahead.
    let endpoint = server.endpoint();
    let mut s3_url =
        kura_sigv4::PresignRequest::new("GET", &endpoint, "/teams/k", "us-east-1", ACCESS_KEY, SECRET_KEY, now);
    s3_url.now = now + Duration::from_secs(24 * 3600);
    let resp = reqwest::get(kura_sigv4::presign_url(&s3_url).expect("presign")).await.expect("get");
    let status = resp.status().as_u16();
    let body = resp.text().await.expect("body");
    assert_eq!((status, xml_code(&body)), (403, "RequestTimeTooSkewed"), "S3: {body}");
}

/// The status, code and message of an STS refusal (a service error, else the test fails).
fn sts_refusal<E: aws_sdk_sts::error::ProvideErrorMetadata + std::fmt::Debug>(
    e: &aws_sdk_sts::error::SdkError<E, aws_sdk_sts::config::http::HttpResponse>,
) -> (u16, String, String) {
    let aws_sdk_sts::error::SdkError::ServiceError(s) = e else { panic!("not a service error: {e:?}") };
    let message = s.err().message().unwrap_or_default().to_owned();
    (s.raw().status().as_u16(), s.err().code().unwrap_or_default().to_owned(), message)
}

#[tokio::test]
async fn policy_arns_are_refused_rather_than_dropped() {
    // Dropped, a PolicyArns list would leave the session with the role's whole permissions where the
    // caller asked for fewer. kura has no managed session policies: the request is refused.
    use aws_sdk_sts::types::PolicyDescriptorType;
    let issuer = FakeIssuer::start().await;
    let server = TestServer::start_with_config(&config(&issuer, ""));
    let arn = |a: &str| PolicyDescriptorType::builder().arn(a).build();
    let read_only = arn("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess");
    let deployer = Credentials::new("deployer", DEPLOYER_SECRET, None, None, "t");
    let assume = |arns: Option<Vec<PolicyDescriptorType>>| {
        sts(&server, Some(deployer.clone()))
            .assume_role()
            .role_arn("arn:aws:iam::000000000000:role/app")
            .role_session_name("narrow")
            .set_policy_arns(arns)
    };
    for arns in [vec![read_only.clone()], vec![read_only.clone(), arn("arn:aws:iam::000000000000:policy/p")]] {
        let err = assume(Some(arns.clone())).send().await.expect_err("AssumeRole with PolicyArns");
        let (status, code, message) = sts_refusal(&err);
        assert_eq!((status, code.as_str()), (400, "InvalidParameterValue"), "{arns:?}: {message}");
        assert!(message.contains("PolicyArns") && message.contains("Policy parameter"), "{message}");
    }
    let token = issuer.token("alpha", "app");
    let err = sts(&server, None)
        .assume_role_with_web_identity()
        .role_arn("arn:aws:iam::000000000000:role/app")
        .role_session_name("narrow-pod")
        .web_identity_token(&token)
        .policy_arns(read_only)
        .send()
        .await
        .expect_err("AssumeRoleWithWebIdentity with PolicyArns");
    let (status, code, message) = sts_refusal(&err);
    assert_eq!((status, code.as_str()), (400, "InvalidParameterValue"), "{message}");

    // A hand-made form with a member, as any Query-protocol client sends it: refused, no credentials.
    let form = "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A000000000000%3Arole%2Fapp\
                &RoleSessionName=form&PolicyArns.member.1.arn=arn%3Aaws%3Aiam%3A%3Aaws%3Apolicy%2FAmazonS3ReadOnlyAccess\
                &WebIdentityToken=";
    let resp = reqwest::Client::new()
        .post(format!("{}/", server.endpoint()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("{form}{token}"))
        .send()
        .await
        .expect("post");
    let status = resp.status().as_u16();
    let body = resp.text().await.expect("body");
    assert_eq!((status, xml_code(&body)), (400, "InvalidParameterValue"), "{body}");
    assert!(!body.contains("AccessKeyId") && !body.contains("SessionToken"), "no credentials: {body}");

    // An empty list names no policy and is accepted; so is the same request without a list.
    let out = assume(Some(vec![])).send().await.expect("an empty PolicyArns list");
    assert!(out.credentials().is_some_and(|c| c.access_key_id().starts_with("ASIA")));
    assume(None).send().await.expect("no PolicyArns");
    web_identity(&server, &token, "plain-pod").await.expect("web identity without PolicyArns");
}

#[tokio::test]
async fn container_credentials_follow_the_association() {
    let issuer = FakeIssuer::start().await;
    let server = TestServer::start_with_config(&config(&issuer, ""));
    let url = format!("{}/kura/v1/credentials", server.endpoint());
    let http = reqwest::Client::new();
    let token = issuer.key(1).sign(&issuer.claims("alpha", "app", &["kura"]));
    let resp = http.get(&url).header("authorization", &token).send().await.expect("get");
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = serde_json::from_slice(&resp.bytes().await.expect("body")).expect("json");
    for field in ["AccessKeyId", "SecretAccessKey", "Token", "Expiration"] {
        assert!(body[field].as_str().is_some_and(|v| !v.is_empty()), "{field}: {body}");
    }
    let creds = Credentials::new(
        body["AccessKeyId"].as_str().expect("id"),
        body["SecretAccessKey"].as_str().expect("secret"),
        body["Token"].as_str().map(str::to_owned),
        None,
        "pod",
    );
    put(&s3_with(&server, creds), "alpha/from-pod").await.expect("pod credentials work");

    let no_assoc = issuer.key(0).sign(&issuer.claims("beta", "app", &["kura"]));
    let resp = http.get(&url).header("authorization", no_assoc).send().await.expect("get");
    assert_eq!(resp.status().as_u16(), 403);
    assert!(resp.text().await.expect("text").contains("no pod identity association for service account beta/app"));
    let sts_audience = issuer.token("alpha", "app");
    let resp = http.get(&url).header("authorization", sts_audience).send().await.expect("get");
    assert_eq!(resp.status().as_u16(), 400, "a token for another audience is refused");
    let resp = http.get(&url).send().await.expect("get");
    assert_eq!(resp.status().as_u16(), 401);
}

/// Two clusters (two providers), one association for cluster A's `alpha/app`: cluster B's token for a
/// service account of the same name is another workload and gets what no association gets (403
/// `AccessDenied`, no credentials, no session logged); so does a token of cluster A that says who it
/// is only in `sub`, without the `kubernetes.io` claim.
#[tokio::test]
async fn container_credentials_are_for_the_associations_cluster_only() {
    let (a, b) = (FakeIssuer::start().await, FakeIssuer::start().await);
    let text = config(&a, "")
        .replace("  roles:\n", &format!("    - issuer: {}\n      audiences: [sts.amazonaws.com]\n  roles:\n", b.url))
        .replace("{namespace: alpha,", &format!("{{issuer: {}, namespace: alpha,", a.url));
    let server = TestServer::start_with_default_log(&text); // info: the "session issued" lines
    let url = format!("{}/kura/v1/credentials", server.endpoint());
    let http = reqwest::Client::new();
    let ask = |token: String| {
        let request = http.get(&url).header("authorization", token);
        async move {
            let resp = request.send().await.expect("get");
            let status = resp.status().as_u16();
            let body = resp.text().await.expect("body");
            (status, serde_json::from_str::<serde_json::Value>(&body).expect("json"), body)
        }
    };

    let (status, body, _) = ask(a.key(0).sign(&a.claims("alpha", "app", &["kura"]))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["AccessKeyId"].as_str().is_some_and(|k| k.starts_with("ASIA")), "{body}");
    server.wait_for_log(&["session issued", &a.url]).await;

    let (status, body, text) = ask(b.key(0).sign(&b.claims("alpha", "app", &["kura"]))).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("AccessDenied")), "{text}");
    assert!(
        body["message"].as_str().is_some_and(|m| m
            .starts_with(&format!("no pod identity association for service account alpha/app of issuer {}", b.url))),
        "{text}"
    );
    for field in ["AccessKeyId", "SecretAccessKey", "Token"] {
        assert!(!text.contains(field), "no credentials: {text}");
    }
    server.wait_for_log(&["container credentials refused", &b.url]).await;
    assert!(
        !server.log_lines().iter().any(|l| l.contains("session issued") && l.contains(&b.url)),
        "nothing issued to cluster B"
    );

    let mut sub_only = a.claims("alpha", "app", &["kura"]);
    sub_only.as_object_mut().expect("claims").remove("kubernetes.io");
    let (status, body, text) = ask(a.key(0).sign(&sub_only)).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("IDPRejectedClaim")), "{text}");
    assert!(!text.contains("AccessKeyId"), "no credentials: {text}");
    let issued = server.log_lines().iter().filter(|l| l.contains("session issued")).count();
    assert_eq!(issued, 1, "only cluster A's own token got a session");
}

#[tokio::test]
async fn issuer_keys_rotate_and_rs256_works() {
    let issuer = FakeIssuer::start().await;
    let server = TestServer::start_with_config(&config(&issuer, ""));
    web_identity(&server, &issuer.token("alpha", "app"), "first").await.expect("es256");
    let rs = issuer.key(1).sign(&issuer.claims("alpha", "app", &["sts.amazonaws.com"]));
    web_identity(&server, &rs, "rsa").await.expect("rs256");
    let fetched = issuer.jwks_fetches.load(std::sync::atomic::Ordering::SeqCst);
    let new_key = issuer.rotate("es-2");
    let token = new_key.sign(&issuer.claims("alpha", "app", &["sts.amazonaws.com"]));
    web_identity(&server, &token, "rotated").await.expect("a new kid triggers a refetch");
    assert_eq!(issuer.jwks_fetches.load(std::sync::atomic::Ordering::SeqCst), fetched + 1);
    // Unknown kids do not hammer the issuer: the refetch is rate-limited.
    let stray = Key::es256("stray").sign(&issuer.claims("alpha", "app", &["sts.amazonaws.com"]));
    for _ in 0..3 {
        let _ = web_identity(&server, &stray, "stray").await;
    }
    assert!(issuer.jwks_fetches.load(std::sync::atomic::Ordering::SeqCst) <= fetched + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kura_bench_measures_assume_role_with_web_identity() {
    let issuer = FakeIssuer::start().await;
    let server = TestServer::start_with_config(&config(&issuer, ""));
    let token_file = server.scratch("bench.token");
    std::fs::write(&token_file, issuer.token("alpha", "app")).expect("token file");
    let mut args = kura_bench::BenchArgs::new(server.endpoint());
    args.workload = kura_bench::Workload::WebIdentity;
    args.duration = Duration::from_secs(1);
    args.concurrency = 4;
    args.role_arn = Some("arn:aws:iam::000000000000:role/app".into());
    args.web_identity_token_file = Some(token_file);
    let creds = kura_bench::Credentials {
        access_key_id: ACCESS_KEY.into(),
        secret_access_key: SECRET_KEY.into(),
        session_token: None,
    };
    let report = kura_bench::run_with(args, creds, "us-east-1").await.expect("bench");
    assert_eq!(report.errors, 0, "{:?}", report.errors_by_code);
    assert!(report.ops > 0);
    assert!(report.by_op.contains_key(&kura_bench::OpKind::Sts), "{:?}", report.by_op.keys());
}

/// The AWS SDK for Rust's own credential chain (inside the `kura` CLI) with nothing but the variables a
/// pod has: web identity, then container credentials; the session it gets asks for an upload ticket.
/// (Multi-threaded: the CLI runs blocking while the fake issuer must keep serving.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_sdk_credential_chain_gets_sessions_by_itself() {
    let issuer = FakeIssuer::start().await;
    let server = TestServer::start_with_config(&config(&issuer, ""));
    let token_file = server.scratch("web-identity.token");
    // As `kubectl create token > file` writes it: ending in a newline.
    std::fs::write(&token_file, format!("{}\n", issuer.token("alpha", "app"))).expect("token");
    let endpoint = server.endpoint();
    let web_identity = [
        ("AWS_ROLE_ARN", "arn:aws:iam::000000000000:role/app"),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str().expect("path")),
        ("AWS_ROLE_SESSION_NAME", "rust-sdk"),
        ("AWS_ENDPOINT_URL_STS", endpoint.as_str()),
    ];
    let (ok, out, err) = server.cli_env(&web_identity, &["presign", "put", "s3://teams/alpha/sdk.txt", "--ticket"]);
    assert!(ok, "{err}");
    let ticket: serde_json::Value = serde_json::from_str(&out).expect("json");
    let resp = reqwest::Client::new()
        .put(ticket["url"].as_str().expect("url"))
        .body("from a web-identity session")
        .send()
        .await
        .expect("put");
    assert_eq!(resp.status().as_u16(), 200);
    let (ok, _, err) = server.cli_env(&web_identity, &["presign", "put", "s3://teams/beta/sdk.txt", "--ticket"]);
    assert!(!ok && err.contains("AccessDenied"), "the session's policy still applies: {err}");

    let pod_token_file = server.scratch("pod.token");
    std::fs::write(&pod_token_file, issuer.key(1).sign(&issuer.claims("alpha", "app", &["kura"]))).expect("token");
    let credentials_uri = format!("{endpoint}/kura/v1/credentials");
    let pod = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", credentials_uri.as_str()),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", pod_token_file.to_str().expect("path")),
    ];
    let (ok, out, err) = server.cli_env(&pod, &["presign", "get", "s3://teams/alpha/sdk.txt", "--ticket"]);
    assert!(ok, "{err}");
    let ticket: serde_json::Value = serde_json::from_str(&out).expect("json");
    let got = reqwest::get(ticket["url"].as_str().expect("url")).await.expect("get");
    assert_eq!(got.text().await.expect("body"), "from a web-identity session");
}

/// Roles for session tags: `tagged` may be assumed with tags by the deployer (whose own policy allows
/// `sts:TagSession`) or by a workload's token carrying tags; `untagging` allows no tags; `next` is what a
/// `tagged` session assumes in turn. Each role reads under `teams/` only with `team=payroll` and writes
/// only with `project=ledger`, so what a session can do shows which tags it carries.
fn tags_config(issuer: &FakeIssuer) -> String {
    let hp = issuer.host_path();
    format!(
        r#"
users:
  - access_key: deployer
    secret_key: {DEPLOYER_SECRET}
    policies: [assume-tagged]
  - access_key: untagger
    secret_key: {DEPLOYER_SECRET}
    policies: [assume-only]
policies:
  assume-tagged:
    Statement:
      - Effect: Allow
        Action: [sts:AssumeRole, sts:TagSession]
        Resource: "*"
  assume-only:
    Statement:
      - Effect: Allow
        Action: sts:AssumeRole
        Resource: "*"
  by-tags:
    Statement:
      - Effect: Allow
        Action: s3:GetObject
        Resource: arn:aws:s3:::teams/*
        Condition: {{StringEquals: {{"aws:PrincipalTag/team": payroll}}}}
      - Effect: Allow
        Action: s3:PutObject
        Resource: arn:aws:s3:::teams/*
        Condition: {{StringEquals: {{"aws:PrincipalTag/project": ledger}}}}
      - Effect: Allow
        Action: [sts:AssumeRole, sts:TagSession]
        Resource: arn:aws:iam::000000000000:role/next
buckets:
  - name: teams
identity:
  oidc_providers:
    - issuer: {url}
      audiences: [sts.amazonaws.com]
  roles:
    - name: tagged
      trust_policy:
        Statement:
          - Effect: Allow
            Principal: {{AWS: ["arn:aws:iam::000000000000:user/deployer", "arn:aws:iam::000000000000:user/untagger"]}}
            Action: sts:AssumeRole
          - Effect: Allow
            Principal: {{AWS: ["arn:aws:iam::000000000000:user/deployer", "arn:aws:iam::000000000000:user/untagger"]}}
            Action: sts:TagSession
            Condition: {{StringEquals: {{"aws:RequestTag/team": payroll}}}}
          - Effect: Allow
            Principal: {{Federated: "arn:aws:iam::000000000000:oidc-provider/{hp}"}}
            Action: [sts:AssumeRoleWithWebIdentity, sts:TagSession]
      policies: [by-tags]
    - name: untagging
      trust_policy:
        Statement:
          - Effect: Allow
            Principal: {{AWS: "arn:aws:iam::000000000000:user/deployer"}}
            Action: sts:AssumeRole
          - Effect: Allow
            Principal: {{Federated: "arn:aws:iam::000000000000:oidc-provider/{hp}"}}
            Action: sts:AssumeRoleWithWebIdentity
      policies: [by-tags]
    - name: next
      trust_policy:
        Statement:
          - Effect: Allow
            Principal: {{AWS: "arn:aws:iam::000000000000:role/tagged"}}
            Action: [sts:AssumeRole, sts:TagSession]
      policies: [by-tags]
"#,
        url = issuer.url
    )
}

/// Session tags, as AWS gives them: a caller gets a tag only where the role's trust policy **and** its
/// own policies allow `sts:TagSession` on those tags (`aws:RequestTag/…`); a session it assumes in turn
/// keeps the transitive tags only, and may not override them; a web identity session gets its token's
/// tags only where the trust policy allows tagging. What STS does not implement is refused, not ignored.
#[tokio::test]
async fn session_tags_need_tag_session_and_only_transitive_ones_pass_on() {
    let issuer = FakeIssuer::start().await;
    let server = TestServer::start_with_config(&tags_config(&issuer));
    server
        .client()
        .put_object()
        .bucket("teams")
        .key("payroll/q3")
        .body(ByteStream::from_static(b"q3"))
        .send()
        .await
        .expect("seed");
    let tag = |k: &str, v: &str| aws_sdk_sts::types::Tag::builder().key(k).value(v).build().expect("tag");
    let assume = |creds: Credentials, role: &str| {
        sts(&server, Some(creds))
            .assume_role()
            .role_arn(format!("arn:aws:iam::000000000000:role/{role}"))
            .role_session_name("tagged-job")
    };
    let deployer = Credentials::new("deployer", DEPLOYER_SECRET, None, None, "t");
    let untagger = Credentials::new("untagger", DEPLOYER_SECRET, None, None, "t");
    let read = |s3: aws_sdk_s3::Client| async move {
        s3.get_object().bucket("teams").key("payroll/q3").send().await.map(|_| ()).map_err(|e| code(&e))
    };

    // Refused, and nothing issued: the caller's policies lack TagSession; the trust policy allows no
    // tags, or not these; a list member without its value; what kura does not implement.
    let refusals = [
        (assume(untagger, "tagged").tags(tag("team", "payroll")), "AccessDenied"),
        (assume(deployer.clone(), "untagging").tags(tag("team", "payroll")), "AccessDenied"),
        (assume(deployer.clone(), "tagged").tags(tag("team", "admins")), "AccessDenied"),
        (assume(deployer.clone(), "tagged").tags(tag("team", "a")).tags(tag("Team", "b")), "InvalidParameterValue"),
        (
            assume(deployer.clone(), "tagged").tags(tag("team", "payroll")).transitive_tag_keys("owner"),
            "InvalidParameterValue",
        ),
        (assume(deployer.clone(), "tagged").source_identity("alice"), "InvalidParameterValue"),
        (
            assume(deployer.clone(), "tagged").serial_number("arn:aws:iam::000000000000:mfa/x").token_code("123456"),
            "InvalidParameterValue",
        ),
    ];
    for (call, expected) in refusals {
        let err = call.send().await.expect_err(expected);
        assert_eq!(sts_code(&err), expected);
    }

    // Allowed: the tags are the session's aws:PrincipalTag/… keys.
    let out = assume(deployer.clone(), "tagged")
        .tags(tag("team", "payroll"))
        .tags(tag("project", "ledger"))
        .transitive_tag_keys("team")
        .send()
        .await
        .expect("tagged session");
    let first = to_creds(out.credentials().expect("creds"));
    read(s3_with(&server, first.clone())).await.expect("team=payroll reads");
    put(&s3_with(&server, first.clone()), "payroll/q4").await.expect("project=ledger writes");

    // Chained: team (transitive) passes on, project does not; a transitive tag cannot be replaced.
    let err = assume(first.clone(), "next").tags(tag("TEAM", "admins")).send().await.expect_err("override");
    assert_eq!(sts_code(&err), "InvalidParameterValue");
    let out = assume(first, "next").send().await.expect("chained session");
    let second = s3_with(&server, to_creds(out.credentials().expect("creds")));
    read(second.clone()).await.expect("the transitive tag came along");
    assert_eq!(put(&second, "payroll/q5").await, Err("AccessDenied".to_owned()), "project did not pass on");

    // Web identity: the token's tags need TagSession in the trust policy.
    let mut claims = issuer.claims("alpha", "app", &["sts.amazonaws.com"]);
    claims["https://aws.amazon.com/tags"] =
        json!({"principal_tags": {"team": ["payroll"]}, "transitive_tag_keys": ["team"]});
    let token = issuer.key(0).sign(&claims);
    let web = |role: &str| {
        sts(&server, None)
            .assume_role_with_web_identity()
            .role_arn(format!("arn:aws:iam::000000000000:role/{role}"))
            .role_session_name("pod")
            .web_identity_token(token.clone())
            .send()
    };
    let err = web("untagging").await.expect_err("no TagSession for tokens");
    assert_eq!(sts_code(&err), "AccessDenied");
    let out = web("tagged").await.expect("the trust policy allows the token's tags");
    read(s3_with(&server, to_creds(out.credentials().expect("creds")))).await.expect("the token's team tag");
}
