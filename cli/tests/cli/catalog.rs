//! The catalog on PostgreSQL (`--catalog`, `tarn catalog migrate`), against a real server on
//! 127.0.0.1 started by the test.

use std::sync::OnceLock;

use tarn_testkit::postgres::PostgresServer;

use crate::{assert_success, stderr, stdout, tarn, tarn_command, warehouse};

fn server() -> &'static PostgresServer {
    static SERVER: OnceLock<PostgresServer> = OnceLock::new();
    SERVER.get_or_init(|| PostgresServer::start().unwrap_or_else(|e| panic!("a PostgreSQL server: {e}")))
}

fn csv(warehouse: &std::path::Path, catalog: &str, sql: &str) -> String {
    let output = tarn_command(warehouse).args(["--catalog", catalog, "--format", "csv", "-c", sql]).output().unwrap();
    assert_success(&output);
    stdout(&output)
}

/// A warehouse made with the SQLite catalog moves its catalog to PostgreSQL and goes on there:
/// its tables, history and lake objects come along, and processes sharing the PostgreSQL
/// catalog see each other's commits.
#[test]
fn a_warehouse_migrates_its_catalog_to_postgresql_and_processes_share_it() {
    let (_dir, wh) = warehouse();
    assert_success(&tarn(
        &wh,
        &["-c", "CREATE TABLE t (a INT PRIMARY KEY, b VARCHAR(10)); INSERT INTO t VALUES (1, 'x'), (2, 'y')"],
    ));
    assert_success(&tarn(&wh, &["-c", "CREATE VIEW v AS SELECT a * 10 AS a10 FROM t"]));
    let url = server().create_database("cli_migrate").unwrap();

    let output = tarn(&wh, &["catalog", "migrate", "--to", &url]);
    assert_success(&output);
    assert!(stdout(&output).starts_with("copied "), "{}", stdout(&output));
    assert_eq!(csv(&wh, &url, "SELECT a, b FROM t ORDER BY a"), "a,b\n1,x\n2,y\n");
    assert_eq!(csv(&wh, &url, "SELECT sum(a10) AS s FROM v"), "s\n30\n");

    // Two processes on the shared catalog: one writes, the other reads what it committed.
    let writer = tarn_command(&wh)
        .args(["--catalog", &url, "-c", "BEGIN; DELETE FROM t WHERE a = 1; INSERT INTO t VALUES (3, 'z'); COMMIT"])
        .output()
        .unwrap();
    assert_success(&writer);
    assert_eq!(csv(&wh, &url, "SELECT a FROM t ORDER BY a"), "a\n2\n3\n");
    // The SQLite catalog stays as it was when copied.
    let output = tarn(&wh, &["--format", "csv", "-c", "SELECT a FROM t ORDER BY a"]);
    assert_success(&output);
    assert_eq!(stdout(&output), "a\n1\n2\n");
    // The statement history came along.
    assert_eq!(csv(&wh, &url, "SELECT count(*) AS n FROM stl_query WHERE querytxt LIKE 'CREATE VIEW%'"), "n\n1\n");

    // A catalog is migrated only into a new one.
    let output = tarn(&wh, &["catalog", "migrate", "--to", &url]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("is not empty"), "{}", stderr(&output));
}

/// Addresses that are not PostgreSQL's, and a server that is not there, are clear errors.
#[test]
fn bad_catalog_addresses_are_clear_errors() {
    let (_dir, wh) = warehouse();
    let output = tarn(&wh, &["--catalog", "mysql://tarn@127.0.0.1/x", "-c", "SELECT 1"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("a shared catalog is a postgresql://"), "{}", stderr(&output));

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("postgresql://tarn:secret@127.0.0.1:{port}/x");
    let started = std::time::Instant::now();
    let output = tarn(&wh, &["--catalog", &address, "-c", "SELECT 1"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains(&format!("postgresql://tarn@127.0.0.1:{port}/x")), "{message}");
    assert!(!message.contains("secret"), "the password is not shown: {message}");
    assert!(started.elapsed() < std::time::Duration::from_secs(40));
}
