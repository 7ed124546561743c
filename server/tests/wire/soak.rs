//! 32 clients at once, 200 statements each (reads, INSERTs, UPDATEs, COPYs and explicit
//! transactions, some rolled back), eight clients to a table, retrying serialization failures as
//! clients do. Every committed row must be there exactly once at the end, and nothing rolled
//! back. (Under a minute of the debug build on two cores.)

use std::collections::BTreeSet;
use std::time::Duration;

use tokio_postgres::Client;

use crate::common::{TestServer, sqlstate};

const CLIENTS: i64 = 32;
const STATEMENTS: i64 = 200;
/// Clients share these tables (client % TABLES), so their writes meet.
const TABLES: i64 = 4;

/// Serialization failures retried, reported at the end.
static RETRIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Runs `sql` until it does not fail with a serialization failure; other errors fail the test.
async fn retried(client: &Client, sql: &str) -> u64 {
    for attempt in 0.. {
        match client.simple_query(sql).await {
            Ok(messages) => {
                return messages
                    .iter()
                    .filter_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::CommandComplete(n) => Some(*n),
                        _ => None,
                    })
                    .sum();
            }
            Err(e) if sqlstate(&e) == "40001" && attempt < 100 => {
                RETRIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // A failed COMMIT ended the transaction; a failed statement inside one did not.
                let _ = client.simple_query("ROLLBACK").await;
                tokio::time::sleep(Duration::from_millis(5 + attempt * 3)).await;
            }
            Err(e) => panic!("{sql}: {e} ({})", sqlstate(&e)),
        }
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_clients_keep_every_committed_row_once() {
    let server = TestServer::start().await;
    let admin = server.connect().await;
    for t in 0..TABLES {
        admin.batch_execute(&format!("CREATE TABLE soak{t} (id bigint, client int, v int)")).await.unwrap();
    }
    admin
        .batch_execute("CREATE TABLE dim (k int, label varchar(8)); INSERT INTO dim VALUES (1, 'one'), (2, 'two')")
        .await
        .unwrap();
    let files = server.dir.path().join("copy");
    std::fs::create_dir_all(&files).unwrap();

    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for client_number in 0..CLIENTS {
        let (client, _) = server.connect_as(crate::common::ADMIN, crate::common::ADMIN_PASSWORD).await;
        let files = files.clone();
        tasks.push(tokio::spawn(async move {
            let table = format!("soak{}", client_number % TABLES);
            let mut committed: BTreeSet<i64> = BTreeSet::new();
            for i in 0..STATEMENTS {
                let id = client_number * 1_000_000 + i * 10;
                match i % 10 {
                    0..=2 => {
                        let messages = client.simple_query("SELECT d.label, count(*) FROM dim d GROUP BY d.label").await.unwrap();
                        let rows = messages.iter().filter(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_))).count();
                        assert_eq!(rows, 2, "two groups");
                    }
                    3 => {
                        // My own committed rows, read back.
                        let sql = format!("SELECT count(*) FROM {table} WHERE client = {client_number}");
                        let count = crate::common::scalar(&client, &sql).await;
                        assert_eq!(count, Some(committed.len().to_string()), "{sql}");
                    }
                    4 | 5 => {
                        retried(&client, &format!("INSERT INTO {table} VALUES ({id}, {client_number}, 0)")).await;
                        committed.insert(id);
                    }
                    6 => {
                        retried(&client, &format!("UPDATE {table} SET v = v + 1 WHERE client = {client_number}")).await;
                    }
                    7 => {
                        let path = files.join(format!("{client_number}-{i}.csv"));
                        std::fs::write(&path, format!("{},{client_number},1\n{},{client_number},1\n", id + 1, id + 2)).unwrap();
                        let copied = retried(&client, &format!("COPY {table} FROM '{}' CSV", path.display())).await;
                        assert_eq!(copied, 2);
                        committed.extend([id + 1, id + 2]);
                    }
                    8 => {
                        let sql = format!(
                            "BEGIN; INSERT INTO {table} VALUES ({}, {client_number}, 2); INSERT INTO {table} VALUES ({}, {client_number}, 2); COMMIT",
                            id + 3,
                            id + 4
                        );
                        retried(&client, &sql).await;
                        committed.extend([id + 3, id + 4]);
                    }
                    _ => {
                        // Rolled back: never seen.
                        client
                            .batch_execute(&format!("BEGIN; INSERT INTO {table} VALUES ({}, {client_number}, 9); ROLLBACK", id + 5))
                            .await
                            .unwrap();
                    }
                }
            }
            committed
        }));
    }
    let mut expected: BTreeSet<i64> = BTreeSet::new();
    for task in tasks {
        expected.extend(task.await.expect("a client failed"));
    }
    eprintln!(
        "soak: {CLIENTS} clients × {STATEMENTS} statements in {:?}, {} serialization failures retried",
        started.elapsed(),
        RETRIES.load(std::sync::atomic::Ordering::Relaxed)
    );

    let mut found: Vec<i64> = Vec::new();
    for t in 0..TABLES {
        for row in admin.query(&format!("SELECT id FROM soak{t}"), &[]).await.unwrap() {
            found.push(row.get(0));
        }
    }
    let unique: BTreeSet<i64> = found.iter().copied().collect();
    assert_eq!(unique.len(), found.len(), "a committed row is there more than once");
    assert_eq!(unique, expected, "the committed rows and the table differ");
    server.stop().await;
}
