//! `delegate_file_source!`: the methods of a DataFusion `FileSource` that wraps another (in a
//! field `inner: Arc<dyn FileSource>`) and only passes them on. tarn wraps file sources twice:
//! to name files in errors ([`crate::file_errors`]) and to read through the decoded-data cache
//! ([`crate::cache::scan`]).

macro_rules! delegate_file_source {
    () => {
        fn table_schema(&self) -> &datafusion_datasource::TableSchema {
            self.inner.table_schema()
        }

        fn filter(&self) -> Option<std::sync::Arc<dyn datafusion::physical_expr::PhysicalExpr>> {
            self.inner.filter()
        }

        fn projection(&self) -> Option<&datafusion::physical_expr::projection::ProjectionExprs> {
            self.inner.projection()
        }

        fn metrics(&self) -> &datafusion::physical_plan::metrics::ExecutionPlanMetricsSet {
            self.inner.metrics()
        }

        fn file_type(&self) -> &str {
            self.inner.file_type()
        }

        fn supports_repartitioning(&self) -> bool {
            self.inner.supports_repartitioning()
        }

        fn create_file_opener(
            &self,
            store: std::sync::Arc<dyn object_store::ObjectStore>,
            config: &datafusion::datasource::physical_plan::FileScanConfig,
            partition: usize,
        ) -> datafusion::common::Result<std::sync::Arc<dyn datafusion::datasource::physical_plan::FileOpener>> {
            self.inner.create_file_opener(store, config, partition)
        }

        fn apply_expressions(
            &self,
            f: &mut dyn FnMut(
                &std::sync::Arc<dyn datafusion::physical_expr::PhysicalExpr>,
            ) -> datafusion::common::Result<datafusion::common::tree_node::TreeNodeRecursion>,
        ) -> datafusion::common::Result<datafusion::common::tree_node::TreeNodeRecursion> {
            self.inner.apply_expressions(f)
        }
    };
}
