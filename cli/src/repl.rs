//! The interactive REPL: multi-line statements ending in `;`, history, backslash commands,
//! Ctrl-C cancels the running statement, Ctrl-D exits.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;
use tarn_engine::{RelationKind, Session};
use tokio::runtime::Runtime;

use crate::complete::statement_complete;
use crate::output::{Format, print};

const HELP: &str = r"SQL statements end with ';' and may span lines.
  \q              quit (also Ctrl-D)
  \?              this help
  \d              list tables and views
  \dn             list schemas
  \d NAME         describe a table or view: columns, types, constraints, comment, rows, files
  \timing         toggle printing how long each statement took
  \format FMT     output format: table, csv, tsv, json, ndjson, markdown
Ctrl-C cancels the running statement (or clears the input).";

pub struct Repl {
    session: Session,
    format: Format,
    timing: bool,
    history: Option<PathBuf>,
}

impl Repl {
    pub fn new(session: Session, format: Format) -> Repl {
        Repl { session, format, timing: false, history: history_path() }
    }

    pub fn run(mut self, runtime: &Runtime) -> Result<()> {
        let mut editor = DefaultEditor::new()?;
        if let Some(path) = &self.history {
            let _ = editor.load_history(path);
        }
        let mut buffer = String::new();
        loop {
            let prompt = match (buffer.is_empty(), self.session.in_transaction()) {
                (true, false) => "tarn=> ",
                (true, true) => "tarn*> ",
                (false, _) => "tarn-> ",
            };
            let line = match editor.readline(prompt) {
                Ok(line) => line,
                Err(ReadlineError::Interrupted) => {
                    buffer.clear();
                    continue;
                }
                Err(ReadlineError::Eof) => break,
                Err(e) => return Err(e.into()),
            };
            if buffer.is_empty() && line.trim_start().starts_with('\\') {
                let _ = editor.add_history_entry(line.trim());
                self.save_history(&mut editor);
                if !self.backslash(line.trim(), runtime) {
                    break;
                }
                continue;
            }
            if !buffer.is_empty() {
                buffer.push('\n');
            }
            buffer.push_str(&line);
            if buffer.trim().is_empty() || !statement_complete(&buffer) {
                if buffer.trim().is_empty() {
                    buffer.clear();
                }
                continue;
            }
            let sql = std::mem::take(&mut buffer);
            let _ = editor.add_history_entry(sql.trim());
            self.save_history(&mut editor);
            self.run_sql(&sql, runtime);
        }
        Ok(())
    }

    fn save_history(&self, editor: &mut DefaultEditor) {
        if let Some(path) = &self.history {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = editor.save_history(path);
        }
    }

