//! `tarn`: an embedded warehouse engine with lake querying.
//!
//! ```text
//! tarn [--warehouse DIR] [-c SQL]... [-f FILE]... [--format table|csv|tsv|json|ndjson|markdown]
//!      [--threads N] [--memory-limit SIZE] [--cache-size SIZE] [--maxrows N] [--no-color]
//! tarn [--warehouse DIR] crawl LOCATION --database DB [--table T] [--dry-run]
//! tarn [--warehouse DIR] bench run DIR [--iterations N] [--output FILE] [--schema S] [--set NAME=VALUE]...
//! tarn bench compare A.json B.json
//! tarn [--warehouse DIR] bench tpch --sf N [--data DIR]
//! tarn [--warehouse DIR] bench tpcds --sf N [--data DIR] [--python PYTHON]
//! tarn [--warehouse DIR] serve [--listen 127.0.0.1:5439] [--init-user NAME] [--tls-cert F --tls-key F]
//! ```
//! With `-c`/`-f` (run in the order given) or piped stdin it runs non-interactively and stops at
//! the first error (exit code 1); otherwise it opens the REPL (after running `~/.tarnrc`).

/// mimalloc rather than glibc's malloc: COPY and queries allocate and free large buffers per
/// batch, which glibc keeps returning to and faulting back from the kernel. Built without
/// transparent huge pages (`no_thp`): with them, filling the decoded-data cache for TPC-H SF 10
/// q1 took 10.5 s, 18-20 s of CPU in the kernel zeroing huge pages; without, 3.4-4.1 s
/// (benches/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench;
mod complete;
mod helper;
mod output;
mod progress;
mod render;
mod repl;
mod serve;
mod sql;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{CommandFactory, FromArgMatches, Parser};
use tarn_engine::{Engine, EngineConfig};

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
    /// Threads for query execution and loads (DataFusion's target_partitions) [default: cores]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    threads: Option<u64>,
    /// Memory limit for query execution, e.g. 4GB or 512MB [default: none]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory_limit: Option<usize>,
    /// Bound of the decoded-data cache, e.g. 2GB; 0 turns it off [default: a quarter of memory]
    #[arg(long, value_name = "SIZE", value_parser = parse_cache_size)]
    cache_size: Option<usize>,
    /// Show at most N rows of each result in the REPL [default: 40 on a terminal]
    #[arg(long, value_name = "N")]
    maxrows: Option<usize>,
    /// No colors (also when NO_COLOR is set)
    #[arg(long)]
    no_color: bool,
    /// Run as this user of the warehouse, with its privileges [default: the warehouse's superuser]
    #[arg(long, short = 'U', env = "TARN_USER", value_name = "NAME")]
    user: Option<String>,
    /// Keep the catalog in this PostgreSQL database (postgresql://user@host:port/db), shared by
    /// tarn processes on several machines [default: the warehouse's own catalog.db]
    #[arg(long, env = "TARN_CATALOG", value_name = "URL")]
    catalog: Option<String>,
    /// Keep a new warehouse's managed data at this S3 location (s3://bucket/prefix), recorded in
    /// its catalog: later runs find it there [default: the warehouse directory]
    #[arg(long, env = "TARN_DATA", value_name = "URL")]
    data: Option<String>,
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
    /// Check TABLE's declared keys (CHECK TABLE): offending rows and sample keys per constraint;
    /// exits with 1 when a constraint is violated
    Check {
        /// [schema.]table
        table: String,
        /// Only the primary key
        #[arg(long)]
        primary_key: bool,
        /// Only UNIQUE constraints
        #[arg(long)]
        unique: bool,
        /// Only NOT NULL columns
        #[arg(long)]
        not_null: bool,
    },
    /// What NAME (a table, view, external table, or a file or prefix) is built from and what is
    /// built from it, as recorded in tarn_lineage: a tree, or a picture for Graphviz or Mermaid
    Lineage {
        /// [schema.]name, or a path or s3:// URL
        name: String,
        /// tree, dot (Graphviz), mermaid or json
        #[arg(long, value_enum, default_value = "tree")]
        format: LineageFormat,
        /// Follow up (sources), down (what uses it) or both
        #[arg(long, default_value = "both")]
        direction: String,
    },
    /// Benchmark queries: run a directory of .sql files, compare two results, generate TPC-H
    #[command(subcommand)]
    Bench(BenchAction),
    /// The warehouse's catalog
    #[command(subcommand)]
    Catalog(CatalogAction),
    /// Serve the warehouse over the PostgreSQL wire protocol (psql, psycopg, SQLAlchemy, JDBC, ...)
    Serve(serve::ServeArgs),
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum LineageFormat {
    Tree,
    Dot,
    Mermaid,
    Json,
}

