//! The catalog's behaviour, the same on every backend: each test runs on SQLite and on a real
//! PostgreSQL server (started once per test binary, one new database per test).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tarn_testkit::postgres::PostgresServer;

use crate::access::{AccessCatalog, AccessOp, GroupDef, UserDef};
use crate::lake::{ExternalSchema, ExternalTable, LakeCatalog, LakeColumn, LakeFormat, LakePartition};
use crate::lineage::{LineageKind, LineageObject, LineageRecord};
use crate::model::{CatalogOp, ColumnDef, DEFAULT_SCHEMA, NewDataFile, SnapshotId, TableDef};
use crate::txn::Transaction;
use crate::types::SqlType;
use crate::{CatalogStore, Error, SqlCatalog, now};

/// Where a test's catalog lives: a SQLite file or a PostgreSQL database of its own.
enum Place {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

fn server() -> &'static PostgresServer {
    static SERVER: OnceLock<PostgresServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        PostgresServer::start().unwrap_or_else(|e| panic!("a PostgreSQL server for the catalog tests: {e}"))
    })
}

impl Place {
    fn sqlite() -> Place {
        Place::Sqlite(tempfile::tempdir().unwrap())
    }

    fn postgres() -> Place {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("catalog_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        Place::Postgres(server().create_database(&name).unwrap())
    }

    /// Opens the catalog (another connection each time).
    fn open(&self, owner: &str) -> SqlCatalog {
        match self {
            Place::Sqlite(dir) => SqlCatalog::sqlite(dir.path().join("catalog.db"), owner).unwrap(),
            Place::Postgres(url) => SqlCatalog::postgres(url, owner).unwrap(),
        }
    }
}

/// Each test, once per backend.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(&super::Place::sqlite()) })*
        }
        mod postgres {
            $(#[test] fn $name() { super::$name(&super::Place::postgres()) })*
        }
    };
}

on_every_backend!(
    new_catalog_has_public_schema_at_snapshot_zero,
    file_statistics_are_committed_with_the_file_and_recorded_later_for_old_ones,
    lineage_commits_with_its_transaction_and_takes_the_commit_s_snapshot,
    commits_create_snapshots_and_old_snapshots_stay_readable,
    expiring_keeps_the_state_at_the_cutoff_and_everything_after,
    concurrent_rewrites_of_one_table_conflict_but_appends_merge,
    concurrent_creates_of_one_name_conflict,
    drop_schema_with_tables_needs_cascade,
    reopening_keeps_everything_and_migrations_are_idempotent,
    writers_of_several_connections_commit_one_after_the_other,
    history_and_loads_keep_their_order,
    lake_objects_persist_with_versions_and_partitions,
    access_changes_persist_and_failures_change_nothing,
    an_abandoned_transaction_is_rolled_back_by_the_next,
    running_engines_are_seen_from_every_connection_until_they_end,
    the_data_location_is_recorded_once_and_kept,
);

fn begin(cat: &SqlCatalog) -> Transaction {
    let snapshot = cat.latest_snapshot().unwrap();
    Transaction::new(Arc::new(cat.load_state(snapshot).unwrap()))
}

fn table(cat: &SqlCatalog, txn: &Transaction, name: &str) -> TableDef {
    let id = cat.allocate_ids(1).unwrap();
    TableDef {
        id,
        schema_id: txn.state().schema(DEFAULT_SCHEMA).unwrap().id,
        name: name.into(),
        columns: vec![ColumnDef::new("a", SqlType::Integer)],
        path: format!("data/public/{name}_{id}"),
        owner: "tester".into(),
        comment: None,
        created_at: now(),
        sort_key: None,
    }
}

fn file(path: &str, rows: u64) -> NewDataFile {
    NewDataFile { path: path.into(), record_count: rows, file_size_bytes: 100, footer_size: 10, stats: None }
}

fn new_catalog_has_public_schema_at_snapshot_zero(place: &Place) {
    let cat = place.open("tester");
    assert_eq!(cat.latest_snapshot().unwrap(), 0);
    let state = cat.load_state(0).unwrap();
    assert_eq!(state.schema(DEFAULT_SCHEMA).unwrap().owner, "tester");
}

