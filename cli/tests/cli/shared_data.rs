//! A warehouse shared as processes on several machines share it: the catalog on a real
//! PostgreSQL server and the managed data on a real S3 server, both on 127.0.0.1. Each process
//! has its own warehouse directory (its own "machine"): nothing passes through the file system.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use tarn_testkit::S3Server;
use tarn_testkit::postgres::PostgresServer;

use crate::{assert_success, parquet_files, parquet_files_under, stderr, stdout, tarn_command, warehouse};

const LAKE: &str = "lake";
const DATA: &str = "warehouse-data";

fn postgres() -> &'static PostgresServer {
    static SERVER: OnceLock<PostgresServer> = OnceLock::new();
    SERVER.get_or_init(|| PostgresServer::start().unwrap_or_else(|e| panic!("a PostgreSQL server: {e}")))
}

/// A process of the shared warehouse: its own directory `wh`, the catalog at `catalog`, the
/// AWS settings that reach `s3`.
fn shared(s3: &S3Server, wh: &Path, catalog: &str) -> Command {
    let mut command = tarn_command(wh);
    for (name, value) in s3.env() {
        command.env(name, value);
    }
    command.env_remove("AWS_PROFILE").env("HOME", wh.with_extension("home"));
    command.args(["--catalog", catalog]);
    command
}

fn run(s3: &S3Server, wh: &Path, catalog: &str, args: &[&str]) -> Output {
    shared(s3, wh, catalog).args(args).output().expect("tarn runs")
}

fn csv(s3: &S3Server, wh: &Path, catalog: &str, sql: &str) -> String {
    let output = run(s3, wh, catalog, &["--format", "csv", "-c", sql]);
    assert_success(&output);
    stdout(&output)
}

/// The data files in the bucket under `prefix`, relative to it.
fn objects(s3: &S3Server, prefix: &str) -> BTreeSet<String> {
    let root = s3.path_of(DATA, prefix);
    parquet_files_under(&root).iter().map(|p| p.strip_prefix(&root).unwrap().to_string_lossy().into_owned()).collect()
}

/// The files the catalog references, as `tarn_data_files` lists them.
fn referenced(s3: &S3Server, wh: &Path, catalog: &str) -> BTreeSet<String> {
    csv(s3, wh, catalog, "SELECT path FROM tarn_data_files").lines().skip(1).map(String::from).collect()
}

