//! Running lake DDL against the catalog.

use std::collections::BTreeMap;

use datafusion::sql::sqlparser::ast::{ObjectName, ObjectType};
use tarn_catalog::{ExternalSchema, ExternalTable, LakeColumn, LakeDatabase, LakeFormat, LakePartition, now};

use super::parse::{ExternalTableSpec, LakeStatement, PartitionSpec};
use super::{database_of, scan};
use crate::error::{Error, Result};
use crate::session::{Output, Session};
use crate::storage::{Location, S3Overrides};

/// Runs one lake DDL statement; it applies at once (no transaction block).
pub(crate) async fn execute(session: &Session, statement: LakeStatement) -> Result<Output> {
    let read_only = matches!(statement, LakeStatement::ShowCreateTable { .. });
    if session.in_transaction() && !read_only {
        return Err(Error::Invalid(format!("{} cannot run inside a transaction block", command(&statement))));
    }
    let store = session.shared.engine.store.clone();
    let user = session.user().to_string();
    let tag = command(&statement);
    match statement {
        LakeStatement::CreateExternalSchema { name, database, iam_role, region, create_database, if_not_exists } => {
            ensure_no_managed_schema(session, &name)?;
            let schema = ExternalSchema { name, database, region, iam_role, owner: user, created: now() };
            store.create_external_schema(&schema, create_database, if_not_exists)?;
        }
        LakeStatement::CreateDatabase { name, location, comment, if_not_exists } => {
            ensure_no_managed_schema(session, &name)?;
            let database = LakeDatabase {
                name: name.clone(),
                location,
                description: comment,
                owner: user.clone(),
                created: now(),
            };
            store.create_lake_database(&database, if_not_exists)?;
            let schema = ExternalSchema {
                name: name.clone(),
                database: name,
                region: None,
                iam_role: None,
                owner: user,
                created: now(),
            };
            store.create_external_schema(&schema, false, true)?;
        }
        LakeStatement::DropDatabase { name, if_exists } => {
            let lake = session.shared.lake_state()?;
            if lake.database(&name).is_none() {
                return match if_exists {
                    true => Ok(Output::command(tag)),
                    false => Err(Error::Invalid(format!("database \"{name}\" does not exist"))),
                };
            }
            store.drop_lake_database(&name)?;
        }
        LakeStatement::CreateExternalTable(spec) => create_external_table(session, *spec, user).await?,
        LakeStatement::AddPartitions { table, if_not_exists, partitions } => {
            let table = find_table(session, &table)?;
            let partitions =
                partitions.iter().map(|p| new_partition(&table, p)).collect::<Result<Vec<LakePartition>>>()?;
            let added = store.add_partitions(&table, &partitions, if_not_exists)?;
            return Ok(Output::command_with_message(tag, added, format!("{added} partition(s) added.")));
        }
        LakeStatement::DropPartitions { table, if_exists, partitions } => {
            let table = find_table(session, &table)?;
            let values = partitions.iter().map(|p| partition_values(&table, p)).collect::<Result<Vec<_>>>()?;
            let dropped = store.drop_partitions(&table, &values, if_exists)?;
            return Ok(Output::command_with_message(tag, dropped, format!("{dropped} partition(s) dropped.")));
        }
        LakeStatement::SetLocation { table, partition: None, location } => {
            let mut table = find_table(session, &table)?;
            table.location = folder(&location)?;
            store.update_external_table(&table)?;
        }
        LakeStatement::SetLocation { table, partition: Some(spec), location } => {
            let table = find_table(session, &table)?;
            let values = partition_values(&table, &spec)?;
            store.set_partition_location(&table, &values, &folder(&location)?)?;
        }
        LakeStatement::SetProperties { table, properties } => {
            let mut table = find_table(session, &table)?;
            table.properties.extend(properties);
            table.header_lines()?;
            store.update_external_table(&table)?;
        }
        LakeStatement::ShowCreateTable { table } => return show_create_table(session, &table),
        LakeStatement::MsckRepair { table } => {
            let table = find_table(session, &table)?;
            let found = discover_partitions(session, &table).await?;
            let added = store.add_partitions(&table, &found, true)?;
            return Ok(Output::command_with_message(
                tag,
                added,
                format!(
                    "Repair: {added} partition(s) added to the catalog ({} found under {}).",
                    found.len(),
                    table.location
                ),
            ));
        }
    }
    Ok(Output::command(tag))
}

