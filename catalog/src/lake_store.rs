//! [`LakeCatalog`] in the catalog database: one row per object, definitions as JSON.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::db::{Connection, Value, params};
use crate::lake::{
    ExternalSchema, ExternalTable, LakeCatalog, LakeDatabase, LakeFileStats, LakePartition, LakeState, TableVersion,
};
use crate::store::SqlCatalog;
use crate::{Error, Result};

fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Corrupt(format!("cannot encode a lake object: {e}")))
}

fn from_json<T: DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("a lake catalog row does not decode: {e}")))
}

impl SqlCatalog {
    /// Runs `f` in a write transaction that bumps the lake version when it commits.
    fn lake_change<T>(&self, f: impl FnOnce(&mut dyn Connection) -> Result<T>) -> Result<T> {
        self.write(|tx| {
            let value = f(tx)?;
            tx.execute(
                "UPDATE tarn_metadata SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) WHERE key = 'lake_version'",
                params![],
            )?;
            Ok(value)
        })
    }

    fn definitions<T: DeserializeOwned>(&self, sql: &str, params: &[Value]) -> Result<Vec<T>> {
        self.rows(sql, params, |r| from_json(&r.get::<String>(0)?))
    }
}

fn missing_partition(spec: &str, table: &ExternalTable) -> Error {
    Error::NotFound(format!("partition ({spec}) of {}.{} does not exist", table.database, table.name))
}

fn exists(tx: &mut dyn Connection, sql: &str, params: &[Value]) -> Result<bool> {
    Ok(tx.query_opt(sql, params)?.is_some())
}

impl LakeCatalog for SqlCatalog {
    fn lake_state(&self) -> Result<LakeState> {
        Ok(LakeState {
            version: self.lake_version()?,
            databases: self.definitions("SELECT definition FROM tarn_lake_database ORDER BY name", params![])?,
            schemas: self.definitions("SELECT definition FROM tarn_lake_schema ORDER BY name", params![])?,
            tables: self.definitions("SELECT definition FROM tarn_lake_table ORDER BY database, name", params![])?,
        })
    }

    fn lake_version(&self) -> Result<i64> {
        self.with_conn(|conn| {
            conn.query_value("SELECT CAST(value AS BIGINT) FROM tarn_metadata WHERE key = 'lake_version'", params![])
        })
    }

    fn create_lake_database(&self, database: &LakeDatabase, if_not_exists: bool) -> Result<bool> {
        self.lake_change(|tx| {
            if exists(tx, "SELECT 1 FROM tarn_lake_database WHERE name = ?1", params![&database.name])? {
                return match if_not_exists {
                    true => Ok(false),
                    false => Err(Error::AlreadyExists(format!("database \"{}\" already exists", database.name))),
                };
            }
            tx.execute("INSERT INTO tarn_lake_database VALUES (?1, ?2)", params![&database.name, to_json(database)?])?;
            Ok(true)
        })
    }

    fn drop_lake_database(&self, name: &str) -> Result<()> {
        self.lake_change(|tx| {
            if tx.execute("DELETE FROM tarn_lake_database WHERE name = ?1", params![name])? == 0 {
                return Err(Error::NotFound(format!("database \"{name}\" does not exist")));
            }
            let ids = "SELECT id FROM tarn_lake_table WHERE database = ?1";
            tx.execute(&format!("DELETE FROM tarn_lake_partition WHERE table_id IN ({ids})"), params![name])?;
            tx.execute(&format!("DELETE FROM tarn_lake_table_version WHERE table_id IN ({ids})"), params![name])?;
            tx.execute("DELETE FROM tarn_lake_table WHERE database = ?1", params![name])?;
            tx.execute("DELETE FROM tarn_lake_schema WHERE database = ?1", params![name])?;
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
            if exists(tx, "SELECT 1 FROM tarn_lake_schema WHERE name = ?1", params![&schema.name])? {
                return match if_not_exists {
                    true => Ok(false),
                    false => Err(Error::AlreadyExists(format!("schema \"{}\" already exists", schema.name))),
                };
            }
            if !exists(tx, "SELECT 1 FROM tarn_lake_database WHERE name = ?1", params![&schema.database])? {
                if !create_database {
                    return Err(Error::NotFound(format!(
                        "database \"{}\" does not exist in the data catalog (add CREATE EXTERNAL DATABASE IF NOT EXISTS)",
                        schema.database
                    )));
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
                    params![&database.name, to_json(&database)?],
                )?;
            }
            tx.execute(
                "INSERT INTO tarn_lake_schema VALUES (?1, ?2, ?3)",
                params![&schema.name, &schema.database, to_json(schema)?],
            )?;
            Ok(true)
        })
    }

