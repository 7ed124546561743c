//! A real PostgreSQL server on 127.0.0.1 for tests: Debian's `postgresql-15` (installed with
//! apt-get when missing), a fresh cluster in a temporary directory, trust authentication for
//! the user `tarn`. PostgreSQL refuses to run as root, so under root the cluster belongs to the
//! `postgres` user and its programs run through `runuser`.
//!
//! The server stops when the [`PostgresServer`] is dropped, and in any case once the test
//! process has exited (a watcher shell stops it and removes its directory), so a server shared
//! by a whole test binary through a `static` leaves nothing behind.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The superuser of test clusters (trust authentication, loopback only).
pub const USER: &str = "tarn";

/// A running PostgreSQL server.
pub struct PostgresServer {
    install: Install,
    port: u16,
    dir: PathBuf,
    server: Child,
}

/// Where the server's programs are, and whether they run as user `postgres`.
struct Install {
    bin: PathBuf,
    as_postgres: bool,
}

impl Install {
    /// A command running `program` of the installation, as the cluster's owner.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command.output().map_err(|e| format!("{what}: cannot run {command:?}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what}: {command:?} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding a server.
fn find_binaries() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("TARN_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn binaries(root: bool) -> Result<PathBuf, String> {
    if let Some(bin) = find_binaries() {
        return Ok(bin);
    }
    if !root {
        return Err("no PostgreSQL server under /usr/lib/postgresql: install Debian's postgresql-15 \
                    (apt-get install postgresql-15) or set TARN_PG_BIN to its bin directory"
            .into());
    }
    let apt = |args: &[&str]| {
        run(Command::new("apt-get").args(args).env("DEBIAN_FRONTEND", "noninteractive"), "installing postgresql-15")
    };
    if apt(&["install", "-y", "--no-install-recommends", "postgresql-15"]).is_err() {
        apt(&["update"])?;
        apt(&["install", "-y", "--no-install-recommends", "postgresql-15"])?;
    }
    find_binaries().ok_or_else(|| "postgresql-15 was installed but no server is under /usr/lib/postgresql".into())
}

impl PostgresServer {
    /// Starts a server with a new cluster on a free port of 127.0.0.1.
    pub fn start() -> Result<PostgresServer, String> {
        let root = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
        let bin = binaries(root)?;
        let dir = tempfile::Builder::new()
            .prefix("tarn-pg-")
            .tempdir()
            .map_err(|e| format!("a directory for PostgreSQL: {e}"))?
            .keep();
        if root {
            run(Command::new("chown").arg("postgres:").arg(&dir), "giving the cluster to user postgres")?;
        }
        let data = dir.join("data");
        let install = Install { bin, as_postgres: root };
        run(
            install.command("initdb").arg("-D").arg(&data).args([
                "-U",
                USER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]),
            "creating a PostgreSQL cluster",
        )?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("a free port on 127.0.0.1: {e}"))?
            .port();
        let log = std::fs::File::create(dir.join("server.log")).map_err(|e| format!("the server log: {e}"))?;
        let child = install
            .command("postgres")
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-F", "-c", "max_connections=200"])
            .arg("-k")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting PostgreSQL: {e}"))?;
        let mut server = PostgresServer { install, port, dir, server: child };
        server.watch()?;
        server.wait_ready()?;
        Ok(server)
    }

    /// Stops the server and removes its directory once this process has exited.
    fn watch(&self) -> Result<(), String> {
        let stop = format!("{:?} -D {:?} stop -m immediate", self.install.bin.join("pg_ctl"), self.dir.join("data"));
        let stop = if self.install.as_postgres { format!("runuser -u postgres -- {stop}") } else { stop };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {dir:?}",
            pid = std::process::id(),
            dir = self.dir
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(drop)
            .map_err(|e| format!("starting the PostgreSQL watcher: {e}"))
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = self
                .install
                .command("pg_isready")
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(());
            }
            let log = || std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            if let Ok(Some(status)) = self.server.try_wait() {
                return Err(format!("PostgreSQL exited ({status}): {}", log()));
            }
            if Instant::now() > deadline {
                return Err(format!("PostgreSQL was not ready within 60 s: {}", log()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The installation's `psql`, a client for any PostgreSQL-protocol server.
    pub fn psql(&self) -> PathBuf {
        self.install.bin.join("psql")
    }

    /// The directory of the cluster (its data and log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `postgresql://tarn@127.0.0.1:PORT/database`.
    pub fn url(&self, database: &str) -> String {
        format!("postgresql://{USER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates an empty database; returns its address.
    pub fn create_database(&self, name: &str) -> Result<String, String> {
        run(
            self.install.command("createdb").args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER, name]),
            "creating a PostgreSQL database",
        )?;
        Ok(self.url(name))
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let _ = self
            .install
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["stop", "-m", "immediate"])
            .output();
        let _ = self.server.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
