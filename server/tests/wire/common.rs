//! A server on a fresh warehouse for each test, on a port of its own on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::Arc;

use tarn_engine::Engine;
use tarn_server::{AuthMethod, Server, ServerConfig};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{AsyncMessage, Client, NoTls};

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "Admin-pw-1";

pub struct TestServer {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<tarn_server::Result<()>>>,
}

impl TestServer {
    /// A server with one superuser, `admin`.
    pub async fn start() -> TestServer {
        Self::start_with(AuthMethod::Scram).await
    }

    pub async fn start_with(auth: AuthMethod) -> TestServer {
        Self::start_config(ServerConfig { auth, ..Self::test_config() }).await
    }

    /// A server that offers TLS with this certificate and key (PEM files).
    pub async fn start_tls(cert: std::path::PathBuf, key: std::path::PathBuf) -> TestServer {
        Self::start_config(ServerConfig { tls: Some((cert, key)), ..Self::test_config() }).await
    }

    fn test_config() -> ServerConfig {
        ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            shutdown_grace: std::time::Duration::from_secs(2),
            ..ServerConfig::default()
        }
    }

    async fn start_config(config: ServerConfig) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = Engine::open(dir.path().join("warehouse")).expect("open warehouse");
        engine.create_superuser(ADMIN, ADMIN_PASSWORD).expect("create admin");
        let server = Server::bind(Arc::new(engine), config).await.expect("bind");
        let addr = server.local_addr();
        let (shutdown, stop) = oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async move {
            let _ = stop.await;
        }));
        TestServer { addr, dir, shutdown: Some(shutdown), handle: Some(handle) }
    }

    pub fn warehouse(&self) -> std::path::PathBuf {
        self.dir.path().join("warehouse")
    }

    pub fn config(&self, user: &str, password: &str) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(self.addr.port())
            .user(user)
            .password(password)
            .dbname("dev")
            .application_name("tarn-tests");
        config
    }

    /// A client signed in as `user`; notices (COPY's summary) arrive on the receiver.
    pub async fn connect_as(&self, user: &str, password: &str) -> (Client, mpsc::UnboundedReceiver<String>) {
        self.try_connect(self.config(user, password)).await.unwrap_or_else(|e| panic!("connect as {user}: {e}"))
    }

    pub async fn connect(&self) -> Client {
        self.connect_as(ADMIN, ADMIN_PASSWORD).await.0
    }

    pub async fn try_connect(
        &self,
        config: tokio_postgres::Config,
    ) -> Result<(Client, mpsc::UnboundedReceiver<String>), tokio_postgres::Error> {
        let (client, mut connection) = config.connect(NoTls).await?;
        let (notices, received) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(message) = futures::future::poll_fn(|cx| connection.poll_message(cx)).await {
                match message {
                    Ok(AsyncMessage::Notice(notice)) => {
                        let _ = notices.send(notice.message().to_string());
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
        Ok((client, received))
    }

    /// Asks the server to stop and waits for it; the warehouse stays until the returned
    /// directory is dropped.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("server task").expect("server run");
        }
        self.dir
    }
}

/// The SQLSTATE of a failed statement.
pub fn sqlstate(error: &tokio_postgres::Error) -> String {
    error.code().map(|c| c.code().to_string()).unwrap_or_else(|| format!("no SQLSTATE: {error}"))
}

/// The one value of a simple query's first row, as text.
pub async fn scalar(client: &Client, sql: &str) -> Option<String> {
    let messages = client.simple_query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    messages.into_iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_string)),
        _ => None,
    })?
}
