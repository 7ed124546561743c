"""DuckDB's side of the TPC-H comparison: loads the CSV files `tarn bench tpch` generated into
DuckDB tables created with the same DDL (`schema.sql` beside them), runs the same .sql queries (one warm-up, then N timed iterations each) and
writes a result in `tarn bench run`'s JSON format, for `tarn bench compare`.

usage: python3 duckdb_tpch.py DATA_DIR QUERY_DIR ITERATIONS OUTPUT.json
"""

import json
import os
import re
import sys
import tempfile
import time

TABLES = ["region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"]


def natural(name):
    digits = re.sub(r"\D", "", name)
    return (int(digits) if digits else 1 << 60, name)


def main():
    try:
        import duckdb
    except ImportError:
        sys.exit("duckdb is not installed: pip install duckdb")
    data, queries, iterations, output = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(os.path.join(tmp, "tpch.duckdb"))
        # The same column types as tarn's tables (DECIMAL, not the DOUBLE read_csv would infer).
        with open(os.path.join(data, "schema.sql")) as f:
            con.execute(f.read())
        for table in TABLES:
            path = os.path.join(data, f"{table}.csv")
            con.execute(f"COPY {table} FROM '{path}' (HEADER)")
        con.execute("CHECKPOINT")
        results = []
        names = sorted((f for f in os.listdir(queries) if f.endswith(".sql")), key=natural)
        print(f"{'query':<8} {'median':>12} {'rows':>10}", file=sys.stderr)
        for name in names:
            with open(os.path.join(queries, name)) as f:
                sql = f.read().strip().rstrip(";")
            con.execute(sql).fetchall()
            runs = []
            for _ in range(iterations):
                started = time.perf_counter()
                rows = len(con.execute(sql).fetchall())
                runs.append({"elapsed": (time.perf_counter() - started) * 1000.0, "row_count": rows})
            query = name[: -len(".sql")]
            median = sorted(r["elapsed"] for r in runs)[len(runs) // 2]
            print(f"{query:<8} {median:>9.2f} ms {runs[-1]['row_count']:>10}", file=sys.stderr)
            results.append({"query": query, "iterations": runs})
    context = {"engine": "duckdb", "name": "", "version": duckdb.__version__, "iterations": iterations}
    with open(output, "w") as f:
        json.dump({"context": context, "queries": results}, f, indent=2)


if __name__ == "__main__":
    main()
