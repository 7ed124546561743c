"""TPC-DS with DuckDB's tpcds extension (PyPI duckdb and duckdb-extension-tpcds, pinned in
requirements.txt): data, and tarn's answers checked against DuckDB's.

usage:
  python3 tpcds.py generate SF DIR     # DIR/<table>/<table>.parquet for the 24 tables
  python3 tpcds.py check DIR QUERIES TARN WAREHOUSE [SCHEMA]
      # runs every QUERIES/qNN.sql in DuckDB over DIR's files and with the tarn binary TARN in
      # WAREHOUSE (where `tarn bench tpcds` registered the tables: managed ones in public, the
      # external ones in schema tpcds_lake; SCHEMA picks which, public by default), compares the answers as multisets of rows
      # (numbers within 1e-6 relative or 0.011 absolute), prints one line per query and exits
      # with 1 if any differs.

DuckDB's AVG of integers and decimals returns a double; Redshift's (tarn's) keeps the
argument's type (integers truncated, decimals rounded to their scale). DuckDB's answers are
computed with AVG as Redshift defines it, so both sides answer the same question.
"""

import csv
import datetime
import decimal
import io
import math
import os
import re
import subprocess
import sys

import duckdb
import duckdb_extension_tpcds

EXTENSION = os.path.join(
    os.path.dirname(duckdb_extension_tpcds.__file__), "extensions", "v" + duckdb.__version__, "tpcds.duckdb_extension"
)


def connect():
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{EXTENSION}'")
    return con


def generate(sf, out):
    con = connect()
    con.execute(f"CALL dsdgen(sf={sf})")
    for (table,) in con.execute("SHOW TABLES").fetchall():
        os.makedirs(os.path.join(out, table), exist_ok=True)
        con.execute(f"COPY {table} TO '{os.path.join(out, table, table)}.parquet' (FORMAT PARQUET)")


def tables(data):
    """The tables `generate` wrote under `data` (each DIR/<table>/<table>.parquet)."""
    return sorted(t for t in os.listdir(data) if os.path.exists(os.path.join(data, t, f"{t}.parquet")))


# Redshift's AVG: an integer argument gives a truncated integer, a decimal keeps its scale (2 in
# TPC-DS).
REDSHIFT_AVG = """CREATE OR REPLACE TEMP MACRO redshift_avg(x) AS CASE
    WHEN typeof(any_value(x)) IN ('TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT') THEN trunc(avg(x))
    WHEN typeof(any_value(x)) LIKE 'DECIMAL%' THEN round(avg(x), 2)
    ELSE avg(x) END"""


def redshift_avgs(sql):
    """`sql` with its aggregate AVG calls (not window functions, `avg(...) OVER`) as redshift_avg."""
    out, i = [], 0
    for m in re.finditer(r"\bavg\s*\(", sql, flags=re.I):
        depth, j = 0, m.end() - 1
        while j < len(sql):
            depth += {"(": 1, ")": -1}.get(sql[j], 0)
            if depth == 0:
                break
            j += 1
        windowed = re.match(r"\s*over\b", sql[j + 1 :], flags=re.I)
        out.append(sql[i : m.start()] + (m.group(0) if windowed else "redshift_avg("))
        i = m.end()
    return "".join(out) + sql[i:]


def value(v):
    if v is None or v == "":
        return None
    if isinstance(v, (int, float, decimal.Decimal)):
        return float(v)
    if isinstance(v, (datetime.date, datetime.datetime)):
        return str(v)
    try:
        return float(v)
    except ValueError:
        return str(v).strip()


def order(row):
    return tuple((0, "") if v is None else (1, round(v, 2)) if isinstance(v, float) else (2, v) for v in row)


def same(a, b):
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x is None or y is None:
            if x is not y:
                return False
        elif isinstance(x, float) and isinstance(y, float):
            if not math.isclose(x, y, rel_tol=1e-6, abs_tol=0.011):
                return False
        elif x != y:
            return False
    return True


def check(data, queries, tarn, warehouse, schema="public"):
    con = connect()
    for table in tables(data):
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM '{os.path.join(data, table, table)}.parquet'")
    con.execute(REDSHIFT_AVG)
    failed = []
    for name in sorted(f for f in os.listdir(queries) if f.endswith(".sql")):
        path = os.path.join(queries, name)
        sql = open(path).read()
        expected = [tuple(value(v) for v in row) for row in con.execute(redshift_avgs(sql)).fetchall()]
        run = subprocess.run(
            [tarn, "--warehouse", warehouse, "--format", "csv", "-c", f"SET search_path TO {schema}", "-f", path],
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            failed.append(name)
            print(f"{name}: tarn failed: {run.stderr.strip()[:300]}")
            continue
        got = [tuple(value(v) for v in row) for row in list(csv.reader(io.StringIO(run.stdout)))[1:]]
        expected.sort(key=order)
        got.sort(key=order)
        if len(expected) == len(got) and all(same(a, b) for a, b in zip(expected, got)):
            print(f"{name}: ok ({len(got)} rows)")
        else:
            failed.append(name)
            diff = next(((a, b) for a, b in zip(expected, got) if not same(a, b)), None)
            print(f"{name}: differs: {len(expected)} rows expected, {len(got)} answered; first difference {diff}")
    total = len([f for f in os.listdir(queries) if f.endswith(".sql")])
    print(f"{total - len(failed)} of {total} queries answered as DuckDB answers them ({schema})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        generate(float(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "check":
        check(*sys.argv[2:7])
    else:
        sys.exit(__doc__)
