//! Tests only: a private PostgreSQL server, started from the machine's PostgreSQL (`initdb`,
//! `pg_ctl`) on a Unix socket in a temporary directory (no TCP port), with password authentication
//! (SCRAM) for user [`USER`]. kura-meta-pg's tests and kura's black-box tests share this one copy.
//!
//! [`shared`] is one server for a whole test binary, each test on a database of its own
//! ([`PgServer::create_database`]); [`PgServer::start`] is a server of the caller's own, which it may
//! stop and start again ([`PgServer::stop`], [`PgServer::restart`]) to test database faults. A server
//! is stopped (`pg_ctl stop -m immediate`) and its directory removed when its [`PgServer`] is dropped
//! or the test process exits, however it exits: a watchdog shell waits for the end of a pipe that only
//! this process holds.
//!
//! [`PgServer::start_tls`] is a server of the caller's own that also listens on TCP (127.0.0.1, a free
//! port) with `ssl = on` and a certificate for `localhost` signed by a test CA made for it (by the
//! `openssl` command line, as kura's other TLS tests make theirs); its `pg_hba.conf` accepts TCP
//! connections in TLS only (`hostssl`), as a managed PostgreSQL may.
//!
//! As root (CI), the server runs as the `postgres` user, since `initdb` refuses root. There is no
//! skipping: without PostgreSQL the tests fail and say how to install it.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The superuser every server has.
pub const USER: &str = "kura";

/// The port number names the socket file (`.s.PGSQL.<port>`); nothing listens on TCP but on a
/// server of [`PgServer::start_tls`], which has a port of its own.
pub const PORT: u16 = 5432;

/// A running (or deliberately stopped) PostgreSQL server.
pub struct PgServer {
    /// The directory of its socket (and of its data, log and password file).
    dir: PathBuf,
    /// PostgreSQL's server programs.
    bin: PathBuf,
    /// [`USER`]'s password.
    password: String,
    /// The port (and socket file's number): [`PORT`], or the TCP port of a TLS server.
    port: u16,
    /// Whether it listens on TCP 127.0.0.1 with TLS (see [`PgServer::start_tls`]).
    tls: bool,
    /// The watchdog, whose stdin (held here) closes when this value is dropped or this process exits,
    /// which stops the server and removes `dir`.
    watchdog: Mutex<Child>,
}

static SHARED: OnceLock<PgServer> = OnceLock::new();
static SHARED_TLS: OnceLock<PgServer> = OnceLock::new();

/// The server shared by a test binary, started on first use. Never stop it: other tests use it.
pub fn shared() -> &'static PgServer {
    SHARED.get_or_init(PgServer::start)
}

/// The TLS server ([`PgServer::start_tls`]) shared by a test binary, started on first use.
pub fn shared_tls() -> &'static PgServer {
    SHARED_TLS.get_or_init(PgServer::start_tls)
}

/// A CA of its own in `dir` (`stranger-ca.crt`, returned) that signed nothing a server here holds:
/// the wrong CA for a client to trust.
pub fn stranger_ca(dir: &Path) -> PathBuf {
    new_ca(dir, "stranger-ca", "kura stranger CA")
}

/// A self-signed test CA in `dir`: `STEM.crt` (returned) and `STEM.key`, EC P-256, valid two days.
/// kura's TLS tests make theirs with it too.
pub fn new_ca(dir: &Path, stem: &str, common_name: &str) -> PathBuf {
    let (key, cert, subject) = (format!("{stem}.key"), format!("{stem}.crt"), format!("/CN={common_name}"));
    let mut args = vec!["req", "-x509"];
    args.extend(EC_KEY);
    args.extend(["-keyout", &key, "-out", &cert, "-days", "2", "-subj", &subject]);
    openssl(dir, &args);
    dir.join(cert)
}

