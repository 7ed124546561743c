//! tokio-postgres against `tarn serve`: both query protocols, binary results, parameters,
//! types, command tags, SQLSTATEs, cancel, sign-in failures, rollback of dropped connections
//! and graceful shutdown.

use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::types::{FromSql, Type};

use crate::common::{ADMIN, ADMIN_PASSWORD, TestServer, scalar, sqlstate};

/// A value's bytes as the server sent them (binary format).
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

const TYPES_TABLE: &str = "CREATE TABLE types (
    s smallint, i integer, b bigint, r real, d double precision, n numeric(8,2), ok boolean,
    c char(3), v varchar(10), t text, day date, at timestamp, atz timestamptz)";

const TYPES_ROW: &str = "INSERT INTO types VALUES (1, 2, 3, 1.5, 2.25, 12345.67, true, 'ab', 'héllo', 'text',
    '2024-02-29', '2024-02-29 13:14:15.5', '2024-02-29 13:14:15+00')";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn types_arrive_with_their_oids_in_text_and_binary() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client.batch_execute(TYPES_TABLE).await.unwrap();
    client.batch_execute(TYPES_ROW).await.unwrap();

    // Extended protocol: tokio-postgres asks for binary results.
    let statement = client.prepare("SELECT * FROM types").await.unwrap();
    let types: Vec<Type> = statement.columns().iter().map(|c| c.type_().clone()).collect();
    assert_eq!(
        types,
        [
            Type::INT2,
            Type::INT4,
            Type::INT8,
            Type::FLOAT4,
            Type::FLOAT8,
            Type::NUMERIC,
            Type::BOOL,
            Type::BPCHAR,
            Type::VARCHAR,
            Type::VARCHAR,
            Type::DATE,
            Type::TIMESTAMP,
            Type::TIMESTAMPTZ
        ]
    );
    let row = client.query_one(&statement, &[]).await.unwrap();
    assert_eq!(row.get::<_, i16>(0), 1);
    assert_eq!(row.get::<_, i32>(1), 2);
    assert_eq!(row.get::<_, i64>(2), 3);
    assert_eq!(row.get::<_, f32>(3), 1.5);
    assert_eq!(row.get::<_, f64>(4), 2.25);
    // numeric 12345.67: digits 1, 2345, 6700 (weight 1, display scale 2).
    assert_eq!(row.get::<_, Raw>(5).0, [0, 3, 0, 1, 0, 0, 0, 2, 0, 1, 0x09, 0x29, 0x1a, 0x2c]);
    assert!(row.get::<_, bool>(6));
    assert_eq!(row.get::<_, &str>(7), "ab");
    assert_eq!(row.get::<_, &str>(8), "héllo");
    assert_eq!(row.get::<_, NaiveDate>(10), NaiveDate::from_ymd_opt(2024, 2, 29).unwrap());
    let at = NaiveDateTime::parse_from_str("2024-02-29 13:14:15.5", "%Y-%m-%d %H:%M:%S%.f").unwrap();
    assert_eq!(row.get::<_, NaiveDateTime>(11), at);
    assert_eq!(row.get::<_, chrono::DateTime<Utc>>(12), Utc.with_ymd_and_hms(2024, 2, 29, 13, 14, 15).unwrap());

    // Simple protocol: text, as PostgreSQL writes it.
    let messages = client.simple_query("SELECT * FROM types").await.unwrap();
    let SimpleQueryMessage::Row(row) = &messages[1] else { panic!("expected a row: {messages:?}") };
    let texts: Vec<&str> = (0..13).map(|i| row.get(i).unwrap()).collect();
    assert_eq!(
        texts,
        [
            "1",
            "2",
            "3",
            "1.5",
            "2.25",
            "12345.67",
            "t",
            "ab",
            "héllo",
            "text",
            "2024-02-29",
            "2024-02-29 13:14:15.5",
            "2024-02-29 13:14:15+00"
        ]
    );
    assert_eq!(scalar(&client, "SELECT NULL").await, None);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parameters_bind_in_binary_and_text() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client.batch_execute(TYPES_TABLE).await.unwrap();
    let insert = client
        .prepare("INSERT INTO types (s, i, b, d, ok, v, day, at, atz) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .await
        .unwrap();
    // The parameter types come from the target columns.
    let declared: Vec<Type> = insert.params().to_vec();
    assert_eq!(
        declared,
        [
            Type::INT2,
            Type::INT4,
            Type::INT8,
            Type::FLOAT8,
            Type::BOOL,
            Type::VARCHAR,
            Type::DATE,
            Type::TIMESTAMP,
            Type::TIMESTAMPTZ
        ]
    );
    let day = NaiveDate::from_ymd_opt(1999, 12, 31).unwrap();
    let at = day.and_hms_micro_opt(23, 59, 58, 123_456).unwrap();
    let atz = Utc.with_ymd_and_hms(2001, 2, 3, 4, 5, 6).unwrap();
    let inserted = client
        .execute(&insert, &[&-7i16, &-8i32, &(1i64 << 40), &-0.5f64, &false, &"it's \\ x", &day, &at, &atz])
        .await
        .unwrap();
    assert_eq!(inserted, 1);
    let inserted = client
        .execute(
            &insert,
            &[
                &None::<i16>,
                &9i32,
                &None::<i64>,
                &None::<f64>,
                &None::<bool>,
                &None::<&str>,
                &None::<NaiveDate>,
                &None::<NaiveDateTime>,
                &None::<chrono::DateTime<Utc>>,
            ],
        )
        .await
        .unwrap();
    assert_eq!(inserted, 1);

    let row = client.query_one("SELECT s, b, v, day, at, atz FROM types WHERE i = $1", &[&-8i32]).await.unwrap();
    assert_eq!(row.get::<_, i16>(0), -7);
    assert_eq!(row.get::<_, i64>(1), 1 << 40);
    assert_eq!(row.get::<_, &str>(2), "it's \\ x");
    assert_eq!(row.get::<_, NaiveDate>(3), day);
    assert_eq!(row.get::<_, NaiveDateTime>(4), at);
    assert_eq!(row.get::<_, chrono::DateTime<Utc>>(5), atz);
    let row = client.query_one("SELECT v IS NULL, s IS NULL FROM types WHERE i = $1", &[&9i32]).await.unwrap();
    assert!(row.get::<_, bool>(0) && row.get::<_, bool>(1));

    // A placeholder's type from a cast, and text parameters typed by the client.
    let row = client.query_one("SELECT $1::int + 1", &[&41i32]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 42);
    let typed = client.prepare_typed("SELECT count(*) FROM types WHERE v = $1", &[Type::TEXT]).await.unwrap();
    let row = client.query_one(&typed, &[&"it's \\ x"]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);
    // A file read in place, prepared and bound like a table.
    let people = concat!(env!("CARGO_MANIFEST_DIR"), "/../engine/tests/slt/lake/data/files/people.csv");
    let row =
        client.query_one(&format!("SELECT count(*) FROM read_csv('{people}') WHERE id > $1"), &[&1i64]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 2);
    // A portal read in parts.
    let mut client = client;
    let transaction = client.transaction().await.unwrap();
    let portal = transaction.bind("SELECT i FROM types ORDER BY i", &[]).await.unwrap();
    let first = transaction.query_portal(&portal, 1).await.unwrap();
    let rest = transaction.query_portal(&portal, 10).await.unwrap();
    assert_eq!((first.len(), rest.len()), (1, 1));
    transaction.commit().await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commands_complete_with_postgresql_tags_and_copy_sends_a_notice() {
    let server = TestServer::start().await;
    let (client, mut notices) = server.connect_as(ADMIN, ADMIN_PASSWORD).await;
    let messages = client
        .simple_query(
            "CREATE TABLE t (id int, name varchar(8)); INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c');
             UPDATE t SET name = 'x' WHERE id > 1; DELETE FROM t WHERE id = 3; SELECT * FROM t",
        )
        .await
        .unwrap();
    let completed: Vec<u64> = messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .collect();
    // CREATE TABLE (0), INSERT 0 3, UPDATE 2, DELETE 1, SELECT 2.
    assert_eq!(completed, [0, 3, 2, 1, 2]);
    assert_eq!(client.execute("INSERT INTO t VALUES ($1, $2)", &[&4i32, &"d"]).await.unwrap(), 1);

    let csv = server.dir.path().join("rows.csv");
    std::fs::write(&csv, "id,name\n10,ten\n11,eleven\n").unwrap();
    let copied = client.execute(&format!("COPY t FROM '{}' CSV IGNOREHEADER 1", csv.display()), &[]).await.unwrap();
    assert_eq!(copied, 2);
    let notice = tokio::time::timeout(Duration::from_secs(5), notices.recv()).await.unwrap().unwrap();
    assert!(notice.contains("2 record(s) loaded"), "{notice}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn errors_carry_postgresql_sqlstates() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let state = |sql: &'static str| {
        let client = &client;
        async move { sqlstate(&client.simple_query(sql).await.expect_err(sql)) }
    };
    assert_eq!(state("SELECT * FROM missing").await, "42P01");
    assert_eq!(state("SELEC 1").await, "42601");
    assert_eq!(state("SELECT 1/0").await, "22012");
    assert_eq!(state("SELECT CAST('x' AS integer)").await, "22P02");
    assert_eq!(state("SELECT nope FROM pg_namespace").await, "42703");
    // The extended protocol reports them too.
    assert_eq!(sqlstate(&client.prepare("SELECT * FROM missing").await.unwrap_err()), "42P01");

    // An error inside BEGIN ... COMMIT aborts the transaction until ROLLBACK.
    client.batch_execute("CREATE TABLE t (id int); BEGIN; INSERT INTO t VALUES (1)").await.unwrap();
    assert_eq!(state("SELECT * FROM missing").await, "42P01");
    assert_eq!(state("SELECT 1").await, "25P02");
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(scalar(&client, "SELECT count(*) FROM t").await.as_deref(), Some("0"));

    // A writer waits for the transaction writing the table; one whose snapshot is older than
    // that transaction's commit must retry.
    let other = server.connect().await;
    client.batch_execute("INSERT INTO t VALUES (1), (2)").await.unwrap();
    client.batch_execute("BEGIN; UPDATE t SET id = id + 10").await.unwrap();
    other.batch_execute("BEGIN; SELECT count(*) FROM t").await.unwrap();
    let (deleted, committed) = tokio::join!(other.batch_execute("DELETE FROM t WHERE id = 1"), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        client.batch_execute("COMMIT").await
    });
    committed.unwrap();
    deleted.expect("the DELETE waited for the UPDATE's transaction");
    assert_eq!(sqlstate(&other.batch_execute("COMMIT").await.unwrap_err()), "40001");

    // Two transactions each waiting for the other: one is told, instead of both hanging.
    client.batch_execute("CREATE TABLE u (id int); BEGIN; INSERT INTO t VALUES (3)").await.unwrap();
    other.batch_execute("BEGIN; INSERT INTO u VALUES (3)").await.unwrap();
    let (first, second) = tokio::join!(client.batch_execute("DELETE FROM u"), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let second = other.batch_execute("DELETE FROM t").await;
        other.batch_execute("ROLLBACK").await.unwrap();
        second
    });
    first.unwrap();
    assert_eq!(sqlstate(&second.unwrap_err()), "40P01");
    client.batch_execute("COMMIT").await.unwrap();

    // A user without privileges is denied.
    client.batch_execute("CREATE USER reader PASSWORD 'Reader-pw-1'").await.unwrap();
    let (reader, _) = server.connect_as("reader", "Reader-pw-1").await;
    assert_eq!(sqlstate(&reader.simple_query("SELECT * FROM t").await.unwrap_err()), "42501");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_stops_the_running_statement() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client.batch_execute("CREATE TABLE n AS SELECT * FROM generate_series(1, 2000) AS g(x)").await.unwrap();
    let token = client.cancel_token();
    let other = server.connect().await;
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // The long query does not hold up other connections: this one reads and commits meanwhile.
        let started = std::time::Instant::now();
        other.batch_execute("CREATE TABLE meanwhile (a int); INSERT INTO meanwhile VALUES (1)").await.unwrap();
        assert_eq!(scalar(&other, "SELECT count(*) FROM n").await.as_deref(), Some("2000"));
        let meanwhile = started.elapsed();
        token.cancel_query(tokio_postgres::NoTls).await.unwrap();
        meanwhile
    });
    let started = std::time::Instant::now();
    // A cross join too big to finish in the test's time.
    let error = client
        .simple_query("SELECT count(*) FROM n a, n b, n c WHERE a.x + b.x + c.x = -1")
        .await
        .expect_err("the query was cancelled");
    let meanwhile = canceller.await.unwrap();
    assert!(meanwhile < Duration::from_secs(10), "another connection waited {meanwhile:?} for the long query");
    assert_eq!(sqlstate(&error), "57014");
    assert!(started.elapsed() < Duration::from_secs(30), "cancel took {:?}", started.elapsed());
    // The connection goes on.
    assert_eq!(scalar(&client, "SELECT 1").await.as_deref(), Some("1"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_in_failures_are_clean_errors() {
    let server = TestServer::start().await;
    let wrong = server
        .try_connect(server.config(ADMIN, "wrong"))
        .await
        .err()
        .unwrap_or_else(|| panic!("wrong password: signed in"));
    assert_eq!(sqlstate(&wrong), "28P01");
    let unknown = server
        .try_connect(server.config("nobody", "x"))
        .await
        .err()
        .unwrap_or_else(|| panic!("unknown user: signed in"));
    assert_eq!(sqlstate(&unknown), "28P01");
    let mut config = server.config(ADMIN, ADMIN_PASSWORD);
    config.dbname("elsewhere");
    let database = server.try_connect(config).await.err().unwrap_or_else(|| panic!("unknown database: signed in"));
    assert_eq!(sqlstate(&database), "3D000");
    let mut config = server.config(ADMIN, ADMIN_PASSWORD);
    config.options("-c TimeZone=Europe/Paris");
    let zone =
        server.try_connect(config).await.err().unwrap_or_else(|| panic!("a time zone tarn does not run in: signed in"));
    assert_eq!(sqlstate(&zone), "22023");
    // Settings sent when connecting apply.
    let mut config = server.config(ADMIN, ADMIN_PASSWORD);
    config.options("-c search_path=analytics,public");
    let (client, _) = server.try_connect(config).await.unwrap();
    assert_eq!(scalar(&client, "SHOW search_path").await.as_deref(), Some("analytics, public"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn md5_sign_in_for_older_drivers() {
    let server = TestServer::start_with(tarn_server::AuthMethod::Md5).await;
    let client = server.connect().await;
    assert_eq!(scalar(&client, "SELECT current_user").await.as_deref(), Some(ADMIN));
    assert!(server.try_connect(server.config(ADMIN, "wrong")).await.is_err());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dropped_connection_rolls_back_its_transaction() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client.batch_execute("CREATE TABLE t (id int); INSERT INTO t VALUES (1)").await.unwrap();
    {
        let doomed = server.connect().await;
        doomed.batch_execute("BEGIN; INSERT INTO t VALUES (2); DELETE FROM t WHERE id = 1").await.unwrap();
        // Dropping the client closes its socket mid-transaction.
    }
    // The server notices the closed socket and drops the session; nothing it did commits.
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        client.batch_execute("INSERT INTO t VALUES (3); DELETE FROM t WHERE id = 3").await.unwrap();
    }
    assert_eq!(scalar(&client, "SELECT string_agg(CAST(id AS varchar), ',') FROM t").await.as_deref(), Some("1"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_lets_nothing_half_commit() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client.batch_execute("CREATE TABLE t (id int); INSERT INTO t VALUES (1)").await.unwrap();
    client.batch_execute("BEGIN; INSERT INTO t VALUES (2)").await.unwrap();
    let warehouse = server.warehouse();
    let _dir = server.stop().await;
    // The open transaction rolled back; the committed row stays.
    let engine = tarn_engine::Engine::open(&warehouse).unwrap();
    let mut session = engine.session().unwrap();
    let rows = session.query("SELECT count(*) AS n FROM t").await.unwrap();
    let text = tarn_engine::display::rows_as_strings(&rows, &tarn_engine::display::format_options()).unwrap();
    assert_eq!(text, [["1"]]);
    assert!(client.simple_query("SELECT 1").await.is_err(), "the connection is closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn client_settings_show_and_set() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    assert_eq!(scalar(&client, "SELECT version()").await.unwrap().split(' ').nth(1), Some("8.0.2"));
    assert_eq!(scalar(&client, "SHOW server_version").await.as_deref(), Some("8.0.2"));
    assert_eq!(scalar(&client, "SHOW DateStyle").await.as_deref(), Some("ISO, MDY"));
    assert_eq!(scalar(&client, "SHOW client_encoding").await.as_deref(), Some("UTF8"));
    assert_eq!(scalar(&client, "SHOW TimeZone").await.as_deref(), Some("UTC"));
    assert_eq!(scalar(&client, "SHOW application_name").await.as_deref(), Some("tarn-tests"));
    assert_eq!(scalar(&client, "SHOW transaction isolation level").await.as_deref(), Some("serializable"));
    client.batch_execute("CREATE SCHEMA analytics; SET search_path TO analytics, public").await.unwrap();
    client.batch_execute("CREATE TABLE made_here (x int)").await.unwrap();
    assert_eq!(scalar(&client, "SELECT current_schema()").await.as_deref(), Some("analytics"));
    assert_eq!(
        scalar(&client, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'analytics'")
            .await
            .as_deref(),
        Some("1")
    );
    assert_eq!(scalar(&client, "SELECT current_setting('search_path')").await.as_deref(), Some("analytics, public"));
    assert_eq!(sqlstate(&client.simple_query("SET TimeZone = 'Asia/Tokyo'").await.unwrap_err()), "22023");
    assert_eq!(sqlstate(&client.simple_query("SET no_such_setting = 1").await.unwrap_err()), "42704");
    client.batch_execute("RESET search_path").await.unwrap();
    assert_eq!(scalar(&client, "SELECT current_schema()").await.as_deref(), Some("public"));
    server.stop().await;
}
