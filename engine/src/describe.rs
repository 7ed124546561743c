//! Introspection for clients (the REPL's `\d`, `\dn`, `\d NAME`): schemas, relations and
//! the details of one table or view, as the session sees them.

use datafusion::sql::sqlparser::dialect::RedshiftSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use tarn_catalog::{Relation, RelationDef, SqlType};

use crate::ddl::resolve_name_in;
use crate::error::{Error, Result};
use crate::session::Session;
use crate::system::view_columns;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    Table,
    View,
}

impl RelationKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            RelationKind::Table => "table",
            RelationKind::View => "view",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SchemaInfo {
    pub name: String,
    pub owner: String,
    pub comment: Option<String>,
    /// Tables and views in it.
    pub relations: usize,
}

#[derive(Debug, Clone)]
pub struct RelationInfo {
    pub schema: String,
    pub name: String,
    pub kind: RelationKind,
    pub owner: String,
    pub comment: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ColumnInfo {
    pub name: String,
    /// Redshift's spelling: `character varying(32)`, `integer`, ...
    pub data_type: String,
    pub nullable: bool,
    pub default: Option<String>,
    pub primary_key: bool,
    pub unique: bool,
    pub comment: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FileInfo {
    /// Relative to the warehouse directory.
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone)]
pub struct RelationDetails {
    pub relation: RelationInfo,
    pub columns: Vec<ColumnInfo>,
    pub created_at: String,
    /// Tables only: when data or definition last changed.
    pub modified_at: Option<String>,
    /// Tables only.
    pub rows: Option<u64>,
    /// Tables only: the live data files.
    pub files: Vec<FileInfo>,
    /// Views only: the query.
    pub view_sql: Option<String>,
}

/// A relation's name and column names, for completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationNames {
    pub schema: String,
    pub name: String,
    pub columns: Vec<String>,
}

impl Session {
    /// Every relation the session can read (tables, views, external tables) with its columns,
    /// sorted by schema and name: what a client offers for completion.
    pub async fn relation_names(&self) -> Result<Vec<RelationNames>> {
        let (mut out, views) = self.shared.with_state(|s| {
            let mut out = Vec::new();
            let mut views = Vec::new();
            for schema in s.schemas.values() {
                for relation in s.relations_in(schema.id) {
                    match relation {
                        Relation::Table(t) => out.push(RelationNames {
                            schema: schema.name.clone(),
                            name: t.name.clone(),
                            columns: t.columns.iter().map(|c| c.name.clone()).collect(),
                        }),
                        Relation::View(v) => views.push((schema.name.clone(), v.name.clone())),
                    }
                }
            }
            (out, views)
        })?;
        for (schema, name) in views {
            // A view whose query no longer plans still completes by name.
            let columns = view_columns(&self.shared, &schema, &name).await.unwrap_or_default();
            out.push(RelationNames { schema, name, columns: columns.into_iter().map(|c| c.0).collect() });
        }
        let lake = self.shared.lake_state()?;
        let mut schemas: Vec<(String, String)> =
            lake.schemas.iter().map(|s| (s.name.clone(), s.database.clone())).collect();
        // External tables in a warehouse schema's namesake database.
        schemas.extend(self.schemas()?.into_iter().map(|s| (s.name.clone(), s.name)));
        for (schema, database) in schemas {
            for table in lake.tables_in(&database) {
                let columns = table.columns.iter().chain(&table.partition_keys).map(|c| c.name.clone()).collect();
                out.push(RelationNames { schema: schema.clone(), name: table.name.clone(), columns });
            }
        }
        out.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        out.dedup_by(|a, b| a.schema == b.schema && a.name == b.name);
        Ok(out)
    }

