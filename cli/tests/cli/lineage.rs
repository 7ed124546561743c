//! `tarn lineage NAME --format tree|dot|mermaid|json` and the REPL's `\lineage`, over a
//! COPY -> CTAS -> view -> CTAS -> UNLOAD pipeline recorded by earlier processes. The DOT output
//! is laid out by Graphviz's `dot` (Debian's, unpacked under `target/` by the test kit when the
//! machine has none).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::{assert_success, stdout, tarn, tarn_command, warehouse};

/// A warehouse with a pipeline: events.csv -COPY-> events -CTAS-> daily (renamed daily_sessions)
/// -view-> recent -CTAS-> monthly -UNLOAD-> out/monthly_.
fn pipeline() -> (tempfile::TempDir, PathBuf, String) {
    let (dir, wh) = warehouse();
    let csv = dir.path().join("events.csv");
    std::fs::write(&csv, "id,day\n1,2024-01-01\n2,2024-01-02\n3,2024-02-01\n").unwrap();
    let out = dir.path().join("out/monthly_").display().to_string();
    let csv = csv.display().to_string();
    let steps = [
        "CREATE TABLE events (id int, day date)".to_string(),
        format!("COPY events FROM '{csv}' CSV IGNOREHEADER 1"),
        "CREATE TABLE daily AS SELECT day, count(*) AS n FROM events GROUP BY day".into(),
        "COMMENT ON TABLE daily IS 'Events per day'".into(),
        "CREATE VIEW recent AS SELECT * FROM daily WHERE day > DATE '2024-01-01'".into(),
        "CREATE TABLE monthly AS SELECT date_trunc('month', day) AS month, sum(n) AS n FROM recent GROUP BY 1".into(),
        format!("UNLOAD ('SELECT * FROM monthly') TO '{out}' CSV"),
        "ALTER TABLE daily RENAME TO daily_sessions".into(),
    ];
    // One process per statement: lineage is read back from the catalog.
    for step in &steps {
        assert_success(&tarn(&wh, &["-c", step]));
    }
    (dir, wh, csv)
}

#[test]
fn lineage_draws_what_a_table_is_built_from_and_what_uses_it() {
    let (_dir, wh, csv) = pipeline();
    let output = tarn(&wh, &["lineage", "daily_sessions"]);
    assert_success(&output);
    let text = stdout(&output);
    let lines: Vec<String> = text.lines().map(|l| l.split("  [").next().unwrap().to_string()).collect();
    assert_eq!(
        lines,
        [
            "public.daily_sessions (table) -- Events per day",
            "built from:",
            "└── public.events (table)",
            &format!("    └── {csv} (file)"),
            "used by:",
            "└── public.recent (view)",
            "    └── public.monthly (table)",
            &format!("        └── {} (file)", Path::new(&csv).with_file_name("out/monthly_").display()),
        ],
        "{text}"
    );
    assert!(text.lines().nth(3).unwrap().contains("[COPY by "), "{text}");

    // Only one direction; a file is a name too; an unknown name is an error that names it.
    let up = stdout(&tarn(&wh, &["lineage", "monthly", "--direction", "up"]));
    assert!(up.contains("built from:") && !up.contains("used by:") && up.contains(&csv), "{up}");
    let from_file = stdout(&tarn(&wh, &["lineage", &csv, "--direction", "down"]));
    assert!(from_file.contains("└── public.events (table)  [COPY by "), "{from_file}");
    // Dropped: still drawn, under the name it had.
    assert_success(&tarn(&wh, &["-c", "DROP TABLE monthly"]));
    let down = stdout(&tarn(&wh, &["lineage", "recent", "--direction", "down"]));
    assert!(down.contains("└── public.monthly (table, dropped)  [CREATE TABLE AS by "), "{down}");
    let dropped = stdout(&tarn(&wh, &["lineage", "monthly", "--direction", "up"]));
    assert!(dropped.starts_with("public.monthly (table, dropped)\nbuilt from:\n└── public.recent (view)"), "{dropped}");
    let missing = tarn(&wh, &["lineage", "nothing_here"]);
    assert!(!missing.status.success());
    assert!(crate::stderr(&missing).contains("\"nothing_here\""), "{}", crate::stderr(&missing));
}