    /// Runs statements, printing each result; Ctrl-C cancels.
    fn run_sql(&mut self, sql: &str, runtime: &Runtime) {
        let started = Instant::now();
        let format = self.format;
        let session = &mut self.session;
        let outcome = runtime.block_on(async {
            tokio::select! {
                result = run_statements(session, sql, format) => result,
                _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("cancelled")),
            }
        });
        if let Err(e) = outcome {
            eprintln!("Error: {}", crate::one_line(&e));
        }
        if self.timing {
            println!("Time: {:.3} ms", started.elapsed().as_secs_f64() * 1000.0);
        }
    }

    /// Handles a backslash command; false means quit.
    fn backslash(&mut self, line: &str, runtime: &Runtime) -> bool {
        let mut words = line.split_whitespace();
        let command = words.next().unwrap_or_default();
        let argument = words.collect::<Vec<_>>().join(" ");
        let result = match (command, argument.as_str()) {
            ("\\q", _) => return false,
            ("\\?", _) | ("\\h", _) => {
                println!("{HELP}");
                Ok(())
            }
            ("\\timing", arg) => {
                self.timing = match arg {
                    "on" => true,
                    "off" => false,
                    _ => !self.timing,
                };
                println!("Timing is {}.", if self.timing { "on" } else { "off" });
                Ok(())
            }
            ("\\format", "") => {
                println!("Output format is {:?}. Formats: {}", self.format, Format::names());
                Ok(())
            }
            ("\\format", name) => match Format::parse(name) {
                Some(format) => {
                    self.format = format;
                    Ok(())
                }
                None => Err(anyhow::anyhow!("unknown format '{name}' (formats: {})", Format::names())),
            },
            ("\\dn", _) => self.list_schemas(),
            ("\\d", "") => self.list_relations(),
            ("\\d", name) => runtime.block_on(self.describe(name)),
            (other, _) => Err(anyhow::anyhow!("unknown command {other}; \\? lists the commands")),
        };
        if let Err(e) = result {
            eprintln!("Error: {}", crate::one_line(&e));
        }
        true
    }

    fn list_schemas(&self) -> Result<()> {
        let rows = self
            .session
            .schemas()?
            .into_iter()
            .map(|s| vec![s.name, s.owner, s.relations.to_string(), s.comment.unwrap_or_default()])
            .collect();
        print!("{}", text_table(&["Name", "Owner", "Relations", "Comment"], rows));
        Ok(())
    }

    fn list_relations(&self) -> Result<()> {
        let relations = self.session.relations()?;
        if relations.is_empty() {
            println!("No relations found.");
            return Ok(());
        }
        let rows = relations
            .into_iter()
            .map(|r| vec![r.schema, r.name, r.kind.as_str().to_string(), r.owner, r.comment.unwrap_or_default()])
            .collect();
        print!("{}", text_table(&["Schema", "Name", "Type", "Owner", "Comment"], rows));
        Ok(())
    }

    async fn describe(&self, name: &str) -> Result<()> {
        let details = self.session.describe(name).await?;
        let r = &details.relation;
        let kind = match r.kind {
            RelationKind::Table => "Table",
            RelationKind::View => "View",
        };
        println!("{kind} \"{}.{}\"", r.schema, r.name);
        let rows = details
            .columns
            .iter()
            .map(|c| {
                let mut constraints = Vec::new();
                if c.primary_key {
                    constraints.push("primary key");
                }
                if c.unique {
                    constraints.push("unique");
                }
                if !c.nullable && !c.primary_key {
                    constraints.push("not null");
                }
                vec![
                    c.name.clone(),
                    c.data_type.clone(),
                    constraints.join(", "),
                    c.default.clone().unwrap_or_default(),
                    c.comment.clone().unwrap_or_default(),
                ]
            })
            .collect();
        print!("{}", text_table(&["Column", "Type", "Constraints", "Default", "Comment"], rows));
        if let Some(comment) = &r.comment {
            println!("Comment: {comment}");
        }
        println!("Owner: {}", r.owner);
        println!("Created: {}", details.created_at);
        if let Some(modified) = &details.modified_at {
            println!("Modified: {modified}");
        }
        if let Some(rows) = details.rows {
            let bytes: u64 = details.files.iter().map(|f| f.bytes).sum();
            println!("Rows: {rows}");
            println!("Files: {} ({bytes} bytes)", details.files.len());
            for f in &details.files {
                println!("  {} ({} rows, {} bytes)", f.path, f.rows, f.bytes);
            }
        }
        if let Some(sql) = &details.view_sql {
            println!("View definition: {sql}");
        }
        Ok(())
    }
}

/// Runs every statement of `sql`, printing each result to stdout.
pub async fn run_statements(session: &mut Session, sql: &str, format: Format) -> Result<()> {
    let mut results = session.execute(sql)?;
    let stdout = std::io::stdout();
    while let Some(output) = results.next().await {
        let output = output?;
        let mut out = stdout.lock();
        print(output, format, &mut out).await?;
        out.flush()?;
    }
    Ok(())
}

/// A plain aligned text table, psql style.
fn text_table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!(" {c:<w$} ")).collect();
        format!("{}\n", padded.join("|").trim_end())
    };
    let mut out = line(headers.iter().map(|h| h.to_string()).collect());
    out.push_str(&widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("+"));
    out.push('\n');
    let count = rows.len();
    for row in rows {
        out.push_str(&line(row));
    }
    out.push_str(&format!("({count} row{})\n", if count == 1 { "" } else { "s" }));
    out
}

/// `$TARN_HISTORY`, else `~/.tarn_history`.
fn history_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TARN_HISTORY") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".tarn_history"))
}
