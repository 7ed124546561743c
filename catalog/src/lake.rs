//! The lake catalog, on Glue's model: databases, external schemas (Redshift's mapping of a
//! local schema name to a database), external tables with their storage descriptor and a
//! version history, and partitions.
//!
//! Unlike managed tables, lake objects are not versioned by warehouse snapshots: as with Glue,
//! each change applies at once (Redshift refuses external DDL inside a transaction block).
//! Every ALTER archives the previous definition, as Glue's UpdateTable does.

use std::collections::BTreeMap;

use arrow_schema::{DataType, Field, Fields, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::types::SqlType;
use crate::{Error, Result};

/// A Glue database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LakeDatabase {
    pub name: String,
    pub location: Option<String>,
    pub description: Option<String>,
    pub owner: String,
    pub created: String,
}

/// A local schema name bound to a lake database (`CREATE EXTERNAL SCHEMA`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternalSchema {
    pub name: String,
    pub database: String,
    /// Region of the data, overriding the environment's (the DDL's `REGION`).
    pub region: Option<String>,
    /// Recorded as given; credentials resolve through the standard AWS chain.
    pub iam_role: Option<String>,
    pub owner: String,
    pub created: String,
}

/// How an external table's files are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LakeFormat {
    Parquet,
    /// Delimited text (Hive TEXTFILE, CSV); compression by file extension.
    Text,
    /// JSON lines.
    Json,
}

impl LakeFormat {
    /// Hive's input format class, as Glue and `svv_external_tables` show it.
    pub fn input_format(self) -> &'static str {
        match self {
            LakeFormat::Parquet => "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            LakeFormat::Text | LakeFormat::Json => "org.apache.hadoop.mapred.TextInputFormat",
        }
    }

    pub fn output_format(self) -> &'static str {
        match self {
            LakeFormat::Parquet => "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            LakeFormat::Text | LakeFormat::Json => "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        }
    }

    /// The SerDe a table of this format uses unless it names one.
    pub fn default_serde(self) -> &'static str {
        match self {
            LakeFormat::Parquet => "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
            LakeFormat::Text => "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
            LakeFormat::Json => "org.openx.data.jsonserde.JsonSerDe",
        }
    }

    /// `STORED AS` spelling.
    pub fn stored_as(self) -> &'static str {
        match self {
            LakeFormat::Parquet => "PARQUET",
            LakeFormat::Text => "TEXTFILE",
            LakeFormat::Json => "JSON",
        }
    }
}

/// A column of an external table; `data_type` is its Hive/Redshift spelling, normalized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LakeColumn {
    pub name: String,
    pub data_type: String,
    pub comment: Option<String>,
}

impl LakeColumn {
    pub fn arrow_type(&self) -> Result<DataType> {
        lake_type_to_arrow(&self.data_type)
    }
}

/// An external table: Glue's Table with its StorageDescriptor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternalTable {
    /// Stable id (unique among external tables).
    pub id: i64,
    pub database: String,
    pub name: String,
    pub location: String,
    pub format: LakeFormat,
    pub serde: String,
    pub serde_properties: BTreeMap<String, String>,
    pub columns: Vec<LakeColumn>,
    pub partition_keys: Vec<LakeColumn>,
    pub properties: BTreeMap<String, String>,
    pub owner: String,
    pub created: String,
    pub updated: String,
    /// 1 for a new table; every update archives the definition and adds one.
    pub version: i64,
}

impl ExternalTable {
    /// Data columns, then partition keys, as queries see them.
    pub fn arrow_fields(&self) -> Result<Vec<Field>> {
        self.columns
            .iter()
            .chain(&self.partition_keys)
            .map(|c| Ok(Field::new(&c.name, c.arrow_type()?, true)))
            .collect()
    }

    /// Field delimiter of a text table: SerDe `field.delim` (`separatorChar` for OpenCSVSerde),
    /// else Hive's default `\x01` (`,` for OpenCSVSerde).
    pub fn field_delimiter(&self) -> String {
        self.serde_properties
            .get("field.delim")
            .or_else(|| self.serde_properties.get("separatorChar"))
            .cloned()
            .unwrap_or_else(|| if self.serde.contains("OpenCSVSerde") { ",".into() } else { "\u{1}".into() })
    }

    /// Lines to skip at the start of each text file (`skip.header.line.count`).
    pub fn header_lines(&self) -> Result<u64> {
        match self.properties.get("skip.header.line.count") {
            None => Ok(0),
            Some(n) => n.trim().parse().map_err(|_| {
                Error::InvalidType(format!("table property 'skip.header.line.count' must be a number, not '{n}'"))
            }),
        }
    }

