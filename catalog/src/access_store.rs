//! [`AccessCatalog`] in the catalog database: the whole state as one JSON document, replaced
//! by each change inside a write transaction (so changes from several processes apply one after
//! the other).

use crate::access::{AccessCatalog, AccessOp, AccessState};
use crate::db::params;
use crate::store::SqlCatalog;
use crate::{Error, Result};

fn decode(text: &str) -> Result<AccessState> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("the access-control state does not decode: {e}")))
}

impl AccessCatalog for SqlCatalog {
    fn access_state(&self) -> Result<AccessState> {
        let (version, text): (i64, String) = self.with_conn(|conn| {
            let row = conn.query_opt("SELECT version, state FROM tarn_access WHERE id = 1", params![])?;
            let row = row.ok_or_else(|| Error::Corrupt("the access-control state is missing".into()))?;
            Ok((row.get(0)?, row.get(1)?))
        })?;
        Ok(AccessState { version, ..decode(&text)? })
    }

    fn access_version(&self) -> Result<i64> {
        self.with_conn(|conn| conn.query_value("SELECT version FROM tarn_access WHERE id = 1", params![]))
    }

    fn apply_access(&self, ops: &[AccessOp]) -> Result<()> {
        self.write(|tx| {
            let row = tx.query_opt("SELECT version, state FROM tarn_access WHERE id = 1", params![])?;
            let row = row.ok_or_else(|| Error::Corrupt("the access-control state is missing".into()))?;
            let (version, text): (i64, String) = (row.get(0)?, row.get(1)?);
            let mut state = decode(&text)?;
            for op in ops {
                state.apply(op)?;
            }
            let json = serde_json::to_string(&state)
                .map_err(|e| Error::Corrupt(format!("cannot encode the access-control state: {e}")))?;
            tx.execute("UPDATE tarn_access SET version = ?1, state = ?2 WHERE id = 1", params![version + 1, json])?;
            Ok(())
        })
    }
}
