"""The team's Python clients against `tarn serve`, one scenario per run:

    python clients.py SCENARIO PORT ADMIN PASSWORD [CERT_DIR]

Each scenario asserts what it checks and exits non-zero (with a traceback) when a check fails.
server/tests/wire/python.rs starts the server and runs them.
"""

import asyncio
import sys

HOST = "127.0.0.1"


def dsn(port, user, password, **extra):
    parts = dict(host=HOST, port=port, user=user, password=password, dbname="dev", **extra)
    return " ".join(f"{k}={v}" for k, v in parts.items())


def psycopg2_etl(port, admin, password):
    """Seed section 5 in psycopg2, verbatim: a full refresh in one transaction, committed, then
    a failing refresh rolled back with the old rows kept; readers never see it half done."""
    import psycopg2

    conn = psycopg2.connect(dsn(port, admin, password))
    cur = conn.cursor()
    cur.execute("CREATE SCHEMA raw_data")
    cur.execute("CREATE TABLE raw_data.name_gender (name varchar(32), gender varchar(8))")
    conn.commit()
    reader = psycopg2.connect(dsn(port, admin, password))
    reader.autocommit = True

    def refresh(records, fail=False):
        try:
            cur.execute("BEGIN;")
            cur.execute("DELETE FROM raw_data.name_gender;")
            for name, gender in records:
                cur.execute(f"INSERT INTO raw_data.name_gender VALUES ('{name}', '{gender}');")
            # A reader in the middle sees the table as it was.
            with reader.cursor() as r:
                r.execute("SELECT count(*) FROM raw_data.name_gender")
                assert r.fetchone()[0] in (0, 2), "a reader saw a half-done refresh"
            if fail:
                cur.execute("INSERT INTO raw_data.name_gender VALUES ('x', 'far too long a gender');")
            cur.execute("COMMIT;")
            conn.commit()
        except Exception:
            conn.rollback()
            raise

    records = [("Adaleigh", "F"), ("Amryn", "Unisex")]
    refresh(records)
    refresh(records)  # twice: the same table, no duplicates
    cur.execute("SELECT name, gender FROM raw_data.name_gender ORDER BY name")
    assert cur.fetchall() == records
    try:
        refresh([("Zed", "M")], fail=True)
        raise AssertionError("the failing refresh succeeded")
    except psycopg2.errors.StringDataRightTruncation:
        pass
    cur.execute("SELECT name FROM raw_data.name_gender ORDER BY name")
    assert [r[0] for r in cur.fetchall()] == ["Adaleigh", "Amryn"], "the old rows must stay"

    # Parameters as psycopg2 interpolates them, quotes and backslashes included.
    cur.execute("INSERT INTO raw_data.name_gender VALUES (%s, %s)", ("O'Brien \\ jr", "M"))
    conn.commit()
    cur.execute("SELECT name FROM raw_data.name_gender WHERE gender = %(g)s", {"g": "M"})
    assert cur.fetchone()[0] == "O'Brien \\ jr"

    # Column types with their modifiers, as cursor.description reports them.
    cur.execute("CREATE TABLE raw_data.typed (v varchar(12), n numeric(8,2), c char(3), d date, t timestamp)")
    conn.commit()
    cur.execute("SELECT * FROM raw_data.typed")
    described = [(d.name, d.type_code, d.internal_size, d.precision, d.scale) for d in cur.description]
    assert described[0] == ("v", 1043, 12, None, None), described
    assert described[1][:2] == ("n", 1700) and described[1][3:] == (8, 2), described
    assert described[2] == ("c", 1042, 3, None, None), described
    assert [d[1] for d in described[3:]] == [1082, 1114], described
    conn.rollback()
    conn.close()
    reader.close()


