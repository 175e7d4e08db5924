//! A real `kura server` process on an ephemeral loopback port, and real clients for it.

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Root access key used by every test server.
pub const ACCESS_KEY: &str = "kuratestadmin";
/// Root secret key used by every test server.
pub const SECRET_KEY: &str = "kuratestsecret-0123456789";

/// Where a test server's log goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Log {
    /// To the test's stderr, at `KURA_TEST_LOG` (default: warnings).
    Inherited,
    /// Kept for [`TestServer::wait_for_log`], at `KURA_TEST_LOG` (default: warnings).
    Captured,
    /// Kept, at kura's own default level (`KURA_LOG` unset).
    CapturedAtDefault,
}

/// A running server; killed (SIGKILL) when dropped.
pub struct TestServer {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// `http`, or `https` when the config has `server.tls`.
    pub scheme: &'static str,
    /// Its data directory (kept alive by `_dir` unless a path was given).
    pub data: PathBuf,
    config: Option<PathBuf>,
    /// The server's log lines, when started with [`Self::start_with_config_logged`].
    log: Option<std::sync::Arc<std::sync::Mutex<Vec<String>>>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Starts a server on a fresh data directory.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let mut s = Self::start_on(&data);
        s._dir = Some(dir);
        s
    }

    /// Starts a server on `data` (to restart on the same data after a crash).
    pub fn start_on(data: &Path) -> Self {
        Self::spawn(data, None)
    }

    /// Starts a server on a fresh data directory with `yaml` as its config file (at [`Self::config`]).
    pub fn start_with_config(yaml: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("kura.yaml");
        std::fs::write(&config, yaml).expect("write config");
        let mut s = Self::spawn(&dir.path().join("data"), Some(&config));
        s._dir = Some(dir);
        s
    }

    /// As [`Self::start_with_config`], keeping the server's log (stderr) for [`Self::wait_for_log`].
    pub fn start_with_config_logged(yaml: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("kura.yaml");
        std::fs::write(&config, yaml).expect("write config");
        let mut s = Self::spawn_logged(&dir.path().join("data"), Some(&config), Log::Captured);
        s._dir = Some(dir);
        s
    }

    /// As [`Self::start_with_config_logged`], at the log level kura has when `KURA_LOG` is unset (what an
    /// operator sees), for tests of the log itself.
    pub fn start_with_default_log(yaml: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("kura.yaml");
        std::fs::write(&config, yaml).expect("write config");
        let mut s = Self::spawn_logged(&dir.path().join("data"), Some(&config), Log::CapturedAtDefault);
        s._dir = Some(dir);
        s
    }

    /// Waits (at most 10 s) until the server has logged a line containing every one of `needles`, and
    /// returns it. Only for servers started with [`Self::start_with_config_logged`].
    pub async fn wait_for_log(&self, needles: &[&str]) -> String {
        let log = self.log.as_ref().expect("started with start_with_config_logged");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let found =
                log.lock().expect("log lock").iter().find(|line| needles.iter().all(|n| line.contains(n))).cloned();
            if let Some(line) = found {
                return line;
            }
            assert!(std::time::Instant::now() < deadline, "no log line with {needles:?} within 10 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every line the server has logged so far. Only for servers started with
    /// [`Self::start_with_config_logged`].
    pub fn log_lines(&self) -> Vec<String> {
        self.log.as_ref().expect("started with start_with_config_logged").lock().expect("log lock").clone()
    }

    /// Starts a server on existing `data` with the `config` file (a restart).
    pub fn restart(data: &Path, config: &Path) -> Self {
        Self::spawn(data, Some(config))
    }

    /// The config file, if the server was started with one.
    pub fn config(&self) -> PathBuf {
        self.config.clone().expect("started with a config file")
    }

    /// A file path inside the server's temporary directory.
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.data.parent().expect("data has a parent").join(name)
    }

    /// Runs the `kura` binary with the given credentials in the AWS environment variables and this
    /// server as `AWS_ENDPOINT_URL`; returns (success, stdout, stderr).
    pub fn cli(&self, access: &str, secret: &str, args: &[&str]) -> (bool, String, String) {
        run_cli(&self.endpoint(), access, secret, args)
    }

    /// Runs the `kura` binary with only `env` for credentials (no static keys): the AWS SDK for Rust's
    /// default chain then finds them (web identity, container credentials). Returns (success, stdout,
    /// stderr).
    pub fn cli_env(&self, env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kura"));
        command
            .args(args)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", self.endpoint())
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        for (k, v) in env {
            command.env(k, v);
        }
        let out = command.output().expect("run kura");
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        (out.status.success(), text(out.stdout), text(out.stderr))
    }

    /// Sends SIGHUP (reload the config file).
    pub fn hangup(&self) {
        let _ = Command::new("kill").args(["-HUP", &self.child.id().to_string()]).status();
    }

    fn spawn(data: &Path, config: Option<&Path>) -> Self {
        Self::spawn_logged(data, config, Log::Inherited)
    }

    fn spawn_logged(data: &Path, config: Option<&Path>, log: Log) -> Self {
        let capture_log = log != Log::Inherited;
        let mut command = Command::new(env!("CARGO_BIN_EXE_kura"));
        command.args(["server", "--address", "127.0.0.1:0", "--data"]).arg(data);
        if let Some(c) = config {
            command.arg("--config").arg(c);
        }
        // KURA_TEST_LOG=info shows the servers' request and decision logs when a test fails.
        let filter = std::env::var("KURA_TEST_LOG").unwrap_or_else(|_| "warn,s3s=off".to_owned());
        match log {
            Log::Inherited | Log::Captured => command.env("KURA_LOG", filter),
            Log::CapturedAtDefault => command.env_remove("KURA_LOG"),
        };
        let mut child = command
            .env("KURA_ROOT_ACCESS_KEY", ACCESS_KEY)
            .env("KURA_ROOT_SECRET_KEY", SECRET_KEY)
            .stdout(Stdio::piped())
            .stderr(if capture_log { Stdio::piped() } else { Stdio::inherit() })
            .spawn()
            .expect("spawn kura server");
        let log = child.stderr.take().map(|stderr| {
            let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let lines = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    eprintln!("{line}");
                    lines.lock().expect("log lock").push(line);
                }
            });
            log
        });
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (scheme, addr) = loop {
            let line = lines.next().expect("server exited before listening").expect("read stdout");
            if let Some(rest) = line.strip_prefix("kura: listening on http://") {
                break ("http", rest.trim().parse().expect("address"));
            }
            if let Some(rest) = line.strip_prefix("kura: listening on https://") {
                break ("https", rest.trim().parse().expect("address"));
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, addr, scheme, data: data.to_owned(), config: config.map(Path::to_owned), log, _dir: None }
    }

    /// `http://127.0.0.1:PORT` (`https://` with `server.tls`).
    pub fn endpoint(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// An AWS SDK client for the root user.
    pub fn client(&self) -> aws_sdk_s3::Client {
        self.client_with(ACCESS_KEY, SECRET_KEY)
    }

    /// An AWS SDK client with the given keys.
    pub fn client_with(&self, access: &str, secret: &str) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(access, secret, None, None, "test"))
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for exit; returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs the `kura` binary with the given credentials in the AWS environment variables and `endpoint` as
/// `AWS_ENDPOINT_URL` (no profile or credentials file); returns (success, stdout, stderr).
pub fn run_cli<A: AsRef<std::ffi::OsStr>>(
    endpoint: &str,
    access: &str,
    secret: &str,
    args: &[A],
) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kura"))
        .args(args)
        .env("AWS_ACCESS_KEY_ID", access)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("run kura");
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (out.status.success(), text(out.stdout), text(out.stderr))
}