#[test]
fn lineage_dot_parses_as_graphviz_and_json_and_mermaid_name_every_edge() {
    let (dir, wh, _csv) = pipeline();
    let output = tarn(&wh, &["lineage", "monthly", "--format", "dot"]);
    assert_success(&output);
    let dot = stdout(&output);
    let file = dir.path().join("lineage.dot");
    std::fs::write(&file, &dot).unwrap();
    // Graphviz lays it out: `-Tplain` lists the nodes and edges it understood.
    let mut dot_command = tarn_testkit::graphviz::dot().unwrap_or_else(|e| panic!("cannot run Graphviz's dot: {e}"));
    let laid_out = dot_command.arg("-Tplain").arg(&file).output().unwrap();
    assert!(laid_out.status.success(), "dot: {}\n{dot}", String::from_utf8_lossy(&laid_out.stderr));
    let plain = String::from_utf8_lossy(&laid_out.stdout).into_owned();
    let count = |kind: &str| plain.lines().filter(|l| l.starts_with(kind)).count();
    // monthly's graph: the file, events, daily_sessions, recent, monthly and the unloaded files.
    assert_eq!((count("node "), count("edge ")), (6, 5), "{plain}\n{dot}");
    assert!(plain.contains("\"CREATE VIEW\""), "{plain}");
    assert!(plain.contains("Events per day"), "the comment joins the picture: {plain}");
    let svg = tarn_testkit::graphviz::dot().unwrap().arg("-Tsvg").arg(&file).output().unwrap();
    assert!(svg.status.success() && String::from_utf8_lossy(&svg.stdout).contains("<svg"));

    let json = stdout(&tarn(&wh, &["lineage", "monthly", "--format", "json"]));
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let nodes = json["nodes"].as_array().unwrap();
    let name = |i: &serde_json::Value| nodes[i.as_u64().unwrap() as usize]["name"].as_str().unwrap().to_string();
    let mut edges: Vec<(String, String, String)> = json["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (name(&e["source"]), name(&e["target"]), e["statement"].as_str().unwrap().to_string()))
        .collect();
    edges.sort();
    assert_eq!(name(&json["root"]), "public.monthly");
    assert_eq!(
        edges.iter().filter(|(_, _, s)| s != "COPY" && s != "UNLOAD").cloned().collect::<Vec<_>>(),
        [
            ("public.daily_sessions".into(), "public.recent".into(), "CREATE VIEW".into()),
            ("public.events".into(), "public.daily_sessions".into(), "CREATE TABLE AS".into()),
            ("public.recent".into(), "public.monthly".into(), "CREATE TABLE AS".into()),
        ]
    );

    let mermaid = stdout(&tarn(&wh, &["lineage", "monthly", "--format", "mermaid"]));
    assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
    assert_eq!(mermaid.matches(" -->|").count(), 5, "{mermaid}");
    assert!(mermaid.contains("-->|CREATE VIEW|"), "{mermaid}");
}

#[test]
fn repl_lineage_draws_the_upstream_tree() {
    let (_dir, wh, csv) = pipeline();
    let mut child =
        tarn_command(&wh).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"\\lineage monthly up\n\\lineage monthly sideways\n").unwrap();
    let output = child.wait_with_output().unwrap();
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().map(|l| l.split("  [").next().unwrap()).collect();
    assert_eq!(
        lines,
        [
            "public.monthly (table)",
            "built from:",
            "└── public.recent (view)",
            "    └── public.daily_sessions (table) -- Events per day",
            "        └── public.events (table)",
            &format!("            └── {csv} (file)"),
        ],
        "{text}"
    );
    assert!(crate::stderr(&output).contains("lineage direction 'sideways'"), "{}", crate::stderr(&output));
}
