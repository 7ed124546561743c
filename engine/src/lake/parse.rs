//! Parsing of the lake's DDL, on sqlparser's token stream (never a forked grammar):
//! Redshift Spectrum's `CREATE EXTERNAL SCHEMA`, Hive/Athena/Spectrum `CREATE EXTERNAL TABLE`
//! (and DataFusion's own spelling of it), Athena's `CREATE DATABASE`, `ALTER TABLE` partition
//! and property changes, and `MSCK REPAIR TABLE`.

use std::collections::BTreeMap;

use datafusion::sql::parser::DFParser;
use datafusion::sql::sqlparser::ast::ObjectName;
use datafusion::sql::sqlparser::tokenizer::Token;
use tarn_catalog::{LakeColumn, LakeFormat};

use crate::error::{Error, Result};

/// A lake DDL statement.
#[derive(Debug, Clone, PartialEq)]
pub enum LakeStatement {
    /// `CREATE EXTERNAL SCHEMA [IF NOT EXISTS] s FROM DATA CATALOG DATABASE 'db' [IAM_ROLE ...]
    /// [REGION '...'] [CREATE EXTERNAL DATABASE IF NOT EXISTS]`.
    CreateExternalSchema {
        name: String,
        database: String,
        iam_role: Option<String>,
        region: Option<String>,
        create_database: bool,
        if_not_exists: bool,
    },
    /// Athena's `CREATE DATABASE|SCHEMA [IF NOT EXISTS] db [COMMENT '...'] [LOCATION '...']`:
    /// a lake database, queryable as schema `db`.
    CreateDatabase {
        name: String,
        location: Option<String>,
        comment: Option<String>,
        if_not_exists: bool,
    },
    /// `DROP DATABASE [IF EXISTS] db`: the database and its tables, never their files.
    DropDatabase {
        name: String,
        if_exists: bool,
    },
    CreateExternalTable(Box<ExternalTableSpec>),
    /// `ALTER TABLE t ADD [IF NOT EXISTS] PARTITION (k='v', ...) [LOCATION '...'] ...`.
    AddPartitions {
        table: ObjectName,
        if_not_exists: bool,
        partitions: Vec<PartitionSpec>,
    },
    /// `ALTER TABLE t DROP [IF EXISTS] PARTITION (k='v', ...) [, PARTITION (...)]`.
    DropPartitions {
        table: ObjectName,
        if_exists: bool,
        partitions: Vec<PartitionSpec>,
    },
    /// `ALTER TABLE t SET LOCATION '...'` (or, with a partition, that partition's location).
    SetLocation {
        table: ObjectName,
        partition: Option<PartitionSpec>,
        location: String,
    },
    /// `ALTER TABLE t SET TABLE PROPERTIES | TBLPROPERTIES (...)`.
    SetProperties {
        table: ObjectName,
        properties: BTreeMap<String, String>,
    },
    /// `MSCK REPAIR TABLE t`: registers the `k=v/` folders under the table's location.
    MsckRepair {
        table: ObjectName,
    },
    /// `SHOW CREATE TABLE t`: the DDL of an external or warehouse table.
    ShowCreateTable {
        table: ObjectName,
    },
}

impl LakeStatement {
    /// The schema whose tables the statement changes (for the privilege check: its owner may).
    pub(crate) fn external_schema(&self, default_schema: &str) -> Option<String> {
        let schema_of =
            |name: &ObjectName| crate::ddl::resolve_name_in(default_schema, name).ok().map(|(schema, _)| schema);
        match self {
            LakeStatement::CreateExternalTable(spec) => spec.name.as_ref().and_then(schema_of),
            LakeStatement::AddPartitions { table, .. }
            | LakeStatement::DropPartitions { table, .. }
            | LakeStatement::SetLocation { table, .. }
            | LakeStatement::SetProperties { table, .. }
            | LakeStatement::MsckRepair { table } => schema_of(table),
            _ => None,
        }
    }
}

/// `(k='v', ...)` and an optional location.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionSpec {
    pub values: Vec<(String, String)>,
    pub location: Option<String>,
}

/// What a `CREATE EXTERNAL TABLE` says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExternalTableSpec {
    pub name: Option<ObjectName>,
    pub if_not_exists: bool,
    pub columns: Vec<LakeColumn>,
    /// Partition keys; a key without a type (DataFusion's spelling) names a column above.
    pub partition_keys: Vec<(String, Option<String>)>,
    pub format: Option<LakeFormat>,
    /// `STORED AS CSV` (DataFusion's spelling): text with quoting.
    pub csv: bool,
    pub serde: Option<String>,
    pub serde_properties: BTreeMap<String, String>,
    pub location: Option<String>,
    pub properties: BTreeMap<String, String>,
    pub comment: Option<String>,
}