    /// Names of every SQL function (scalar, aggregate, window), sorted.
    pub fn function_names(&self) -> Vec<String> {
        let state = self.ctx.state();
        let mut names: Vec<String> = state
            .scalar_functions()
            .keys()
            .chain(state.aggregate_functions().keys())
            .chain(state.window_functions().keys())
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Every schema, sorted by name.
    pub fn schemas(&self) -> Result<Vec<SchemaInfo>> {
        let mut out = self.shared.with_state(|s| {
            s.schemas
                .values()
                .map(|schema| SchemaInfo {
                    name: schema.name.clone(),
                    owner: schema.owner.clone(),
                    comment: schema.comment.clone(),
                    relations: s.relations_in(schema.id).len(),
                })
                .collect::<Vec<_>>()
        })?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Every table and view, sorted by schema and name.
    pub fn relations(&self) -> Result<Vec<RelationInfo>> {
        let mut out = self.shared.with_state(|s| {
            let mut out = Vec::new();
            for schema in s.schemas.values() {
                for relation in s.relations_in(schema.id) {
                    out.push(relation_info(&schema.name, &relation));
                }
            }
            out
        })?;
        out.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        Ok(out)
    }

    /// Details of the table or view `name` (`[schema.]name`, SQL identifier rules).
    pub async fn describe(&self, name: &str) -> Result<RelationDetails> {
        let object_name = Parser::new(&RedshiftSqlDialect {})
            .try_with_sql(name)
            .and_then(|mut p| p.parse_object_name(false))
            .map_err(|e| Error::Invalid(format!("invalid relation name '{name}': {e}")))?;
        let (schema, table) = resolve_name_in(&self.shared.default_schema(), &object_name)?;
        let found = self.shared.with_state(|s| {
            s.relation_by_name(&schema, &table).map(|r| (relation_info(&schema, &r), r.to_owned_def()))
        })?;
        let Some((relation, def)) = found else {
            return Err(Error::Invalid(format!("relation \"{schema}.{table}\" does not exist")));
        };
        let v = match def {
            RelationDef::View(v) => v,
            RelationDef::Table(t) => {
                let files: Vec<FileInfo> = self
                    .shared
                    .visible_files(&t)?
                    .into_iter()
                    .map(|f| FileInfo { path: f.path, rows: f.record_count, bytes: f.file_size_bytes })
                    .collect();
                let modified_at = self.shared.engine.store.table_modified_at(t.id, self.shared.snapshot()?)?;
                return Ok(RelationDetails {
                    relation,
                    columns: t
                        .columns
                        .iter()
                        .map(|c| ColumnInfo {
                            name: c.name.clone(),
                            data_type: c.sql_type.to_string(),
                            nullable: c.nullable,
                            default: c.default.clone(),
                            primary_key: c.primary_key,
                            unique: c.unique.is_some(),
                            comment: c.comment.clone(),
                        })
                        .collect(),
                    created_at: t.created_at,
                    modified_at,
                    rows: Some(files.iter().map(|f| f.rows).sum()),
                    files,
                    view_sql: None,
                });
            }
        };
        let columns = view_columns(&self.shared, &schema, &v.name).await?;
        Ok(RelationDetails {
            relation,
            columns: columns
                .into_iter()
                .map(|(name, sql_type, nullable, default): (String, SqlType, bool, Option<String>)| ColumnInfo {
                    name,
                    data_type: sql_type.to_string(),
                    nullable,
                    default,
                    primary_key: false,
                    unique: false,
                    comment: None,
                })
                .collect(),
            created_at: v.created_at,
            modified_at: None,
            rows: None,
            files: Vec::new(),
            view_sql: Some(v.sql),
        })
    }
}

fn relation_info(schema: &str, relation: &Relation<'_>) -> RelationInfo {
    match relation {
        Relation::Table(t) => RelationInfo {
            schema: schema.to_string(),
            name: t.name.clone(),
            kind: RelationKind::Table,
            owner: t.owner.clone(),
            comment: t.comment.clone(),
        },
        Relation::View(v) => RelationInfo {
            schema: schema.to_string(),
            name: v.name.clone(),
            kind: RelationKind::View,
            owner: v.owner.clone(),
            comment: v.comment.clone(),
        },
    }
}