/// The seed workflow's steps on a warehouse whose data is on S3: COPY from the lake, INSERT,
/// CTAS, UPDATE, DELETE, MERGE-style refresh in a transaction, time travel, VACUUM. A second
/// process on another "machine" (its own directory, no --data) sees exactly the same.
#[test]
fn a_warehouse_with_its_catalog_on_postgresql_and_data_on_s3_is_shared_by_processes() {
    let s3 = S3Server::start(&[LAKE, DATA]);
    s3.put(LAKE, "raw/sales.csv", "1|ann|10.50\n2|bob|20.00\n3|cy|5.25\n");
    let catalog = postgres().create_database("shared_data").unwrap();
    let (_first_dir, first) = warehouse();
    let (_second_dir, second) = warehouse();
    let location = format!("s3://{DATA}/wh");

    let setup = "CREATE TABLE sales (id INT PRIMARY KEY, name VARCHAR(10), amount DECIMAL(8,2)); \
         COPY sales FROM 's3://lake/raw/sales.csv' DELIMITER '|'; \
         INSERT INTO sales VALUES (4, 'dee', 7.75); \
         CREATE TABLE totals AS SELECT name, sum(amount) AS total FROM sales GROUP BY name; \
         UPDATE sales SET amount = amount * 2 WHERE id = 1; \
         DELETE FROM sales WHERE id = 3";
    assert_success(&run(&s3, &first, &catalog, &["--data", &location, "-c", setup]));
    // The files are in the bucket, none in the warehouse directory.
    assert!(parquet_files(&first).is_empty(), "{:?}", parquet_files(&first));
    let in_bucket = objects(&s3, "wh");
    assert!(in_bucket.iter().all(|p| p.starts_with("data/public/")), "{in_bucket:?}");
    assert_eq!(in_bucket, referenced(&s3, &first, &catalog));

    // Another machine: its own directory, the location comes from the catalog.
    let query = "SELECT id, name, amount FROM sales ORDER BY id";
    let expected = "id,name,amount\n1,ann,21.00\n2,bob,20.00\n4,dee,7.75\n";
    assert_eq!(csv(&s3, &second, &catalog, query), expected);
    assert_eq!(csv(&s3, &first, &catalog, query), expected);
    assert_eq!(csv(&s3, &second, &catalog, "SELECT count(*) AS n FROM totals"), "n\n4\n");

    // The seed's idempotent refresh, then time travel to before it.
    let before = csv(&s3, &second, &catalog, "SELECT max(snapshot_id) AS s FROM tarn_snapshots");
    let before = before.lines().nth(1).unwrap().to_string();
    let refresh =
        "BEGIN; DELETE FROM totals; INSERT INTO totals SELECT name, sum(amount) FROM sales GROUP BY name; COMMIT";
    assert_success(&run(&s3, &second, &catalog, &["-c", refresh]));
    assert_eq!(csv(&s3, &first, &catalog, "SELECT total FROM totals WHERE name = 'ann'"), "total\n21.00\n");
    let old = format!("BEGIN AS OF SNAPSHOT {before}; SELECT total FROM totals WHERE name = 'ann'; ROLLBACK");
    assert_eq!(csv(&s3, &first, &catalog, &old), "total\n10.50\n");

    // A file left by a writer that died (an engine no catalog session names) goes at VACUUM;
    // the referenced files stay.
    let table_path =
        csv(&s3, &first, &catalog, "SELECT path FROM tarn_data_files WHERE path LIKE 'data/public/sales_%' LIMIT 1");
    let folder = table_path.lines().nth(1).unwrap().rsplit_once('/').unwrap().0.to_string();
    let orphan = format!("wh/{folder}/0123456789abcdef0123456789abcdef-0123456789abcdef0123456789abcdef.parquet");
    s3.put(DATA, &orphan, b"PAR1 left by a crash");
    let vacuum = run(&s3, &second, &catalog, &["-c", "VACUUM RETAIN 0 HOURS"]);
    assert_success(&vacuum);
    assert!(!s3.path_of(DATA, &orphan).exists(), "the orphan was not removed");
    assert_eq!(objects(&s3, "wh"), referenced(&s3, &first, &catalog));
    assert_eq!(csv(&s3, &first, &catalog, query), expected);

    // Keys S3 refuses: the write fails with a clear error and the table is unchanged.
    let output = shared(&s3, &second, &catalog)
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        .args(["-c", "INSERT INTO sales VALUES (9, 'eve', 1.00)"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("access denied"), "{}", stderr(&output));
    assert!(!stderr(&output).contains("not-the-secret"), "{}", stderr(&output));
    assert_eq!(csv(&s3, &first, &catalog, query), expected);

    // The location is fixed at creation.
    let output = run(&s3, &second, &catalog, &["--data", &format!("s3://{DATA}/elsewhere"), "-c", "SELECT 1"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("keeps its data at s3://warehouse-data/wh"), "{}", stderr(&output));
    // A local warehouse with data cannot move it by asking either.
    let (_local_dir, local) = warehouse();
    assert_success(
        &tarn_command(&local).args(["-c", "CREATE TABLE t (a int); INSERT INTO t VALUES (1)"]).output().unwrap(),
    );
    let output = tarn_command(&local).args(["--data", &location, "-c", "SELECT 1"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("has data files there"), "{}", stderr(&output));
}

/// A server on one machine holds a transaction whose files are written (uploaded, not
/// committed); VACUUM on another machine must leave them alone, because the catalog says that
/// server runs. The commit then finds every file. A transaction that ends without COMMIT
/// leaves nothing in the bucket.
#[test]
fn vacuum_on_one_machine_keeps_the_files_another_is_about_to_commit() {
    let s3 = S3Server::start(&[DATA]);
    let catalog = postgres().create_database("shared_inflight").unwrap();
    let (_server_dir, on_server) = warehouse();
    let (_other_dir, other) = warehouse();
    let location = format!("s3://{DATA}/wh");
    assert_success(&run(&s3, &on_server, &catalog, &["--data", &location, "-c", "CREATE TABLE t (a BIGINT)"]));

    let mut server = Stopped(
        shared(&s3, &on_server, &catalog)
            .args(["serve", "--listen", "127.0.0.1:0", "--init-user", "admin"])
            .env("TARN_PASSWORD", "Secret-123")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut log = BufReader::new(server.0.stderr.take().unwrap());
    let address = loop {
        let mut line = String::new();
        assert!(log.read_line(&mut line).unwrap() > 0, "tarn serve ended early");
        if let Some(rest) = line.split(" on ").nth(1).filter(|_| line.contains("tarn serves warehouse")) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let (host, port) = address.rsplit_once(':').unwrap();
    let psql = |stdin: Stdio| {
        Command::new(postgres().psql())
            .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", port, "-U", "admin", "-d", "dev"])
            .env("PGPASSWORD", "Secret-123")
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };

    let mut client = psql(Stdio::piped());
    let mut input = client.stdin.take().unwrap();
    let mut answers = BufReader::new(client.stdout.take().unwrap());
    writeln!(input, "BEGIN; INSERT INTO t SELECT value FROM generate_series(1, 300000); SELECT 'written';").unwrap();
    let mut line = String::new();
    answers.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "written");
    let in_flight = objects(&s3, "wh");
    assert!(!in_flight.is_empty(), "the transaction's files are uploaded before COMMIT");

    assert_success(&run(&s3, &other, &catalog, &["-c", "VACUUM"]));
    assert_eq!(objects(&s3, "wh"), in_flight, "VACUUM removed files of a running server");

    writeln!(input, "COMMIT; SELECT 'committed';").unwrap();
    line.clear();
    answers.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "committed");
    drop(input);
    assert!(client.wait().unwrap().success());
    assert_eq!(csv(&s3, &other, &catalog, "SELECT count(*) AS n, sum(a) AS s FROM t"), "n,s\n300000,45000150000\n");

    // The server's catalog session is lost while a transaction has written its files (another
    // machine may then take it for gone and remove them): its COMMIT is refused, nothing of it
    // is committed, and the server goes on.
    let mut client = psql(Stdio::piped());
    let mut input = client.stdin.take().unwrap();
    let mut answers = BufReader::new(client.stdout.take().unwrap());
    writeln!(input, "BEGIN; INSERT INTO t SELECT value FROM generate_series(1, 1000); SELECT 'written';").unwrap();
    line.clear();
    answers.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "written");
    let terminated = Command::new(postgres().psql())
        .args(["-X", "-q", "-t", "-A", "-h", "127.0.0.1", "-p", &postgres().port().to_string(), "-U", "tarn"])
        .args(["-d", "shared_inflight", "-c"])
        .arg(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE 'tarn engine %'",
        )
        .output()
        .unwrap();
    assert!(terminated.status.success(), "{}", String::from_utf8_lossy(&terminated.stderr));
    writeln!(input, "COMMIT;").unwrap();
    drop(input);
    let ended = client.wait_with_output().unwrap();
    assert!(!ended.status.success());
    let message = String::from_utf8_lossy(&ended.stderr);
    assert!(message.contains("connection to the catalog was lost"), "{message}");
    assert_eq!(csv(&s3, &other, &catalog, "SELECT count(*) AS n FROM t"), "n\n300000\n");

    // A session that ends inside its transaction leaves nothing behind.
    let mut client = psql(Stdio::piped());
    let mut input = client.stdin.take().unwrap();
    writeln!(input, "BEGIN; INSERT INTO t SELECT value FROM generate_series(1, 1000);").unwrap();
    drop(input);
    assert!(client.wait().unwrap().success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while objects(&s3, "wh") != referenced(&s3, &other, &catalog) {
        assert!(std::time::Instant::now() < deadline, "the ended session's files stay: {:?}", objects(&s3, "wh"));
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A process killed when the test ends, however it ends.
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Processes killed at random points of a refresh leave the old contents or the new ones,
/// never a mix, and VACUUM then leaves exactly the referenced files in the bucket.
#[test]
fn killing_writers_of_data_on_s3_leaves_old_or_new_contents_and_vacuum_cleans_up() {
    const ROWS: u64 = 300_000;
    let s3 = S3Server::start(&[DATA]);
    let catalog = postgres().create_database("shared_kills").unwrap();
    let (_dir, wh) = warehouse();
    let location = format!("s3://{DATA}/wh");
    let job = |version: u64| {
        format!("BEGIN; DELETE FROM t; INSERT INTO t SELECT value, {version} FROM generate_series(1, {ROWS}); COMMIT")
    };
    let setup = format!("CREATE TABLE t (id BIGINT NOT NULL, version BIGINT NOT NULL); {}", job(0));
    assert_success(&run(&s3, &wh, &catalog, &["--data", &location, "-c", &setup]));
    let started = std::time::Instant::now();
    assert_success(&run(&s3, &wh, &catalog, &["-c", &job(1)]));
    let duration = started.elapsed().as_millis() as u64;
    let mut version = 1;
    let mut killed = 0;
    for attempt in 0..8u64 {
        let delay = duration * (attempt + 1) / 10;
        let mut child = shared(&s3, &wh, &catalog)
            .args(["-c", &job(version + 1)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            killed += 1;
        }
        child.wait().unwrap();
        let out = csv(&s3, &wh, &catalog, "SELECT count(*) AS n, min(version) AS lo, max(version) AS hi FROM t");
        let values: Vec<u64> = out.lines().nth(1).unwrap().split(',').map(|v| v.parse().unwrap()).collect();
        assert_eq!(values[0], ROWS, "attempt {attempt}: partial table");
        assert_eq!(values[1], values[2], "attempt {attempt}: rows of two versions");
        assert!(values[1] == version || values[1] == version + 1, "attempt {attempt}: version {}", values[1]);
        version = values[1];
    }
    assert!(killed >= 4, "only {killed} of 8 writers were killed mid-job");
    assert_success(&run(&s3, &wh, &catalog, &["-c", "VACUUM RETAIN 0 HOURS"]));
    assert_eq!(objects(&s3, "wh"), referenced(&s3, &wh, &catalog));
}
