"""DuckDB's side of the TPC-H comparison, twice: on native tables loaded from the CSV files
`tarn bench tpch` generated (created with the same DDL, `schema.sql` beside them), and with
`read_parquet` over the Parquet files tarn's lake tables read (DATA_DIR/parquet/<table>/). Runs
the same .sql queries (a cold run in a fresh database instance, one warm-up, then N timed
iterations each) and writes results in `tarn bench run`'s JSON format, for `tarn bench compare`.

usage: python3 duckdb_tpch.py DATA_DIR QUERY_DIR ITERATIONS NATIVE.json PARQUET.json [THREADS]
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
    data, queries, iterations = sys.argv[1], sys.argv[2], int(sys.argv[3])
    native_out, parquet_out = sys.argv[4], sys.argv[5]
    threads = int(sys.argv[6]) if len(sys.argv) > 6 else os.cpu_count()
    with tempfile.TemporaryDirectory() as tmp:
        database = os.path.join(tmp, "tpch.duckdb")
        con = duckdb.connect(database)
        # The same column types as tarn's tables (DECIMAL, not the DOUBLE read_csv would infer).
        with open(os.path.join(data, "schema.sql")) as f:
            con.execute(f.read())
        for table in TABLES:
            path = os.path.join(data, f"{table}.csv")
            con.execute(f"COPY {table} FROM '{path}' (HEADER)")
        con.execute("CHECKPOINT")
        con.close()

        current = []

        def fresh_native():
            # Closing the last connection drops the instance (and its buffer pool).
            while current:
                current.pop().close()
            con = duckdb.connect(database, config={"threads": threads})
            current.append(con)
            return lambda sql: len(con.execute(sql).fetchall())

        results = run_queries(queries, iterations, fresh_native)
        write_result(native_out, "duckdb", "native tables", duckdb.__version__, iterations, results)
        while current:
            current.pop().close()

    def fresh_parquet():
        while current:
            current.pop().close()
        con = duckdb.connect(config={"threads": threads})
        current.append(con)
        for table in TABLES:
            files = os.path.join(data, "parquet", table, "*.parquet")
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{files}')")
        return lambda sql: len(con.execute(sql).fetchall())

    results = run_queries(queries, iterations, fresh_parquet)
    write_result(parquet_out, "duckdb", "read_parquet", duckdb.__version__, iterations, results)


if __name__ == "__main__":
    main()