    fn drop_external_schema(&self, name: &str) -> Result<()> {
        self.lake_change(|tx| {
            if tx.execute("DELETE FROM tarn_lake_schema WHERE name = ?1", params![name])? == 0 {
                return Err(Error::NotFound(format!("schema \"{name}\" does not exist")));
            }
            Ok(())
        })
    }

    fn create_external_table(&self, table: &ExternalTable, if_not_exists: bool) -> Result<bool> {
        self.lake_change(|tx| {
            if !exists(tx, "SELECT 1 FROM tarn_lake_database WHERE name = ?1", params![&table.database])? {
                return Err(Error::NotFound(format!("database \"{}\" does not exist", table.database)));
            }
            if exists(
                tx,
                "SELECT 1 FROM tarn_lake_table WHERE database = ?1 AND name = ?2",
                params![&table.database, &table.name],
            )? {
                return match if_not_exists {
                    true => Ok(false),
                    false => Err(Error::AlreadyExists(format!(
                        "relation \"{}.{}\" already exists",
                        table.database, table.name
                    ))),
                };
            }
            let id: i64 = tx.query_value("SELECT COALESCE(MAX(id), 0) + 1 FROM tarn_lake_table", params![])?;
            let table = ExternalTable { id, version: 1, ..table.clone() };
            tx.execute(
                "INSERT INTO tarn_lake_table VALUES (?1, ?2, ?3, 1, ?4)",
                params![id, &table.database, &table.name, to_json(&table)?],
            )?;
            Ok(true)
        })
    }

    fn update_external_table(&self, table: &ExternalTable) -> Result<()> {
        self.lake_change(|tx| {
            let current =
                tx.query_opt("SELECT version, definition FROM tarn_lake_table WHERE id = ?1", params![table.id])?;
            let Some(current) = current else {
                return Err(Error::NotFound(format!("relation \"{}.{}\" does not exist", table.database, table.name)));
            };
            let (version, definition): (i64, String) = (current.get(0)?, current.get(1)?);
            tx.execute(
                "INSERT INTO tarn_lake_table_version VALUES (?1, ?2, ?3, ?4)",
                params![table.id, version, crate::now(), definition],
            )?;
            let updated = ExternalTable { version: version + 1, updated: crate::now(), ..table.clone() };
            tx.execute(
                "UPDATE tarn_lake_table SET version = ?2, name = ?3, definition = ?4 WHERE id = ?1",
                params![table.id, updated.version, &updated.name, to_json(&updated)?],
            )?;
            Ok(())
        })
    }

    fn drop_external_table(&self, database: &str, name: &str) -> Result<()> {
        self.lake_change(|tx| {
            let row = tx.query_opt(
                "SELECT id FROM tarn_lake_table WHERE database = ?1 AND name = ?2",
                params![database, name],
            )?;
            let Some(id) = row.map(|r| r.get::<i64>(0)).transpose()? else {
                return Err(Error::NotFound(format!("relation \"{database}.{name}\" does not exist")));
            };
            tx.execute("DELETE FROM tarn_lake_partition WHERE table_id = ?1", params![id])?;
            tx.execute("DELETE FROM tarn_lake_file_stats WHERE table_id = ?1", params![id])?;
            tx.execute("DELETE FROM tarn_lake_table_version WHERE table_id = ?1", params![id])?;
            tx.execute("DELETE FROM tarn_lake_table WHERE id = ?1", params![id])?;
            Ok(())
        })
    }

