//! [`LakeCatalog`] in the warehouse's SQLite catalog: one row per object, definitions as JSON.

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::lake::{
    ExternalSchema, ExternalTable, LakeCatalog, LakeDatabase, LakeFileStats, LakePartition, LakeState, TableVersion,
};
use crate::sqlite::SqliteCatalog;
use crate::{Error, Result};

/// A lake change's outcome inside its SQLite transaction: a database error, or ours.
enum Failure {
    Db(rusqlite::Error),
    Ours(Error),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Failure::Db(e)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Ours(e)
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|e| Failure::Ours(Error::Corrupt(format!("cannot encode a lake object: {e}"))))
}

fn from_json<T: DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("a lake catalog row does not decode: {e}")))
}

impl SqliteCatalog {
    /// Runs `f` in an IMMEDIATE transaction that bumps the lake version when it commits.
    fn lake_change<T>(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, Failure>) -> Result<T> {
        let mut outcome = None;
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            match f(&tx) {
                Ok(value) => {
                    tx.execute(
                        "UPDATE tarn_metadata SET value = CAST(value AS INTEGER) + 1 WHERE key = 'lake_version'",
                        [],
                    )?;
                    tx.commit()?;
                    outcome = Some(Ok(value));
                }
                Err(Failure::Db(e)) => return Err(e),
                Err(Failure::Ours(e)) => outcome = Some(Err(e)),
            }
            Ok(())
        })?;
        outcome.unwrap_or_else(|| Err(Error::Corrupt("a lake change ended without an outcome".into())))
    }

    fn definitions<T: DeserializeOwned>(&self, sql: &str, id: Option<i64>) -> Result<Vec<T>> {
        let rows: Vec<String> = self.with_conn(|conn| {
            let mut statement = conn.prepare_cached(sql)?;
            let rows = match id {
                Some(id) => statement.query_map([id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?,
                None => statement.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?,
            };
            Ok(rows)
        })?;
        rows.iter().map(|r| from_json(r)).collect()
    }
}

fn exists(tx: &rusqlite::Transaction<'_>, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<bool> {
    Ok(tx.query_row(sql, params, |_| Ok(())).optional()?.is_some())
}

impl LakeCatalog for SqliteCatalog {
    fn lake_state(&self) -> Result<LakeState> {
        Ok(LakeState {
            version: self.lake_version()?,
            databases: self.definitions("SELECT definition FROM tarn_lake_database ORDER BY name", None)?,
            schemas: self.definitions("SELECT definition FROM tarn_lake_schema ORDER BY name", None)?,
            tables: self.definitions("SELECT definition FROM tarn_lake_table ORDER BY database, name", None)?,
        })
    }

    fn lake_version(&self) -> Result<i64> {
        self.with_conn(|conn| {
            conn.prepare_cached("SELECT CAST(value AS INTEGER) FROM tarn_metadata WHERE key = 'lake_version'")?
                .query_row([], |r| r.get(0))
        })
    }

    fn create_lake_database(&self, database: &LakeDatabase, if_not_exists: bool) -> Result<bool> {
        self.lake_change(|tx| {
            if exists(tx, "SELECT 1 FROM tarn_lake_database WHERE name = ?1", [&database.name])? {
                return match if_not_exists {
                    true => Ok(false),
                    false => Err(Error::AlreadyExists(format!("database \"{}\" already exists", database.name)).into()),
                };
            }
            tx.execute("INSERT INTO tarn_lake_database VALUES (?1, ?2)", params![database.name, to_json(database)?])?;
            Ok(true)
        })
    }

    fn drop_lake_database(&self, name: &str) -> Result<()> {
        self.lake_change(|tx| {
            if tx.execute("DELETE FROM tarn_lake_database WHERE name = ?1", [name])? == 0 {
                return Err(Error::NotFound(format!("database \"{name}\" does not exist")).into());
            }
            let ids = "SELECT id FROM tarn_lake_table WHERE database = ?1";
            tx.execute(&format!("DELETE FROM tarn_lake_partition WHERE table_id IN ({ids})"), [name])?;
            tx.execute(&format!("DELETE FROM tarn_lake_table_version WHERE table_id IN ({ids})"), [name])?;
            tx.execute("DELETE FROM tarn_lake_table WHERE database = ?1", [name])?;
            tx.execute("DELETE FROM tarn_lake_schema WHERE database = ?1", [name])?;
            Ok(())
        })
    }

    fn create_external_schema(
        &self,
        schema: &ExternalSchema,
        create_database: bool,
        if_not_exists: bool,
    ) -> Result<bool> {
        self.lake_change(|tx| {
            if exists(tx, "SELECT 1 FROM tarn_lake_schema WHERE name = ?1", [&schema.name])? {
                return match if_not_exists {
                    true => Ok(false),
                    false => Err(Error::AlreadyExists(format!("schema \"{}\" already exists", schema.name)).into()),
                };
            }
            if !exists(tx, "SELECT 1 FROM tarn_lake_database WHERE name = ?1", [&schema.database])? {
                if !create_database {
                    return Err(Error::NotFound(format!(
                        "database \"{}\" does not exist in the data catalog (add CREATE EXTERNAL DATABASE IF NOT EXISTS)",
                        schema.database
                    ))
                    .into());
                }
                let database = LakeDatabase {
                    name: schema.database.clone(),
                    location: None,
                    description: None,
                    owner: schema.owner.clone(),
                    created: schema.created.clone(),
                };
                tx.execute(
                    "INSERT INTO tarn_lake_database VALUES (?1, ?2)",
                    params![database.name, to_json(&database)?],
                )?;
            }
            tx.execute(
                "INSERT INTO tarn_lake_schema VALUES (?1, ?2, ?3)",
                params![schema.name, schema.database, to_json(schema)?],
            )?;
            Ok(true)
        })
    }

    fn drop_external_schema(&self, name: &str) -> Result<()> {
        self.lake_change(|tx| {
            if tx.execute("DELETE FROM tarn_lake_schema WHERE name = ?1", [name])? == 0 {
                return Err(Error::NotFound(format!("schema \"{name}\" does not exist")).into());
            }
            Ok(())
        })
    }

    fn create_external_table(&self, table: &ExternalTable, if_not_exists: bool) -> Result<bool> {
        self.lake_change(|tx| {
            if !exists(tx, "SELECT 1 FROM tarn_lake_database WHERE name = ?1", [&table.database])? {
                return Err(Error::NotFound(format!("database \"{}\" does not exist", table.database)).into());
            }
            if exists(
                tx,
                "SELECT 1 FROM tarn_lake_table WHERE database = ?1 AND name = ?2",
                [&table.database, &table.name],
            )? {
                return match if_not_exists {
                    true => Ok(false),
                    false => Err(Error::AlreadyExists(format!(
                        "relation \"{}.{}\" already exists",
                        table.database, table.name
                    ))
                    .into()),
                };
            }
            let id: i64 = tx.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM tarn_lake_table", [], |r| r.get(0))?;
            let table = ExternalTable { id, version: 1, ..table.clone() };
            tx.execute(
                "INSERT INTO tarn_lake_table VALUES (?1, ?2, ?3, 1, ?4)",
                params![id, table.database, table.name, to_json(&table)?],
            )?;
            Ok(true)
        })
    }

    fn update_external_table(&self, table: &ExternalTable) -> Result<()> {
        self.lake_change(|tx| {
            let current: Option<(i64, String)> = tx
                .query_row("SELECT version, definition FROM tarn_lake_table WHERE id = ?1", [table.id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            let Some((version, definition)) = current else {
                return Err(
                    Error::NotFound(format!("relation \"{}.{}\" does not exist", table.database, table.name)).into()
                );
            };
            tx.execute(
                "INSERT INTO tarn_lake_table_version VALUES (?1, ?2, ?3, ?4)",
                params![table.id, version, crate::now(), definition],
            )?;
            let updated = ExternalTable { version: version + 1, updated: crate::now(), ..table.clone() };
            tx.execute(
                "UPDATE tarn_lake_table SET version = ?2, name = ?3, definition = ?4 WHERE id = ?1",
                params![table.id, updated.version, updated.name, to_json(&updated)?],
            )?;
            Ok(())
        })
    }

    fn drop_external_table(&self, database: &str, name: &str) -> Result<()> {
        self.lake_change(|tx| {
            let id: Option<i64> = tx
                .query_row("SELECT id FROM tarn_lake_table WHERE database = ?1 AND name = ?2", [database, name], |r| {
                    r.get(0)
                })
                .optional()?;
            let Some(id) = id else {
                return Err(Error::NotFound(format!("relation \"{database}.{name}\" does not exist")).into());
            };
            tx.execute("DELETE FROM tarn_lake_partition WHERE table_id = ?1", [id])?;
            tx.execute("DELETE FROM tarn_lake_file_stats WHERE table_id = ?1", [id])?;
            tx.execute("DELETE FROM tarn_lake_table_version WHERE table_id = ?1", [id])?;
            tx.execute("DELETE FROM tarn_lake_table WHERE id = ?1", [id])?;
            Ok(())
        })
    }

    fn table_versions(&self, table_id: i64) -> Result<Vec<TableVersion>> {
        let rows: Vec<(i64, String, String)> = self.with_conn(|conn| {
            conn.prepare_cached(
                "SELECT version, archived, definition FROM tarn_lake_table_version WHERE table_id = ?1 ORDER BY version",
            )?
            .query_map([table_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect()
        })?;
        rows.into_iter()
            .map(|(version, archived, definition)| {
                Ok(TableVersion { version, archived, table: from_json(&definition)? })
            })
            .collect()
    }

    fn lake_file_stats(&self, table_id: i64) -> Result<Vec<LakeFileStats>> {
        self.definitions(
            "SELECT definition FROM tarn_lake_file_stats WHERE table_id = ?1 ORDER BY location",
            Some(table_id),
        )
    }

    fn record_lake_file_stats(&self, table_id: i64, files: &[LakeFileStats]) -> Result<()> {
        self.lake_change(|tx| {
            tx.execute("DELETE FROM tarn_lake_file_stats WHERE table_id = ?1", [table_id])?;
            let mut insert = tx.prepare_cached("INSERT INTO tarn_lake_file_stats VALUES (?1, ?2, ?3)")?;
            for file in files {
                insert.execute(params![table_id, file.location, to_json(file)?])?;
            }
            Ok(())
        })
    }

    fn partitions(&self, table_id: i64) -> Result<Vec<LakePartition>> {
        self.definitions("SELECT definition FROM tarn_lake_partition WHERE table_id = ?1 ORDER BY spec", Some(table_id))
    }

    fn add_partitions(&self, table: &ExternalTable, partitions: &[LakePartition], if_not_exists: bool) -> Result<u64> {
        if table.partition_keys.is_empty() {
            return Err(Error::InvalidType(format!("table {}.{} is not partitioned", table.database, table.name)));
        }
        self.lake_change(|tx| {
            let mut added = 0;
            let mut insert = tx.prepare_cached("INSERT OR IGNORE INTO tarn_lake_partition VALUES (?1, ?2, ?3)")?;
            for partition in partitions {
                if partition.values.len() != table.partition_keys.len() {
                    return Err(Error::InvalidType(format!(
                        "table {}.{} has {} partition key(s), the partition gives {} value(s)",
                        table.database,
                        table.name,
                        table.partition_keys.len(),
                        partition.values.len()
                    ))
                    .into());
                }
                let spec = LakePartition::spec(&table.partition_keys, &partition.values);
                match insert.execute(params![table.id, spec, to_json(partition)?])? {
                    0 if !if_not_exists => {
                        return Err(Error::AlreadyExists(format!(
                            "partition ({spec}) of {}.{} already exists",
                            table.database, table.name
                        ))
                        .into());
                    }
                    n => added += n as u64,
                }
            }
            Ok(added)
        })
    }

    fn set_partition_location(&self, table: &ExternalTable, values: &[String], location: &str) -> Result<()> {
        let spec = LakePartition::spec(&table.partition_keys, values);
        self.lake_change(|tx| {
            let current: Option<String> = tx
                .query_row(
                    "SELECT definition FROM tarn_lake_partition WHERE table_id = ?1 AND spec = ?2",
                    params![table.id, spec],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(current) = current else {
                return Err(Error::NotFound(format!(
                    "partition ({spec}) of {}.{} does not exist",
                    table.database, table.name
                ))
                .into());
            };
            let moved = LakePartition { location: location.to_string(), ..from_json(&current)? };
            tx.execute(
                "UPDATE tarn_lake_partition SET definition = ?3 WHERE table_id = ?1 AND spec = ?2",
                params![table.id, spec, to_json(&moved)?],
            )?;
            Ok(())
        })
    }

    fn drop_partitions(&self, table: &ExternalTable, values: &[Vec<String>], if_exists: bool) -> Result<u64> {
        self.lake_change(|tx| {
            let mut dropped = 0;
            for values in values {
                let spec = LakePartition::spec(&table.partition_keys, values);
                match tx.execute(
                    "DELETE FROM tarn_lake_partition WHERE table_id = ?1 AND spec = ?2",
                    params![table.id, spec],
                )? {
                    0 if !if_exists => {
                        return Err(Error::NotFound(format!(
                            "partition ({spec}) of {}.{} does not exist",
                            table.database, table.name
                        ))
                        .into());
                    }
                    n => dropped += n as u64,
                }
            }
            Ok(dropped)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::lake::{LakeColumn, LakeFormat};

    fn sales(database: &str) -> ExternalTable {
        let column =
            |name: &str, data_type: &str| LakeColumn { name: name.into(), data_type: data_type.into(), comment: None };
        ExternalTable {
            id: 0,
            database: database.into(),
            name: "sales".into(),
            location: "s3://bucket/sales/".into(),
            format: LakeFormat::Text,
            serde: LakeFormat::Text.default_serde().into(),
            serde_properties: BTreeMap::from([("field.delim".into(), "\t".into())]),
            columns: vec![column("salesid", "integer"), column("pricepaid", "decimal(8,2)")],
            partition_keys: vec![column("saledate", "date")],
            properties: BTreeMap::from([("numRows".into(), "172000".into())]),
            owner: "alice".into(),
            created: crate::now(),
            updated: crate::now(),
            version: 0,
        }
    }

    fn partition(value: &str) -> LakePartition {
        LakePartition {
            values: vec![value.into()],
            location: format!("s3://bucket/sales/saledate={value}/"),
            properties: BTreeMap::new(),
            created: crate::now(),
        }
    }

    #[test]
    fn lake_objects_persist_with_versions_and_partitions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let catalog = SqliteCatalog::open(&path, "alice").unwrap();
        let schema = ExternalSchema {
            name: "spectrum".into(),
            database: "spectrumdb".into(),
            region: None,
            iam_role: Some("arn:aws:iam::1:role/r".into()),
            owner: "alice".into(),
            created: crate::now(),
        };
        assert!(matches!(catalog.create_external_schema(&schema, false, false), Err(Error::NotFound(_))));
        assert!(catalog.create_external_schema(&schema, true, false).unwrap());
        assert!(!catalog.create_external_schema(&schema, true, true).unwrap());
        assert!(catalog.create_external_table(&sales("spectrumdb"), false).unwrap());
        assert!(matches!(catalog.create_external_table(&sales("spectrumdb"), false), Err(Error::AlreadyExists(_))));
        assert!(matches!(catalog.create_external_table(&sales("nodb"), false), Err(Error::NotFound(_))));

        let state = catalog.lake_state().unwrap();
        let mut table = state.table("spectrumdb", "sales").unwrap().clone();
        assert_eq!(table.version, 1);
        table.location = "s3://bucket/sales2/".into();
        catalog.update_external_table(&table).unwrap();

        assert_eq!(
            catalog.add_partitions(&table, &[partition("2008-01-01"), partition("2008-01-02")], false).unwrap(),
            2
        );
        assert!(matches!(
            catalog.add_partitions(&table, &[partition("2008-01-01")], false),
            Err(Error::AlreadyExists(_))
        ));
        assert_eq!(
            catalog.add_partitions(&table, &[partition("2008-01-01"), partition("2008-01-03")], true).unwrap(),
            1
        );
        assert_eq!(catalog.drop_partitions(&table, &[vec!["2008-01-02".into()]], false).unwrap(), 1);
        catalog.set_partition_location(&table, &["2008-01-03".into()], "s3://bucket/moved/").unwrap();
        assert!(matches!(
            catalog.set_partition_location(&table, &["2008-01-02".into()], "s3://bucket/x/"),
            Err(Error::NotFound(_))
        ));
        let unpartitioned = ExternalTable { partition_keys: Vec::new(), ..table.clone() };
        assert!(catalog.add_partitions(&unpartitioned, &[], true).is_err());
        assert!(matches!(
            catalog.drop_partitions(&table, &[vec!["2008-01-02".into()]], false),
            Err(Error::NotFound(_))
        ));
        drop(catalog);

        // A second open sees everything, with the history of the table.
        let catalog = SqliteCatalog::open(&path, "bob").unwrap();
        let state = catalog.lake_state().unwrap();
        let table = state.table("spectrumdb", "sales").unwrap();
        assert_eq!((table.version, table.location.as_str()), (2, "s3://bucket/sales2/"));
        let history = catalog.table_versions(table.id).unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].table.location, "s3://bucket/sales/");
        let values: Vec<_> = catalog.partitions(table.id).unwrap().into_iter().map(|p| p.values[0].clone()).collect();
        assert_eq!(values, ["2008-01-01", "2008-01-03"]);
        assert_eq!(catalog.partitions(table.id).unwrap()[1].location, "s3://bucket/moved/");
        assert_eq!(state.schema("spectrum").unwrap().database, "spectrumdb");

        catalog.drop_external_table("spectrumdb", "sales").unwrap();
        assert!(catalog.partitions(table.id).unwrap().is_empty());
        catalog.drop_lake_database("spectrumdb").unwrap();
        let state = catalog.lake_state().unwrap();
        assert!(state.databases.is_empty() && state.schemas.is_empty(), "{state:?}");
    }
}
