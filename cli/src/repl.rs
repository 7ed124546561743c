//! The shell: runs SQL and backslash commands, interactively (rustyline: completion,
//! highlighting, multi-line statements ending in `;`, history; Ctrl-C cancels the running
//! statement, Ctrl-D exits) or from a script (`-f FILE`, piped stdin, `\i FILE`), where the
//! first error stops the run.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use rustyline::Editor;
use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use tarn_engine::{Engine, Output, RelationKind, Session};
use tokio::runtime::Runtime;

use crate::complete::statement_complete;
use crate::helper::{Names, TarnHelper};
use crate::output::{Format, print};
use crate::progress::ProgressBar;
use crate::render::{self, Layout};

const HELP: &str = r"SQL statements end with ';' and may span lines. Tab completes names.
  \q                quit (also Ctrl-D)
  \?                this help
  \d [NAME]         list tables and views, or describe one
  \dn               list schemas
  \x [on|off]       expanded display: one line per column
  \maxrows N|off    show at most N rows of a result
  \pager on|off     page results taller than the screen ($PAGER, default less)
  \o [FILE]         send results to FILE (no FILE: back to the screen)
  \i FILE           run the SQL and commands in FILE
  \e                edit the last statement in $EDITOR
  \explain [on|off] show the plan of every query before its result
  \bench [N] QUERY  run QUERY N times (default 5, after a warm-up): planning and execution times
  \timing [on|off]  print how long each statement took
  \history [N]      your last N statements (default 20) from the query history, stl_query
  \lineage NAME [up|down]  what NAME is built from and what is built from it (tarn_lineage)
  \format FMT       output format: table, csv, tsv, json, ndjson, markdown
Ctrl-C cancels the running statement (or clears the input).";

/// The backslash commands, as the help lists them (what Tab completes after `\\`).
pub fn commands() -> impl Iterator<Item = &'static str> {
    HELP.lines().filter_map(|line| line.split_whitespace().next()).filter(|w| w.starts_with('\\'))
}

/// Display settings, changed by backslash commands.
pub struct Settings {
    pub format: Format,
    pub timing: bool,
    pub expanded: bool,
    pub max_rows: Option<usize>,
    pub pager: bool,
    pub explain: bool,
    pub color: bool,
}

pub struct Shell {
    session: Session,
    engine: Engine,
    pub settings: Settings,
    /// `\o FILE`: results go here instead of stdout.
    output: OutputFile,
    /// The last statement run (for `\e`).
    last: String,
    /// Set by `\e`: the next prompt starts with this text.
    pending_edit: Option<String>,
}

impl Shell {
    pub fn new(session: Session, engine: Engine, settings: Settings) -> Shell {
        Shell { session, engine, settings, output: None, last: String::new(), pending_edit: None }
    }

    /// Runs a script: SQL statements (each run once its `;` is read) and backslash commands on
    /// lines of their own. Stops at the first error.
    pub fn run_script(&mut self, text: &str, runtime: &Runtime) -> Result<()> {
        let mut buffer = String::new();
        for line in text.lines() {
            if buffer.trim().is_empty() && line.trim_start().starts_with('\\') {
                buffer.clear();
                if !self.backslash(line.trim(), runtime)? {
                    return Ok(());
                }
                continue;
            }
            buffer.push_str(line);
            buffer.push('\n');
            if statement_complete(&buffer) {
                let sql = std::mem::take(&mut buffer);
                self.run_sql(&sql, runtime)?;
            }
        }
        if !buffer.trim().is_empty() {
            self.run_sql(&buffer, runtime)?;
        }
        Ok(())
    }

