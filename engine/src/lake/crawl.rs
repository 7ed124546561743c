//! The crawler: infers the format, schema and `k=v` partitions of the data under a location,
//! shows what it would create or change, and registers it in the lake catalog. Re-running it
//! adds new partitions and reports schema changes instead of rewriting the table.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};

use tarn_catalog::{ExternalSchema, ExternalTable, LakeColumn, LakeDatabase, LakeFormat, LakePartition, now};

use super::scan;
use crate::error::{Error, Result};
use crate::session::Session;
use crate::storage::{Location, ObjectInfo, S3Overrides};

/// Lines sampled from a text file to infer column types.
const SAMPLE_LINES: usize = 200;

/// What to crawl.
#[derive(Debug, Clone)]
pub struct CrawlRequest {
    /// A folder (local path or `s3://bucket/prefix/`).
    pub location: String,
    /// The lake database the tables go into (created if missing, queryable as a schema).
    pub database: String,
    /// One table at `location` with this name; else each sub-folder is a table (or, when
    /// the location holds files or `k=v` folders itself, one table named after it).
    pub table: Option<String>,
    /// Show the changes without making them.
    pub dry_run: bool,
}

/// What the crawler found, as diff lines (`+` added, `!` a change it did not make).
#[derive(Debug, Clone, Default)]
pub struct CrawlReport {
    pub changes: Vec<String>,
    /// The changes were made (not a dry run, and there was something to do).
    pub applied: bool,
}

/// A table as found under one folder.
struct Found {
    table: ExternalTable,
    partitions: Vec<LakePartition>,
}

impl Session {
    /// Crawls a location into the lake catalog (see [`CrawlRequest`]).
    pub async fn crawl(&mut self, request: &CrawlRequest) -> Result<CrawlReport> {
        let root = Location::parse(&request.location)?.join("");
        let stores = self.shared.engine.stores.clone();
        let overrides = S3Overrides::default();
        let targets: Vec<(String, Location)> = match &request.table {
            Some(name) => vec![(name.to_lowercase(), root.clone())],
            None => {
                let level = stores.list_level(&root, &overrides).await?;
                if level.folders.is_empty() || level.has_files || level.folders.iter().any(|f| f.contains('=')) {
                    vec![(table_name(root.file_name()), root.clone())]
                } else {
                    level.folders.iter().map(|f| (table_name(f), root.join(f).join(""))).collect()
                }
            }
        };
        let lake = self.shared.lake_state()?;
        let mut report = CrawlReport::default();
        let mut plan = Vec::new();
        for (name, location) in targets {
            let objects = stores.list_lake_files(&location, &overrides).await?;
            if objects.is_empty() {
                report.changes.push(format!("  {location}: no files, nothing to register"));
                continue;
            }
            let found = self.infer_table(&request.database, &name, &location, &objects).await?;
            let existing = lake.table(&request.database, &name);
            let known: BTreeSet<Vec<String>> = match existing {
                Some(t) if !t.partition_keys.is_empty() => self
                    .shared
                    .engine
                    .lake
                    .partitions(self.shared.engine.store.as_ref(), t)?
                    .iter()
                    .map(|p| p.values.clone())
                    .collect(),
                _ => BTreeSet::new(),
            };
            match existing {
                // What SHOW CREATE TABLE will print, as added lines.
                None => report.changes.extend(
                    super::ddl::external_ddl(&found.table, &request.database).lines().map(|line| format!("+ {line}")),
                ),
                Some(existing) => report.changes.extend(schema_changes(existing, &found.table)),
            }
            let new: Vec<LakePartition> = found.partitions.into_iter().filter(|p| !known.contains(&p.values)).collect();
            for partition in &new {
                let spec = LakePartition::spec(&found.table.partition_keys, &partition.values);
                report.changes.push(format!(
                    "+ ALTER TABLE {}.{} ADD PARTITION ({}) LOCATION '{}'",
                    request.database, name, spec, partition.location
                ));
            }
            plan.push((existing.cloned().unwrap_or(found.table), existing.is_none(), new));
        }
        let nothing = plan.iter().all(|(_, create, new)| !create && new.is_empty());
        if request.dry_run || nothing {
            if nothing {
                report.changes.push("  no new tables or partitions".to_string());
            }
            return Ok(report);
        }
        let store = self.shared.engine.store.clone();
        let user = self.user().to_string();
        let database = LakeDatabase {
            name: request.database.clone(),
            location: Some(root.to_string()),
            description: Some("created by tarn crawl".into()),
            owner: user.clone(),
            created: now(),
        };
        store.create_lake_database(&database, true)?;
        let schema_taken = lake.schema(&request.database).is_some()
            || self.shared.with_state(|s| s.schema_by_name(&request.database).is_some())?;
        if !schema_taken {
            let schema = ExternalSchema {
                name: request.database.clone(),
                database: request.database.clone(),
                region: None,
                iam_role: None,
                owner: user,
                created: now(),
            };
            store.create_external_schema(&schema, false, true)?;
        }
        for (table, create, partitions) in plan {
            if create {
                store.create_external_table(&table, true)?;
            }
            if !partitions.is_empty() {
                let table = self
                    .shared
                    .lake_state()?
                    .table(&table.database, &table.name)
                    .cloned()
                    .ok_or_else(|| Error::Invalid(format!("table {}.{} vanished", table.database, table.name)))?;
                store.add_partitions(&table, &partitions, true)?;
            }
        }
        report.applied = true;
        Ok(report)
    }

