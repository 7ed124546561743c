//! `tarn serve`: the warehouse behind the PostgreSQL wire protocol (the `tarn-server` crate),
//! with the first superuser made on request and a clean stop on Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use tarn_engine::Engine;
use tarn_server::{AuthMethod, Server, ServerConfig};

/// What `tarn serve` was asked for.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:5439", value_name = "HOST:PORT")]
    listen: SocketAddr,
    /// Create this superuser first (a new warehouse has no users); the password comes from
    /// TARN_PASSWORD or a prompt
    #[arg(long, value_name = "NAME")]
    init_user: Option<String>,
    /// PEM certificate chain: clients may then use TLS (with --tls-key)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Password authentication: scram-sha-256, or md5 for older drivers
    #[arg(long, value_enum, default_value = "scram-sha-256")]
    auth: Auth,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Auth {
    #[value(name = "scram-sha-256")]
    Scram,
    Md5,
}

pub fn serve(engine: Engine, args: ServeArgs, runtime: &tokio::runtime::Runtime) -> Result<()> {
    init_logging();
    if let Some(name) = &args.init_user {
        let users = engine.access_state()?;
        if users.users.contains_key(name) {
            log::info!("user \"{name}\" exists already; --init-user leaves it as it is");
        } else if !users.users.is_empty() {
            bail!(
                "--init-user makes a new warehouse's first user, but this one has users already (create more with CREATE USER)"
            );
        } else {
            let password = password(name)?;
            engine.create_superuser(name, &password)?;
            log::info!("created superuser \"{name}\"");
        }
    }
    let config = ServerConfig {
        listen: args.listen,
        tls: args.tls_cert.zip(args.tls_key),
        auth: match args.auth {
            Auth::Scram => AuthMethod::Scram,
            Auth::Md5 => AuthMethod::Md5,
        },
        ..ServerConfig::default()
    };
    let warehouse = engine.path().display().to_string();
    runtime.block_on(async move {
        let server = Server::bind(Arc::new(engine), config).await?;
        log::info!(
            "tarn serves warehouse {warehouse} on {} (database \"{}\")",
            server.local_addr(),
            tarn_engine::CATALOG_NAME
        );
        server.run(shutdown_signal()).await?;
        log::info!("stopped");
        Ok(())
    })
}

/// The first user's password: TARN_PASSWORD, else asked for on the terminal.
fn password(user: &str) -> Result<String> {
    if let Ok(password) = std::env::var("TARN_PASSWORD") {
        if password.is_empty() {
            bail!("TARN_PASSWORD is empty");
        }
        return Ok(password);
    }
    let first = rpassword::prompt_password(format!("Password for new superuser \"{user}\": "))
        .context("cannot read a password (set TARN_PASSWORD when there is no terminal)")?;
    let again = rpassword::prompt_password("Again: ").context("cannot read a password")?;
    if first != again {
        bail!("the passwords differ");
    }
    if first.is_empty() {
        bail!("the password is empty");
    }
    Ok(first)
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    log::info!("shutdown requested");
}

/// Log lines on stderr: `2026-11-30T08:00:00Z INFO message`; TARN_LOG sets the level.
fn init_logging() {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            metadata.target().starts_with("tarn")
        }
        fn log(&self, record: &log::Record<'_>) {
            if self.enabled(record.metadata()) {
                let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
                eprintln!("{now} {} {}", record.level(), record.args());
            }
        }
        fn flush(&self) {}
    }
    let level = std::env::var("TARN_LOG").ok().and_then(|l| l.parse().ok()).unwrap_or(log::LevelFilter::Info);
    static LOGGER: Stderr = Stderr;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}
