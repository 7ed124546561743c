"""DuckDB's side of the TPC-H comparison: loads the CSV files `tarn bench tpch` generated into
DuckDB tables created with the same DDL (`schema.sql` beside them), runs the same .sql queries
(one warm-up, then N timed iterations each) and writes a result in `tarn bench run`'s JSON
format, for `tarn bench compare`.

usage: python3 duckdb_tpch.py DATA_DIR QUERY_DIR ITERATIONS OUTPUT.json
"""

import os
import sys
import tempfile

from tpch_peer import TABLES, run_queries, write_result


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
        results = run_queries(queries, iterations, lambda sql: len(con.execute(sql).fetchall()))
    write_result(output, "duckdb", duckdb.__version__, iterations, results)


if __name__ == "__main__":
    main()