    async fn infer_table(
        &mut self,
        database: &str,
        name: &str,
        location: &Location,
        objects: &[ObjectInfo],
    ) -> Result<Found> {
        let prefix = location.to_string();
        let first = &objects[0];
        // The schema comes from the newest data (the last file by key, in the last partition),
        // so that a re-crawl sees what new files added.
        let newest = objects.last().unwrap_or(first);
        // Partition keys from the first file's folders below the table's location.
        let relative = |o: &ObjectInfo| o.location.to_string()[prefix.len()..].to_string();
        let first_relative = relative(first);
        let keys: Vec<String> = first_relative
            .split('/')
            .rev()
            .skip(1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .filter_map(|segment| segment.split_once('=').map(|(k, _)| k.to_lowercase()))
            .collect();
        let mut partitions = BTreeMap::new();
        for object in objects {
            let path = relative(object);
            let segments: Vec<&str> = path.split('/').collect();
            let folders = &segments[..segments.len() - 1];
            let values: Vec<(String, String)> = folders
                .iter()
                .filter_map(|s| s.split_once('='))
                .map(|(k, v)| (k.to_lowercase(), v.to_string()))
                .collect();
            if values.iter().map(|(k, _)| k).ne(keys.iter()) {
                return Err(Error::Invalid(format!(
                    "{} does not follow the partition layout {} of {}",
                    object.location,
                    keys.iter().map(|k| format!("{k}=.../")).collect::<String>(),
                    location
                )));
            }
            let folder = folders.join("/");
            partitions
                .entry(values.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>())
                .or_insert_with(|| if folder.is_empty() { prefix.clone() } else { format!("{prefix}{folder}/") });
        }
        let extension = data_extension(first.location.file_name());
        let (format, serde, serde_properties, mut properties) = match extension.as_str() {
            "parquet" | "parq" => {
                (LakeFormat::Parquet, LakeFormat::Parquet.default_serde().to_string(), BTreeMap::new(), BTreeMap::new())
            }
            "json" | "jsonl" | "ndjson" => {
                (LakeFormat::Json, LakeFormat::Json.default_serde().to_string(), BTreeMap::new(), BTreeMap::new())
            }
            "csv" | "tsv" | "txt" | "tbl" | "psv" | "" => {
                (LakeFormat::Text, String::new(), BTreeMap::new(), BTreeMap::new())
            }
            other => {
                return Err(Error::Unsupported(format!(
                    "crawling .{other} files ({}); tarn reads Parquet, CSV/TSV/text and JSON lines",
                    first.location
                )));
            }
        };
        let partition_keys: Vec<LakeColumn> =
            keys.iter().map(|k| LakeColumn { name: k.clone(), data_type: "string".into(), comment: None }).collect();
        let mut table = ExternalTable {
            id: 0,
            database: database.to_string(),
            name: name.to_string(),
            location: prefix.clone(),
            format,
            serde,
            serde_properties,
            columns: Vec::new(),
            partition_keys: partition_keys.clone(),
            properties: BTreeMap::new(),
            owner: self.user().to_string(),
            created: now(),
            updated: now(),
            version: 0,
        };
        match format {
            LakeFormat::Parquet => {
                table.columns = scan::infer_parquet_columns(self, &newest.location.clone(), &partition_keys).await?;
            }
            LakeFormat::Json => table.columns = self.sample_json(&newest.location).await?,
            LakeFormat::Text => {
                let (delimiter, header, columns) = self.sample_text(&newest.location).await?;
                table.serde = if delimiter == ',' {
                    "org.apache.hadoop.hive.serde2.OpenCSVSerde".into()
                } else {
                    LakeFormat::Text.default_serde().into()
                };
                table.serde_properties.insert("field.delim".into(), delimiter.to_string());
                if header {
                    properties.insert("skip.header.line.count".into(), "1".into());
                }
                table.columns = columns;
            }
        }
        properties.insert("classification".into(), extension_class(format, &table.serde));
        properties.insert("crawled".into(), now());
        table.properties = properties;
        // An unpartitioned table has no partitions, only its location.
        let partitions = partitions
            .into_iter()
            .filter(|_| !keys.is_empty())
            .map(|(values, location)| LakePartition { values, location, properties: BTreeMap::new(), created: now() })
            .collect();
        Ok(Found { table, partitions })
    }

    /// The first lines of a (possibly compressed) object.
    async fn sample_lines(&self, location: &Location) -> Result<Vec<String>> {
        let stores = self.shared.engine.stores.clone();
        let location = location.clone();
        let name = location.to_string();
        // Blocking reads, off the async threads (on any runtime flavour).
        let read = tokio::task::spawn_blocking(move || {
            let input =
                crate::copy::decompressing(stores.open_blocking(&location, &S3Overrides::default())?, &location, None)?;
            BufReader::new(input)
                .lines()
                .take(SAMPLE_LINES)
                .filter(|l| !l.as_ref().is_ok_and(|l| l.trim().is_empty()))
                .collect::<std::io::Result<Vec<_>>>()
                .map_err(|e| Error::Io { context: format!("reading {location}"), source: e })
        });
        read.await.map_err(|e| Error::Invalid(format!("sampling {name} failed: {e}")))?
    }

    /// Delimiter, header line, and columns of a delimited text file.
    async fn sample_text(&self, location: &Location) -> Result<(char, bool, Vec<LakeColumn>)> {
        let lines = self.sample_lines(location).await?;
        let Some(first) = lines.first() else {
            return Err(Error::Invalid(format!("{location} is empty: no schema to infer")));
        };
        let delimiter = ['\t', '|', ',', ';']
            .into_iter()
            .max_by_key(|d| first.matches(*d).count())
            .filter(|d| first.contains(*d))
            .unwrap_or(',');
        let split = |line: &str| -> Vec<String> {
            line.split(delimiter).map(|f| f.trim().trim_matches('"').to_string()).collect()
        };
        let rows: Vec<Vec<String>> = lines.iter().map(|l| split(l)).collect();
        let width = rows[0].len();
        let header = rows[0].iter().all(|f| {
            !f.is_empty()
                && f.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
                && infer_type(f) == "string"
        }) && rows.len() > 1
            && (0..width).any(|i| rows[1..].iter().any(|r| r.get(i).is_some_and(|v| infer_type(v) != "string")));
        let data = if header { &rows[1..] } else { &rows[..] };
        let columns = (0..width)
            .map(|i| {
                let name = if header { rows[0][i].to_lowercase().replace(' ', "_") } else { format!("col{}", i + 1) };
                let types: BTreeSet<&str> = data
                    .iter()
                    .filter_map(|r| r.get(i))
                    .filter(|v| !v.is_empty() && v.as_str() != "\\N")
                    .map(|v| infer_type(v))
                    .collect();
                let data_type = match types.len() {
                    0 => "string",
                    1 => types.into_iter().next().unwrap_or("string"),
                    _ if types.iter().all(|t| *t == "bigint" || *t == "double") => "double",
                    _ => "string",
                };
                LakeColumn { name, data_type: data_type.into(), comment: None }
            })
            .collect();
        Ok((delimiter, header, columns))
    }

    /// Columns of a JSON-lines file, from the keys of its first records.
    async fn sample_json(&self, location: &Location) -> Result<Vec<LakeColumn>> {
        let mut columns: Vec<LakeColumn> = Vec::new();
        for line in self.sample_lines(location).await? {
            let value: serde_json::Value = serde_json::from_str(&line)
                .map_err(|e| Error::Invalid(format!("{location} is not JSON lines: {e}")))?;
            let Some(object) = value.as_object() else { continue };
            for (key, value) in object {
                let data_type = match value {
                    serde_json::Value::Bool(_) => "boolean",
                    serde_json::Value::Number(n) if n.is_i64() => "bigint",
                    serde_json::Value::Number(_) => "double",
                    serde_json::Value::String(s) => infer_type(s),
                    _ => "string",
                };
                if !columns.iter().any(|c| c.name == key.to_lowercase()) {
                    columns.push(LakeColumn { name: key.to_lowercase(), data_type: data_type.into(), comment: None });
                }
            }
        }
        Ok(columns)
    }
}

/// The narrowest type a text value fits.
fn infer_type(value: &str) -> &'static str {
    if value.parse::<i64>().is_ok() {
        "bigint"
    } else if value.parse::<f64>().is_ok() {
        "double"
    } else if chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok() {
        "date"
    } else if chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S%.f").is_ok()
        || chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
    {
        "timestamp"
    } else {
        "string"
    }
}

