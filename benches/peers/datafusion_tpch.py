"""Raw DataFusion's side of the TPC-H comparison (PyPI datafusion, the same DataFusion release as
tarn): registers the Parquet files `tarn bench tpch` unloaded (DATA_DIR/parquet/<table>/) as
tables, runs the same .sql queries (a cold run in a fresh SessionContext, one warm-up, then N
timed iterations each) and writes a result in `tarn bench run`'s JSON format, for `tarn bench
compare`. Against tarn's `tpch_lake` run it shows what tarn adds to (or saves over) plain
DataFusion on the same files.

usage: python3 datafusion_tpch.py DATA_DIR QUERY_DIR ITERATIONS OUTPUT.json [THREADS]
"""

import os
import sys

from tpch_peer import TABLES, run_queries, write_result


def main():
    try:
        import datafusion
    except ImportError:
        sys.exit("datafusion is not installed: pip install datafusion")
    data, queries, iterations, output = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else os.cpu_count()

    def fresh():
        config = datafusion.SessionConfig().with_target_partitions(threads)
        ctx = datafusion.SessionContext(config)
        for table in TABLES:
            ctx.register_parquet(table, os.path.join(data, "parquet", table) + "/")
        return lambda sql: sum(b.num_rows for b in ctx.sql(sql).collect())

    results = run_queries(queries, iterations, fresh)
    write_result(output, "datafusion", "", datafusion.__version__, iterations, results)


if __name__ == "__main__":
    main()
