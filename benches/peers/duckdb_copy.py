"""DuckDB's side of benches/copy.rs: loads a TPC-H lineitem file into a DuckDB table on disk.

usage: python3 duckdb_copy.py csv|parquet LINEITEM_FILE RUNS
Prints one line per run: the seconds the load and its CHECKPOINT took; then the row count;
then the process's peak resident memory in bytes.
"""

import os
import resource
import sys
import tempfile
import time

try:
    import duckdb
except ImportError:
    sys.exit("duckdb is not installed: pip install duckdb")

DDL = """CREATE TABLE lineitem (
  l_orderkey BIGINT NOT NULL, l_partkey BIGINT NOT NULL, l_suppkey BIGINT NOT NULL,
  l_linenumber INTEGER NOT NULL, l_quantity DECIMAL(15,2) NOT NULL,
  l_extendedprice DECIMAL(15,2) NOT NULL, l_discount DECIMAL(15,2) NOT NULL,
  l_tax DECIMAL(15,2) NOT NULL, l_returnflag CHAR(1) NOT NULL, l_linestatus CHAR(1) NOT NULL,
  l_shipdate DATE NOT NULL, l_commitdate DATE NOT NULL, l_receiptdate DATE NOT NULL,
  l_shipinstruct VARCHAR(25) NOT NULL, l_shipmode VARCHAR(10) NOT NULL,
  l_comment VARCHAR(44) NOT NULL)"""


def main():
    fmt, path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    load = {
        "csv": f"COPY lineitem FROM '{path}' (HEADER)",
        "parquet": f"INSERT INTO lineitem SELECT * FROM read_parquet('{path}')",
    }[fmt]
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(runs):
            con = duckdb.connect(os.path.join(tmp, f"run{run}.duckdb"))
            con.execute(DDL)
            started = time.perf_counter()
            con.execute(load)
            con.execute("CHECKPOINT")
            print(f"{time.perf_counter() - started:.6f}")
            rows = con.execute("SELECT count(*) FROM lineitem").fetchone()[0]
            con.close()
        print(rows)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


if __name__ == "__main__":
    main()