#[derive(clap::Subcommand, Debug)]
enum CatalogAction {
    /// Copy the warehouse's SQLite catalog (catalog.db) into a new PostgreSQL catalog; then run
    /// tarn with --catalog URL (the data stays in the warehouse directory)
    Migrate {
        /// The PostgreSQL catalog: postgresql://user@host:port/database (its database must exist)
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

#[derive(clap::Subcommand, Debug)]
enum BenchAction {
    /// Run every .sql file of DIR (one warm-up, then N timed iterations each) and write a JSON result
    Run {
        /// Directory of .sql queries (benches/tpch/queries has TPC-H's 22)
        dir: PathBuf,
        /// Timed iterations per query
        #[arg(long, short = 'n', default_value_t = 3)]
        iterations: usize,
        /// Where to write the JSON result [default: stdout]
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
        /// Resolve unqualified table names in this schema (e.g. tpch_lake for the Parquet tables)
        #[arg(long)]
        schema: Option<String>,
        /// A label for this run, shown by compare
        #[arg(long, default_value = "")]
        name: String,
        /// Run with this setting (repeatable), e.g. datafusion.execution.batch_size=16384
        #[arg(long = "set", value_name = "NAME=VALUE")]
        settings: Vec<String>,
    },
    /// Print per-query ratios of two results (B / A) and their geometric mean
    Compare { a: PathBuf, b: PathBuf },
    /// Generate TPC-H data, load it into managed tables with COPY and register it as external
    /// Parquet tables (schema tpch_lake)
    Tpch {
        /// Scale factor (1 = 6 million lineitem rows)
        #[arg(long, default_value_t = 1.0)]
        sf: f64,
        /// Where to write the generated files [default: ./tpch-sfN]
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// Also copy the tables into schema tpch_sorted with the sort keys of AWS's Redshift
        /// TPC-H DDL
        #[arg(long)]
        sort_keys: bool,
    },
    /// Generate TPC-DS data as Parquet (DuckDB's dsdgen), register it as external tables
    /// (schema tpcds_lake) and copy it into managed tables (public)
    Tpcds {
        /// Scale factor (1 = about 1 GB of raw data)
        #[arg(long, default_value_t = 1.0)]
        sf: f64,
        /// Where to write the generated files [default: ./tpcds-sfN]
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// A Python with duckdb and duckdb-extension-tpcds [default: a virtual environment made
        /// in DIR/.python from the pinned wheels of benches/tpcds/requirements.txt]
        #[arg(long, value_name = "PYTHON")]
        python: Option<PathBuf>,
    },
}

/// Parses `4GB`, `512MB`, `64K`, `1073741824` (bytes): more than zero.
fn parse_size(text: &str) -> std::result::Result<usize, String> {
    match parse_cache_size(text)? {
        0 => Err(format!("'{text}' must be more than zero")),
        size => Ok(size),
    }
}

/// Parses a size as [`parse_size`] does, zero included.
fn parse_cache_size(text: &str) -> std::result::Result<usize, String> {
    tarn_engine::parse_size(text)
        .ok_or_else(|| format!("'{text}' is not a size such as 4GB or 512MB (units K, M, G, T)"))
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
    if let Some(Action::Bench(BenchAction::Compare { a, b })) = &cli.action {
        print!("{}", bench::compare(a, b)?);
        return Ok(());
    }
    let warehouse = match cli.warehouse {
        Some(dir) => dir,
        None => default_warehouse()?,
    };
    if let Some(Action::Catalog(CatalogAction::Migrate { to })) = &cli.action {
        let user = cli.user.clone().unwrap_or_else(|| EngineConfig::default().user);
        let report = tarn_engine::migrate_catalog(&warehouse, to, &user)
            .with_context(|| format!("cannot migrate the catalog of {}", warehouse.display()))?;
        println!(
            "copied {} rows of {} catalog tables (up to snapshot {}) into {}; from now on run tarn with --catalog and that address",
            report.rows, report.tables, report.snapshot, report.location
        );
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut config = EngineConfig::default();
    if let Some(threads) = cli.threads {
        config.target_partitions = threads as usize;
    }
    config.memory_limit = cli.memory_limit;
    config.cache_size = cli.cache_size;
    config.catalog = cli.catalog.clone();
    config.data = cli.data.clone();
    let engine = Engine::open_with(&warehouse, config.clone())
        .with_context(|| format!("cannot open warehouse {}", warehouse.display()))?;
    if let Some(Action::Serve(args)) = cli.action {
        return serve::serve(engine, args, &runtime);
    }
    let open_session = |engine: &Engine| match &cli.user {
        Some(user) => engine.session_as(user),
        None => engine.session(),
    };
    let mut session = open_session(&engine)?;

    match cli.action {
        Some(Action::Crawl { location, database, table, dry_run }) => {
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
        Some(Action::Check { table, primary_key, unique, not_null }) => {
            let kinds: Vec<&str> = [(primary_key, "PRIMARY KEY"), (unique, "UNIQUE"), (not_null, "NOT NULL")]
                .into_iter()
                .filter_map(|(wanted, kind)| wanted.then_some(kind))
                .collect();
            let sql = format!("CHECK TABLE {table} {}", kinds.join(", "));
            let batches = runtime.block_on(session.query(&sql))?;
            let violated = violated_constraints(&batches);
            let schema = batches.first().map(|b| b.schema()).context("CHECK TABLE returned no result")?;
            let rows = tarn_engine::Output::Rows(tarn_engine::RowStream::from_batches(schema, batches));
            runtime.block_on(output::print(rows, cli.format, &mut std::io::stdout()))?;
            if violated > 0 {
                anyhow::bail!("{violated} constraint(s) of {table} violated");
            }
            return Ok(());
        }
        Some(Action::Lineage { name, format, direction }) => {
            let graph = session.lineage(&name, direction.parse()?)?;
            let text = match format {
                LineageFormat::Tree => graph.to_tree(),
                LineageFormat::Dot => graph.to_dot(),
                LineageFormat::Mermaid => graph.to_mermaid(),
                LineageFormat::Json => graph.to_json() + "\n",
            };
            print!("{text}");
            return Ok(());
        }
        Some(Action::Bench(BenchAction::Run { dir, iterations, output, schema, name, settings })) => {
            let mut setup = Vec::new();
            for setting in schema.map(|s| format!("datafusion.catalog.default_schema={s}")).into_iter().chain(settings)
            {
                let (name, value) =
                    setting.split_once('=').with_context(|| format!("--set {setting}: expected NAME=VALUE"))?;
                setup.push(format!("SET {} = '{}'", name.trim(), value.trim().replace('\'', "''")));
            }
            for set in &setup {
                runtime.block_on(session.query(set))?;
            }
            // Cold runs: a session of the warehouse opened afresh, sharing no cache with `engine`.
            let fresh = async || -> Result<tarn_engine::Session> {
                let mut session = open_session(&Engine::open_with(&warehouse, config.clone())?)?;
                for set in &setup {
                    session.query(set).await?;
                }
                Ok(session)
            };
            let result = runtime.block_on(bench::run_suite(&mut session, fresh, &dir, iterations.max(1), &name))?;
            let text = serde_json::to_string_pretty(&result)?;
            match output {
                Some(path) => {
                    std::fs::write(&path, text + "\n").with_context(|| format!("cannot write {}", path.display()))?
                }
                None => println!("{text}"),
            }
            return Ok(());
        }
        Some(Action::Bench(BenchAction::Tpch { sf, data, sort_keys })) => {
            if sf <= 0.0 {
                anyhow::bail!("--sf must be more than zero");
            }
            let data = data.unwrap_or_else(|| PathBuf::from(format!("tpch-sf{sf}")));
            runtime.block_on(bench::tpch(&mut session, sf, &data, sort_keys))?;
            eprintln!("TPC-H SF {sf} is in {} (tables in public, Parquet tables in tpch_lake).", warehouse.display());
            return Ok(());
        }
        Some(Action::Bench(BenchAction::Tpcds { sf, data, python })) => {
            if sf <= 0.0 {
                anyhow::bail!("--sf must be more than zero");
            }
            let data = data.unwrap_or_else(|| PathBuf::from(format!("tpcds-sf{sf}")));
            runtime.block_on(bench::tpcds(&mut session, sf, &data, python))?;
            eprintln!("TPC-DS SF {sf} is in {} (tables in public, Parquet tables in tpcds_lake).", warehouse.display());
            return Ok(());
        }
        Some(Action::Bench(BenchAction::Compare { .. }) | Action::Catalog(_) | Action::Serve(_)) | None => {}
    }

    let stdout_terminal = std::io::stdout().is_terminal();
    let color = stdout_terminal && !cli.no_color && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let terminal = std::io::stdin().is_terminal();
    let settings = repl::Settings {
        format: cli.format,
        timing: false,
        expanded: false,
        max_rows: cli.maxrows.or(stdout_terminal.then_some(40)).filter(|n| *n > 0),
        pager: stdout_terminal,
        explain: false,
        color,
    };
    let mut shell = repl::Shell::new(session, engine.clone(), settings);
    if scripts.is_empty() && terminal {
        return interactive(shell, &engine, &runtime);
    }

    if scripts.is_empty() {
        let mut sql = String::new();
        std::io::stdin().read_to_string(&mut sql).context("cannot read standard input")?;
        shell.run_script(&sql, &runtime)?;
    }
    for script in scripts {
        match script {
            Script::Command(sql) => shell.run_sql(&sql, &runtime)?,
            Script::File(path) => {
                let sql = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
                shell.run_script(&sql, &runtime).with_context(|| path.display().to_string())?;
            }
        }
    }
    if cli.interactive && terminal {
        return interactive(shell, &engine, &runtime);
    }
    Ok(())
}

/// The rows of a CHECK TABLE result whose status is `violated`.
fn violated_constraints(batches: &[tarn_engine::arrow::array::RecordBatch]) -> usize {
    use tarn_engine::arrow::array::{Array, StringArray};
    batches
        .iter()
        .filter_map(|b| b.column_by_name("status")?.as_any().downcast_ref::<StringArray>().cloned())
        .map(|status| status.iter().filter(|s| *s == Some("violated")).count())
        .sum()
}

fn interactive(shell: repl::Shell, engine: &Engine, runtime: &tokio::runtime::Runtime) -> Result<()> {
    let mut shell = shell;
    let version = env!("CARGO_PKG_VERSION");
    let data = engine.data_location();
    match data.starts_with("s3://") {
        true => println!("tarn {version} — warehouse: {} (data at {data})", engine.path().display()),
        false => println!("tarn {version} — warehouse: {}", engine.path().display()),
    }
    println!("Type \\? for help, \\q to quit, Tab to complete.");
    if let Some(rc) = tarnrc().filter(|p| p.is_file()) {
        let text = std::fs::read_to_string(&rc).with_context(|| format!("cannot read {}", rc.display()))?;
        if let Err(e) = shell.run_script(&text, runtime) {
            eprintln!("Error in {}: {}", rc.display(), one_line(&e));
        }
    }
    shell.interactive(runtime)
}

/// `$TARNRC`, else `~/.tarnrc`: SQL and backslash commands run when the REPL starts.
fn tarnrc() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TARNRC") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".tarnrc"))
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
