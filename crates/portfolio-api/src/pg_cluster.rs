//! A private PostgreSQL cluster, owned by this process, for development and tests.
//!
//! Used when `DATABASE_URL` is not set. The cluster listens on a Unix socket only (no TCP
//! port to collide with), and dies with its owner: the postmaster is started with a
//! parent-death signal, so a killed test run or server never leaves a server behind.
//! `initdb` refuses to run as root; when we are root the programs run as the `postgres`
//! system user, in a data directory that user owns.
#![allow(unsafe_code)] // libc calls: getpwnam, prctl, kill, geteuid

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "no PostgreSQL server programs (initdb, postgres) were found on PATH, via `pg_config --bindir` \
         or under /usr/lib/postgresql/*/bin. Three ways out: install PostgreSQL (Debian: \
         `apt-get install postgresql`), set DATABASE_URL to a server you run, or start everything \
         with `docker compose up`."
    )]
    NoBinaries,
    #[error("running as root, but there is no `postgres` system user to run PostgreSQL as ({0})")]
    NoUnprivilegedUser(String),
    #[error("{0}")]
    Io(String),
    #[error("PostgreSQL did not become ready within {0:?}: {1}")]
    NotReady(Duration, String),
}

/// Options for a private cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Durability off (`fsync=off`): for throwaway test clusters only.
    pub throwaway: bool,
    pub database: String,
    pub max_connections: u32,
}

pub struct PrivateCluster {
    child: Option<Child>,
    pub data_dir: PathBuf,
    socket_dir: PathBuf,
    /// The schema owner's URL (`postgres`): migrations and administration.
    pub database_url: String,
}

/// The login role the server serves as: not a superuser, owns nothing (see the
/// `serving_role` migration for its privileges).
pub const SERVING_ROLE: &str = "portfolio_app";

/// The file in a data directory naming the process that runs its postmaster.
const OWNER_FILE: &str = "portfolio-owner.pid";

impl PrivateCluster {
    /// Starts (and on first use, creates) a cluster in `data_dir` and makes sure `options.database` exists.
    pub fn start(
        data_dir: &Path,
        options: &ClusterOptions,
    ) -> Result<PrivateCluster, ClusterError> {
        let bindir = find_bindir().ok_or(ClusterError::NoBinaries)?;
        let run_as = unprivileged_user()?;
        let data_dir = owned_data_dir(data_dir, run_as)?;
        if !data_dir.join("PG_VERSION").exists() {
            init_cluster(&bindir, run_as, &data_dir)?;
        }
        let socket_dir = socket_dir_for(&data_dir, run_as)?;
        stop_if_orphaned(&data_dir)?;
        let child = postmaster_command(&bindir, run_as, &data_dir, &socket_dir, options)
            .spawn()
            .map_err(|e| io("starting postgres", e))?;

        let mut cluster = PrivateCluster {
            child: Some(child),
            database_url: url_for(&socket_dir, &options.database),
            data_dir,
            socket_dir,
        };
        // Who owns this postmaster: after a crash of this process, the next start finds the
        // owner gone and may stop the orphan.
        let _ = std::fs::write(
            cluster.data_dir.join(OWNER_FILE),
            std::process::id().to_string(),
        );
        cluster.wait_ready(Duration::from_secs(30))?;
        cluster.create_database(&options.database)?;
        cluster.ensure_serving_role()?;
        Ok(cluster)
    }

    /// A URL for another database in this cluster, as the schema owner.
    pub fn url_for(&self, database: &str) -> String {
        url_for(&self.socket_dir, database)
    }

    /// A URL for a database in this cluster, as the serving role.
    pub fn serving_url_for(&self, database: &str) -> String {
        self.url_for(database).replacen(
            "postgres://postgres@",
            &format!("postgres://{SERVING_ROLE}@"),
            1,
        )
    }