    /// The text that stands for NULL in text files (`serialization.null.format`, Hive's `\N`).
    pub fn null_format(&self) -> String {
        self.properties
            .get("serialization.null.format")
            .or_else(|| self.serde_properties.get("serialization.null.format"))
            .cloned()
            .unwrap_or_else(|| "\\N".into())
    }
}

/// A partition: one value per partition key, and where its files are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LakePartition {
    pub values: Vec<String>,
    pub location: String,
    pub properties: BTreeMap<String, String>,
    pub created: String,
}

impl LakePartition {
    /// `k1=v1/k2=v2`: the partition's identity, and Hive's folder layout.
    pub fn spec(keys: &[LakeColumn], values: &[String]) -> String {
        keys.iter().zip(values).map(|(k, v)| format!("{}={v}", k.name)).collect::<Vec<_>>().join("/")
    }
}

/// Statistics `ANALYZE` recorded for one file of an external table, valid while the file is
/// the one they were computed from: same size, modification time and ETag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LakeFileStats {
    /// The file's full location (`s3://bucket/key` or an absolute local path).
    pub location: String,
    pub size: u64,
    /// RFC 3339.
    pub modified: Option<String>,
    pub e_tag: Option<String>,
    pub rows: u64,
    pub stats: crate::FileStats,
}

/// An archived definition of an external table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableVersion {
    pub version: i64,
    pub archived: String,
    pub table: ExternalTable,
}

/// Everything in the lake catalog but partitions, as of one version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LakeState {
    /// Bumped by every change; cheap to compare.
    pub version: i64,
    pub databases: Vec<LakeDatabase>,
    pub schemas: Vec<ExternalSchema>,
    pub tables: Vec<ExternalTable>,
}

impl LakeState {
    pub fn schema(&self, name: &str) -> Option<&ExternalSchema> {
        self.schemas.iter().find(|s| s.name == name)
    }

    pub fn database(&self, name: &str) -> Option<&LakeDatabase> {
        self.databases.iter().find(|d| d.name == name)
    }

    pub fn table(&self, database: &str, name: &str) -> Option<&ExternalTable> {
        self.tables.iter().find(|t| t.database == database && t.name == name)
    }

    pub fn tables_in<'a>(&'a self, database: &'a str) -> impl Iterator<Item = &'a ExternalTable> + 'a {
        self.tables.iter().filter(move |t| t.database == database)
    }
}

/// The lake half of the catalog store.
pub trait LakeCatalog: Send + Sync {
    /// The current lake state (databases, external schemas, tables).
    fn lake_state(&self) -> Result<LakeState>;

    /// The lake state's version, without loading it.
    fn lake_version(&self) -> Result<i64>;

    /// Creates a database; false if it existed and `if_not_exists`.
    fn create_lake_database(&self, database: &LakeDatabase, if_not_exists: bool) -> Result<bool>;

    /// Drops a database with the schemas bound to it, its tables and partitions (never their
    /// files), in one change.
    fn drop_lake_database(&self, name: &str) -> Result<()>;

    /// Binds a schema name to a database, creating the database if `create_database`.
    fn create_external_schema(
        &self,
        schema: &ExternalSchema,
        create_database: bool,
        if_not_exists: bool,
    ) -> Result<bool>;

    fn drop_external_schema(&self, name: &str) -> Result<()>;

    /// Creates a table (its `id` and `version` are assigned); false if it existed and
    /// `if_not_exists`.
    fn create_external_table(&self, table: &ExternalTable, if_not_exists: bool) -> Result<bool>;

    /// Replaces a table's definition, archiving the previous one.
    fn update_external_table(&self, table: &ExternalTable) -> Result<()>;

    /// Drops a table and its partitions (never its files).
    fn drop_external_table(&self, database: &str, name: &str) -> Result<()>;

    /// Archived definitions of a table, oldest first.
    fn table_versions(&self, table_id: i64) -> Result<Vec<TableVersion>>;

    /// A table's partitions, by spec.
    fn partitions(&self, table_id: i64) -> Result<Vec<LakePartition>>;

    /// Adds partitions (`if_not_exists`: skip existing ones, else fail); returns how many
    /// were added.
    fn add_partitions(&self, table: &ExternalTable, partitions: &[LakePartition], if_not_exists: bool) -> Result<u64>;

    /// Moves one partition to `location`, keeping its values and properties.
    fn set_partition_location(&self, table: &ExternalTable, values: &[String], location: &str) -> Result<()>;

    /// Drops partitions by values (`if_exists`: skip missing ones); returns how many went.
    fn drop_partitions(&self, table: &ExternalTable, values: &[Vec<String>], if_exists: bool) -> Result<u64>;

    /// The file statistics `ANALYZE` recorded for a table.
    fn lake_file_stats(&self, table_id: i64) -> Result<Vec<LakeFileStats>>;

