"""Raw DataFusion's side of the TPC-H comparison (PyPI datafusion, the same DataFusion release as
tarn): registers the Parquet files `tarn bench tpch` unloaded (DATA_DIR/parquet/<table>/) as
tables, runs the same .sql queries (one warm-up, then N timed iterations each) and writes a
result in `tarn bench run`'s JSON format, for `tarn bench compare`. Against tarn's `tpch_lake`
run it shows what tarn adds to (or saves over) plain DataFusion on the same files.

usage: python3 datafusion_tpch.py DATA_DIR QUERY_DIR ITERATIONS OUTPUT.json
"""

import json
import os
import sys
import time

from duckdb_tpch import TABLES, natural

try:
    import datafusion
except ImportError:
    sys.exit("datafusion is not installed: pip install datafusion")


def main():
    data, queries, iterations, output = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    ctx = datafusion.SessionContext()
    for table in TABLES:
        ctx.register_parquet(table, os.path.join(data, "parquet", table) + "/")
    results = []
    names = sorted((f for f in os.listdir(queries) if f.endswith(".sql")), key=natural)
    print(f"{'query':<8} {'median':>12} {'rows':>10}", file=sys.stderr)
    for name in names:
        with open(os.path.join(queries, name)) as f:
            sql = f.read().strip().rstrip(";")
        ctx.sql(sql).collect()
        runs = []
        for _ in range(iterations):
            started = time.perf_counter()
            rows = sum(batch.num_rows for batch in ctx.sql(sql).collect())
            runs.append({"elapsed": (time.perf_counter() - started) * 1000.0, "row_count": rows})
        query = name[: -len(".sql")]
        median = sorted(r["elapsed"] for r in runs)[len(runs) // 2]
        print(f"{query:<8} {median:>9.2f} ms {runs[-1]['row_count']:>10}", file=sys.stderr)
        results.append({"query": query, "iterations": runs})
    context = {"engine": "datafusion", "name": "", "version": datafusion.__version__, "iterations": iterations}
    with open(output, "w") as f:
        json.dump({"context": context, "queries": results}, f, indent=2)


if __name__ == "__main__":
    main()