    /// The interactive loop.
    pub fn interactive(mut self, runtime: &Runtime) -> Result<()> {
        let config = Config::builder()
            .completion_type(CompletionType::List)
            .auto_add_history(false)
            .history_ignore_dups(true)?
            .build();
        let helper = TarnHelper::new(self.engine.clone(), runtime.handle().clone(), self.settings.color);
        let mut editor: Editor<TarnHelper, FileHistory> = Editor::with_config(config)?;
        editor.set_helper(Some(helper));
        let history = history_path();
        if let Some(path) = &history {
            let _ = editor.load_history(path);
        }
        self.refresh_names(&editor, runtime);
        loop {
            let prompt = if self.session.in_transaction() { "tarn*> " } else { "tarn=> " };
            let read = match self.pending_edit.take() {
                Some(text) => editor.readline_with_initial(prompt, (&text, "")),
                None => editor.readline(prompt),
            };
            let input = match read {
                Ok(input) => input,
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => break,
                Err(e) => return Err(e.into()),
            };
            if input.trim().is_empty() {
                continue;
            }
            let _ = editor.add_history_entry(input.trim());
            if let Some(path) = &history {
                if let Some(dir) = path.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                let _ = editor.save_history(path);
            }
            let outcome = if input.trim_start().starts_with('\\') {
                match self.backslash(input.trim(), runtime) {
                    Ok(false) => break,
                    other => other.map(|_| ()),
                }
            } else {
                self.run_sql(&input, runtime)
            };
            if let Err(e) = outcome {
                eprintln!("Error: {}", crate::one_line(&e));
            }
            // Queries change no names; anything else may have (DDL, \\i scripts).
            if !only_queries(&input) {
                self.refresh_names(&editor, runtime);
            }
        }
        Ok(())
    }

    /// Reloads the names completion offers (the catalog is cached; views are planned for their
    /// columns).
    fn refresh_names(&self, editor: &Editor<TarnHelper, FileHistory>, runtime: &Runtime) {
        if let Some(helper) = editor.helper() {
            let relations = runtime.block_on(self.session.relation_names()).unwrap_or_default();
            helper.set_names(Names { relations, functions: self.session.function_names() });
        }
    }

    /// Runs SQL (one or more statements), printing each result; Ctrl-C cancels.
    pub fn run_sql(&mut self, sql: &str, runtime: &Runtime) -> Result<()> {
        self.last = sql.trim().to_string();
        let started = Instant::now();
        let explain = self.settings.explain && is_query(sql);
        let progress = self.session.progress();
        let bar = ProgressBar::start(progress, self.settings.color);
        let outcome = runtime.block_on(async {
            tokio::select! {
                result = self.run_statements(sql, explain) => result,
                _ = tokio::signal::ctrl_c() => Err(anyhow!("cancelled")),
            }
        });
        bar.stop();
        if self.settings.timing {
            eprintln!("Time: {:.3} ms", started.elapsed().as_secs_f64() * 1000.0);
        }
        outcome
    }

    async fn run_statements(&mut self, sql: &str, explain: bool) -> Result<()> {
        let Shell { session, settings, output: file, .. } = self;
        if explain {
            let plan = session.query(&format!("EXPLAIN FORMAT tree {}", sql.trim().trim_end_matches(';'))).await?;
            let text = tarn_engine::display::rows_as_strings(&plan, &tarn_engine::display::format_options())?
                .into_iter()
                .filter_map(|row| row.last().cloned())
                .collect::<Vec<_>>()
                .join("\n");
            emit(file, settings, &format!("{text}\n"))?;
        }
        let mut results = session.execute(sql)?;
        while let Some(output) = results.next().await {
            show(output?, file, settings).await?;
        }
        Ok(())
    }

    /// Writes rendered text to the output file, the pager, or stdout.
    fn emit(&mut self, text: &str) -> Result<()> {
        emit(&mut self.output, &self.settings, text)
    }

