"""DuckDB's side of the TPC-DS comparison, twice: on native tables loaded from the Parquet files
`tarn bench tpcds` generated (DATA_DIR/<table>/<table>.parquet) and with `read_parquet` over
those same files, which tarn's lake tables read. Runs the same .sql queries (a cold run in a
fresh database instance, one warm-up, then N timed iterations each) and writes results in
`tarn bench run`'s JSON format, for `tarn bench compare` and summary.py.

DuckDB runs each query with AVG as Redshift (and tarn) define it (an integer average truncated
to an integer, a decimal one rounded to its scale: tpcds.py's `redshift_avg`), so that both
engines answer the same question (q39's `stdev/mean` keeps other rows otherwise); it costs
DuckDB no measurable time.

usage: python3 duckdb_tpcds.py DATA_DIR QUERY_DIR ITERATIONS NATIVE.json PARQUET.json [THREADS]
"""

import os
import sys
import tempfile

from tpch_peer import run_queries, write_result

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tpcds"))
from tpcds import REDSHIFT_AVG, redshift_avgs, tables  # noqa: E402


def main():
    import duckdb

    data, queries, iterations = sys.argv[1], sys.argv[2], int(sys.argv[3])
    native_out, parquet_out = sys.argv[4], sys.argv[5]
    threads = int(sys.argv[6]) if len(sys.argv) > 6 else os.cpu_count()
    current = []

    def fresh(database, setup):
        def open_instance():
            # Closing the last connection drops the instance (and its buffer pool).
            while current:
                current.pop().close()
            con = duckdb.connect(database, config={"threads": threads})
            current.append(con)
            setup(con)
            con.execute(REDSHIFT_AVG)
            return lambda sql: len(con.execute(redshift_avgs(sql)).fetchall())

        return open_instance

    def parquet(table):
        return os.path.join(data, table, f"{table}.parquet")

    with tempfile.TemporaryDirectory() as tmp:
        database = os.path.join(tmp, "tpcds.duckdb")
        con = duckdb.connect(database)
        for table in tables(data):
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{parquet(table)}')")
        con.execute("CHECKPOINT")
        con.close()
        results = run_queries(queries, iterations, fresh(database, lambda con: None))
        write_result(native_out, "duckdb", "native tables", duckdb.__version__, iterations, results)
        while current:
            current.pop().close()

    def views(con):
        for table in tables(data):
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{parquet(table)}')")

    results = run_queries(queries, iterations, fresh(":memory:", views))
    write_result(parquet_out, "duckdb", "read_parquet", duckdb.__version__, iterations, results)


if __name__ == "__main__":
    main()