fn file_statistics_are_committed_with_the_file_and_recorded_later_for_old_ones(place: &Place) {
    let cat = place.open("tester");
    let mut txn = begin(&cat);
    let t = table(&cat, &txn, "t");
    txn.apply(CatalogOp::CreateTable(t.clone())).unwrap();
    let stats = crate::FileStats {
        bytes: Some(crate::Stat { value: 24, exact: false }),
        columns: vec![crate::ColumnStats {
            name: "a".into(),
            nulls: Some(crate::Stat { value: 1, exact: true }),
            min: Some(crate::Stat { value: "-5".into(), exact: true }),
            max: Some(crate::Stat { value: "70".into(), exact: true }),
            ..Default::default()
        }],
    };
    let with_stats = NewDataFile { stats: Some(stats.clone()), ..file("a.parquet", 3) };
    txn.add_files(t.id, vec![with_stats, file("b.parquet", 2)]).unwrap();
    let snapshot = cat.commit(&txn, "tester").unwrap();

    let files = cat.data_files(t.id, snapshot).unwrap();
    assert_eq!(files[0].stats.as_ref(), Some(&stats));
    assert_eq!(files[1].stats, None);

    let mut analyzed = stats.clone();
    analyzed.columns[0].distinct = Some(crate::Stat { value: 2, exact: false });
    cat.record_file_stats(&[(files[1].id, analyzed.clone())]).unwrap();
    assert_eq!(cat.latest_snapshot().unwrap(), snapshot, "statistics make no snapshot");
    let files = cat.all_data_files().unwrap();
    assert_eq!(files[1].stats.as_ref(), Some(&analyzed));
    assert_eq!(files[0].stats.as_ref(), Some(&stats));
}

fn lineage_commits_with_its_transaction_and_takes_the_commit_s_snapshot(place: &Place) {
    let cat = place.open("tester");
    let object = |kind, name: &str, id| LineageObject { kind, name: name.into(), id };
    let record = |target: LineageObject, sources: Vec<LineageObject>| LineageRecord {
        id: 0,
        snapshot: 0,
        time: now(),
        userid: "tester".into(),
        statement: "CREATE TABLE AS".into(),
        target,
        sources,
        querytxt: "CREATE TABLE t AS SELECT * FROM s".into(),
    };
    let mut txn = begin(&cat);
    let t = table(&cat, &txn, "t");
    txn.apply(CatalogOp::CreateTable(t.clone())).unwrap();
    let sources = vec![object(LineageKind::Table, "public.s", Some(7)), object(LineageKind::File, "/d/*.csv", None)];
    txn.record_lineage(record(object(LineageKind::Table, "public.t", Some(t.id)), sources.clone()));
    assert_eq!(cat.commit(&txn, "tester").unwrap(), 1);
    // Rolled back: never committed, never recorded.
    let mut txn = begin(&cat);
    txn.record_lineage(record(object(LineageKind::Table, "public.u", None), sources.clone()));
    drop(txn);
    // Nothing but lineage (an UNLOAD): recorded as of the base snapshot.
    let mut txn = begin(&cat);
    txn.record_lineage(record(object(LineageKind::File, "s3://b/out/", None), vec![sources[0].clone()]));
    assert_eq!(cat.commit(&txn, "tester").unwrap(), 1);

    let lineage = cat.lineage().unwrap();
    assert_eq!(lineage.len(), 2);
    assert_eq!(
        (lineage[0].snapshot, &lineage[0].target.name, &lineage[0].sources),
        (1, &"public.t".to_string(), &sources)
    );
    assert_eq!((lineage[1].snapshot, lineage[1].target.kind, lineage[1].sources.len()), (1, LineageKind::File, 1));
    assert!(lineage[0].id < lineage[1].id);
}