    /// Creates the serving login role (cluster-wide) unless it exists.
    pub fn ensure_serving_role(&self) -> Result<(), ClusterError> {
        let mut conn = PgConnection::establish(&self.url_for("postgres"))
            .map_err(|e| ClusterError::Io(e.to_string()))?;
        ensure_login_role(&mut conn, SERVING_ROLE, None)
            .map_err(|e| ClusterError::Io(e.to_string()))
    }

    /// The postmaster's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Waits until the postmaster says it accepts connections, then connects once.
    ///
    /// Connecting earlier makes PostgreSQL log `FATAL: the database system is starting up`
    /// for every early attempt, which looks alarming at every start; the postmaster writes
    /// `ready` into line 8 of `postmaster.pid` when it accepts connections (PostgreSQL 10+),
    /// so we watch that file and connect only then.
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), ClusterError> {
        let start = Instant::now();
        let pid_file = self.data_dir.join("postmaster.pid");
        while start.elapsed() < timeout / 2 {
            let status = std::fs::read_to_string(&pid_file).unwrap_or_default();
            if status.lines().nth(7).map(str::trim) == Some("ready") {
                break;
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(ClusterError::Io(format!("postgres exited early: {status}")));
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let url = self.url_for("postgres");
        loop {
            match PgConnection::establish(&url) {
                Ok(_) => return Ok(()),
                Err(e) => {
                    if let Some(child) = self.child.as_mut() {
                        if let Ok(Some(status)) = child.try_wait() {
                            return Err(ClusterError::Io(format!(
                                "postgres exited early: {status}"
                            )));
                        }
                    }
                    if start.elapsed() > timeout {
                        return Err(ClusterError::NotReady(timeout, e.to_string()));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }

    pub fn create_database(&self, name: &str) -> Result<(), ClusterError> {
        let mut conn = PgConnection::establish(&self.url_for("postgres"))
            .map_err(|e| ClusterError::Io(e.to_string()))?;
        create_database_if_missing(&mut conn, name, None)
            .map_err(|e| ClusterError::Io(e.to_string()))
    }

    /// Fast shutdown: SIGINT, then wait; SIGQUIT if it lingers.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), libc::SIGINT);
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(15) {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            signal(child.id(), libc::SIGQUIT);
            let _ = child.wait();
        }
    }

    /// Stops the postmaster abruptly and starts it again later with `restart`: for resilience tests.
    pub fn signal_postmaster(&self, sig: i32) {
        if let Some(pid) = self.pid() {
            signal(pid, sig);
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Makes `role` a login role that is no superuser (creating it if missing), optionally with a
/// password. The migrations grant it its privileges.
pub fn ensure_login_role(
    conn: &mut PgConnection,
    role: &str,
    password: Option<&str>,
) -> diesel::QueryResult<()> {
    let quoted = quote_ident(role);
    let password = password
        .map(|p| format!(" PASSWORD '{}'", p.replace('\'', "''")))
        .unwrap_or_default();
    let literal = role.replace('\'', "''");
    diesel::sql_query(format!(
        "DO $$ BEGIN \
           IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{literal}') THEN \
             CREATE ROLE {quoted} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS; \
           END IF; END $$"
    ))
    .execute(conn)?;
    diesel::sql_query(format!(
        "ALTER ROLE {quoted} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS{password}"
    ))
    .execute(conn)?;
    Ok(())
}

/// `CREATE DATABASE name [TEMPLATE template]` unless it exists.
pub fn create_database_if_missing(
    conn: &mut PgConnection,
    name: &str,
    template: Option<&str>,
) -> diesel::QueryResult<()> {
    use diesel::sql_types::Text;
    #[derive(diesel::QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }
    let found =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<Text, _>(name)
            .get_result::<Exists>(conn)?;
    if !found.exists {
        let quoted = quote_ident(name);
        let sql = match template {
            Some(t) => format!("CREATE DATABASE {quoted} TEMPLATE {}", quote_ident(t)),
            None => format!("CREATE DATABASE {quoted}"),
        };
        diesel::sql_query(sql).execute(conn)?;
    }
    Ok(())
}

pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn io(what: &str, e: std::io::Error) -> ClusterError {
    ClusterError::Io(format!("{what}: {e}"))
}

/// Creates the data directory (owned by the user PostgreSQL runs as) and resolves its path.
fn owned_data_dir(data_dir: &Path, run_as: Option<(u32, u32)>) -> Result<PathBuf, ClusterError> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| io(&format!("creating {}", data_dir.display()), e))?;
    let data_dir = data_dir
        .canonicalize()
        .map_err(|e| io(&format!("resolving {}", data_dir.display()), e))?;
    if let Some((uid, gid)) = run_as {
        chown(&data_dir, uid, gid)?;
    }
    Ok(data_dir)
}

/// Creates the cluster (`initdb`): trust authentication (the socket is private), UTF-8, C locale.
fn init_cluster(
    bindir: &Path,
    run_as: Option<(u32, u32)>,
    data_dir: &Path,
) -> Result<(), ClusterError> {
    let out = command(&bindir.join("initdb"), run_as)
        .arg("-D")
        .arg(data_dir)
        .args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io("running initdb", e))?;
    if !out.status.success() {
        return Err(ClusterError::Io(format!(
            "initdb failed in {} (when running as root, the `postgres` user must be able to \
             reach this directory; set PORTFOLIO_DATA_DIR to a path outside root's home): {}",
            data_dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// The socket lives in the data directory unless that path is too long for a Unix socket.
fn socket_dir_for(data_dir: &Path, run_as: Option<(u32, u32)>) -> Result<PathBuf, ClusterError> {
    if data_dir.as_os_str().len() < 80 {
        return Ok(data_dir.to_path_buf());
    }
    let dir = std::env::temp_dir().join(format!("portfolio-pg-sock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| io("creating socket dir", e))?;
    if let Some((uid, gid)) = run_as {
        chown(&dir, uid, gid)?;
    }
    Ok(dir)
}

/// The postmaster: Unix socket only, durability off for a throwaway cluster, and a
/// parent-death signal so that it dies with this process.
fn postmaster_command(
    bindir: &Path,
    run_as: Option<(u32, u32)>,
    data_dir: &Path,
    socket_dir: &Path,
    options: &ClusterOptions,
) -> Command {
    let mut cmd = command(&bindir.join("postgres"), run_as);
    cmd.arg("-D")
        .arg(data_dir)
        .arg("-k")
        .arg(socket_dir)
        .args(["-c", "listen_addresses="])
        .args([
            "-c",
            &format!("max_connections={}", options.max_connections),
        ])
        .args(["-c", "shared_buffers=128MB"])
        .args(["-c", "log_min_messages=warning"])
        .args(["-c", "logging_collector=off"])
        .args(["-c", "log_checkpoints=off"]);
    if options.throwaway {
        cmd.args([
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]);
    }
    // A throwaway cluster logs to a file in its data directory, not into test output.
    let stderr = if options.throwaway {
        std::fs::File::create(data_dir.join("postgres.log"))
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null())
    } else {
        Stdio::inherit()
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    die_with_parent(&mut cmd);
    cmd
}

fn die_with_parent(cmd: &mut Command) {
    // SAFETY: prctl and getppid are async-signal-safe and touch no memory of the parent.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            // Runs after the uid change, which would otherwise clear the death signal.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn url_for(socket_dir: &Path, database: &str) -> String {
    let host: String = socket_dir
        .to_string_lossy()
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("postgres://postgres@/{database}?host={host}")
}

/// A postmaster still running in `data_dir` is refused while the process that started it
/// lives. If that owner is gone (the server was killed with `kill -9`), the postmaster is an
/// orphan of this data directory: stop it cleanly and start as usual.
fn stop_if_orphaned(data_dir: &Path) -> Result<(), ClusterError> {
    let pid_file = data_dir.join("postmaster.pid");
    let Ok(text) = std::fs::read_to_string(&pid_file) else {
        return Ok(());
    };
    let Some(pid) = text
        .lines()
        .next()
        .and_then(|l| l.trim().parse::<i32>().ok())
        .filter(|pid| *pid > 0)
    else {
        return Ok(());
    };
    if !alive(pid) {
        return Ok(());
    }
    // The pid file's second line is the data directory; the process must be a postgres of it.
    let same_dir = text
        .lines()
        .nth(1)
        .map(|d| Path::new(d.trim()) == data_dir)
        .unwrap_or(false);
    let is_postgres = std::fs::read(format!("/proc/{pid}/comm"))
        .map(|c| String::from_utf8_lossy(&c).trim().starts_with("postgres"))
        .unwrap_or(false);
    let owner = std::fs::read_to_string(data_dir.join(OWNER_FILE))
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok());
    let owner_alive = owner.is_some_and(|o| o as u32 != std::process::id() && alive(o));
    if owner_alive || !same_dir || !is_postgres {
        return Err(ClusterError::Io(format!(
            "a PostgreSQL server (pid {pid}) is already running in {}{}; stop it or use another PORTFOLIO_DATA_DIR",
            data_dir.display(),
            owner
                .filter(|_| owner_alive)
                .map(|o| format!(" for process {o}"))
                .unwrap_or_default()
        )));
    }
    log::warn!(
        "a PostgreSQL server (pid {pid}) of {} outlived the process that started it; stopping it",
        data_dir.display()
    );
    // Fast shutdown (SIGINT) rolls back open transactions and checkpoints; SIGQUIT if it hangs.
    for (sig, wait) in [(libc::SIGINT, 20), (libc::SIGQUIT, 10)] {
        signal(pid as u32, sig);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(wait) {
            if !alive(pid) || !pid_file.exists() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Err(ClusterError::Io(format!(
        "the orphaned PostgreSQL server (pid {pid}) in {} did not stop",
        data_dir.display()
    )))
}

fn alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence. A zombie is not alive.
    let exists = unsafe { libc::kill(pid, 0) == 0 };
    exists
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(false)
}

fn command(program: &Path, run_as: Option<(u32, u32)>) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir("/");
    if let Some((uid, gid)) = run_as {
        use std::os::unix::process::CommandExt;
        cmd.uid(uid).gid(gid);
        cmd.env("HOME", "/tmp");
    }
    cmd
}

/// When we are root, the PostgreSQL programs must run as the `postgres` system user.
fn unprivileged_user() -> Result<Option<(u32, u32)>, ClusterError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = CString::new("postgres").map_err(|e| ClusterError::Io(e.to_string()))?;
    // SAFETY: getpwnam returns a pointer into static storage or null; we copy out at once.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(ClusterError::NoUnprivilegedUser(
            "create one with `useradd --system postgres`, or run as a normal user".into(),
        ));
    }
    // SAFETY: pw is non-null and points to a valid passwd record.
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    Ok(Some((uid, gid)))
}

fn chown(path: &Path, uid: u32, gid: u32) -> Result<(), ClusterError> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .map_err(|e| ClusterError::Io(format!("chown {}: {e}", path.display())))
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: sending a signal to a child we started.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// Finds the directory holding `initdb` and `postgres`: PATH, then `pg_config --bindir`,
/// then the newest `/usr/lib/postgresql/*/bin`.
pub fn find_bindir() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if initdb.is_file() {
                // Debian links initdb into PATH but not postgres: follow the link.
                let real = initdb.canonicalize().ok()?;
                let real_dir = real.parent()?.to_path_buf();
                if has_both(&real_dir) {
                    return Some(real_dir);
                }
                if has_both(&dir) {
                    return Some(dir);
                }
            }
        }
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        if out.status.success() {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if has_both(&dir) {
                return Some(dir);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_both(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}