    fn table_versions(&self, table_id: i64) -> Result<Vec<TableVersion>> {
        self.rows(
            "SELECT version, archived, definition FROM tarn_lake_table_version WHERE table_id = ?1 ORDER BY version",
            params![table_id],
            |r| Ok(TableVersion { version: r.get(0)?, archived: r.get(1)?, table: from_json(&r.get::<String>(2)?)? }),
        )
    }

    fn lake_file_stats(&self, table_id: i64) -> Result<Vec<LakeFileStats>> {
        self.definitions(
            "SELECT definition FROM tarn_lake_file_stats WHERE table_id = ?1 ORDER BY location",
            params![table_id],
        )
    }

    fn record_lake_file_stats(&self, table_id: i64, files: &[LakeFileStats]) -> Result<()> {
        self.lake_change(|tx| {
            tx.execute("DELETE FROM tarn_lake_file_stats WHERE table_id = ?1", params![table_id])?;
            for file in files {
                tx.execute(
                    "INSERT INTO tarn_lake_file_stats VALUES (?1, ?2, ?3)",
                    params![table_id, &file.location, to_json(file)?],
                )?;
            }
            Ok(())
        })
    }

    fn partitions(&self, table_id: i64) -> Result<Vec<LakePartition>> {
        self.definitions(
            "SELECT definition FROM tarn_lake_partition WHERE table_id = ?1 ORDER BY spec",
            params![table_id],
        )
    }

    fn add_partitions(&self, table: &ExternalTable, partitions: &[LakePartition], if_not_exists: bool) -> Result<u64> {
        if table.partition_keys.is_empty() {
            return Err(Error::InvalidType(format!("table {}.{} is not partitioned", table.database, table.name)));
        }
        self.lake_change(|tx| {
            let mut added = 0;
            for partition in partitions {
                if partition.values.len() != table.partition_keys.len() {
                    return Err(Error::InvalidType(format!(
                        "table {}.{} has {} partition key(s), the partition gives {} value(s)",
                        table.database,
                        table.name,
                        table.partition_keys.len(),
                        partition.values.len()
                    )));
                }
                let spec = LakePartition::spec(&table.partition_keys, &partition.values);
                let inserted = tx.execute(
                    "INSERT INTO tarn_lake_partition VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                    params![table.id, &spec, to_json(partition)?],
                )?;
                match inserted {
                    0 if !if_not_exists => {
                        return Err(Error::AlreadyExists(format!(
                            "partition ({spec}) of {}.{} already exists",
                            table.database, table.name
                        )));
                    }
                    n => added += n,
                }
            }
            Ok(added)
        })
    }

    fn set_partition_location(&self, table: &ExternalTable, values: &[String], location: &str) -> Result<()> {
        let spec = LakePartition::spec(&table.partition_keys, values);
        self.lake_change(|tx| {
            let row = tx.query_opt(
                "SELECT definition FROM tarn_lake_partition WHERE table_id = ?1 AND spec = ?2",
                params![table.id, &spec],
            )?;
            let Some(current) = row.map(|r| r.get::<String>(0)).transpose()? else {
                return Err(missing_partition(&spec, table));
            };
            let moved = LakePartition { location: location.to_string(), ..from_json(&current)? };
            tx.execute(
                "UPDATE tarn_lake_partition SET definition = ?3 WHERE table_id = ?1 AND spec = ?2",
                params![table.id, &spec, to_json(&moved)?],
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
                    params![table.id, &spec],
                )? {
                    0 if !if_exists => {
                        return Err(missing_partition(&spec, table));
                    }
                    n => dropped += n,
                }
            }
            Ok(dropped)
        })
    }
}
