//! Errors of file scans name the file. DataFusion's readers say what went wrong ("incomplete
//! deflate stream", "incorrect number of fields for line 2") but not in which file: before a
//! plan runs, [`name_files_in_errors`] wraps the file source of each scan so that every error
//! from reading a file starts with its path.

use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::physical_plan::{FileScanConfig, FileSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::physical_plan::{DisplayFormatType, ExecutionPlan};
use datafusion_datasource::PartitionedFile;
use datafusion_datasource::morsel::{Morsel, MorselPlan, MorselPlanner, Morselizer};
use futures::{FutureExt, StreamExt};
use object_store::ObjectStore;

/// `plan` with the file sources of its scans wrapped (see the module's documentation).
pub(crate) fn name_files_in_errors(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    Ok(plan
        .transform_up(|node| {
            let Some(exec) = node.downcast_ref::<DataSourceExec>() else { return Ok(Transformed::no(node)) };
            let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>() else {
                return Ok(Transformed::no(node));
            };
            if config.file_source.downcast_ref::<NamingSource>().is_some() {
                return Ok(Transformed::no(node));
            }
            let mut config = config.clone();
            let store = config.object_store_url.to_string();
            config.file_source = Arc::new(NamingSource { inner: config.file_source.clone(), store });
            Ok(Transformed::yes(DataSourceExec::from_data_source(config) as Arc<dyn ExecutionPlan>))
        })?
        .data)
}

/// How a file is named in errors: a local path as a path, anything else as its URL.
fn file_name(store: &str, file: &PartitionedFile) -> String {
    let location = file.object_meta.location.as_ref();
    match store {
        "file:///" => format!("/{location}"),
        store => format!("{store}{location}"),
    }
}

/// The error with the file named in front (unless it already names it).
fn named(file: &str, error: DataFusionError) -> DataFusionError {
    if matches!(error, DataFusionError::ResourcesExhausted(_)) {
        return error;
    }
    let message = crate::Error::from(error).to_string();
    if message.contains(file) {
        return DataFusionError::Execution(message);
    }
    DataFusionError::Execution(format!("{file}: {message}"))
}

/// A file source whose morsels report errors with their file's path.
struct NamingSource {
    inner: Arc<dyn FileSource>,
    store: String,
}

impl fmt::Debug for NamingSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamingSource").field("file_type", &self.inner.file_type()).finish()
    }
}

impl FileSource for NamingSource {
    delegate_file_source!();

    fn create_morselizer(
        &self,
        object_store: Arc<dyn ObjectStore>,
        base_config: &FileScanConfig,
        partition: usize,
    ) -> Result<Box<dyn Morselizer>> {
        let inner = self.inner.create_morselizer(object_store, base_config, partition)?;
        Ok(Box::new(NamingMorselizer { inner, store: self.store.clone() }))
    }

    fn with_batch_size(&self, batch_size: usize) -> Arc<dyn FileSource> {
        Arc::new(NamingSource { inner: self.inner.with_batch_size(batch_size), store: self.store.clone() })
    }

    fn fmt_extra(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.fmt_extra(t, f)
    }
}

#[derive(Debug)]
struct NamingMorselizer {
    inner: Box<dyn Morselizer>,
    store: String,
}

impl Morselizer for NamingMorselizer {
    fn plan_file(&self, file: PartitionedFile) -> Result<Box<dyn MorselPlanner>> {
        let name = file_name(&self.store, &file);
        match self.inner.plan_file(file) {
            Ok(planner) => Ok(Box::new(NamingPlanner { inner: planner, file: Arc::from(name) })),
            Err(e) => Err(named(&name, e)),
        }
    }
}

#[derive(Debug)]
struct NamingPlanner {
    inner: Box<dyn MorselPlanner>,
    file: Arc<str>,
}

fn wrap_planner(inner: Box<dyn MorselPlanner>, file: &Arc<str>) -> Box<dyn MorselPlanner> {
    Box::new(NamingPlanner { inner, file: file.clone() })
}

impl MorselPlanner for NamingPlanner {
    fn plan(self: Box<Self>) -> Result<Option<MorselPlan>> {
        let file = self.file.clone();
        let Some(mut plan) = self.inner.plan().map_err(|e| named(&file, e))? else { return Ok(None) };
        let morsels: Vec<Box<dyn Morsel>> = plan
            .take_morsels()
            .into_iter()
            .map(|inner| Box::new(NamingMorsel { inner, file: file.clone() }) as Box<dyn Morsel>)
            .collect();
        let planners = plan.take_ready_planners().into_iter().map(|p| wrap_planner(p, &file)).collect();
        let mut wrapped = MorselPlan::new().with_morsels(morsels).with_planners(planners);
        if let Some(pending) = plan.take_pending_planner() {
            let pending_file = file.clone();
            wrapped.set_pending_planner(pending.into_future().map(move |result| match result {
                Ok(planner) => Ok(wrap_planner(planner, &pending_file)),
                Err(e) => Err(named(&pending_file, e)),
            }));
        }
        Ok(Some(wrapped))
    }
}

#[derive(Debug)]
struct NamingMorsel {
    inner: Box<dyn Morsel>,
    file: Arc<str>,
}

impl Morsel for NamingMorsel {
    fn into_stream(
        self: Box<Self>,
    ) -> futures::stream::BoxStream<'static, Result<datafusion::arrow::array::RecordBatch>> {
        let file = self.file;
        self.inner.into_stream().map(move |batch| batch.map_err(|e| named(&file, e))).boxed()
    }
}
