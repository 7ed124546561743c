//! tarn's engine: an embedded warehouse on Apache DataFusion.
//!
//! ```no_run
//! # async fn demo() -> tarn_engine::Result<()> {
//! let engine = tarn_engine::Engine::open("warehouse")?;
//! let mut session = engine.session()?;
//! let mut results = session.execute("CREATE TABLE t (a integer); INSERT INTO t VALUES (1); SELECT * FROM t")?;
//! while let Some(output) = results.next().await {
//!     match output? {
//!         tarn_engine::Output::Rows(rows) => println!("{:?}", rows.collect().await?),
//!         tarn_engine::Output::Command(tag) => println!("{tag}"),
//!     }
//! }
//! # Ok(())
//! # }
//! ```

#[macro_use]
mod delegate;

pub mod access;
mod analyze;
mod cache;
mod check;
pub mod copy;
mod data_root;
mod datefmt;
mod ddl;
mod decimal_math;
mod describe;
pub mod display;
pub mod dml;
mod engine;
mod error;
mod file_errors;
mod filter_order;
mod filter_selectivity;
pub mod functions;
mod join_keys;
mod join_order;
mod lake;
mod locks;
mod maintenance;
pub mod pg_types;
mod plan_cache;
mod prepare;
mod provider;
mod scanned;
mod session;
mod settings;
pub mod sql;
mod stats;
mod storage;
mod system;
pub mod tpch;
pub mod unload;
mod write;
mod zorder;

pub use cache::{CacheStats, format_size, parse_size};
pub use datafusion::arrow;
pub use describe::{ColumnInfo, FileInfo, RelationDetails, RelationInfo, RelationKind, RelationNames, SchemaInfo};
pub use engine::{Engine, EngineConfig, migrate_catalog};
pub use error::{Error, Result};
pub use lake::{CrawlReport, CrawlRequest, ExternalTableSpec, LakeStatement, PartitionSpec};
pub use prepare::Prepared;
pub use provider::CATALOG_NAME;
pub use session::{CommandTag, Output, Progress, ProgressReading, QueryTiming, Results, RowStream, Session};
pub use sql::parser;
pub use sql::parser::{Analyze, AsOf, Statement, Vacuum, VacuumSort};
pub use system::lineage_graph::{LineageDirection, LineageEdge, LineageGraph, LineageNode};
pub use tarn_catalog::CopyReport;