/// The data extension of a file name, past compression extensions.
fn data_extension(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let stripped =
        ["gz", "zst", "bz2", "snappy"].iter().find_map(|c| lower.strip_suffix(&format!(".{c}"))).unwrap_or(&lower);
    stripped.rsplit_once('.').map(|(_, e)| e.to_string()).unwrap_or_default()
}

fn extension_class(format: LakeFormat, serde: &str) -> String {
    match format {
        LakeFormat::Parquet => "parquet".into(),
        LakeFormat::Json => "json".into(),
        LakeFormat::Text if serde.contains("OpenCSV") => "csv".into(),
        LakeFormat::Text => "text".into(),
    }
}

/// A table name from a folder name: lower case, `[a-z0-9_]`.
fn table_name(folder: &str) -> String {
    let name: String =
        folder.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if name.is_empty() { "crawled".into() } else { name }
}

/// Differences between a registered table and what the files say now; never applied.
fn schema_changes(existing: &ExternalTable, found: &ExternalTable) -> Vec<String> {
    let qualified = format!("{}.{}", existing.database, existing.name);
    let mut changes = Vec::new();
    for column in &found.columns {
        match existing.columns.iter().find(|c| c.name == column.name) {
            None => changes.push(format!(
                "! {qualified}: new column {} {} in the files (not applied; recreate the table to add it)",
                column.name, column.data_type
            )),
            Some(c) if c.data_type != column.data_type => changes.push(format!(
                "! {qualified}: column {} is {} in the catalog, {} in the files (not applied)",
                column.name, c.data_type, column.data_type
            )),
            Some(_) => {}
        }
    }
    for column in &existing.columns {
        if !found.columns.iter().any(|c| c.name == column.name) {
            changes.push(format!("! {qualified}: column {} is no longer in the files (not applied)", column.name));
        }
    }
    if existing.format != found.format {
        changes.push(format!(
            "! {qualified}: files are {} now, the catalog says {} (not applied)",
            found.format.stored_as(),
            existing.format.stored_as()
        ));
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_get_the_narrowest_type() {
        assert_eq!(infer_type("42"), "bigint");
        assert_eq!(infer_type("4.5"), "double");
        assert_eq!(infer_type("2024-01-02"), "date");
        assert_eq!(infer_type("2024-01-02 10:00:00"), "timestamp");
        assert_eq!(infer_type("Google"), "string");
        assert_eq!(data_extension("part-0.csv.gz"), "csv");
        assert_eq!(data_extension("x.parquet"), "parquet");
        assert_eq!(table_name("Sales-2024"), "sales_2024");
    }
}