def sqlalchemy_pandas(port, admin, password):
    """SQLAlchemy's inspector and pandas read_sql/to_sql, unchanged."""
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(f"postgresql://{admin}:{password}@{HOST}:{port}/dev")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA analytics"))
        conn.execute(sa.text("CREATE TABLE analytics.mau_summary (month varchar(7) NOT NULL, mau bigint)"))
        conn.execute(sa.text("COMMENT ON TABLE analytics.mau_summary IS 'monthly active users'"))
        conn.execute(sa.text("INSERT INTO analytics.mau_summary VALUES ('2019-05', 281), ('2019-06', 459)"))
    inspector = sa.inspect(engine)
    assert "analytics" in inspector.get_schema_names()
    assert inspector.get_table_names(schema="analytics") == ["mau_summary"]
    assert inspector.has_table("mau_summary", schema="analytics")
    assert not inspector.has_table("nope", schema="analytics")
    columns = inspector.get_columns("mau_summary", schema="analytics")
    assert [(c["name"], str(c["type"]), c["nullable"]) for c in columns] == [
        ("month", "VARCHAR(7)", False),
        ("mau", "BIGINT", True),
    ], columns
    assert inspector.get_table_comment("mau_summary", schema="analytics")["text"] == "monthly active users"

    frame = pd.read_sql("SELECT month, mau FROM analytics.mau_summary ORDER BY month", engine)
    assert frame["mau"].tolist() == [281, 459]
    with engine.connect() as conn:
        frame = pd.read_sql(sa.text("SELECT * FROM analytics.mau_summary WHERE mau > :m"), conn, params={"m": 300})
    assert frame["month"].tolist() == ["2019-06"]

    out = pd.DataFrame({"id": [1, 2, 3], "name": ["a", "b", None], "score": [1.5, None, 3.25]})
    out.to_sql("scores", engine, schema="analytics", index=False)
    out.to_sql("scores", engine, schema="analytics", index=False, if_exists="append")
    back = pd.read_sql("SELECT * FROM analytics.scores ORDER BY id, name", engine)
    assert len(back) == 6 and back["score"].sum() == 2 * 4.75, back
    out.to_sql("scores", engine, schema="analytics", index=False, if_exists="replace")
    assert len(pd.read_sql("SELECT * FROM analytics.scores", engine)) == 3


def grant_matrix(port, admin, password):
    """Seed section 8 verbatim, then what it allows: an analytics_users member reads analytics
    but not pii, and cannot create in analytics until granted."""
    import psycopg2

    conn = psycopg2.connect(dsn(port, admin, password))
    conn.autocommit = True
    cur = conn.cursor()
    for statement in [
        "CREATE SCHEMA analytics",
        "CREATE SCHEMA pii",
        "CREATE TABLE analytics.mau_summary (month varchar(7), mau bigint)",
        "INSERT INTO analytics.mau_summary VALUES ('2019-05', 281)",
        "CREATE TABLE pii.people (name varchar(32))",
        # Section 8, verbatim (with a password).
        "CREATE USER keeyong PASSWORD 'Keeyong-pw1';",
        "CREATE GROUP analytics_users;  CREATE GROUP pii_users;  CREATE GROUP analytics_authors;",
        "ALTER GROUP analytics_authors ADD USER keeyong;",
        "CREATE ROLE staff;  CREATE ROLE manager;",
        "GRANT ROLE staff TO keeyong;  GRANT ROLE staff TO ROLE manager;",
        "GRANT USAGE ON SCHEMA analytics TO GROUP analytics_users;",
        "GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO GROUP analytics_users;",
        # An analyst in analytics_users.
        "CREATE USER analyst PASSWORD 'Analyst-pw1' IN GROUP analytics_users",
    ]:
        cur.execute(statement)

    analyst = psycopg2.connect(dsn(port, "analyst", "Analyst-pw1"))
    analyst.autocommit = True
    a = analyst.cursor()
    a.execute("SELECT mau FROM analytics.mau_summary")
    assert a.fetchall() == [(281,)]
    for denied, what in [
        ("SELECT * FROM pii.people", "permission denied for schema pii"),
        ("CREATE TABLE analytics.mine (x int)", "permission denied for schema analytics"),
        ("INSERT INTO analytics.mau_summary VALUES ('2019-07', 1)", "permission denied for relation"),
    ]:
        try:
            a.execute(denied)
            raise AssertionError(f"{denied} was allowed")
        except psycopg2.errors.InsufficientPrivilege as e:
            assert what in str(e), str(e)
    # What the catalog shows the analyst: only what it may use.
    a.execute("SELECT nspname FROM pg_namespace WHERE nspname IN ('analytics', 'pii')")
    assert a.fetchall() == [("analytics",)]
    a.execute("SELECT has_schema_privilege('analytics', 'USAGE'), has_schema_privilege('pii', 'USAGE')")
    assert a.fetchone() == (True, False)

    cur.execute("GRANT CREATE ON SCHEMA analytics TO GROUP analytics_users")
    a.execute("CREATE TABLE analytics.mine (x int)")
    a.execute("INSERT INTO analytics.mine VALUES (1)")
    cur.execute("SELECT usename FROM pg_user WHERE usename IN ('keeyong', 'analyst') ORDER BY 1")
    assert cur.fetchall() == [("analyst",), ("keeyong",)]
    cur.execute("SELECT passwd FROM pg_user WHERE usename = 'keeyong'")
    assert cur.fetchone() == ("********",), "passwords never show"
    analyst.close()

    keeyong = psycopg2.connect(dsn(port, "keeyong", "Keeyong-pw1"))
    k = keeyong.cursor()
    try:
        k.execute("SELECT * FROM analytics.mau_summary")
        raise AssertionError("keeyong is not in analytics_users")
    except psycopg2.errors.InsufficientPrivilege:
        keeyong.rollback()
    keeyong.close()
    conn.close()


