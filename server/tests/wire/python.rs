//! The team's Python drivers against `tarn serve`: psycopg2, psycopg 3, SQLAlchemy 2 with
//! pandas, asyncpg and redshift_connector, installed at pinned versions
//! (`server/tests/python/requirements.txt`) into a virtual environment under `target/`, made
//! once and reused. A missing Python or package index fails these tests: they never skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::common::{ADMIN, ADMIN_PASSWORD, TestServer};

fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python")
}

/// The virtual environment's interpreter, made (or remade, when the pins changed) on first use.
fn python() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(|| tarn_testkit::python::venv("python-clients", &python_dir().join("requirements.txt"))) {
        Ok(path) => path,
        Err(e) => panic!("cannot set up the Python clients (python3 with venv and PyPI are needed): {e}"),
    }
}

/// Runs one scenario of clients.py against `server`.
fn scenario(server: &TestServer, name: &str, extra: &[&str]) {
    let output = Command::new(python())
        .arg(python_dir().join("clients.py"))
        .args([name, &server.addr.port().to_string(), ADMIN, ADMIN_PASSWORD])
        .args(extra)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{name} failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("{name}: ok")), "{name}:\n{stdout}\n{stderr}");
}

async fn run(name: &'static str) {
    let server = TestServer::start().await;
    let port_server = &server;
    tokio::task::block_in_place(|| scenario(port_server, name, &[]));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn psycopg2_runs_the_seed_full_refresh() {
    run("psycopg2_etl").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlalchemy_reflects_and_pandas_reads_and_writes() {
    run("sqlalchemy_pandas").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seed_section_8_grants_are_enforced() {
    run("grant_matrix").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn psycopg3_asyncpg_and_redshift_connector_work() {
    run("drivers").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_in_fails_cleanly_and_tls_encrypts() {
    let certificate = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    std::fs::write(&cert, certificate.cert.pem()).unwrap();
    std::fs::write(&key, certificate.key_pair.serialize_pem()).unwrap();
    let server = TestServer::start_tls(cert, key).await;
    let port_server = &server;
    tokio::task::block_in_place(|| scenario(port_server, "sign_in", &[]));
    server.stop().await;
}
