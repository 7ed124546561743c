"""DuckDB's side of benches/copy.rs: loads a TPC-H lineitem CSV into a DuckDB table on disk.

usage: python3 duckdb_copy.py LINEITEM_CSV RUNS
Prints one line per run: the seconds `COPY lineitem FROM ...` took, then the row count.
"""

import sys
import tempfile
import time
import os

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
    path, runs = sys.argv[1], int(sys.argv[2])
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(runs):
            con = duckdb.connect(os.path.join(tmp, f"run{run}.duckdb"))
            con.execute(DDL)
            started = time.perf_counter()
            con.execute(f"COPY lineitem FROM '{path}' (HEADER)")
            con.execute("CHECKPOINT")
            print(f"{time.perf_counter() - started:.6f}")
            rows = con.execute("SELECT count(*) FROM lineitem").fetchone()[0]
            con.close()
        print(rows)


if __name__ == "__main__":
    main()