use crate::sql::tokens::{P, eat, expect, identifier, object_name, peek_is, string, syntax, word_is};

/// `('k' = 'v', ...)` or DataFusion's `('k' 'v', ...)`.
fn properties(p: P) -> Result<BTreeMap<String, String>> {
    p.parser.expect_token(&Token::LParen).map_err(syntax)?;
    let mut properties = BTreeMap::new();
    if p.parser.consume_token(&Token::RParen) {
        return Ok(properties);
    }
    loop {
        let key = match p.parser.next_token().token {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => s,
            Token::Word(w) => {
                // Unquoted dotted keys: format.has_header
                let mut key = w.value;
                while p.parser.consume_token(&Token::Period) {
                    key.push('.');
                    key.push_str(&identifier(p)?);
                }
                key
            }
            other => return Err(Error::Parse(format!("expected a property name, found {other}"))),
        };
        let _ = p.parser.consume_token(&Token::Eq);
        let value = match p.parser.next_token().token {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => s,
            Token::Number(n, _) => n,
            Token::Word(w) => w.value,
            other => return Err(Error::Parse(format!("expected a value for property '{key}', found {other}"))),
        };
        properties.insert(key, value);
        if p.parser.consume_token(&Token::RParen) {
            return Ok(properties);
        }
        p.parser.expect_token(&Token::Comma).map_err(syntax)?;
    }
}

/// Parses the statements this module knows, or returns `None` without consuming anything.
pub(crate) fn parse_lake_statement(p: P) -> Result<Option<LakeStatement>> {
    if peek_is(p, 0, "create") && peek_is(p, 1, "external") && peek_is(p, 2, "schema") {
        expect(p, &["create", "external", "schema"])?;
        return create_external_schema(p).map(Some);
    }
    if peek_is(p, 0, "create") && peek_is(p, 1, "external") && peek_is(p, 2, "table") {
        expect(p, &["create", "external", "table"])?;
        return create_external_table(p).map(|spec| Some(LakeStatement::CreateExternalTable(Box::new(spec))));
    }
    if peek_is(p, 0, "create") && peek_is(p, 1, "external") && peek_is(p, 2, "database") {
        expect(p, &["create", "external", "database"])?;
        return create_database(p).map(Some);
    }
    if peek_is(p, 0, "create") && peek_is(p, 1, "database") {
        expect(p, &["create", "database"])?;
        return create_database(p).map(Some);
    }
    // Athena: CREATE SCHEMA db ... LOCATION '...' is a lake database.
    if peek_is(p, 0, "create") && peek_is(p, 1, "schema") && schema_has_location(p) {
        expect(p, &["create", "schema"])?;
        return create_database(p).map(Some);
    }
    if peek_is(p, 0, "drop") && peek_is(p, 1, "database") {
        expect(p, &["drop", "database"])?;
        let if_exists = eat(p, &["if", "exists"]);
        let name = identifier(p)?;
        eat(p, &["cascade"]);
        return Ok(Some(LakeStatement::DropDatabase { name, if_exists }));
    }
    if peek_is(p, 0, "show") && peek_is(p, 1, "create") && peek_is(p, 2, "table") {
        expect(p, &["show", "create", "table"])?;
        return Ok(Some(LakeStatement::ShowCreateTable { table: object_name(p)? }));
    }
    if peek_is(p, 0, "msck") {
        expect(p, &["msck", "repair", "table"])?;
        return Ok(Some(LakeStatement::MsckRepair { table: object_name(p)? }));
    }
    if peek_is(p, 0, "alter") && peek_is(p, 1, "table") {
        // ALTER TABLE name <action>: only partition and location/property changes are ours.
        let mut n = 2;
        while matches!(p.parser.peek_nth_token(n).token, Token::Word(_))
            && matches!(p.parser.peek_nth_token(n + 1).token, Token::Period)
        {
            n += 2;
        }
        let action = n + 1;
        let ours = (peek_is(p, action, "add") || peek_is(p, action, "drop"))
            && (peek_is(p, action + 1, "partition")
                || (peek_is(p, action + 1, "if") && peek_is(p, action + 4, "partition"))
                || (peek_is(p, action + 1, "if") && peek_is(p, action + 3, "partition")))
            || (peek_is(p, action, "set")
                && (peek_is(p, action + 1, "location")
                    || peek_is(p, action + 1, "tblproperties")
                    || (peek_is(p, action + 1, "table") && peek_is(p, action + 2, "properties"))))
            || (peek_is(p, action, "partition"));
        if ours {
            expect(p, &["alter", "table"])?;
            let table = object_name(p)?;
            return alter_table(p, table).map(Some);
        }
    }
    Ok(None)
}

