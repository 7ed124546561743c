//! `tarn serve`: tarn's engine behind the PostgreSQL wire protocol (version 3), so that psql,
//! psycopg, SQLAlchemy, pandas, asyncpg, JDBC and Redshift's own drivers connect to a
//! warehouse directory as they would to Redshift.
//!
//! Each connection gets its own engine [`Session`](tarn_engine::Session) (its transaction and
//! settings); every connection shares the one [`Engine`] and with it the catalog, the
//! statistics and the caches. Users sign in with SCRAM-SHA-256 (or md5) against the users of
//! the warehouse's catalog, and each statement is checked against that user's privileges by
//! the engine.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tarn_server::Error> {
//! let engine = std::sync::Arc::new(tarn_engine::Engine::open("warehouse")?);
//! let server = tarn_server::Server::bind(engine, tarn_server::ServerConfig::default()).await?;
//! println!("listening on {}", server.local_addr());
//! server.run(async { tokio::signal::ctrl_c().await.ok(); }).await?;
//! # Ok(())
//! # }
//! ```

mod auth;
mod cancel;
mod encode;
mod error;
mod handler;
mod params;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::tokio_rustls::rustls;
use tarn_engine::Engine;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub use error::{Error, Result};

/// How clients prove who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMethod {
    /// SCRAM-SHA-256 (PostgreSQL's default since 14).
    #[default]
    Scram,
    /// md5, for older drivers; every user's md5 hash is kept beside its SCRAM verifier.
    Md5,
}

/// A server's settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen; Redshift's port by default.
    pub listen: SocketAddr,
    /// A PEM certificate chain and private key: clients may then ask for TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub auth: AuthMethod,
    /// How long running statements may go on after a shutdown is asked for before they are
    /// cancelled.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5439)),
            tls: None,
            auth: AuthMethod::Scram,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// A server bound to its address, not yet accepting connections.
pub struct Server {
    listener: TcpListener,
    handlers: Arc<handler::Handlers>,
    tls: Option<TlsAcceptor>,
    grace: Duration,
}

impl Server {
    /// Binds the listening socket. Fails when the warehouse has no users: nobody could sign
    /// in (`tarn serve --init-user NAME` creates the first superuser).
    pub async fn bind(engine: Arc<Engine>, config: ServerConfig) -> Result<Server> {
        if engine.access_state()?.users.is_empty() {
            return Err(Error::NoUsers);
        }
        let tls = config.tls.as_ref().map(|(cert, key)| tls_acceptor(cert, key)).transpose()?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Io { context: format!("listening on {}", config.listen), source })?;
        let handlers = Arc::new(handler::Handlers::new(engine, config.auth));
        Ok(Server { listener, handlers, tls, grace: config.shutdown_grace })
    }

    /// The address the server listens on (the port the OS chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Accepts connections until `shutdown` completes; then stops accepting, lets running
    /// statements finish for the grace period, cancels the rest and closes every connection
    /// (open transactions roll back: nothing is half-committed).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => {
                    let (socket, peer) = match accepted {
                        Ok(accepted) => accepted,
                        Err(e) => {
                            log::warn!("accepting a connection failed: {e}");
                            continue;
                        }
                    };
                    let handlers = self.handlers.clone();
                    let tls = self.tls.clone();
                    connections.spawn(async move {
                        if let Err(e) = pgwire::tokio::process_socket(socket, tls, handlers).await {
                            log::debug!("connection from {peer} ended: {e}");
                        }
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        log::info!("shutting down: no new connections; waiting for running statements");
        let deadline = tokio::time::Instant::now() + self.grace;
        while self.handlers.cancels.running() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let cancelled = self.handlers.cancels.cancel_all();
        if cancelled > 0 {
            log::info!("cancelled {cancelled} running statement(s)");
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while self.handlers.cancels.running() > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        // Dropping a connection drops its session, which rolls back an open transaction.
        connections.shutdown().await;
        Ok(())
    }
}

fn tls_acceptor(cert: &PathBuf, key: &PathBuf) -> Result<TlsAcceptor> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let pem_error = |path: &PathBuf, e: rustls_pki_types::pem::Error| Error::Tls(format!("{}: {e}", path.display()));
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem_error(cert, e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| pem_error(cert, e))?;
    if certs.is_empty() {
        return Err(Error::Tls(format!("{}: no certificate in the file", cert.display())));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error(key, e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| Error::Tls(format!("{} and {}: {e}", cert.display(), key.display())))?;
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
