//! `tarn`: an embedded warehouse engine with lake querying.
//!
//! ```text
//! tarn [--warehouse DIR] [-c SQL]... [-f FILE]... [--format table|csv|tsv|json|ndjson|markdown]
//! tarn [--warehouse DIR] crawl LOCATION --database DB [--table T] [--dry-run]
//! ```
//! With `-c`/`-f` (run in the order given) or piped stdin it runs non-interactively and stops at
//! the first error (exit code 1); otherwise it opens the REPL.

mod complete;
mod output;
mod repl;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{CommandFactory, FromArgMatches, Parser};
use tarn_engine::Engine;

use crate::output::Format;

#[derive(Parser, Debug)]
#[command(name = "tarn", version, about = "tarn: an embedded warehouse engine with lake querying")]
struct Cli {
    /// Warehouse directory, created if missing [default: ~/.local/share/tarn/warehouse]
    #[arg(long, short = 'w', env = "TARN_WAREHOUSE", value_name = "DIR")]
    warehouse: Option<PathBuf>,
    /// Run SQL and exit (repeatable; runs in order with -f)
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    command: Vec<String>,
    /// Run a SQL file and exit (repeatable; runs in order with -c)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Vec<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Open the REPL after running -c/-f
    #[arg(short = 'i', long)]
    interactive: bool,
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Infer the format, schema and k=v partitions of the data under LOCATION and register it
    /// in the lake catalog (prints the changes; re-run to add new partitions)
    Crawl {
        /// A local folder or s3://bucket/prefix/
        location: String,
        /// The lake database to register the tables in (queryable as a schema)
        #[arg(long)]
        database: String,
        /// Register LOCATION as one table of this name (default: one table per sub-folder)
        #[arg(long)]
        table: Option<String>,
        /// Show what would change without changing anything
        #[arg(long)]
        dry_run: bool,
    },
}

/// What to run non-interactively, in command-line order.
enum Script {
    Command(String),
    File(PathBuf),
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let mut scripts: Vec<(usize, Script)> = Vec::new();
    if let Some(indices) = matches.indices_of("command") {
        scripts.extend(indices.zip(cli.command.iter().cloned().map(Script::Command)));
    }
    if let Some(indices) = matches.indices_of("file") {
        scripts.extend(indices.zip(cli.file.iter().cloned().map(Script::File)));
    }
    scripts.sort_by_key(|(index, _)| *index);
    let scripts: Vec<Script> = scripts.into_iter().map(|(_, s)| s).collect();

    match run(cli, scripts) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`tarn ... | head`): nothing left to say.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, scripts: Vec<Script>) -> Result<()> {
    let warehouse = match cli.warehouse {
        Some(dir) => dir,
        None => default_warehouse()?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let engine = Engine::open(&warehouse).with_context(|| format!("cannot open warehouse {}", warehouse.display()))?;
    let mut session = engine.session()?;

    if let Some(Action::Crawl { location, database, table, dry_run }) = cli.action {
        let request = tarn_engine::CrawlRequest { location, database, table, dry_run };
        let report = runtime.block_on(session.crawl(&request))?;
        for change in &report.changes {
            println!("{change}");
        }
        if dry_run {
            eprintln!("Dry run: nothing was changed.");
        } else if report.applied {
            eprintln!("Registered in database \"{}\".", request.database);
        }
        return Ok(());
    }

    let terminal = std::io::stdin().is_terminal();
    if scripts.is_empty() && terminal {
        return repl(session, cli.format, &engine, &runtime);
    }

    let scripts = if scripts.is_empty() {
        let mut sql = String::new();
        std::io::stdin().read_to_string(&mut sql).context("cannot read standard input")?;
        vec![(None, sql)]
    } else {
        scripts
            .into_iter()
            .map(|s| match s {
                Script::Command(sql) => Ok((None, sql)),
                Script::File(path) => std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))
                    .map(|sql| (Some(path), sql)),
            })
            .collect::<Result<Vec<_>>>()?
    };
    for (path, sql) in scripts {
        runtime.block_on(repl::run_statements(&mut session, &sql, cli.format)).map_err(|e| match &path {
            Some(path) => e.context(path.display().to_string()),
            None => e,
        })?;
    }
    if cli.interactive && terminal {
        return repl(session, cli.format, &engine, &runtime);
    }
    Ok(())
}

fn repl(
    session: tarn_engine::Session,
    format: Format,
    engine: &Engine,
    runtime: &tokio::runtime::Runtime,
) -> Result<()> {
    let version = env!("CARGO_PKG_VERSION");
    println!("tarn {version} — warehouse: {}", engine.path().display());
    println!("Type \\? for help, \\q to quit.");
    repl::Repl::new(session, format).run(runtime)
}

/// `$XDG_DATA_HOME/tarn/warehouse`, else `~/.local/share/tarn/warehouse`.
fn default_warehouse() -> Result<PathBuf> {
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(data).join("tarn/warehouse"));
    }
    let home = std::env::var_os("HOME").context("neither --warehouse, TARN_WAREHOUSE nor HOME is set")?;
    Ok(PathBuf::from(home).join(".local/share/tarn/warehouse"))
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            // Arrow's CSV and JSON writers keep only the io error's message.
            || c.to_string().contains("Broken pipe (os error 32)")
    })
}

/// An error and its causes on one line.
pub(crate) fn one_line(e: &anyhow::Error) -> String {
    e.chain().map(|c| c.to_string()).collect::<Vec<_>>().join(": ")
}