/// The command tag of a statement.
fn command(statement: &LakeStatement) -> &'static str {
    match statement {
        LakeStatement::CreateExternalSchema { .. } => "CREATE EXTERNAL SCHEMA",
        LakeStatement::CreateDatabase { .. } => "CREATE DATABASE",
        LakeStatement::DropDatabase { .. } => "DROP DATABASE",
        LakeStatement::CreateExternalTable(_) => "CREATE EXTERNAL TABLE",
        LakeStatement::AddPartitions { .. }
        | LakeStatement::DropPartitions { .. }
        | LakeStatement::SetLocation { .. }
        | LakeStatement::SetProperties { .. } => "ALTER TABLE",
        LakeStatement::MsckRepair { .. } => "MSCK REPAIR TABLE",
        LakeStatement::ShowCreateTable { .. } => "SHOW CREATE TABLE",
    }
}

fn ensure_no_managed_schema(session: &Session, name: &str) -> Result<()> {
    // Even IF NOT EXISTS fails: the schema that exists is not an external one.
    match session.shared.with_state(|s| s.schema_by_name(name).is_some())? {
        true => Err(Error::Invalid(format!("schema \"{name}\" already exists (a warehouse schema)"))),
        false => Ok(()),
    }
}

/// A location as a folder: trailing `/`, validated.
fn folder(location: &str) -> Result<String> {
    Location::parse(location)?;
    Ok(if location.ends_with('/') { location.to_string() } else { format!("{location}/") })
}

async fn create_external_table(session: &Session, spec: ExternalTableSpec, owner: String) -> Result<()> {
    let name = spec.name.clone().ok_or_else(|| Error::Parse("CREATE EXTERNAL TABLE needs a name".into()))?;
    let (schema, table_name) = session.resolve_name(&name)?;
    let lake = session.shared.lake_state()?;
    let managed = session.shared.with_state(|s| s.schema_by_name(&schema).map(|s| s.id))?;
    if managed.is_none() && lake.schema(&schema).is_none() {
        return Err(Error::Invalid(format!("schema \"{schema}\" does not exist")));
    }
    if let Some(schema_id) = managed
        && session.shared.with_state(|s| s.relation(schema_id, &table_name).is_some())?
    {
        return Err(Error::Invalid(format!("relation \"{schema}.{table_name}\" already exists")));
    }
    let database = database_of(&lake, &schema);
    let location = folder(
        spec.location
            .as_deref()
            .ok_or_else(|| Error::Invalid(format!("CREATE EXTERNAL TABLE {schema}.{table_name} needs a LOCATION")))?,
    )?;
    let mut serde_properties = spec.serde_properties.clone();
    let mut properties = spec.properties.clone();
    if let Some(comment) = &spec.comment {
        properties.insert("comment".into(), comment.clone());
    }
    let serde_class = spec.serde.as_deref().map(str::to_ascii_lowercase).unwrap_or_default();
    let format = match spec.format {
        // Athena's JSON tables: a JSON SerDe over text input.
        Some(LakeFormat::Text) | None if serde_class.contains("json") => LakeFormat::Json,
        Some(format) => format,
        None if serde_class.contains("parquet") => LakeFormat::Parquet,
        None => LakeFormat::Text,
    };
    let serde = match (&spec.serde, spec.csv) {
        (Some(serde), _) => serde.clone(),
        (None, true) => {
            serde_properties.entry("field.delim".into()).or_insert_with(|| ",".into());
            "org.apache.hadoop.hive.serde2.OpenCSVSerde".into()
        }
        (None, false) => format.default_serde().into(),
    };
    // DataFusion's OPTIONS, in Glue's terms.
    if let Some(header) = properties.remove("format.has_header")
        && header.eq_ignore_ascii_case("true")
    {
        properties.insert("skip.header.line.count".into(), "1".into());
    }
    if let Some(delimiter) = properties.remove("format.delimiter") {
        serde_properties.insert("field.delim".into(), delimiter);
    }
    let mut columns = spec.columns.clone();
    let mut partition_keys = Vec::new();
    for (key, data_type) in &spec.partition_keys {
        let data_type = match data_type {
            Some(t) => t.clone(),
            None => match columns.iter().position(|c| &c.name == key) {
                Some(index) => columns.remove(index).data_type,
                None => "string".into(),
            },
        };
        if columns.iter().any(|c| &c.name == key) {
            return Err(Error::Invalid(format!("partition key \"{key}\" is also a column of {schema}.{table_name}")));
        }
        partition_keys.push(LakeColumn { name: key.clone(), data_type, comment: None });
    }
    if columns.is_empty() {
        if format != LakeFormat::Parquet {
            return Err(Error::Invalid(format!(
                "CREATE EXTERNAL TABLE {schema}.{table_name} needs its columns (only Parquet schemas are read from the files)"
            )));
        }
        columns = scan::infer_parquet_columns(session, &Location::parse(&location)?, &partition_keys).await?;
    }
    let table = ExternalTable {
        id: 0,
        database,
        name: table_name,
        location,
        format,
        serde,
        serde_properties,
        columns,
        partition_keys,
        properties,
        owner,
        created: now(),
        updated: now(),
        version: 0,
    };
    table.header_lines()?;
    let store = session.shared.engine.store.clone();
    if lake.database(&table.database).is_none() {
        // External tables of a warehouse schema live in the lake database of its name,
        // created once the table is known to be valid.
        let database = LakeDatabase {
            name: table.database.clone(),
            location: None,
            description: None,
            owner: table.owner.clone(),
            created: now(),
        };
        store.create_lake_database(&database, true)?;
    }
    store.create_external_table(&table, spec.if_not_exists)?;
    Ok(())
}

