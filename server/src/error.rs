//! The server's error type.

/// What can stop a server from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Engine(#[from] tarn_engine::Error),
    #[error(
        "the warehouse has no users, so nobody could sign in; start once with --init-user NAME to create a superuser"
    )]
    NoUsers,
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