/// A unique bucket name per test.
pub fn bucket_name(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{tag}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// The S3 error code of an SDK error, if it has one.
pub fn code<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match err {
        aws_sdk_s3::error::SdkError::ServiceError(e) => e.err().code().unwrap_or("").to_owned(),
        other => format!("{other:?}"),
    }
}

/// The HTTP status of an SDK error.
pub fn status<E>(err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> u16 {
    match err {
        aws_sdk_s3::error::SdkError::ServiceError(e) => e.raw().status().as_u16(),
        _ => 0,
    }
}

/// Starts a multipart upload and returns its id.
pub async fn create_upload(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    let out = s3.create_multipart_upload().bucket(bucket).key(key).send().await.expect("create upload");
    out.upload_id().expect("upload id").to_owned()
}

/// Uploads part `n` and returns the part as CompleteMultipartUpload names it.
pub async fn upload_part(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    n: i32,
    body: Vec<u8>,
) -> aws_sdk_s3::types::CompletedPart {
    let out = s3
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .part_number(n)
        .body(aws_sdk_s3::primitives::ByteStream::from(body))
        .send()
        .await
        .expect("upload part");
    aws_sdk_s3::types::CompletedPart::builder().part_number(n).e_tag(out.e_tag().expect("etag")).build()
}

/// Sends CompleteMultipartUpload with `parts`.
pub async fn complete_upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    parts: Vec<aws_sdk_s3::types::CompletedPart>,
) -> Result<
    aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput,
    aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadError>,