/// A certificate for `name` (its CN) and `alt_names` (openssl's `subjectAltName`, e.g.
/// `DNS:localhost,IP:127.0.0.1`), signed by the CA `ca_stem` of [`new_ca`] in `dir`, with `serial`:
/// `NAME.crt` and `NAME.key` (readable by its owner only, as PostgreSQL wants), returned in that order.
pub fn issue(dir: &Path, ca_stem: &str, name: &str, alt_names: &str, serial: u32) -> (PathBuf, PathBuf) {
    let (key, csr, cert, ext) =
        (format!("{name}.key"), format!("{name}.csr"), format!("{name}.crt"), format!("{name}.ext"));
    let subject = format!("/CN={name}");
    let mut args = vec!["req"];
    args.extend(EC_KEY);
    args.extend(["-keyout", &key, "-out", &csr, "-subj", &subject]);
    openssl(dir, &args);
    std::fs::write(dir.join(&ext), format!("subjectAltName={alt_names}\nbasicConstraints=CA:FALSE\n"))
        .expect("write the extensions");
    let (ca_cert, ca_key, serial) = (format!("{ca_stem}.crt"), format!("{ca_stem}.key"), serial.to_string());
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_cert,
            "-CAkey",
            &ca_key,
            "-set_serial",
            &serial,
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &cert,
        ],
    );
    let mut mode = std::fs::metadata(dir.join(&key)).expect("the key").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut mode, 0o600);
    std::fs::set_permissions(dir.join(&key), mode).expect("chmod the key");
    (dir.join(cert), dir.join(key))
}

/// A new EC P-256 key, unencrypted, in `openssl req`'s words.
const EC_KEY: [&str; 5] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

/// The directory holding PostgreSQL's server programs: the one `initdb` is found in on `PATH`, else
/// Debian's `/usr/lib/postgresql/<version>/bin` (the newest).
fn bin_dir() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file());
    if let Some(dir) = on_path {
        return dir;
    }
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    debian.sort();
    match debian.pop() {
        Some((_, dir)) => dir,
        None => panic!(
            "PostgreSQL is not installed (no initdb and pg_ctl on PATH or in /usr/lib/postgresql/*/bin): \
             run scripts/system-deps, which installs Debian's postgresql package"
        ),
    }
}

/// Whether this process runs as root.
fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// A command running `program` as the server's user (`postgres` when we are root).
fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn run(mut cmd: Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A TCP port nothing listens on now (the kernel's pick; the server binds it a moment later).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address").port()
}

fn openssl(dir: &Path, args: &[&str]) {
    let mut cmd = Command::new("openssl");
    cmd.current_dir(dir).args(args);
    run(cmd, &format!("openssl {args:?} (install openssl: scripts/system-deps)"));
}

/// A test CA (`ca.crt`) and the server's certificate for `localhost` (`server.crt`, `server.key`) in
/// `dir`.
fn make_certificates(dir: &Path) {
    new_ca(dir, "ca", "kura test PostgreSQL CA");
    issue(dir, "ca", "server", "DNS:localhost", 1);
}

/// Runs `f` on a thread of its own: the blocking `postgres` client must not run on an async runtime's
/// thread, and the tests call these helpers from both kinds.
fn blocking<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| scope.spawn(f).join().expect("the helper thread panicked"))
}

impl PgServer {
    /// Initialises and starts a server of the caller's own.
    pub fn start() -> PgServer {
        Self::start_with(false)
    }