fn commits_create_snapshots_and_old_snapshots_stay_readable(place: &Place) {
    let cat = place.open("tester");
    let mut txn = begin(&cat);
    let t = table(&cat, &txn, "t");
    txn.apply(CatalogOp::CreateTable(t.clone())).unwrap();
    txn.add_files(t.id, vec![file("a.parquet", 3)]).unwrap();
    assert_eq!(cat.commit(&txn, "tester").unwrap(), 1);

    let mut txn = begin(&cat);
    let files = cat.data_files(t.id, 1).unwrap();
    txn.remove_files(t.id, files.iter().map(|f| f.id), &Default::default()).unwrap();
    txn.add_files(t.id, vec![file("b.parquet", 2)]).unwrap();
    let mut renamed = t.clone();
    renamed.name = "u".into();
    txn.apply(CatalogOp::AlterTable(renamed)).unwrap();
    assert_eq!(cat.commit(&txn, "tester").unwrap(), 2);

    assert_eq!(cat.load_state(1).unwrap().tables[&t.id].name, "t");
    assert_eq!(cat.load_state(2).unwrap().tables[&t.id].name, "u");
    assert_eq!(cat.load_state(2).unwrap().tables[&t.id].columns.len(), 1);
    assert_eq!(cat.data_files(t.id, 1).unwrap()[0].path, "a.parquet");
    assert_eq!(cat.data_files(t.id, 2).unwrap()[0].path, "b.parquet");
    assert!(cat.load_state(0).unwrap().tables.is_empty());
    let snaps = cat.snapshots().unwrap();
    assert_eq!(snaps.len(), 3);
    assert!(snaps[1].changes.contains("created_table:\"public\".\"t\""), "{}", snaps[1].changes);
    assert_eq!(cat.all_data_files().unwrap().len(), 2);
}

fn expiring_keeps_the_state_at_the_cutoff_and_everything_after(place: &Place) {
    let cat = place.open("tester");
    let mut txn = begin(&cat);
    let t = table(&cat, &txn, "t");
    txn.apply(CatalogOp::CreateTable(t.clone())).unwrap();
    txn.add_files(t.id, vec![file("a.parquet", 3)]).unwrap();
    cat.commit(&txn, "tester").unwrap(); // 1: a
    let mut txn = begin(&cat);
    let live = cat.data_files(t.id, 1).unwrap();
    txn.remove_files(t.id, live.iter().map(|f| f.id), &Default::default()).unwrap();
    txn.add_files(t.id, vec![file("b.parquet", 3)]).unwrap();
    cat.commit(&txn, "tester").unwrap(); // 2: b
    let cutoff = now();
    let mut txn = begin(&cat);
    let live = cat.data_files(t.id, 2).unwrap();
    txn.remove_files(t.id, live.iter().map(|f| f.id), &Default::default()).unwrap();
    txn.add_files(t.id, vec![file("c.parquet", 3)]).unwrap();
    cat.commit(&txn, "tester").unwrap(); // 3: c

    assert_eq!(cat.expire_snapshots(&cutoff).unwrap(), vec!["a.parquet".to_string()]);
    let ids: Vec<SnapshotId> = cat.snapshots().unwrap().iter().map(|s| s.id).collect();
    assert_eq!(ids, [2, 3]);
    assert_eq!(cat.data_files(t.id, 2).unwrap()[0].path, "b.parquet");
    assert_eq!(cat.data_files(t.id, 3).unwrap()[0].path, "c.parquet");
    // Expiring up to now keeps only the newest snapshot.
    assert_eq!(cat.expire_snapshots(&now()).unwrap(), vec!["b.parquet".to_string()]);
    assert_eq!(cat.load_state(3).unwrap().tables.len(), 1);
}

fn concurrent_rewrites_of_one_table_conflict_but_appends_merge(place: &Place) {
    let cat = place.open("tester");
    let mut txn = begin(&cat);
    let t = table(&cat, &txn, "t");
    txn.apply(CatalogOp::CreateTable(t.clone())).unwrap();
    txn.add_files(t.id, vec![file("a.parquet", 3)]).unwrap();
    cat.commit(&txn, "tester").unwrap();

    let live = cat.data_files(t.id, 1).unwrap();
    // Three sessions, each with its own connection.
    let (other, third) = (place.open("tester"), place.open("tester"));
    let mut first = begin(&cat);
    let mut second = begin(&other);
    let mut appender = begin(&third);
    first.remove_files(t.id, [live[0].id], &Default::default()).unwrap();
    second.remove_files(t.id, [live[0].id], &Default::default()).unwrap();
    appender.add_files(t.id, vec![file("c.parquet", 1)]).unwrap();

    cat.commit(&first, "tester").unwrap();
    let err = other.commit(&second, "tester").unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err}");
    third.commit(&appender, "tester").unwrap();
    let files = cat.data_files(t.id, cat.latest_snapshot().unwrap()).unwrap();
    assert_eq!(files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["c.parquet"]);
}