> {
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(aws_sdk_s3::types::CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
}

/// Deterministic pseudo-random bytes.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The MD5 of `b`, in hex (a single-part ETag without its quotes).
pub fn md5_hex(b: &[u8]) -> String {
    use md5::Digest as _;
    hex::encode(md5::Md5::digest(b))
}

/// A multipart/form-data body: the form's fields, then the file.
pub fn multipart(
    fields: &serde_json::Map<String, serde_json::Value>,
    file_name: &str,
    data: &[u8],
) -> (String, Vec<u8>) {
    let boundary = "kura-test-boundary-7d9f";
    let mut body = Vec::new();
    for (name, value) in fields {
        let value = value.as_str().expect("string field");
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
             Content-Type: text/plain\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Polls `check` for up to 10 s (config changes are polled every 2 s).
pub async fn wait_until<F, Fut>(check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("condition not reached within 10 s");
}

/// The `<Code>` of an S3 XML error document (empty when there is none).
pub fn xml_code(body: &str) -> &str {
    body.split("<Code>").nth(1).and_then(|rest| rest.split("</Code>").next()).unwrap_or_default()
}

/// Posts a browser form (`{"url", "fields"}` as `kura presign post` prints it) with `key` and a file
/// named `file.txt`; returns the status and the body.
pub async fn post_form(form: &serde_json::Value, key: &str, data: &[u8]) -> (u16, String) {
    let mut fields = form["fields"].as_object().expect("fields").clone();
    fields.insert("key".into(), key.into());
    let (content_type, body) = multipart(&fields, "file.txt", data);
    let resp = reqwest::Client::new()
        .post(form["url"].as_str().expect("url"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("post");
    (resp.status().as_u16(), resp.text().await.expect("body"))
}

/// Every finished blob file under the data directory `data` (`DATA/blobs/XX/ID`, kura-store's file
/// blob store; small bodies live in the metadata instead), in path order.
pub fn blob_files(data: &Path) -> std::collections::BTreeSet<PathBuf> {
    let mut files = std::collections::BTreeSet::new();
    for dir in std::fs::read_dir(data.join("blobs")).expect("blobs dir") {
        for file in std::fs::read_dir(dir.expect("entry").path()).expect("fan-out dir") {
            files.insert(file.expect("entry").path());
        }
    }
    files
}

/// Runs `kura server` on `data` with `config` (as root, on a free loopback port) until it exits, for
/// tests of a start that must be refused; its exit status and output.
pub fn run_to_exit(data: &Path, config: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kura"))
        .args(["server", "--address", "127.0.0.1:0", "--data"])
        .arg(data)
        .arg("--config")
        .arg(config)
        .env("KURA_ROOT_ACCESS_KEY", ACCESS_KEY)
        .env("KURA_ROOT_SECRET_KEY", SECRET_KEY)
        .output()
        .expect("run kura")
}
