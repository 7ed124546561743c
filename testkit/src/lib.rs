//! Test support: a real S3-protocol server ([s3s-fs]) on 127.0.0.1, serving a temporary
//! directory (each sub-directory is a bucket) and checking SigV4 signatures, so that tests
//! talk to S3 the way tarn does in production, with no mock object store; and Python virtual
//! environments for tests that use Python clients or tools ([`python`]), Graphviz ([`graphviz`]), and a real PostgreSQL server ([`postgres`]).
//!
//! [s3s-fs]: https://crates.io/crates/s3s-fs

pub mod graphviz;
pub mod postgres;
pub mod python;

/// Cargo's target directory, where tests keep what they download and build once. A relative
/// `CARGO_TARGET_DIR` is relative to where cargo ran (the workspace root), not to the test's
/// working directory (its package).
pub fn target_dir() -> std::path::PathBuf {
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match std::env::var_os("CARGO_TARGET_DIR").map(std::path::PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    }
}

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The access key the server accepts.
pub const ACCESS_KEY: &str = "tarn-test-access";
/// The secret key the server accepts.
pub const SECRET_KEY: &str = "tarn-test-secret";
/// The region clients sign for.
pub const REGION: &str = "us-east-1";

/// A running S3 server; it stops when dropped.
pub struct S3Server {
    addr: SocketAddr,
    root: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl S3Server {
    /// Starts a server on a free port of 127.0.0.1 with the given buckets (empty at first).
    pub fn start(buckets: &[&str]) -> S3Server {
        let root = tempfile::tempdir().expect("a temporary directory for the S3 server");
        for bucket in buckets {
            std::fs::create_dir_all(root.path().join(bucket)).expect("a bucket directory");
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port on 127.0.0.1");
        listener.set_nonblocking(true).expect("a non-blocking listener");
        let addr = listener.local_addr().expect("the listener's address");
        let (stop, stopped) = oneshot::channel();
        let fs = s3s_fs::FileSystem::new(root.path()).expect("an s3s-fs file system");
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime for the S3 server");
            runtime.block_on(serve(listener, fs, stopped));
        });
        S3Server { addr, root, stop: Some(stop), thread: Some(thread) }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The directory behind the server: `root/bucket/key` is object `s3://bucket/key`.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The local path of `s3://bucket/key`.
    pub fn path_of(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.path().join(bucket).join(key)
    }

    /// Stores `contents` as object `s3://bucket/key` (through the server's directory).
    pub fn put(&self, bucket: &str, key: &str, contents: impl AsRef<[u8]>) {
        let path = self.path_of(bucket, key);
        std::fs::create_dir_all(path.parent().expect("an object path has a parent")).expect("object directories");
        std::fs::write(path, contents).expect("an object written");
    }

    /// The AWS settings (as environment variables) that reach this server with valid keys.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_REGION", REGION.into()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(listener: std::net::TcpListener, fs: s3s_fs::FileSystem, mut stopped: oneshot::Receiver<()>) {
    let service = {
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        builder.build()
    };
    let listener = TcpListener::from_std(listener).expect("a tokio listener");
    loop {
        let socket = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => socket,
                Err(_) => continue,
            },
            _ = &mut stopped => return,
        };
        let service = service.clone();
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(socket), service).await;
        });
    }
}
