//! Corrupt inputs through COPY and external tables: every one must fail cleanly (one line that
//! names the file, or a rejected row in `stl_load_errors` naming file and line) and leave the
//! target table as it was; reading them as external tables must not panic either.

use std::io::Write;
use std::path::Path;

use tarn_engine::{Engine, Session};

use super::{Outcome, bad_error, file_in, run};

/// A broken file: its name, its bytes, and how COPY is told to read it.
struct Corrupt {
    name: &'static str,
    bytes: Vec<u8>,
    copy_options: &'static str,
    stored_as: &'static str,
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}

fn half(bytes: Vec<u8>) -> Vec<u8> {
    bytes[..bytes.len() / 2].to_vec()
}

async fn count(session: &mut Session) -> Result<String, String> {
    match run(session, "SELECT count(*) FROM c").await? {
        Outcome::Rows(rows) => Ok(rows[0][0].clone()),
        Outcome::Error(e) => Err(e),
        Outcome::Count(_) => Err("no rows".into()),
    }
}

pub async fn corrupt_inputs(scratch: &Path) -> Vec<String> {
    let mut failures = Vec::new();
    let engine = Engine::open(scratch.join("corpus_warehouse")).expect("a warehouse");
    let mut session = engine.session().expect("a session");
    let setup = "CREATE TABLE c (id int, s varchar(20), n bigint); INSERT INTO c VALUES (1, 'kept', 1)";
    if let Ok(Outcome::Error(e)) = run(&mut session, setup).await {
        return vec![format!("setup failed: {e}")];
    }
    // A real Parquet file to cut short.
    let parquet = scratch.join("valid.parquet");
    let write = format!(
        "COPY (SELECT CAST(x AS int) AS id, 'row' || x AS s, CAST(x AS bigint) AS n FROM (VALUES (1), (2), (3)) v(x)) TO '{}' STORED AS PARQUET",
        parquet.display()
    );
    if let Ok(Outcome::Error(e)) = run(&mut session, &write).await {
        return vec![format!("writing a Parquet file failed: {e}")];
    }
    let valid_parquet = std::fs::read(&parquet).expect("the Parquet file just written");
    let csv = b"1,a,10\n2,b,20\n3,c,30\n".repeat(200);
    let mut long_line = b"1,".to_vec();
    long_line.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
    long_line.extend(b",3\n");
    let corpus = [
        Corrupt {
            name: "truncated.parquet",
            bytes: half(valid_parquet),
            copy_options: "FORMAT AS PARQUET",
            stored_as: "PARQUET",
        },
        Corrupt {
            name: "wrong_magic.parquet",
            bytes: b"NOT A PARQUET FILE AT ALL, JUST TEXT\n".repeat(10),
            copy_options: "FORMAT AS PARQUET",
            stored_as: "PARQUET",
        },
        Corrupt {
            name: "nul.csv",
            bytes: b"1,a\0b,10\n2,\0,20\n".to_vec(),
            copy_options: "CSV",
            stored_as: "TEXTFILE",
        },
        Corrupt {
            name: "invalid_utf8.csv",
            bytes: b"1,ok,10\n2,\xff\xfe,20\n".to_vec(),
            copy_options: "CSV",
            stored_as: "TEXTFILE",
        },
        Corrupt { name: "long_line.csv", bytes: long_line, copy_options: "CSV", stored_as: "TEXTFILE" },
        Corrupt { name: "truncated.csv.gz", bytes: half(gzip(&csv)), copy_options: "CSV GZIP", stored_as: "TEXTFILE" },
        Corrupt {
            name: "truncated.csv.zst",
            bytes: half(zstd::encode_all(&csv[..], 3).expect("zstd in memory")),
            copy_options: "CSV ZSTD",
            stored_as: "TEXTFILE",
        },
        Corrupt {
            name: "not_json.json",
            bytes: b"{\"id\": 1, not json\n".to_vec(),
            copy_options: "JSON 'auto'",
            stored_as: "JSON",
        },
    ];
    for (i, file) in corpus.iter().enumerate() {
        let folder = scratch.join(format!("corpus_{i}"));
        std::fs::create_dir_all(&folder).expect("a corpus folder");
        let path = file_in(&folder, file.name);
        std::fs::write(&path, &file.bytes).expect("a corpus file");
        let file_name = Path::new(&path).file_name().unwrap_or_default().to_string_lossy().to_string();

        // COPY: a clean error naming the file (or its rejected rows in stl_load_errors), and
        // the table as it was.
        let before = count(&mut session).await;
        let copy = format!("COPY c FROM '{path}' {}", file.copy_options);
        match run(&mut session, &copy).await {
            Err(hang) => failures.push(format!("{}: COPY {hang}", file.name)),
            Ok(Outcome::Error(message)) => {
                if let Some(problem) = bad_error(&message) {
                    failures.push(format!("{}: COPY gave {problem}: {message:?}", file.name));
                }
                let named = message.contains(&file_name) || rejected_with_place(&mut session, &file_name).await;
                if !named {
                    failures.push(format!(
                        "{}: COPY's error names neither the file nor a rejected line: {message}",
                        file.name
                    ));
                }
            }
            Ok(_) => failures.push(format!("{}: COPY of a corrupt file succeeded", file.name)),
        }
        match (before, count(&mut session).await) {
            (Ok(before), Ok(after)) if before == after => {}
            (Ok(before), Ok(after)) => failures
                .push(format!("{}: the table had {before} rows before the failed COPY, {after} after", file.name)),
            (_, Err(e)) | (Err(e), _) => failures.push(format!("{}: counting around COPY: {e}", file.name)),
        }

        // The same file as an external table: no panic, and an error (if any) names the file.
        let columns = if file.stored_as == "PARQUET" { "" } else { "(id int, s varchar(20), n bigint)" };
        let delimited = if file.stored_as == "TEXTFILE" { "ROW FORMAT DELIMITED FIELDS TERMINATED BY ','" } else { "" };
        let ddl = format!(
            "CREATE EXTERNAL TABLE lake_{i} {columns} {delimited} STORED AS {} LOCATION '{}/'",
            file.stored_as,
            folder.display()
        );
        let outcome = match run(&mut session, &ddl).await {
            Ok(Outcome::Error(message)) => Ok(Outcome::Error(message)),
            Ok(_) => run(&mut session, &format!("SELECT count(*), max(id) FROM lake_{i}")).await,
            Err(hang) => Err(hang),
        };
        match outcome {
            Err(hang) => failures.push(format!("{}: external table {hang}", file.name)),
            Ok(Outcome::Error(message)) => {
                if let Some(problem) = bad_error(&message) {
                    failures.push(format!("{}: external table gave {problem}: {message:?}", file.name));
                } else if !message.contains(&file_name) && !message.contains(&folder.display().to_string()) {
                    failures
                        .push(format!("{}: the external table's error does not name the file: {message}", file.name));
                }
            }
            Ok(_) => {}
        }
    }
    failures
}

/// Whether `stl_load_errors` has a row for `file` with a line number.
async fn rejected_with_place(session: &mut Session, file: &str) -> bool {
    let sql = format!(
        "SELECT count(*) FROM stl_load_errors WHERE filename LIKE '%{}' AND line_number > 0",
        file.replace('\'', "''")
    );
    matches!(run(session, &sql).await, Ok(Outcome::Rows(rows)) if rows.first().is_some_and(|r| r[0] != "0"))
}
