//! An object store wrapper that counts the bytes it hands out, so a progress line can show how
//! much a running query has read (`Progress::scanned`). Counted are the bytes of the ranges and
//! objects requested (what a scan reads), process-wide per engine.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

#[derive(Debug)]
pub(crate) struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    read: Arc<AtomicU64>,
}

impl CountingStore {
    pub fn wrap(inner: Arc<dyn ObjectStore>, read: Arc<AtomicU64>) -> Arc<dyn ObjectStore> {
        Arc::new(CountingStore { inner, read })
    }
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let result = self.inner.get_opts(location, options).await?;
        self.read.fetch_add(result.range.end.saturating_sub(result.range.start), Ordering::Relaxed);
        Ok(result)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let bytes = self.inner.get_ranges(location, ranges).await?;
        self.read.fetch_add(bytes.iter().map(|b| b.len() as u64).sum(), Ordering::Relaxed);
        Ok(bytes)
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(&self, prefix: Option<&Path>, offset: &Path) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_query_reports_the_bytes_it_scanned() {
        let dir = tempfile::tempdir().unwrap();
        let engine = crate::Engine::open(dir.path().join("w")).unwrap();
        let mut session = engine.session().unwrap();
        session
            .query("CREATE TABLE t (v bigint); INSERT INTO t SELECT value FROM generate_series(1, 10000)")
            .await
            .unwrap();
        session.query("SELECT sum(v) FROM t").await.unwrap();
        let scanned = session.progress().read().scanned;
        assert!(scanned > 1000, "{scanned}");
        session.query("SELECT 1").await.unwrap();
        assert_eq!(session.progress().read().scanned, 0);
    }
}
