//! A private PostgreSQL server for one test binary, started on first use from the machine's
//! PostgreSQL (`initdb`, `pg_ctl`), on a Unix socket in a temporary directory (no TCP port), and
//! stopped (`pg_ctl stop -m immediate`, directory removed) when the test process exits, however it
//! exits: a watchdog shell waits for the end of a pipe that only this process holds.
//!
//! Each test gets a database of its own ([`fresh_store`]). As root (CI), the server runs as the
//! `postgres` user, since `initdb` refuses root. There is no skipping: without PostgreSQL the tests
//! fail and say how to install it.

#![allow(dead_code)]

use kura_meta_pg::{Config, PgMetaStore};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The running server.
pub struct Server {
    /// The directory of its socket (and of its data and log).
    dir: PathBuf,
    /// The watchdog, whose stdin (held here) closes when this process exits, which stops the server.
    _watchdog: Mutex<Child>,
}

/// The port number names the socket file (`.s.PGSQL.<port>`); nothing listens on TCP.
const PORT: u16 = 5432;

static SERVER: OnceLock<Server> = OnceLock::new();

/// The server, started on first use.
pub fn server() -> &'static Server {
    SERVER.get_or_init(start)
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

fn start() -> Server {
    let bin = bin_dir();
    let dir = tempfile::Builder::new().prefix("kura-pg-").tempdir().expect("temporary directory").keep();
    if is_root() {
        let mut chown = Command::new("chown");
        chown.arg("postgres:postgres").arg(&dir);
        run(chown, "chown of the server's directory to the postgres user");
    }
    let data = dir.join("data");
    let mut initdb = as_server_user(&bin.join("initdb"));
    initdb.arg("-D").arg(&data).args(["-U", "kura", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
    run(initdb, "initdb");

    // The watchdog: once our end of its stdin closes (this process exited), it stops the server and
    // removes the directory.
    let pg_ctl = bin.join("pg_ctl");
    let prefix = if is_root() { "runuser -u postgres -- " } else { "" };
    let script = format!("cat > /dev/null; {prefix}\"$1\" -D \"$2\" stop -m immediate > /dev/null 2>&1; rm -rf \"$3\"");
    let watchdog = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("watchdog")
        .arg(&pg_ctl)
        .arg(&data)
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server's watchdog");

    let log = dir.join("server.log");
    let options = format!("-k {} -p {PORT} -c listen_addresses='' -c fsync=off -c full_page_writes=off", dir.display());
    let mut start = as_server_user(&pg_ctl);
    start.arg("-D").arg(&data).arg("-l").arg(&log).args(["-w", "-t", "60", "-o", &options, "start"]);
    start.stdin(Stdio::null());
    let out = start.output().expect("run pg_ctl start");
    if !out.status.success() {
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        panic!("the test PostgreSQL did not start ({}):\n{}\n{log}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    Server { dir, _watchdog: Mutex::new(watchdog) }
}

impl Server {
    /// Connection settings for database `db` as the superuser `kura`.
    pub fn config(&self, db: &str) -> Config {
        let mut config = Config::new();
        config.host_path(&self.dir).port(PORT).user("kura").dbname(db);
        config
    }

    /// Creates an empty database with a fresh name and returns its name.
    pub async fn create_database(&self) -> String {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let config = self.config("postgres");
        let sql = format!("CREATE DATABASE {name}");
        tokio::task::spawn_blocking(move || {
            let mut client = config.connect(postgres::NoTls).expect("connect to the test server");
            client.batch_execute(&sql).expect("create a test database");
        })
        .await
        .expect("create database");
        name
    }

    /// Runs `sql` in database `db` (to set up what a test needs outside the store).
    pub async fn execute(&self, db: &str, sql: &str) {
        let (config, sql) = (self.config(db), sql.to_owned());
        tokio::task::spawn_blocking(move || {
            let mut client = config.connect(postgres::NoTls).expect("connect to the test server");
            client.batch_execute(&sql).expect("run SQL");
        })
        .await
        .expect("execute");
    }
}

impl Server {
    /// The single `bigint` value `sql` answers in database `db`.
    pub async fn query_i64(&self, db: &str, sql: &str) -> i64 {
        let (config, sql) = (self.config(db), sql.to_owned());
        tokio::task::spawn_blocking(move || {
            let mut client = config.connect(postgres::NoTls).expect("connect to the test server");
            client.query_one(sql.as_str(), &[]).expect("query").get::<_, i64>(0)
        })
        .await
        .expect("query")
    }
}

/// A store on a new, empty database.
pub async fn fresh_store() -> PgMetaStore {
    let server = server();
    let db = server.create_database().await;
    PgMetaStore::open(server.config(&db), 8).await.expect("open the store")
}