    /// Handles a backslash command; false means quit.
    pub fn backslash(&mut self, line: &str, runtime: &Runtime) -> Result<bool> {
        let (command, argument) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let argument = argument.trim();
        // `\\x on|off` and the like; no argument flips the setting.
        let toggle = |setting: &mut bool, what: &str| -> Result<()> {
            *setting = match argument {
                "on" => true,
                "off" => false,
                "" => !*setting,
                other => bail!("{command} takes on or off, not '{other}'"),
            };
            println!("{what} is {}.", if *setting { "on" } else { "off" });
            Ok(())
        };
        match command {
            "\\q" => return Ok(false),
            "\\?" | "\\h" => println!("{HELP}"),
            "\\timing" => toggle(&mut self.settings.timing, "Timing")?,
            "\\x" => toggle(&mut self.settings.expanded, "Expanded display")?,
            "\\pager" => toggle(&mut self.settings.pager, "Pager")?,
            "\\explain" => toggle(&mut self.settings.explain, "Showing plans")?,
            "\\maxrows" => {
                self.settings.max_rows = match argument {
                    "off" | "0" => None,
                    n => Some(n.parse().map_err(|_| anyhow!("\\maxrows takes a number of rows or off, not '{n}'"))?),
                };
                match self.settings.max_rows {
                    Some(n) => println!("Showing at most {n} rows."),
                    None => println!("Showing every row."),
                }
            }
            "\\format" if argument.is_empty() => {
                println!("Output format is {:?}. Formats: {}", self.settings.format, Format::names())
            }
            "\\format" => {
                self.settings.format = Format::parse(argument)
                    .ok_or_else(|| anyhow!("unknown format '{argument}' (formats: {})", Format::names()))?;
            }
            "\\o" if argument.is_empty() => {
                if let Some((path, _)) = self.output.take() {
                    println!("Results go to the screen again (were going to {}).", path.display());
                }
            }
            "\\o" => {
                let path = PathBuf::from(argument);
                let file = File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
                self.output = Some((path, file));
            }
            "\\i" => {
                if argument.is_empty() {
                    bail!("\\i takes a file name");
                }
                let text = std::fs::read_to_string(argument).with_context(|| format!("cannot read {argument}"))?;
                self.run_script(&text, runtime).with_context(|| argument.to_string())?;
            }
            "\\e" => self.edit()?,
            "\\bench" => self.bench(argument, runtime)?,
            "\\dn" => self.list_schemas()?,
            "\\d" if argument.is_empty() => self.list_relations()?,
            "\\d" => runtime.block_on(self.describe(argument))?,
            "\\history" => {
                let count: usize = match argument {
                    "" => 20,
                    n => n.parse().map_err(|_| anyhow!("\\history takes a number of statements, not '{n}'"))?,
                };
                self.run_sql(
                    &format!(
                        "SELECT query, starttime, status, rows, querytxt FROM \
                         (SELECT * FROM stl_query WHERE userid = current_user ORDER BY query DESC LIMIT {count}) h \
                         ORDER BY query"
                    ),
                    runtime,
                )?;
            }
            "\\lineage" => {
                let mut words = argument.split_whitespace();
                let (Some(name), direction, None) = (words.next(), words.next(), words.next()) else {
                    bail!("\\lineage takes a table, view or file name, and up or down");
                };
                let direction = direction.map_or(Ok(tarn_engine::LineageDirection::Both), str::parse)?;
                let graph = self.session.lineage(name, direction)?;
                self.emit(&graph.to_tree())?;
            }
            other => bail!("unknown command {other}; \\? lists the commands"),
        }
        Ok(true)
    }

