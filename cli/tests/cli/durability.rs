//! Crash safety and concurrency between processes on one warehouse.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::{assert_success, parquet_files, stderr, stdout, tarn, tarn_command, warehouse};

/// Runs `sql` and returns the CSV it prints.
fn csv(wh: &Path, sql: &str) -> String {
    let output = tarn(wh, &["-c", sql, "--format", "csv"]);
    assert_success(&output);
    stdout(&output)
}

/// The full-refresh job of the seed workflow, writing `rows` rows all equal to `version`.
fn refresh_job(version: u64, rows: u64) -> String {
    format!(
        "BEGIN; DELETE FROM t; INSERT INTO t SELECT value, {version} FROM generate_series(1, {rows}); \
         UPDATE t SET version = {version} WHERE id = 1; COMMIT;"
    )
}

/// (count, min(version), max(version)) of table t.
fn contents(wh: &Path) -> (u64, u64, u64) {
    let out = csv(wh, "SELECT count(*) AS n, min(version) AS lo, max(version) AS hi FROM t");
    let line = out.lines().nth(1).expect("one row");
    let v: Vec<u64> = line.split(',').map(|x| x.parse().expect("numbers")).collect();
    (v[0], v[1], v[2])
}

/// A small deterministic generator for kill delays.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

#[test]
fn kill_at_random_points_of_loads_and_commits_leaves_old_or_new_contents() {
    const ROWS: u64 = 2_000_000;
    const KILLS: usize = 30;
    let (_dir, wh) = warehouse();
    assert_success(&tarn(&wh, &["-c", "CREATE TABLE t (id bigint NOT NULL, version bigint NOT NULL)"]));
    assert_success(&tarn(&wh, &["-c", &refresh_job(0, ROWS)]));

    // How long a job takes, to spread the kill points over its run: the faster of two runs
    // (other tests run beside this one, so speeds vary), and kill points within 90% of it.
    let mut duration = u64::MAX;
    for version in 1..=2 {
        let started = Instant::now();
        assert_success(&tarn(&wh, &["-c", &refresh_job(version, ROWS)]));
        duration = duration.min(started.elapsed().as_millis() as u64);
    }
    let mut version = 2;
    let mut rng = Lcg(0x7a_72_6e);
    let (mut killed, mut finished, mut mid_write) = (0, 0, 0);
    for attempt in 0..KILLS {
        let delay = rng.next(duration * 9 / 10 + 1);
        let mut child = tarn_command(&wh)
            .args(["-c", &refresh_job(version + 1, ROWS)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        match child.try_wait().unwrap() {
            Some(status) => {
                assert!(status.success(), "attempt {attempt}: the job failed on its own");
                finished += 1;
                // Jobs run faster than measured (the tests beside this one have finished):
                // this one took less than `delay`, so aim the next kills within that.
                duration = duration.min(delay);
            }
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
                killed += 1;
            }
        }
        let files_after_kill = parquet_files(&wh).len();
        let (count, lo, hi) = contents(&wh);
        assert_eq!(count, ROWS, "attempt {attempt} (kill after {delay} ms): partial table");
        assert_eq!(lo, hi, "attempt {attempt} (kill after {delay} ms): rows of two versions");
        assert!(
            lo == version || lo == version + 1,
            "attempt {attempt}: version {lo}, expected {version} or {}",
            version + 1
        );
        version = lo;
        // The reader's open removed every file the killed writer left behind: what remains is
        // exactly what some snapshot references.
        let mut referenced: Vec<String> =
            csv(&wh, "SELECT path FROM tarn_data_files ORDER BY path").lines().skip(1).map(String::from).collect();
        let mut on_disk: Vec<String> =
            parquet_files(&wh).iter().map(|p| p.strip_prefix(&wh).unwrap().to_string_lossy().into_owned()).collect();
        referenced.sort();
        on_disk.sort();
        assert_eq!(on_disk, referenced, "attempt {attempt}: orphan files remain");
        if files_after_kill > on_disk.len() {
            mid_write += 1;
        }
    }
    assert!(killed >= 20, "only {killed} of {KILLS} attempts were killed mid-job ({finished} finished first)");
    assert!(mid_write >= 5, "only {mid_write} kills landed while data files were being written (job: {duration} ms)");
}

#[test]
fn concurrent_appends_from_several_processes_keep_every_row() {
    const WRITERS: u64 = 4;
    const INSERTS: u64 = 8;
    let (_dir, wh) = warehouse();
    assert_success(&tarn(&wh, &["-c", "CREATE TABLE t (writer int, seq int, payload bigint)"]));
    let children: Vec<_> = (0..WRITERS)
        .map(|w| {
            let sql: String = (0..INSERTS)
                .map(|i| {
                    format!("INSERT INTO t SELECT {w} AS writer, {i} AS seq, value FROM generate_series(1, 1000);")
                })
                .collect();
            tarn_command(&wh).args(["-c", &sql]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    // Readers are never blocked by the writers.
    let mut reads = 0;
    while reads < 5 {
        csv(&wh, "SELECT count(*) FROM t");
        reads += 1;
    }
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "a writer failed: {}", stderr(&output));
    }
    assert_eq!(
        csv(&wh, "SELECT count(*) AS n, count(DISTINCT (writer, seq, payload)) AS d FROM t"),
        format!("n,d\n{0},{0}\n", WRITERS * INSERTS * 1000)
    );
}

#[test]
fn concurrent_updates_of_one_row_never_lose_an_update() {
    const WRITERS: usize = 3;
    const INCREMENTS: usize = 6;
    let (_dir, wh) = warehouse();
    assert_success(&tarn(&wh, &["-c", "CREATE TABLE counter (n bigint); INSERT INTO counter VALUES (0)"]));
    let handles: Vec<_> = (0..WRITERS)
        .map(|_| {
            let wh = wh.clone();
            std::thread::spawn(move || {
                let mut conflicts = 0;
                for _ in 0..INCREMENTS {
                    // Retry what lost a serialization conflict, as a client would.
                    loop {
                        let output = tarn(&wh, &["-c", "UPDATE counter SET n = n + 1"]);
                        if output.status.success() {
                            break;
                        }
                        let err = stderr(&output);
                        assert!(err.contains("could not serialize access"), "unexpected failure: {err}");
                        conflicts += 1;
                    }
                }
                conflicts
            })
        })
        .collect();
    let conflicts: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(csv(&wh, "SELECT n FROM counter"), format!("n\n{}\n", WRITERS * INCREMENTS), "{conflicts} conflicts");
}

#[test]
fn a_reader_process_never_sees_a_full_refresh_half_done() {
    const ROWS: u64 = 300_000;
    const REFRESHES: u64 = 6;
    let (_dir, wh) = warehouse();
    assert_success(&tarn(&wh, &["-c", "CREATE TABLE t (id bigint NOT NULL, version bigint NOT NULL)"]));
    assert_success(&tarn(&wh, &["-c", &refresh_job(0, ROWS)]));
    let writer = {
        let wh = wh.clone();
        std::thread::spawn(move || {
            for version in 1..=REFRESHES {
                assert_success(&tarn(&wh, &["-c", &refresh_job(version, ROWS)]));
            }
        })
    };
    let mut seen = std::collections::BTreeSet::new();
    while !writer.is_finished() {
        let (count, lo, hi) = contents(&wh);
        assert_eq!(count, ROWS, "a reader saw a partial table");
        assert_eq!(lo, hi, "a reader saw two versions at once");
        seen.insert(lo);
    }
    writer.join().unwrap();
    assert_eq!(contents(&wh), (ROWS, REFRESHES, REFRESHES));
    assert!(seen.len() >= 2, "the reader should have seen several versions, saw {seen:?}");
}

#[test]
fn ending_inside_a_transaction_rolls_back_and_removes_its_files_at_once() {
    let (_dir, wh) = warehouse();
    assert_success(&tarn(&wh, &["-c", "CREATE TABLE t (a int)"]));
    assert_success(&tarn(&wh, &["-c", "BEGIN; INSERT INTO t SELECT value FROM generate_series(1, 1000)"]));
    // Checked before any other process opens the warehouse (which would also clean up).
    assert!(parquet_files(&wh).is_empty(), "{:?}", parquet_files(&wh));
    assert_eq!(csv(&wh, "SELECT count(*) AS n FROM t"), "n\n0\n");
}