/// The external table a name refers to.
pub(crate) fn find_table(session: &Session, name: &ObjectName) -> Result<ExternalTable> {
    let (schema, table) = session.resolve_name(name)?;
    let lake = session.shared.lake_state()?;
    if let Some(found) = lake.table(&database_of(&lake, &schema), &table) {
        return Ok(found.clone());
    }
    if session.shared.with_state(|s| s.relation_by_name(&schema, &table).is_some())? {
        return Err(Error::Invalid(format!(
            "\"{schema}.{table}\" is a warehouse table; partitions and locations belong to external tables"
        )));
    }
    Err(Error::Invalid(format!("relation \"{schema}.{table}\" does not exist")))
}

/// The partition's values in key order; every key exactly once.
fn partition_values(table: &ExternalTable, spec: &PartitionSpec) -> Result<Vec<String>> {
    let qualified = format!("{}.{}", table.database, table.name);
    if table.partition_keys.is_empty() {
        return Err(Error::Invalid(format!("table {qualified} is not partitioned")));
    }
    for (key, _) in &spec.values {
        if !table.partition_keys.iter().any(|k| &k.name == key) {
            return Err(Error::Invalid(format!("\"{key}\" is not a partition key of {qualified}")));
        }
    }
    table
        .partition_keys
        .iter()
        .map(|key| {
            let mut given = spec.values.iter().filter(|(k, _)| k == &key.name);
            match (given.next(), given.next()) {
                (Some((_, value)), None) => Ok(value.clone()),
                (None, _) => Err(Error::Invalid(format!("partition key \"{}\" of {qualified} has no value", key.name))),
                (Some(_), Some(_)) => Err(Error::Invalid(format!("partition key \"{}\" given twice", key.name))),
            }
        })
        .collect()
}

fn new_partition(table: &ExternalTable, spec: &PartitionSpec) -> Result<LakePartition> {
    let values = partition_values(table, spec)?;
    for (key, value) in table.partition_keys.iter().zip(&values) {
        scan::partition_value(key, value)?;
    }
    let location = match &spec.location {
        Some(location) => folder(location)?,
        None => format!("{}{}/", table.location, LakePartition::spec(&table.partition_keys, &values)),
    };
    Ok(LakePartition { values, location, properties: BTreeMap::new(), created: now() })
}

/// The `k=v/` folders under a table's location, one level per partition key.
async fn discover_partitions(session: &Session, table: &ExternalTable) -> Result<Vec<LakePartition>> {
    if table.partition_keys.is_empty() {
        return Err(Error::Invalid(format!("table {}.{} is not partitioned", table.database, table.name)));
    }
    let stores = &session.shared.engine.stores;
    let overrides = S3Overrides::default();
    let mut level: Vec<(Location, Vec<String>)> = vec![(Location::parse(&table.location)?, Vec::new())];
    for key in &table.partition_keys {
        let mut next = Vec::new();
        for (location, values) in &level {
            for name in stores.list_level(location, &overrides).await?.folders {
                if let Some(value) = name.strip_prefix(&format!("{}=", key.name)) {
                    let value = unescape_path_value(value);
                    if scan::partition_value(key, &value).is_ok() {
                        let mut values = values.clone();
                        values.push(value);
                        next.push((location.join(&name), values));
                    }
                }
            }
        }
        level = next;
    }
    Ok(level
        .into_iter()
        .map(|(location, values)| LakePartition {
            values,
            location: format!("{location}/"),
            properties: BTreeMap::new(),
            created: now(),
        })
        .collect())
}