/// `CREATE SCHEMA name ... LOCATION` (looking ahead to the statement's end).
fn schema_has_location(p: &DFParser<'_>) -> bool {
    let mut n = 2;
    loop {
        match &p.parser.peek_nth_token(n).token {
            Token::SemiColon | Token::EOF => return false,
            token if word_is(token, "location") => return true,
            _ => n += 1,
        }
    }
}

fn create_external_schema(p: P) -> Result<LakeStatement> {
    let if_not_exists = eat(p, &["if", "not", "exists"]);
    let name = identifier(p)?;
    expect(p, &["from"])?;
    if eat(p, &["hive", "metastore"]) || eat(p, &["postgres"]) || eat(p, &["mysql"]) || eat(p, &["redshift"]) {
        return Err(Error::Unsupported(
            "external schemas other than FROM DATA CATALOG (Hive metastore, federated queries)".into(),
        ));
    }
    expect(p, &["data", "catalog"])?;
    let mut database = None;
    let mut iam_role = None;
    let mut region = None;
    let mut create_database = false;
    loop {
        if eat(p, &["database"]) {
            database = Some(string(p)?);
        } else if eat(p, &["iam_role"]) {
            iam_role = Some(if eat(p, &["default"]) { "default".to_string() } else { string(p)? });
        } else if eat(p, &["region"]) {
            region = Some(string(p)?);
        } else if eat(p, &["catalog_role"]) {
            iam_role = iam_role.or(Some(string(p)?));
        } else if eat(p, &["create", "external", "database", "if", "not", "exists"]) {
            create_database = true;
        } else if matches!(p.parser.peek_token().token, Token::SemiColon | Token::EOF) {
            break;
        } else {
            return Err(Error::Unsupported(format!("CREATE EXTERNAL SCHEMA option {}", p.parser.peek_token())));
        }
    }
    let database = database.unwrap_or_else(|| name.clone());
    Ok(LakeStatement::CreateExternalSchema { name, database, iam_role, region, create_database, if_not_exists })
}

fn create_database(p: P) -> Result<LakeStatement> {
    let if_not_exists = eat(p, &["if", "not", "exists"]);
    let name = identifier(p)?;
    let (mut location, mut comment) = (None, None);
    loop {
        if eat(p, &["location"]) {
            location = Some(string(p)?);
        } else if eat(p, &["comment"]) {
            comment = Some(string(p)?);
        } else if eat(p, &["with", "dbproperties"]) || eat(p, &["with", "properties"]) {
            properties(p)?;
        } else if matches!(p.parser.peek_token().token, Token::SemiColon | Token::EOF) {
            break;
        } else {
            return Err(Error::Unsupported(format!("CREATE DATABASE option {}", p.parser.peek_token())));
        }
    }
    Ok(LakeStatement::CreateDatabase { name, location, comment, if_not_exists })
}

/// A column type as written, normalized: tokens up to `,` `)` or COMMENT at depth 0.
fn column_type(p: P) -> Result<String> {
    let mut depth = 0i32;
    let mut text = String::new();
    loop {
        let token = p.parser.peek_token().token;
        match &token {
            Token::Comma | Token::RParen if depth == 0 => break,
            Token::SemiColon | Token::EOF => break,
            t if depth == 0 && (word_is(t, "comment") || word_is(t, "not") || word_is(t, "null")) => break,
            Token::Lt | Token::LParen => depth += 1,
            Token::Gt | Token::RParen => depth -= 1,
            Token::ShiftRight => depth -= 2,
            _ => {}
        }
        p.parser.next_token();
        let piece = match &token {
            Token::Word(w) => w.value.to_lowercase(),
            other => other.to_string(),
        };
        if matches!(token, Token::Word(_)) && text.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            text.push(' ');
        }
        text.push_str(&piece);
    }
    if text.is_empty() {
        return Err(Error::Parse(format!("expected a column type, found {}", p.parser.peek_token())));
    }
    tarn_catalog::lake_type_to_arrow(&text).map_err(|e| Error::Invalid(e.to_string()))?;
    Ok(text)
}