fn concurrent_creates_of_one_name_conflict(place: &Place) {
    let cat = place.open("tester");
    let other = place.open("tester");
    let mut a = begin(&cat);
    let mut b = begin(&other);
    let ta = table(&cat, &a, "t");
    let tb = table(&other, &b, "t");
    a.apply(CatalogOp::CreateTable(ta)).unwrap();
    b.apply(CatalogOp::CreateTable(tb)).unwrap();
    cat.commit(&a, "tester").unwrap();
    assert!(matches!(other.commit(&b, "tester").unwrap_err(), Error::Conflict(_)));
}

fn drop_schema_with_tables_needs_cascade(place: &Place) {
    let cat = place.open("tester");
    let mut txn = begin(&cat);
    let t = table(&cat, &txn, "t");
    txn.apply(CatalogOp::CreateTable(t)).unwrap();
    let public = txn.state().schema(DEFAULT_SCHEMA).unwrap().id;
    assert!(matches!(txn.apply(CatalogOp::DropSchema(public)), Err(Error::DependentObjects(_))));
}

fn reopening_keeps_everything_and_migrations_are_idempotent(place: &Place) {
    {
        let cat = place.open("tester");
        let mut txn = begin(&cat);
        let t = table(&cat, &txn, "kept");
        txn.apply(CatalogOp::CreateTable(t)).unwrap();
        let mut sorted = table(&cat, &txn, "sorted");
        sorted.sort_key = Some(crate::SortKey { columns: vec!["a".into()], interleaved: true });
        txn.apply(CatalogOp::CreateTable(sorted)).unwrap();
        cat.commit(&txn, "tester").unwrap();
    }
    let cat = place.open("someone else");
    let state = cat.load_state(cat.latest_snapshot().unwrap()).unwrap();
    assert_eq!(state.table_by_name(DEFAULT_SCHEMA, "kept").unwrap().sort_key, None);
    assert_eq!(
        state.table_by_name(DEFAULT_SCHEMA, "sorted").unwrap().sort_key,
        Some(crate::SortKey { columns: vec!["a".into()], interleaved: true })
    );
    assert_eq!(state.schema(DEFAULT_SCHEMA).unwrap().owner, "tester");
}

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

