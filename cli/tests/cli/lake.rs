//! The lake from the command line, against a real S3 server on 127.0.0.1: `tarn crawl`,
//! the seed workflow's section 6 seen from a second process, files queried in place with the
//! environment's or a profile's keys, and wrong credentials.

use std::path::Path;
use std::process::Output;

use tarn_testkit::S3Server;

use crate::{assert_success, stderr, stdout, tarn_command, warehouse};

const BUCKET: &str = "lake";

/// A tarn command with the AWS settings that reach `server` with valid keys.
fn s3_command(server: &S3Server, warehouse: &Path) -> std::process::Command {
    let mut command = tarn_command(warehouse);
    for (name, value) in server.env() {
        command.env(name, value);
    }
    command
}

fn tarn_s3(server: &S3Server, warehouse: &Path, args: &[&str]) -> Output {
    let mut command = s3_command(server, warehouse);
    command.env_remove("AWS_PROFILE").env("HOME", warehouse.with_extension("home"));
    command.args(args).output().expect("tarn runs")
}

/// Parquet files under `events/dt=.../` and a CSV folder `users/`, written with tarn itself.
fn lake_files(server: &S3Server, wh: &Path) {
    let copy = |dt: &str, rows: &str| {
        format!(
            "COPY (SELECT * FROM (VALUES {rows}) AS t(userid, event)) TO 's3://{BUCKET}/raw/events/dt={dt}/part-0.parquet' STORED AS PARQUET"
        )
    };
    let output = tarn_s3(
        server,
        wh,
        &["-c", &copy("2024-01-01", "(1, 'click'), (2, 'view')"), "-c", &copy("2024-01-02", "(3, 'click')")],
    );
    assert_success(&output);
    server.put(
        BUCKET,
        "raw/users/users.csv",
        "userid,name,signup\n1,ann,2024-01-01\n2,bob,2024-01-02\n3,cy,2024-01-02\n",
    );
}

#[test]
fn crawl_registers_tables_and_partitions_and_a_second_run_adds_only_new_ones() {
    let server = S3Server::start(&[BUCKET]);
    let (_dir, wh) = warehouse();
    lake_files(&server, &wh);

    // A dry run shows the diff and changes nothing.
    let output = tarn_s3(&server, &wh, &["crawl", &format!("s3://{BUCKET}/raw/"), "--database", "rawdb", "--dry-run"]);
    assert_success(&output);
    let diff = stdout(&output);
    assert!(
        diff.contains(
            "+ CREATE EXTERNAL TABLE rawdb.events (\n+   userid bigint,\n+   event string\n+ )\n+ PARTITIONED BY (\n+   dt string\n+ )\n"
        ),
        "{diff}"
    );
    assert!(
        diff.contains("+ STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat'"),
        "{diff}"
    );
    assert!(
        diff.contains(
            "+ CREATE EXTERNAL TABLE rawdb.users (\n+   userid bigint,\n+   name string,\n+   signup date\n+ )\n"
        ),
        "{diff}"
    );
    // An unpartitioned table gets no partition.
    assert!(!diff.contains("ADD PARTITION ()"), "{diff}");
    assert!(diff.contains("ADD PARTITION (dt=2024-01-02)"), "{diff}");
    let output = tarn_s3(&server, &wh, &["-c", "SELECT count(*) FROM svv_external_tables", "--format", "csv"]);
    assert_eq!(stdout(&output), "count\n0\n");

    let output = tarn_s3(&server, &wh, &["crawl", &format!("s3://{BUCKET}/raw/"), "--database", "rawdb"]);
    assert_success(&output);
    assert!(stderr(&output).contains("Registered in database \"rawdb\""));

    // A second process queries what the crawler registered, joined across tables.
    let query =
        "SELECT u.name, e.event, e.dt FROM rawdb.events e JOIN rawdb.users u ON e.userid = u.userid ORDER BY u.name";
    let output = tarn_s3(&server, &wh, &["-c", query, "--format", "csv"]);
    assert_success(&output);
    assert_eq!(stdout(&output), "name,event,dt\nann,click,2024-01-01\nbob,view,2024-01-01\ncy,click,2024-01-02\n");

    // New data: the next crawl adds the new partition only, and reports a schema change
    // instead of applying it.
    let output = tarn_s3(
        &server,
        &wh,
        &[
            "-c",
            &format!(
                "COPY (SELECT 4 AS userid, 'buy' AS event, 9.5 AS amount) TO 's3://{BUCKET}/raw/events/dt=2024-01-03/part-0.parquet' STORED AS PARQUET"
            ),
        ],
    );
    assert_success(&output);
    let output = tarn_s3(
        &server,
        &wh,
        &["crawl", &format!("s3://{BUCKET}/raw/events/"), "--database", "rawdb", "--table", "events"],
    );
    assert_success(&output);
    let diff = stdout(&output);
    assert!(diff.contains("ADD PARTITION (dt=2024-01-03)"), "{diff}");
    assert!(!diff.contains("dt=2024-01-01"), "{diff}");
    assert!(diff.contains("! rawdb.events: new column amount"), "{diff}");
    let output = tarn_s3(&server, &wh, &["-c", "SELECT count(*) FROM rawdb.events", "--format", "csv"]);
    assert_eq!(stdout(&output), "count\n4\n");
}