    /// `\e`: the last statement in `$EDITOR` (default `vi`); the edited text becomes the next
    /// prompt's input.
    fn edit(&mut self) -> Result<()> {
        let file = tempfile_path("tarn-edit", "sql");
        std::fs::write(&file, format!("{}\n", self.last))
            .with_context(|| format!("cannot write {}", file.display()))?;
        let editor = std::env::var("VISUAL").or_else(|_| std::env::var("EDITOR")).unwrap_or_else(|_| "vi".into());
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("{editor} \"$1\""))
            .arg("sh")
            .arg(&file)
            .status()
            .with_context(|| format!("cannot start the editor {editor}"))?;
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let _ = std::fs::remove_file(&file);
        if !status.success() {
            bail!("the editor {editor} failed ({status})");
        }
        self.pending_edit = Some(text.trim_end().to_string());
        Ok(())
    }

    /// `\bench [N] QUERY`.
    fn bench(&mut self, argument: &str, runtime: &Runtime) -> Result<()> {
        let (runs, query) = match argument.split_once(char::is_whitespace) {
            Some((n, rest)) if n.parse::<usize>().is_ok() => (n.parse::<usize>()?, rest.trim()),
            _ => (5, argument),
        };
        if query.is_empty() || runs == 0 {
            bail!("\\bench takes [N] QUERY, N at least 1");
        }
        let report = runtime.block_on(crate::bench::bench_query(&mut self.session, query, runs))?;
        self.emit(&report.to_string())
    }

    fn list_schemas(&mut self) -> Result<()> {
        let rows = self
            .session
            .schemas()?
            .into_iter()
            .map(|s| vec![s.name, s.owner, s.relations.to_string(), s.comment.unwrap_or_default()])
            .collect();
        let text = text_table(&["Name", "Owner", "Relations", "Comment"], rows);
        self.emit(&text)
    }

    fn list_relations(&mut self) -> Result<()> {
        let relations = self.session.relations()?;
        if relations.is_empty() {
            return self.emit("No relations found.\n");
        }
        let rows = relations
            .into_iter()
            .map(|r| vec![r.schema, r.name, r.kind.as_str().to_string(), r.owner, r.comment.unwrap_or_default()])
            .collect();
        let text = text_table(&["Schema", "Name", "Type", "Owner", "Comment"], rows);
        self.emit(&text)
    }

    async fn describe(&mut self, name: &str) -> Result<()> {
        let details = self.session.describe(name).await?;
        let r = &details.relation;
        let kind = match r.kind {
            RelationKind::Table => "Table",
            RelationKind::View => "View",
        };
        let mut out = format!("{kind} \"{}.{}\"\n", r.schema, r.name);
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
        out.push_str(&text_table(&["Column", "Type", "Constraints", "Default", "Comment"], rows));
        if let Some(comment) = &r.comment {
            out.push_str(&format!("Comment: {comment}\n"));
        }
        out.push_str(&format!("Owner: {}\nCreated: {}\n", r.owner, details.created_at));
        if let Some(modified) = &details.modified_at {
            out.push_str(&format!("Modified: {modified}\n"));
        }
        if let Some(rows) = details.rows {
            let bytes: u64 = details.files.iter().map(|f| f.bytes).sum();
            out.push_str(&format!("Rows: {rows}\nFiles: {} ({bytes} bytes)\n", details.files.len()));
            for f in &details.files {
                out.push_str(&format!("  {} ({} rows, {} bytes)\n", f.path, f.rows, f.bytes));
            }
        }
        if let Some(sql) = &details.view_sql {
            out.push_str(&format!("View definition: {sql}\n"));
        }
        self.emit(&out)
    }
}

type OutputFile = Option<(PathBuf, File)>;

/// Prints one statement's output: as a table for people (boxed, typed, fitted to the screen)
/// when the screen shows it or `\x` is on, else in the output format.
async fn show(output: Output, file: &mut OutputFile, settings: &Settings) -> Result<()> {
    let screen = file.is_none() && std::io::stdout().is_terminal();
    let for_people = match &output {
        Output::Rows(rows) => {
            settings.format == Format::Table && !rows.schema().fields().is_empty() && (screen || settings.expanded)
        }
        Output::Command(_) => false,
    };
    if for_people && let Output::Rows(rows) = output {
        let schema = rows.schema();
        let batches = rows.collect().await?;
        let text = render_rows(&schema, &batches, settings, screen)?;
        return emit(file, settings, &text);
    }
    match file {
        Some((_, file)) => {
            let mut buffer = Vec::new();
            print(output, settings.format, &mut buffer).await?;
            file.write_all(&buffer)?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            print(output, settings.format, &mut out).await?;
            out.flush()?;
        }
    }
    Ok(())
}