fn lake_objects_persist_with_versions_and_partitions(place: &Place) {
    let catalog = place.open("alice");
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

    assert_eq!(catalog.add_partitions(&table, &[partition("2008-01-01"), partition("2008-01-02")], false).unwrap(), 2);
    assert!(matches!(catalog.add_partitions(&table, &[partition("2008-01-01")], false), Err(Error::AlreadyExists(_))));
    assert_eq!(catalog.add_partitions(&table, &[partition("2008-01-01"), partition("2008-01-03")], true).unwrap(), 1);
    assert_eq!(catalog.drop_partitions(&table, &[vec!["2008-01-02".into()]], false).unwrap(), 1);
    catalog.set_partition_location(&table, &["2008-01-03".into()], "s3://bucket/moved/").unwrap();
    assert!(matches!(
        catalog.set_partition_location(&table, &["2008-01-02".into()], "s3://bucket/x/"),
        Err(Error::NotFound(_))
    ));
    let unpartitioned = ExternalTable { partition_keys: Vec::new(), ..table.clone() };
    assert!(catalog.add_partitions(&unpartitioned, &[], true).is_err());
    assert!(matches!(catalog.drop_partitions(&table, &[vec!["2008-01-02".into()]], false), Err(Error::NotFound(_))));
    drop(catalog);

    // A second open sees everything, with the history of the table.
    let catalog = place.open("bob");
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

fn access_changes_persist_and_failures_change_nothing(place: &Place) {
    let catalog = place.open("admin");
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
    let reopened = place.open("admin");
    let state = reopened.access_state().unwrap();
    assert!(state.users.contains_key("ann"));
    assert!(state.groups.is_empty(), "the failed batch changed nothing");
    assert_eq!(state.version, 1);
}

/// Writers on several connections (processes, machines) at once: every append commits, each as
/// its own snapshot, none lost, and readers of an old snapshot still see it.
fn writers_of_several_connections_commit_one_after_the_other(place: &Place) {
    let cat = place.open("tester");
    let mut txn = begin(&cat);
    let t = table(&cat, &txn, "t");
    txn.apply(CatalogOp::CreateTable(t.clone())).unwrap();
    cat.commit(&txn, "tester").unwrap();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let cat = place.open("tester");
            let id = t.id;
            std::thread::spawn(move || {
                let mut snapshots = Vec::new();
                for i in 0..5 {
                    let mut txn = begin(&cat);
                    txn.add_files(id, vec![file(&format!("w{w}-{i}.parquet"), 1)]).unwrap();
                    snapshots.push(cat.commit(&txn, "tester").unwrap());
                }
                snapshots
            })
        })
        .collect();
    let mut snapshots: Vec<SnapshotId> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    snapshots.sort();
    assert_eq!(snapshots, (2..22).collect::<Vec<_>>());
    assert_eq!(cat.data_files(t.id, 21).unwrap().len(), 20);
    assert_eq!(cat.data_files(t.id, 11).unwrap().len(), 10);
    assert_eq!(cat.data_files(t.id, 1).unwrap().len(), 0);
}

/// Query history, load errors and loaded files come back in the order they were recorded.
fn history_and_loads_keep_their_order(place: &Place) {
    let cat = place.open("tester");
    let query = |text: &str| crate::QueryRecord {
        query: 0,
        userid: "tester".into(),
        pid: 7,
        querytxt: text.into(),
        starttime: now(),
        endtime: now(),
        rows: Some(1),
        status: "success".into(),
        error: None,
    };
    let load = cat.next_query_id().unwrap();
    cat.record_queries(&[query("SELECT 1"), query("SELECT 2")]).unwrap();
    cat.record_queries(&[query("SELECT 3")]).unwrap();
    let texts: Vec<_> = cat.queries().unwrap().into_iter().map(|q| (q.query, q.querytxt)).collect();
    assert_eq!(texts, [(load + 1, "SELECT 1".into()), (load + 2, "SELECT 2".into()), (load + 3, "SELECT 3".into())]);
    assert_eq!(cat.trim_queries(Some(1), None).unwrap(), 2);
    assert_eq!(cat.queries().unwrap().len(), 1);

    let error = |line: i64| crate::LoadError {
        query: load,
        userid: "tester".into(),
        tbl: 3,
        starttime: now(),
        session: 7,
        filename: "/d/a.csv".into(),
        line_number: line,
        colname: "a".into(),
        col_type: "integer".into(),
        col_length: "0".into(),
        position: 1,
        raw_line: "x".into(),
        raw_field_value: "x".into(),
        err_code: 1207,
        err_reason: "Invalid digit".into(),
    };
    let commit = |name: &str| crate::LoadCommit {
        query: load,
        userid: "tester".into(),
        tbl: 3,
        filename: name.into(),
        lines_scanned: 2,
        curtime: now(),
        status: "loaded".into(),
    };
    cat.record_load(&[error(9), error(2)], &[commit("/d/b.csv"), commit("/d/a.csv")]).unwrap();
    cat.record_load(&[error(5)], &[]).unwrap();
    let lines: Vec<_> = cat.load_errors().unwrap().into_iter().map(|e| e.line_number).collect();
    assert_eq!(lines, [9, 2, 5]);
    let files: Vec<_> = cat.load_commits().unwrap().into_iter().map(|c| c.filename).collect();
    assert_eq!(files, ["/d/b.csv", "/d/a.csv"]);

    cat.record_reads(&[(3, 2, "2026-01-02T00:00:00.000000Z".into())]).unwrap();
    cat.record_reads(&[(3, 1, "2026-01-01T00:00:00.000000Z".into())]).unwrap();
    assert_eq!(cat.table_reads().unwrap()[&3], (3, "2026-01-02T00:00:00.000000Z".into()));
}