/// `(name type [COMMENT '...'], ...)`; with `types_optional`, `(name, ...)` too.
/// A column as written: name, type (if given) and comment.
type ColumnText = (String, Option<String>, Option<String>);

fn column_list(p: P, types_optional: bool) -> Result<Vec<ColumnText>> {
    p.parser.expect_token(&Token::LParen).map_err(syntax)?;
    let mut columns = Vec::new();
    loop {
        let name = identifier(p)?;
        let data_type = if types_optional && matches!(p.parser.peek_token().token, Token::Comma | Token::RParen) {
            None
        } else {
            Some(column_type(p)?)
        };
        eat(p, &["not", "null"]);
        eat(p, &["null"]);
        let comment = if eat(p, &["comment"]) { Some(string(p)?) } else { None };
        columns.push((name, data_type, comment));
        if p.parser.consume_token(&Token::RParen) {
            return Ok(columns);
        }
        p.parser.expect_token(&Token::Comma).map_err(syntax)?;
    }
}

/// One character of a DELIMITED clause: `'\t'`, `'|'`, `'\001'`, `'\u0001'`.
fn delimiter_char(p: P, what: &str) -> Result<String> {
    let text = string(p)?;
    let decoded = match text.as_str() {
        "\\t" => "\t".to_string(),
        "\\n" => "\n".to_string(),
        s if s.starts_with("\\u") => u32::from_str_radix(&s[2..], 16)
            .ok()
            .and_then(char::from_u32)
            .map(String::from)
            .ok_or_else(|| Error::Invalid(format!("{what} '{s}' is not a character")))?,
        s if s.starts_with('\\') && s.len() > 1 => u32::from_str_radix(&s[1..], 8)
            .ok()
            .and_then(char::from_u32)
            .map(String::from)
            .ok_or_else(|| Error::Invalid(format!("{what} '{s}' is not a character")))?,
        s => s.to_string(),
    };
    if decoded.chars().count() != 1 {
        return Err(Error::Invalid(format!("{what} must be one character, not '{text}'")));
    }
    Ok(decoded)
}

fn create_external_table(p: P) -> Result<ExternalTableSpec> {
    let mut spec = ExternalTableSpec { if_not_exists: eat(p, &["if", "not", "exists"]), ..Default::default() };
    spec.name = Some(object_name(p)?);
    if matches!(p.parser.peek_token().token, Token::LParen) {
        spec.columns = column_list(p, false)?
            .into_iter()
            .map(|(name, data_type, comment)| LakeColumn { name, data_type: data_type.unwrap_or_default(), comment })
            .collect();
    }
    loop {
        if eat(p, &["partitioned", "by"]) {
            spec.partition_keys = column_list(p, true)?.into_iter().map(|(name, ty, _)| (name, ty)).collect();
        } else if eat(p, &["row", "format", "delimited"]) {
            loop {
                if eat(p, &["fields", "terminated", "by"]) {
                    spec.serde_properties.insert("field.delim".into(), delimiter_char(p, "FIELDS TERMINATED BY")?);
                } else if eat(p, &["lines", "terminated", "by"]) {
                    let line = delimiter_char(p, "LINES TERMINATED BY")?;
                    if line != "\n" {
                        return Err(Error::Unsupported("LINES TERMINATED BY other than '\\n'".into()));
                    }
                } else if eat(p, &["escaped", "by"]) {
                    spec.serde_properties.insert("escape.delim".into(), delimiter_char(p, "ESCAPED BY")?);
                } else if eat(p, &["null", "defined", "as"]) {
                    spec.serde_properties.insert("serialization.null.format".into(), string(p)?);
                } else if eat(p, &["collection", "items", "terminated", "by"])
                    || eat(p, &["map", "keys", "terminated", "by"])
                {
                    return Err(Error::Unsupported("collection and map delimiters in text tables".into()));
                } else {
                    break;
                }
            }
        } else if eat(p, &["row", "format", "serde"]) {
            spec.serde = Some(string(p)?);
            if eat(p, &["with", "serdeproperties"]) {
                spec.serde_properties.extend(properties(p)?);
            }
        } else if eat(p, &["stored", "as"]) {
            if eat(p, &["inputformat"]) {
                let input = string(p)?;
                expect(p, &["outputformat"])?;
                string(p)?;
                spec.format = Some(format_of_input_class(&input)?);
            } else {
                let name = identifier(p)?;
                spec.format = Some(match name.as_str() {
                    "parquet" => LakeFormat::Parquet,
                    "textfile" => LakeFormat::Text,
                    "csv" => {
                        spec.csv = true;
                        LakeFormat::Text
                    }
                    "json" | "ndjson" => LakeFormat::Json,
                    other => {
                        return Err(Error::Unsupported(format!(
                            "STORED AS {} (tarn reads PARQUET, TEXTFILE, CSV and JSON)",
                            other.to_uppercase()
                        )));
                    }
                });
            }
        } else if eat(p, &["location"]) {
            spec.location = Some(string(p)?);
        } else if eat(p, &["table", "properties"]) || eat(p, &["tblproperties"]) || eat(p, &["options"]) {
            spec.properties.extend(properties(p)?);
        } else if eat(p, &["with", "header", "row"]) {
            spec.properties.insert("skip.header.line.count".into(), "1".into());
        } else if eat(p, &["delimiter"]) {
            spec.serde_properties.insert("field.delim".into(), delimiter_char(p, "DELIMITER")?);
        } else if eat(p, &["comment"]) {
            spec.comment = Some(string(p)?);
        } else if matches!(p.parser.peek_token().token, Token::SemiColon | Token::EOF) {
            break;
        } else {
            return Err(Error::Unsupported(format!("CREATE EXTERNAL TABLE clause {}", p.parser.peek_token())));
        }
    }
    Ok(spec)
}