    /// Initialises and starts a server of the caller's own that also listens on TCP 127.0.0.1
    /// ([`Self::port`]) with TLS ([`Self::ca_file`] signed its certificate, made for `localhost` only,
    /// so that `127.0.0.1` is a name it is not valid for) and accepts TCP connections in TLS only.
    pub fn start_tls() -> PgServer {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> PgServer {
        let bin = bin_dir();
        let dir = tempfile::Builder::new().prefix("kura-pg-").tempdir().expect("temporary directory").keep();
        let password = uuid::Uuid::new_v4().simple().to_string();
        let pwfile = dir.join("initdb-password");
        std::fs::write(&pwfile, &password).expect("write the password file");
        if is_root() {
            let mut chown = Command::new("chown");
            chown.args(["-R", "postgres:postgres"]).arg(&dir);
            run(chown, "chown of the server's directory to the postgres user");
        }
        let mut initdb = as_server_user(&bin.join("initdb"));
        initdb.arg("-D").arg(dir.join("data")).args(["-U", USER, "-A", "scram-sha-256", "-E", "UTF8"]);
        initdb.arg(format!("--pwfile={}", pwfile.display())).args(["--locale=C", "--no-sync"]);
        run(initdb, "initdb");
        // Nothing else needs it: the password is in memory.
        let _ = std::fs::remove_file(&pwfile);
        let port = if tls {
            make_certificates(&dir);
            // TCP only in TLS (`hostssl`); the socket as before.
            let hba = "local all all scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\n\
                       hostssl all all ::1/128 scram-sha-256\n";
            std::fs::write(dir.join("data/pg_hba.conf"), hba).expect("write pg_hba.conf");
            free_port()
        } else {
            PORT
        };
        if tls && is_root() {
            let mut chown = Command::new("chown");
            chown.args(["-R", "postgres:postgres"]).arg(&dir);
            run(chown, "chown of the server's certificates to the postgres user");
        }

        // The watchdog: once our end of its stdin closes, it stops the server and removes the directory.
        let prefix = if is_root() { "runuser -u postgres -- " } else { "" };
        let script =
            format!("cat > /dev/null; {prefix}\"$1\" -D \"$2\" stop -m immediate > /dev/null 2>&1; rm -rf \"$3\"");
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("watchdog")
            .arg(bin.join("pg_ctl"))
            .arg(dir.join("data"))
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server's watchdog");
        let server = PgServer { dir, bin, password, port, tls, watchdog: Mutex::new(watchdog) };
        server.restart();
        server
    }

    /// Starts the server (again, after [`Self::stop`]) on the same directory and socket, and waits
    /// until it accepts connections.
    pub fn restart(&self) {
        let log = self.dir.join("server.log");
        let (dir, port) = (self.dir.display(), self.port);
        let mut options = format!("-k {dir} -p {port} -c fsync=off -c full_page_writes=off");
        if self.tls {
            options.push_str(&format!(
                " -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key"
            ));
        } else {
            options.push_str(" -c listen_addresses=''");
        }
        let mut start = as_server_user(&self.bin.join("pg_ctl"));
        start.arg("-D").arg(self.dir.join("data")).arg("-l").arg(&log);
        start.args(["-w", "-t", "60", "-o", &options, "start"]).stdin(Stdio::null());
        let out = start.output().expect("run pg_ctl start");
        if !out.status.success() {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            panic!(
                "the test PostgreSQL did not start ({}):\n{}\n{log}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// Stops the server as an operator's restart does (`pg_ctl stop -m fast`: open sessions are ended,
    /// what committed stays) and waits until it is down.
    pub fn stop(&self) {
        let mut stop = as_server_user(&self.bin.join("pg_ctl"));
        stop.arg("-D").arg(self.dir.join("data")).args(["-w", "-t", "60", "-m", "fast", "stop"]);
        run(stop, "pg_ctl stop");
    }

    /// [`USER`]'s password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The directory of the server's socket.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The port: TCP on a server of [`Self::start_tls`], else only the socket file's number.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The test CA's certificate (PEM) that signed a [`Self::start_tls`] server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        assert!(self.tls, "a server without TLS has no CA");
        self.dir.join("ca.crt")
    }

    /// The URL of database `db` over TCP to `host` (`localhost` or `127.0.0.1`) and [`Self::port`],
    /// with `query` (`sslmode=…`, may be empty) as its query string; without the password.
    pub fn tcp_url(&self, host: &str, db: &str, query: &str) -> String {
        let query = if query.is_empty() { String::new() } else { format!("?{query}") };
        format!("postgres://{USER}@{host}:{}/{db}{query}", self.port)
    }

    /// Connection settings for database `db` as [`USER`], password included.
    pub fn config(&self, db: &str) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config.host_path(&self.dir).port(self.port).user(USER).password(&self.password).dbname(db);
        config
    }

    /// The URL of database `db` as kura's `server.metadata.postgres.url` takes it: without the password,
    /// the socket directory percent-encoded as the host.
    pub fn url(&self, db: &str) -> String {
        let host = utf8_percent_encode(self.dir.to_str().expect("a UTF-8 temporary directory"), NON_ALPHANUMERIC);
        format!("postgres://{USER}@{host}:{}/{db}", self.port)
    }

    /// Creates an empty database with a fresh name and returns its name.
    pub fn create_database(&self) -> String {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        self.execute("postgres", &format!("CREATE DATABASE {name}"));
        name
    }

    /// Runs `sql` in database `db` (to set up what a test needs outside the store).
    pub fn execute(&self, db: &str, sql: &str) {
        let config = postgres::Config::from(self.config(db));
        blocking(move || {
            let mut client = config.connect(postgres::NoTls).expect("connect to the test server");
            client.batch_execute(sql).expect("run SQL");
        });
    }

    /// The single `bigint` value `sql` answers in database `db`.
    pub fn query_i64(&self, db: &str, sql: &str) -> i64 {
        let config = postgres::Config::from(self.config(db));
        blocking(move || {
            let mut client = config.connect(postgres::NoTls).expect("connect to the test server");
            client.query_one(sql, &[]).expect("query").get::<_, i64>(0)
        })
    }
}

impl Drop for PgServer {
    /// Closes the watchdog's stdin: it stops the server and removes the directory.
    fn drop(&mut self) {
        let mut watchdog = self.watchdog.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        drop(watchdog.stdin.take());
        let _ = watchdog.wait();
    }
}