/// `tarn catalog migrate`: everything of a SQLite catalog arrives in a new PostgreSQL one, which
/// then goes on from there; a catalog that is not new is refused.
#[test]
fn a_sqlite_catalog_copies_into_a_new_postgres_catalog() {
    let sqlite = Place::sqlite();
    let source = sqlite.open("tester");
    let mut txn = begin(&source);
    let t = table(&source, &txn, "t");
    txn.apply(CatalogOp::CreateTable(t.clone())).unwrap();
    txn.add_files(t.id, vec![file("a.parquet", 3), file("b.parquet", 2)]).unwrap();
    txn.record_lineage(LineageRecord {
        id: 0,
        snapshot: 0,
        time: now(),
        userid: "tester".into(),
        statement: "COPY".into(),
        target: LineageObject { kind: LineageKind::Table, name: "public.t".into(), id: Some(t.id) },
        sources: vec![LineageObject { kind: LineageKind::File, name: "/d/a.csv".into(), id: None }],
        querytxt: "COPY t FROM '/d/a.csv'".into(),
    });
    source.commit(&txn, "tester").unwrap();
    source.apply_access(&[AccessOp::CreateGroup(GroupDef { name: "analysts".into(), ..Default::default() })]).unwrap();
    let lake = ExternalSchema {
        name: "spectrum".into(),
        database: "spectrumdb".into(),
        region: None,
        iam_role: None,
        owner: "tester".into(),
        created: now(),
    };
    source.create_external_schema(&lake, true, false).unwrap();
    source.create_external_table(&sales("spectrumdb"), false).unwrap();
    history_and_loads_keep_their_order(&sqlite);

    let postgres = Place::postgres();
    let target = postgres.open("someone else");
    let report = target.copy_from(&source).unwrap();
    assert_eq!(report.snapshot, 1);
    let snapshot = target.latest_snapshot().unwrap();
    assert_eq!(snapshot, 1);
    assert_eq!(target.load_state(1).unwrap(), source.load_state(1).unwrap());
    assert_eq!(target.all_data_files().unwrap(), source.all_data_files().unwrap());
    assert_eq!(target.snapshots().unwrap(), source.snapshots().unwrap());
    assert_eq!(target.lineage().unwrap(), source.lineage().unwrap());
    assert_eq!(target.queries().unwrap(), source.queries().unwrap());
    assert_eq!(target.load_errors().unwrap(), source.load_errors().unwrap());
    assert_eq!(target.load_commits().unwrap(), source.load_commits().unwrap());
    assert_eq!(target.table_reads().unwrap(), source.table_reads().unwrap());
    assert_eq!(target.lake_state().unwrap(), source.lake_state().unwrap());
    assert_eq!(target.access_state().unwrap(), source.access_state().unwrap());
    assert_eq!(target.next_query_id().unwrap(), source.next_query_id().unwrap());
    assert_eq!(target.allocate_ids(1).unwrap(), source.allocate_ids(1).unwrap());

    // The copy goes on: new files get new ids after the copied ones.
    let mut txn = begin(&target);
    txn.add_files(t.id, vec![file("c.parquet", 1)]).unwrap();
    assert_eq!(target.commit(&txn, "tester").unwrap(), 2);
    let ids: Vec<i64> = target.data_files(t.id, 2).unwrap().iter().map(|f| f.id).collect();
    assert_eq!(ids.len(), 3);
    assert!(ids[2] > ids[1], "{ids:?}");

    let err = target.copy_from(&source).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists(_)), "{err}");
    assert_eq!(target.latest_snapshot().unwrap(), 2, "a refused copy changes nothing");
}