/// The format of a Hive input format class name.
fn format_of_input_class(class: &str) -> Result<LakeFormat> {
    let lower = class.to_ascii_lowercase();
    if lower.contains("parquet") {
        Ok(LakeFormat::Parquet)
    } else if lower.contains("textinputformat") {
        Ok(LakeFormat::Text)
    } else {
        Err(Error::Unsupported(format!("INPUTFORMAT '{class}'")))
    }
}

fn partition_spec(p: P) -> Result<PartitionSpec> {
    expect(p, &["partition"])?;
    p.parser.expect_token(&Token::LParen).map_err(syntax)?;
    let mut values = Vec::new();
    loop {
        let key = identifier(p)?;
        p.parser.expect_token(&Token::Eq).map_err(syntax)?;
        let value = match p.parser.next_token().token {
            Token::SingleQuotedString(s) => s,
            Token::Number(n, _) => n,
            other => return Err(Error::Parse(format!("expected a value for partition key {key}, found {other}"))),
        };
        values.push((key, value));
        if p.parser.consume_token(&Token::RParen) {
            break;
        }
        p.parser.expect_token(&Token::Comma).map_err(syntax)?;
    }
    let location = if eat(p, &["location"]) { Some(string(p)?) } else { None };
    Ok(PartitionSpec { values, location })
}

fn alter_table(p: P, table: ObjectName) -> Result<LakeStatement> {
    if eat(p, &["add"]) {
        let if_not_exists = eat(p, &["if", "not", "exists"]);
        let mut partitions = vec![partition_spec(p)?];
        loop {
            let _ = p.parser.consume_token(&Token::Comma);
            if !peek_is(p, 0, "partition") {
                break;
            }
            partitions.push(partition_spec(p)?);
        }
        return Ok(LakeStatement::AddPartitions { table, if_not_exists, partitions });
    }
    if eat(p, &["drop"]) {
        let if_exists = eat(p, &["if", "exists"]);
        let mut partitions = vec![partition_spec(p)?];
        while p.parser.consume_token(&Token::Comma) {
            partitions.push(partition_spec(p)?);
        }
        return Ok(LakeStatement::DropPartitions { table, if_exists, partitions });
    }
    let partition = if peek_is(p, 0, "partition") { Some(partition_spec(p)?) } else { None };
    expect(p, &["set"])?;
    if eat(p, &["location"]) {
        return Ok(LakeStatement::SetLocation { table, partition, location: string(p)? });
    }
    if partition.is_some() {
        return Err(Error::Unsupported("ALTER TABLE ... PARTITION (...) SET other than LOCATION".into()));
    }
    if eat(p, &["table", "properties"]) || eat(p, &["tblproperties"]) {
        return Ok(LakeStatement::SetProperties { table, properties: properties(p)? });
    }
    Err(Error::Parse(format!("expected LOCATION or TABLE PROPERTIES after SET, found {}", p.parser.peek_token())))
}

#[cfg(test)]
mod tests {
    use crate::parser::{Statement, parse};

    use super::*;

    fn lake(sql: &str) -> LakeStatement {
        match parse(sql).unwrap().pop() {
            Some(Statement::Lake(statement)) => *statement,
            other => panic!("not a lake statement: {other:?}"),
        }
    }

