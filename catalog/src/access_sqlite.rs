//! [`AccessCatalog`] in the warehouse's SQLite catalog: the whole state as one JSON document,
//! replaced by each change inside an IMMEDIATE transaction (so changes from several processes
//! apply one after the other).

use rusqlite::{TransactionBehavior, params};

use crate::access::{AccessCatalog, AccessOp, AccessState};
use crate::sqlite::SqliteCatalog;
use crate::{Error, Result};

fn decode(text: &str) -> Result<AccessState> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("the access-control state does not decode: {e}")))
}

impl AccessCatalog for SqliteCatalog {
    fn access_state(&self) -> Result<AccessState> {
        let (version, text): (i64, String) = self.with_conn(|conn| {
            conn.prepare_cached("SELECT version, state FROM tarn_access WHERE id = 1")?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        })?;
        Ok(AccessState { version, ..decode(&text)? })
    }

    fn access_version(&self) -> Result<i64> {
        self.with_conn(|conn| {
            conn.prepare_cached("SELECT version FROM tarn_access WHERE id = 1")?.query_row([], |r| r.get(0))
        })
    }

    fn apply_access(&self, ops: &[AccessOp]) -> Result<()> {
        let mut outcome: Option<Result<()>> = None;
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (version, text): (i64, String) =
                tx.query_row("SELECT version, state FROM tarn_access WHERE id = 1", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            let applied = decode(&text).and_then(|mut state| {
                for op in ops {
                    state.apply(op)?;
                }
                serde_json::to_string(&state)
                    .map_err(|e| Error::Corrupt(format!("cannot encode the access-control state: {e}")))
            });
            match applied {
                Ok(json) => {
                    tx.execute(
                        "UPDATE tarn_access SET version = ?1, state = ?2 WHERE id = 1",
                        params![version + 1, json],
                    )?;
                    tx.commit()?;
                    outcome = Some(Ok(()));
                }
                Err(e) => outcome = Some(Err(e)),
            }
            Ok(())
        })?;
        outcome.unwrap_or(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{GroupDef, UserDef};

    #[test]
    fn access_changes_persist_and_failures_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = SqliteCatalog::open(dir.path().join("c.db"), "admin").unwrap();
        let user = UserDef {
            id: 0,
            name: "ann".into(),
            superuser: false,
            create_db: false,
            scram: Some("SCRAM-SHA-256$4096:c2FsdA==$a:b".into()),
            md5: None,
            valid_until: None,
            connection_limit: None,
            created_at: "now".into(),
        };
        catalog.apply_access(&[AccessOp::CreateUser(user.clone())]).unwrap();
        let err = catalog
            .apply_access(&[
                AccessOp::CreateGroup(GroupDef { name: "g".into(), ..Default::default() }),
                AccessOp::CreateUser(user),
            ])
            .unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        let reopened = SqliteCatalog::open(dir.path().join("c.db"), "admin").unwrap();
        let state = reopened.access_state().unwrap();
        assert!(state.users.contains_key("ann"));
        assert!(state.groups.is_empty(), "the failed batch changed nothing");
        assert_eq!(state.version, 1);
    }
}