#[test]
fn wrong_credentials_give_one_clear_error_naming_bucket_and_operation() {
    let server = S3Server::start(&[BUCKET]);
    let (_dir, wh) = warehouse();
    lake_files(&server, &wh);
    let ddl = format!(
        "CREATE EXTERNAL TABLE events (userid bigint, event string) PARTITIONED BY (dt string) STORED AS PARQUET LOCATION 's3://{BUCKET}/raw/events/'"
    );
    assert_success(&tarn_s3(&server, &wh, &["-c", &ddl]));

    let output = s3_command(&server, &wh)
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        .env("HOME", wh.with_extension("home"))
        .args(["-c", "MSCK REPAIR TABLE events"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert_eq!(error.lines().count(), 1, "{error}");
    assert!(
        error.contains("access denied: S3 refused to list s3://lake/raw/events") && error.contains("bucket \"lake\""),
        "{error}"
    );
    assert!(!error.contains("not-the-secret"), "{error}");
}

#[test]
fn files_on_s3_are_queried_in_place_with_the_profile_s_or_environment_s_credentials() {
    let server = S3Server::start(&[BUCKET]);
    let (_dir, wh) = warehouse();
    lake_files(&server, &wh);
    let query = format!(
        "SELECT dt, count(*) AS n FROM read_parquet('s3://{BUCKET}/raw/events/*/*.parquet', hive_partitioning = true) \
         WHERE dt > '2024-01-01' GROUP BY dt"
    );
    let expected = "dt,n\n2024-01-02,1\n";

    // The environment's keys.
    let output = tarn_s3(&server, &wh, &["-c", &query, "--format", "csv"]);
    assert_success(&output);
    assert_eq!(stdout(&output), expected);

    // A profile's keys (~/.aws/credentials), with no keys in the environment.
    let home = wh.with_extension("profile-home");
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(
        home.join(".aws/credentials"),
        format!(
            "[reader]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            tarn_testkit::ACCESS_KEY,
            tarn_testkit::SECRET_KEY
        ),
    )
    .unwrap();
    let output = s3_command(&server, &wh)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_PROFILE", "reader")
        .env("HOME", &home)
        .args(["-c", &query, "--format", "csv"])
        .output()
        .unwrap();
    assert_success(&output);
    assert_eq!(stdout(&output), expected);

    // Wrong keys: one line naming the operation and the path, never the secret.
    let output = s3_command(&server, &wh)
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        .env("HOME", wh.with_extension("home"))
        .args(["-c", &query])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert_eq!(error.lines().count(), 1, "{error}");
    assert!(error.contains("access denied: S3 refused to list s3://lake/raw/events/"), "{error}");
    assert!(!error.contains("not-the-secret"), "{error}");
}