/// Writes rendered text to the output file, the pager (when taller than the screen), or stdout.
fn emit(file: &mut OutputFile, settings: &Settings, text: &str) -> Result<()> {
    if let Some((_, file)) = file {
        file.write_all(text.as_bytes())?;
        return Ok(());
    }
    let height = terminal_size::terminal_size().map(|(_, h)| h.0 as usize).filter(|h| *h > 0);
    let tall = height.is_some_and(|h| text.lines().count() + 2 > h);
    if settings.pager && tall && std::io::stdout().is_terminal() && page(text).is_ok() {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// A result as the table or expanded text people read.
fn render_rows(
    schema: &tarn_engine::arrow::datatypes::SchemaRef,
    batches: &[tarn_engine::arrow::array::RecordBatch],
    settings: &Settings,
    screen: bool,
) -> Result<String> {
    let width = if screen { terminal_width() } else { None };
    let layout = Layout { width, max_rows: settings.max_rows, color: settings.color && screen };
    if settings.expanded { render::expanded(schema, batches, layout) } else { render::table(schema, batches, layout) }
}

/// The terminal's width in columns, else `$COLUMNS`.
fn terminal_width() -> Option<usize> {
    let measured = terminal_size::terminal_size().map(|(w, _)| w.0 as usize).filter(|w| *w > 0);
    measured.or_else(|| std::env::var("COLUMNS").ok()?.parse().ok())
}

/// Does `sql` start with a query (what `\explain` shows plans for)?
fn is_query(sql: &str) -> bool {
    let tokens = crate::sql::tokenize(sql);
    let first = tokens.iter().find(|t| !matches!(t.kind, crate::sql::Kind::Whitespace | crate::sql::Kind::Comment));
    first.is_some_and(|t| matches!(sql[t.start..t.end].to_ascii_uppercase().as_str(), "SELECT" | "WITH"))
}

/// Is every statement of `sql` a query (nothing that could create, rename or drop a name)?
fn only_queries(sql: &str) -> bool {
    let tokens = crate::sql::tokenize(sql);
    let mut statements = tokens
        .split(|t| t.kind == crate::sql::Kind::Punct && &sql[t.start..t.end] == ";")
        .filter(|s| s.iter().any(|t| !matches!(t.kind, crate::sql::Kind::Whitespace | crate::sql::Kind::Comment)))
        .peekable();
    statements.peek().is_some() && statements.all(|s| is_query(&sql[s[0].start..s[s.len() - 1].end]))
}

/// Shows `text` through `$PAGER` (default `less -FRSX`).
fn page(text: &str) -> Result<()> {
    let pager = std::env::var("PAGER").ok().filter(|p| !p.trim().is_empty()).unwrap_or_else(|| "less -FRSX".into());
    let mut child = Command::new("sh").arg("-c").arg(&pager).stdin(Stdio::piped()).spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        // The pager may quit before reading everything: that is fine.
        let _ = stdin.write_all(text.as_bytes());
    }
    child.wait()?;
    Ok(())
}

fn tempfile_path(stem: &str, extension: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{stem}-{}.{extension}", std::process::id()))
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

/// How long to wait before showing a progress bar.
pub const PROGRESS_DELAY: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_statements_that_are_all_queries_leave_names_alone() {
        assert!(only_queries("SELECT 1;"));
        assert!(only_queries("-- note\nWITH x AS (SELECT 1) SELECT * FROM x; select 2"));
        assert!(!only_queries("SELECT 1; CREATE TABLE t (a int);"));
        assert!(!only_queries("DROP TABLE t"));
        assert!(!only_queries("SELECT ';'; CREATE VIEW v AS SELECT 1"));
        assert!(!only_queries(""));
    }
}