    /// Replaces the file statistics of a table with `files`.
    fn record_lake_file_stats(&self, table_id: i64, files: &[LakeFileStats]) -> Result<()>;
}

/// Arrow type of a Hive or Redshift column type: `string`, `int`, `bigint`, `double`,
/// `decimal(p,s)`, `date`, `timestamp`, `boolean`, `binary`, `array<T>`, `struct<a:T,...>`,
/// `map<K,V>`, and every Redshift type tarn knows.
pub fn lake_type_to_arrow(declared: &str) -> Result<DataType> {
    let text = declared.trim().to_ascii_lowercase();
    let bad = || Error::InvalidType(format!("unknown column type \"{declared}\""));
    if let Some(inner) = generic_args(&text, "array") {
        return Ok(DataType::List(std::sync::Arc::new(Field::new("item", lake_type_to_arrow(inner)?, true))));
    }
    if let Some(inner) = generic_args(&text, "struct") {
        let mut fields = Vec::new();
        for member in split_top_level(inner) {
            let (name, ty) = member.split_once(':').or_else(|| member.trim().split_once(' ')).ok_or_else(bad)?;
            fields.push(Field::new(name.trim(), lake_type_to_arrow(ty)?, true));
        }
        return Ok(DataType::Struct(Fields::from(fields)));
    }
    if let Some(inner) = generic_args(&text, "map") {
        let parts = split_top_level(inner);
        let [key, value] = parts.as_slice() else { return Err(bad()) };
        let entries = Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("key", lake_type_to_arrow(key)?, false),
                Field::new("value", lake_type_to_arrow(value)?, true),
            ])),
            false,
        );
        return Ok(DataType::Map(std::sync::Arc::new(entries), false));
    }
    Ok(match text.as_str() {
        "string" => DataType::Utf8,
        "tinyint" => DataType::Int8,
        "int" => DataType::Int32,
        "float" => DataType::Float32,
        "double" => DataType::Float64,
        "binary" => DataType::Binary,
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, None),
        _ => SqlType::parse(&text).map_err(|_| bad())?.to_arrow(),
    })
}

/// The Hive spelling of an Arrow type (for schemas read from Parquet files).
pub fn arrow_to_lake_type(data_type: &DataType) -> Result<String> {
    Ok(match data_type {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "int".into(),
        DataType::Int64 | DataType::UInt32 => "bigint".into(),
        DataType::UInt64 => "decimal(20,0)".into(),
        DataType::Float16 | DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s) => {
            format!("decimal({p},{s})")
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
            "binary".into()
        }
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(..) => "timestamp".into(),
        DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
            format!("array<{}>", arrow_to_lake_type(item.data_type())?)
        }
        DataType::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|f| Ok(format!("{}:{}", f.name(), arrow_to_lake_type(f.data_type())?)))
                .collect::<Result<Vec<_>>>()?
                .join(",")
        ),
        DataType::Dictionary(_, value) => arrow_to_lake_type(value)?,
        other => return Err(Error::Unsupported(format!("columns of type {other} in lake tables"))),
    })
}

/// `inner` of `name<inner>`.
fn generic_args<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.strip_prefix(name)?.trim_start().strip_prefix('<')?.strip_suffix('>')
}

/// Splits on commas outside `<>` and `()`.
fn split_top_level(text: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0i32, 0, Vec::new());
    for (i, c) in text.char_indices() {
        match c {
            '<' | '(' => depth += 1,
            '>' | ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(text[start..].trim());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hive_and_redshift_types_map_to_arrow() {
        assert_eq!(lake_type_to_arrow("string").unwrap(), DataType::Utf8);
        assert_eq!(lake_type_to_arrow("INT").unwrap(), DataType::Int32);
        assert_eq!(lake_type_to_arrow("smallint").unwrap(), DataType::Int16);
        assert_eq!(lake_type_to_arrow("decimal(8,2)").unwrap(), DataType::Decimal128(8, 2));
        assert_eq!(lake_type_to_arrow("timestamp").unwrap(), DataType::Timestamp(TimeUnit::Microsecond, None));
        assert_eq!(lake_type_to_arrow("varchar(20)").unwrap(), DataType::Utf8);
        assert!(matches!(lake_type_to_arrow("array<int>").unwrap(), DataType::List(_)));
        let DataType::Struct(fields) = lake_type_to_arrow("struct<a:int,b:array<string>>").unwrap() else {
            panic!("a struct")
        };
        assert_eq!(fields.len(), 2);
        assert!(matches!(lake_type_to_arrow("map<string,int>").unwrap(), DataType::Map(..)));
        assert!(lake_type_to_arrow("blob").is_err());
    }
}