    #[test]
    fn spectrum_external_schema() {
        let statement = lake(
            "CREATE EXTERNAL SCHEMA spectrum FROM DATA CATALOG DATABASE 'spectrumdb' \
             IAM_ROLE 'arn:aws:iam::123456789012:role/mySpectrumRole' CREATE EXTERNAL DATABASE IF NOT EXISTS",
        );
        assert_eq!(
            statement,
            LakeStatement::CreateExternalSchema {
                name: "spectrum".into(),
                database: "spectrumdb".into(),
                iam_role: Some("arn:aws:iam::123456789012:role/mySpectrumRole".into()),
                region: None,
                create_database: true,
                if_not_exists: false,
            }
        );
    }

    #[test]
    fn hive_external_table_with_every_clause() {
        let LakeStatement::CreateExternalTable(spec) = lake(
            "CREATE EXTERNAL TABLE spectrum.sales (salesid integer, pricepaid decimal(8,2), tags array<string>, \
             saletime timestamp) PARTITIONED BY (saledate date) ROW FORMAT DELIMITED FIELDS TERMINATED BY '\\t' \
             STORED AS TEXTFILE LOCATION 's3://b/sales/' TABLE PROPERTIES ('numRows'='172000')",
        ) else {
            panic!()
        };
        assert_eq!(spec.columns.len(), 4);
        assert_eq!(spec.columns[1].data_type, "decimal(8,2)");
        assert_eq!(spec.columns[2].data_type, "array<string>");
        assert_eq!(spec.partition_keys, vec![("saledate".to_string(), Some("date".to_string()))]);
        assert_eq!(spec.serde_properties.get("field.delim").map(String::as_str), Some("\t"));
        assert_eq!(spec.format, Some(LakeFormat::Text));
        assert_eq!(spec.location.as_deref(), Some("s3://b/sales/"));
        assert_eq!(spec.properties.get("numRows").map(String::as_str), Some("172000"));
    }

    #[test]
    fn datafusion_spelling_of_create_external_table() {
        let LakeStatement::CreateExternalTable(spec) = lake(
            "CREATE EXTERNAL TABLE t (a int, b varchar) STORED AS CSV PARTITIONED BY (b) LOCATION 'data/' \
             OPTIONS ('format.has_header' 'true')",
        ) else {
            panic!()
        };
        assert!(spec.csv);
        assert_eq!(spec.partition_keys, vec![("b".to_string(), None)]);
        assert_eq!(spec.properties.get("format.has_header").map(String::as_str), Some("true"));
    }

    #[test]
    fn partitions_and_repairs() {
        let statement = lake(
            "ALTER TABLE spectrum.sales ADD IF NOT EXISTS PARTITION (saledate='2008-01-01') LOCATION 's3://b/x/' \
             PARTITION (saledate='2008-02-01') LOCATION 's3://b/y/'",
        );
        let LakeStatement::AddPartitions { if_not_exists: true, partitions, .. } = statement else { panic!() };
        assert_eq!(partitions.len(), 2);
        assert_eq!(partitions[1].location.as_deref(), Some("s3://b/y/"));
        assert!(matches!(lake("ALTER TABLE s.t DROP PARTITION (dt='1')"), LakeStatement::DropPartitions { .. }));
        assert!(matches!(lake("ALTER TABLE t SET LOCATION 's3://b/z/'"), LakeStatement::SetLocation { .. }));
        assert!(matches!(
            lake("ALTER TABLE t SET TABLE PROPERTIES ('numRows'='1')"),
            LakeStatement::SetProperties { .. }
        ));
        assert!(matches!(lake("MSCK REPAIR TABLE spectrum.events"), LakeStatement::MsckRepair { .. }));
        // Other ALTER TABLEs stay DataFusion's.
        assert!(matches!(parse("ALTER TABLE t RENAME TO u").unwrap()[0], Statement::Sql(_)));
    }

    #[test]
    fn bad_lake_ddl_names_the_problem() {
        let error = parse("CREATE EXTERNAL TABLE t (a blob) STORED AS PARQUET LOCATION 'x'").unwrap_err();
        assert!(error.to_string().contains("unknown column type \"blob\""), "{error}");
        let error = parse("CREATE EXTERNAL TABLE t (a int) STORED AS ORC LOCATION 'x'").unwrap_err();
        assert!(error.to_string().contains("STORED AS ORC"), "{error}");
    }
}
