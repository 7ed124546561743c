//! Redshift's views of the lake catalog: `svv_external_schemas`, `svv_external_tables`,
//! `svv_external_columns`, `svv_external_partitions`, and tarn's
//! `svv_external_table_versions` (Glue's table version history).

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::catalog::TableProvider;
use datafusion::common::ScalarValue;
use tarn_catalog::{CatalogState, ExternalTable, LakeState};

use crate::error::Result;
use crate::provider::CATALOG_NAME;
use crate::session::SessionShared;
use crate::system::{field, int, opt_text, table_of, text};

/// The schema names a lake table is seen under: the external schemas bound to its database,
/// or the warehouse schema of the database's name.
fn schemas_of<'a>(lake: &'a LakeState, state: &'a CatalogState, table: &'a ExternalTable) -> Vec<&'a str> {
    let mut names: Vec<&str> =
        lake.schemas.iter().filter(|s| s.database == table.database).map(|s| s.name.as_str()).collect();
    if names.is_empty() && state.schema_by_name(&table.database).is_some() {
        names.push(&table.database);
    }
    names
}

fn json(map: &BTreeMap<String, String>) -> String {
    serde_json::to_string(map).unwrap_or_default()
}

fn compressed(table: &ExternalTable) -> i64 {
    let compression = table.properties.get("compression_type").or_else(|| table.properties.get("compression"));
    i64::from(compression.is_some_and(|c| !c.eq_ignore_ascii_case("none")))
}

/// The storage descriptor columns `svv_external_tables` and `svv_external_partitions` share.
fn storage_fields() -> [Field; 6] {
    let utf8 = |n: &str| field(n, DataType::Utf8);
    [
        utf8("input_format"),
        utf8("output_format"),
        utf8("serialization_lib"),
        utf8("serde_parameters"),
        field("compressed", DataType::Int64),
        utf8("parameters"),
    ]
}

/// The values of [`storage_fields`] for `table`, with the table's or a partition's parameters.
fn storage_values(table: &ExternalTable, parameters: &BTreeMap<String, String>) -> [ScalarValue; 6] {
    [
        text(table.format.input_format()),
        text(table.format.output_format()),
        text(&table.serde),
        text(json(&table.serde_properties)),
        int(compressed(table)),
        text(json(parameters)),
    ]
}

pub(crate) fn table(
    shared: &SessionShared,
    state: &CatalogState,
    name: &str,
) -> Result<Option<Arc<dyn TableProvider>>> {
    let lake = shared.lake_state()?;
    let utf8 = |n: &str| field(n, DataType::Utf8);
    let int64 = |n: &str| field(n, DataType::Int64);
    let tables = || lake.tables.iter().flat_map(|t| schemas_of(&lake, state, t).into_iter().map(move |s| (s, t)));
    let provider = match name {
        "svv_external_schemas" => table_of(
            vec![
                int64("esoid"),
                int64("eskind"),
                utf8("schemaname"),
                utf8("esowner"),
                utf8("databasename"),
                utf8("esoptions"),
            ],
            lake.schemas
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let mut options = BTreeMap::new();
                    if let Some(role) = &s.iam_role {
                        options.insert("IAM_ROLE".to_string(), role.clone());
                    }
                    if let Some(region) = &s.region {
                        options.insert("REGION".to_string(), region.clone());
                    }
                    vec![
                        int(100_000 + i as i64),
                        int(1),
                        text(&s.name),
                        text(&s.owner),
                        text(&s.database),
                        text(json(&options)),
                    ]
                })
                .collect(),
        )?,
        "svv_external_tables" => table_of(
            ["redshift_database_name", "schemaname", "tablename", "tabletype", "location"]
                .iter()
                .map(|n| utf8(n))
                .chain(storage_fields())
                .chain([utf8("owner"), utf8("created"), int64("version")])
                .collect(),
            tables()
                .map(|(schema, t)| {
                    let head =
                        [text(CATALOG_NAME), text(schema), text(&t.name), text("EXTERNAL_TABLE"), text(&t.location)];
                    let tail = [text(&t.owner), text(&t.created), int(t.version)];
                    head.into_iter().chain(storage_values(t, &t.properties)).chain(tail).collect()
                })
                .collect(),
        )?,
        "svv_external_columns" => table_of(
            vec![
                utf8("redshift_database_name"),
                utf8("schemaname"),
                utf8("tablename"),
                utf8("columnname"),
                utf8("external_type"),
                int64("columnnum"),
                int64("part_key"),
                utf8("is_nullable"),
            ],
            tables()
                .flat_map(|(schema, t)| {
                    let data = t.columns.iter().map(|c| (c, 0));
                    let keys = t.partition_keys.iter().enumerate().map(|(i, c)| (c, i as i64 + 1));
                    data.chain(keys).enumerate().map(move |(i, (c, part_key))| {
                        vec![
                            text(CATALOG_NAME),
                            text(schema),
                            text(&t.name),
                            text(&c.name),
                            text(&c.data_type),
                            int(i as i64 + 1),
                            int(part_key),
                            text("true"),
                        ]
                    })
                })
                .collect(),
        )?,
        "svv_external_partitions" => {
            let mut rows = Vec::new();
            for (schema, t) in tables() {
                if t.partition_keys.is_empty() {
                    continue;
                }
                for p in shared.engine.lake.partitions(shared.engine.store.as_ref(), t)?.iter() {
                    let values = serde_json::to_string(&p.values).unwrap_or_default();
                    let head = [text(CATALOG_NAME), text(schema), text(&t.name), text(values), text(&p.location)];
                    rows.push(head.into_iter().chain(storage_values(t, &p.properties)).collect());
                }
            }
            table_of(
                ["redshift_database_name", "schemaname", "tablename", "values", "location"]
                    .iter()
                    .map(|n| utf8(n))
                    .chain(storage_fields())
                    .collect(),
                rows,
            )?
        }
        "svv_external_table_versions" => {
            let mut rows = Vec::new();
            for (schema, t) in tables() {
                for version in shared.engine.store.table_versions(t.id)? {
                    let v = &version.table;
                    rows.push(vec![
                        text(schema),
                        text(&t.name),
                        int(version.version),
                        text(&version.archived),
                        text(&v.location),
                        text(json(&v.properties)),
                        text(serde_json::to_string(&v.columns).unwrap_or_default()),
                    ]);
                }
                rows.push(vec![
                    text(schema),
                    text(&t.name),
                    int(t.version),
                    opt_text(None::<String>),
                    text(&t.location),
                    text(json(&t.properties)),
                    text(serde_json::to_string(&t.columns).unwrap_or_default()),
                ]);
            }
            table_of(
                vec![
                    utf8("schemaname"),
                    utf8("tablename"),
                    int64("version"),
                    utf8("archived"),
                    utf8("location"),
                    utf8("parameters"),
                    utf8("columns"),
                ],
                rows,
            )?
        }
        _ => return Ok(None),
    };
    Ok(Some(provider))
}