/// A PostgreSQL catalog whose session the server ended (a restart, an idle timeout) connects
/// again between transactions: the next request works.
#[test]
fn a_postgres_catalog_connects_again_after_the_server_ends_its_session() {
    let place = Place::postgres();
    let cat = place.open("tester");
    cat.register_engine("0a1b2c").unwrap();
    let epoch = cat.liveness_epoch();
    let other = place.open("tester");
    let ended: Vec<bool> = other
        .rows(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(ended, [true]);
    assert_eq!(cat.latest_snapshot().unwrap(), 0);
    let mut txn = begin(&cat);
    let t = table(&cat, &txn, "t");
    txn.apply(CatalogOp::CreateTable(t)).unwrap();
    assert_eq!(cat.commit(&txn, "tester").unwrap(), 1);
    // Others may have taken the engine for gone meanwhile: its epoch says so, and its new
    // session carries its name again.
    assert_ne!(cat.liveness_epoch(), epoch);
    assert!(other.live_engines().unwrap().contains("0a1b2c"));
}

/// A transaction its caller never ended (a panic between begin and commit) is rolled back when
/// the connection begins the next one, on both backends.
fn an_abandoned_transaction_is_rolled_back_by_the_next(place: &Place) {
    let cat = place.open("tester");
    let abandoned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        cat.write(|tx| -> crate::Result<()> {
            tx.execute("UPDATE tarn_metadata SET value = 'x' WHERE key = 'lake_version'", &[])?;
            panic!("a caller that never ends its transaction")
        })
    }));
    assert!(abandoned.is_err());
    // Its change is gone once the next transaction begins.
    assert_eq!(cat.allocate_ids(1).unwrap(), 2);
    assert_eq!(cat.lake_version().unwrap(), 0);
}

/// An engine registered through one connection (one process) is seen running from every other
/// while its catalog stays open, and no longer once it is closed (its process ended).
fn running_engines_are_seen_from_every_connection_until_they_end(place: &Place) {
    let first = place.open("ann");
    let second = place.open("bob");
    let observer = place.open("cy");
    first.register_engine("0a1b2c").unwrap();
    second.register_engine("3d4e5f").unwrap();
    let live = observer.live_engines().unwrap();
    assert!(live.contains("0a1b2c") && live.contains("3d4e5f"), "{live:?}");
    assert!(first.live_engines().unwrap().contains("3d4e5f"));
    drop(first);
    // PostgreSQL ends a closed connection's session asynchronously: wait a little for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let live = observer.live_engines().unwrap();
        assert!(live.contains("3d4e5f"), "{live:?}");
        if !live.contains("0a1b2c") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "a closed catalog's engine still runs: {live:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(matches!(observer.register_engine("no/slashes"), Err(Error::Invalid(_))));
}

/// A warehouse's data location is recorded by the first process that asks for one while the
/// warehouse has no data files; later processes find it, and another location is refused.
fn the_data_location_is_recorded_once_and_kept(place: &Place) {
    let cat = place.open("ann");
    assert_eq!(cat.data_location(None).unwrap(), None);
    assert_eq!(cat.data_location(Some("s3://b/wh")).unwrap().as_deref(), Some("s3://b/wh"));
    let other = place.open("bob");
    assert_eq!(other.data_location(None).unwrap().as_deref(), Some("s3://b/wh"));
    assert_eq!(other.data_location(Some("s3://b/wh")).unwrap().as_deref(), Some("s3://b/wh"));
    let refused = other.data_location(Some("s3://b/elsewhere")).unwrap_err().to_string();
    assert!(refused.contains("s3://b/wh") && refused.contains("s3://b/elsewhere"), "{refused}");

    // A warehouse whose data is in its directory already cannot move it by asking.
    let local = match place {
        Place::Sqlite(_) => Place::sqlite(),
        Place::Postgres(_) => Place::postgres(),
    };
    let cat = local.open("ann");
    let mut txn = begin(&cat);
    let t = table(&cat, &txn, "t");
    txn.apply(CatalogOp::CreateTable(t.clone())).unwrap();
    txn.add_files(t.id, vec![file("data/public/t/a.parquet", 1)]).unwrap();
    cat.commit(&txn, "ann").unwrap();
    let refused = cat.data_location(Some("s3://b/wh")).unwrap_err().to_string();
    assert!(refused.contains("has data files"), "{refused}");
    assert_eq!(cat.data_location(None).unwrap(), None);
}
