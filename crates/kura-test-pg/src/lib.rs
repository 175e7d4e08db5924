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
//! As root (CI), the server runs as the `postgres` user, since `initdb` refuses root. There is no
//! skipping: without PostgreSQL the tests fail and say how to install it.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The superuser every server has.
pub const USER: &str = "kura";

/// The port number names the socket file (`.s.PGSQL.<port>`); nothing listens on TCP.
pub const PORT: u16 = 5432;

/// A running (or deliberately stopped) PostgreSQL server.
pub struct PgServer {
    /// The directory of its socket (and of its data, log and password file).
    dir: PathBuf,
    /// PostgreSQL's server programs.
    bin: PathBuf,
    /// [`USER`]'s password.
    password: String,
    /// The watchdog, whose stdin (held here) closes when this value is dropped or this process exits,
    /// which stops the server and removes `dir`.
    watchdog: Mutex<Child>,
}

static SHARED: OnceLock<PgServer> = OnceLock::new();

/// The server shared by a test binary, started on first use. Never stop it: other tests use it.
pub fn shared() -> &'static PgServer {
    SHARED.get_or_init(PgServer::start)
}

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

/// Runs `f` on a thread of its own: the blocking `postgres` client must not run on an async runtime's
/// thread, and the tests call these helpers from both kinds.
fn blocking<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| scope.spawn(f).join().expect("the helper thread panicked"))
}

impl PgServer {
    /// Initialises and starts a server of the caller's own.
    pub fn start() -> PgServer {
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
        let server = PgServer { dir, bin, password, watchdog: Mutex::new(watchdog) };
        server.restart();
        server
    }

    /// Starts the server (again, after [`Self::stop`]) on the same directory and socket, and waits
    /// until it accepts connections.
    pub fn restart(&self) {
        let log = self.dir.join("server.log");
        let options =
            format!("-k {} -p {PORT} -c listen_addresses='' -c fsync=off -c full_page_writes=off", self.dir.display());
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

    /// Connection settings for database `db` as [`USER`], password included.
    pub fn config(&self, db: &str) -> postgres::Config {
        let mut config = postgres::Config::new();
        config.host_path(&self.dir).port(PORT).user(USER).password(&self.password).dbname(db);
        config
    }

    /// The URL of database `db` as kura's `server.metadata.postgres.url` takes it: without the password,
    /// the socket directory percent-encoded as the host.
    pub fn url(&self, db: &str) -> String {
        let host = utf8_percent_encode(self.dir.to_str().expect("a UTF-8 temporary directory"), NON_ALPHANUMERIC);
        format!("postgres://{USER}@{host}:{PORT}/{db}")
    }

    /// Creates an empty database with a fresh name and returns its name.
    pub fn create_database(&self) -> String {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        self.execute("postgres", &format!("CREATE DATABASE {name}"));
        name
    }

    /// Runs `sql` in database `db` (to set up what a test needs outside the store).
    pub fn execute(&self, db: &str, sql: &str) {
        let config = self.config(db);
        blocking(move || {
            let mut client = config.connect(postgres::NoTls).expect("connect to the test server");
            client.batch_execute(sql).expect("run SQL");
        });
    }

    /// The single `bigint` value `sql` answers in database `db`.
    pub fn query_i64(&self, db: &str, sql: &str) -> i64 {
        let config = self.config(db);
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