def sign_in(port, admin, password, cert_dir=None):
    """Wrong password and unknown user fail cleanly; TLS when the server has a certificate."""
    import psycopg2

    for user, pw in [(admin, "wrong"), ("nobody", "x")]:
        try:
            psycopg2.connect(dsn(port, user, pw))
            raise AssertionError(f"{user} signed in with a wrong password")
        except psycopg2.OperationalError as e:
            assert "password authentication failed" in str(e), str(e)
    tls = psycopg2.connect(dsn(port, admin, password, sslmode="require"))
    cur = tls.cursor()
    cur.execute("SELECT current_user")
    assert cur.fetchone() == (admin,)
    assert tls.info.ssl_in_use, "the connection is encrypted"
    tls.close()


def drivers(port, admin, password):
    """psycopg 3 (server-side parameters, binary results), asyncpg and redshift_connector."""
    import decimal

    import psycopg

    with psycopg.connect(dsn(port, admin, password)) as conn:
        conn.execute("CREATE TABLE t (id int, name varchar(10), amount numeric(10,2), at timestamp)")
        conn.execute(
            "INSERT INTO t VALUES (%s, %s, %s, %s)", (1, "one", decimal.Decimal("12.50"), "2024-01-31 10:00:00")
        )
        conn.commit()
        row = conn.execute("SELECT id, name, amount FROM t WHERE id = %s", (1,)).fetchone()
        assert row == (1, "one", decimal.Decimal("12.50")), row
        cur = conn.cursor(binary=True)
        row = cur.execute("SELECT id, amount, at FROM t WHERE name = %s", ("one",)).fetchone()
        assert row[0] == 1 and row[1] == decimal.Decimal("12.50") and row[2].year == 2024, row
        with conn.transaction():
            conn.execute("INSERT INTO t (id, name) VALUES (%s, %s)", (2, "two"))
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)

    async def with_asyncpg():
        import asyncpg

        conn = await asyncpg.connect(host=HOST, port=port, user=admin, password=password, database="dev")
        rows = await conn.fetch("SELECT id, name FROM t WHERE id > $1 ORDER BY id", 0)
        assert [(r["id"], r["name"]) for r in rows] == [(1, "one"), (2, "two")], rows
        await conn.execute("INSERT INTO t (id, name) VALUES ($1, $2)", 3, "three")
        async with conn.transaction():
            await conn.execute("INSERT INTO t (id, name) VALUES ($1, $2)", 4, "four")
        assert await conn.fetchval("SELECT count(*) FROM t") == 4
        await conn.close()

    asyncio.run(with_asyncpg())

    import redshift_connector

    # tarn serves TLS only with --tls-cert/--tls-key; redshift_connector asks for it by default.
    conn = redshift_connector.connect(host=HOST, port=port, user=admin, password=password, database="dev", ssl=False)
    cur = conn.cursor()
    cur.execute("SELECT id, name FROM t WHERE id = %s", (3,))
    assert list(cur.fetchone()) == [3, "three"]
    cur.execute("INSERT INTO t (id, name) VALUES (%s, %s)", (5, "five"))
    conn.commit()
    cur.execute("SELECT count(*) FROM t")
    assert cur.fetchone()[0] == 5
    conn.close()


SCENARIOS = {
    "psycopg2_etl": psycopg2_etl,
    "sqlalchemy_pandas": sqlalchemy_pandas,
    "grant_matrix": grant_matrix,
    "sign_in": sign_in,
    "drivers": drivers,
}

if __name__ == "__main__":
    scenario, port, admin, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    SCENARIOS[scenario](port, admin, password, *sys.argv[5:])
    print(f"{scenario}: ok")