/// Hive escapes special characters of partition values in paths as `%XX`.
fn unescape_path_value(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = value.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `DROP TABLE` / `DROP SCHEMA` of lake objects (never their files); `None` when the names
/// are warehouse objects.
pub(crate) fn drop_lake_objects(
    session: &Session,
    object_type: ObjectType,
    if_exists: bool,
    names: &[ObjectName],
) -> Result<Option<Output>> {
    let lake = session.shared.lake_state()?;
    let store = session.shared.engine.store.clone();
    match object_type {
        ObjectType::Table => {
            let mut found = Vec::new();
            for name in names {
                let (schema, table) = session.resolve_name(name)?;
                let database = database_of(&lake, &schema);
                match lake.table(&database, &table) {
                    Some(t) => found.push((t.database.clone(), t.name.clone())),
                    None if lake.schema(&schema).is_some() && if_exists => {}
                    None if lake.schema(&schema).is_some() => {
                        return Err(Error::Invalid(format!("table \"{schema}.{table}\" does not exist")));
                    }
                    None => return Ok(None),
                }
            }
            if session.in_transaction() {
                return Err(Error::Invalid(
                    "DROP TABLE of an external table cannot run inside a transaction block".into(),
                ));
            }
            for (database, table) in found {
                store.drop_external_table(&database, &table)?;
            }
            Ok(Some(Output::command("DROP TABLE")))
        }
        ObjectType::Schema => {
            let mut found = Vec::new();
            for name in names {
                let (_, schema) = session.resolve_name(name)?;
                match lake.schema(&schema) {
                    Some(s) => found.push(s.name.clone()),
                    None => return Ok(None),
                }
            }
            if session.in_transaction() {
                return Err(Error::Invalid(
                    "DROP SCHEMA of an external schema cannot run inside a transaction block".into(),
                ));
            }
            for schema in found {
                store.drop_external_schema(&schema)?;
            }
            Ok(Some(Output::command("DROP SCHEMA")))
        }
        _ => Ok(None),
    }
}

/// `SHOW CREATE TABLE`: the DDL of an external table (as Athena prints it) or a warehouse table.
fn show_create_table(session: &Session, name: &ObjectName) -> Result<Output> {
    let (schema, table) = session.resolve_name(name)?;
    let managed = session.shared.with_state(|s| match s.relation_by_name(&schema, &table) {
        Some(tarn_catalog::Relation::Table(t)) => Some(t.clone()),
        _ => None,
    })?;
    let ddl = match managed {
        Some(t) => {
            let columns: Vec<String> = t
                .columns
                .iter()
                .map(|c| format!("  {} {}{}", c.name, c.sql_type, if c.nullable { "" } else { " NOT NULL" }))
                .collect();
            let mut ddl = format!("CREATE TABLE {schema}.{table} (\n{}\n)", columns.join(",\n"));
            if let Some(key) = &t.sort_key {
                let style = if key.interleaved { "INTERLEAVED" } else { "COMPOUND" };
                ddl.push_str(&format!("\n{style} SORTKEY ({})", key.columns.join(", ")));
            }
            ddl
        }
        None => external_ddl(&find_table(session, name)?, &schema),
    };
    Ok(Output::Rows(crate::session::RowStream::table(&["createtab_stmt"], vec![vec![ddl]])?))
}

/// The DDL of an external table, in Hive's spelling, under `schema`.
pub(crate) fn external_ddl(table: &ExternalTable, schema: &str) -> String {
    let list = |columns: &[LakeColumn]| -> String {
        columns.iter().map(|c| format!("  {} {}", c.name, c.data_type)).collect::<Vec<_>>().join(",\n")
    };
    let quoted = |map: &BTreeMap<String, String>| -> String {
        map.iter().map(|(k, v)| format!("'{k}'='{}'", v.escape_default())).collect::<Vec<_>>().join(", ")
    };
    let mut ddl = format!("CREATE EXTERNAL TABLE {schema}.{} (\n{}\n)", table.name, list(&table.columns));
    if !table.partition_keys.is_empty() {
        ddl.push_str(&format!("\nPARTITIONED BY (\n{}\n)", list(&table.partition_keys)));
    }
    ddl.push_str(&format!("\nROW FORMAT SERDE '{}'", table.serde));
    if !table.serde_properties.is_empty() {
        ddl.push_str(&format!("\nWITH SERDEPROPERTIES ({})", quoted(&table.serde_properties)));
    }
    ddl.push_str(&format!(
        "\nSTORED AS INPUTFORMAT '{}' OUTPUTFORMAT '{}'\nLOCATION '{}'",
        table.format.input_format(),
        table.format.output_format(),
        table.location
    ));
    if !table.properties.is_empty() {
        ddl.push_str(&format!("\nTBLPROPERTIES ({})", quoted(&table.properties)));
    }
    ddl
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hive_path_escapes_are_undone() {
        assert_eq!(unescape_path_value("2008-01-01"), "2008-01-01");
        assert_eq!(unescape_path_value("a%2Fb%3A"), "a/b:");
        assert_eq!(unescape_path_value("100%"), "100%");
    }
}
