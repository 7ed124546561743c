"""What the TPC-H and TPC-DS peers share: the TPC-H tables, the queries in natural order (q2 before q10), a cold
run of each (its first, in a fresh database instance), one warm-up then N timed runs, and a
result in `tarn bench run`'s JSON format for `tarn bench compare`."""

import json
import os
import re
import sys
import time

TABLES = ["region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"]


def natural(name):
    digits = re.sub(r"\D", "", name)
    return (int(digits) if digits else 1 << 60, name)


def timed(run, sql):
    started = time.perf_counter()
    rows = run(sql)
    return (time.perf_counter() - started) * 1000.0, rows


def run_queries(queries, iterations, fresh):
    """Runs every .sql file of `queries`: `fresh()` opens a new database instance and returns
    `run(sql) -> row count`; each query's first run on a fresh one is its cold time, then one
    warm-up and `iterations` timed runs follow on the same instance. Returns the results."""
    results = []
    names = sorted((f for f in os.listdir(queries) if f.endswith(".sql")), key=natural)
    print(f"{'query':<8} {'cold':>12} {'median':>12} {'rows':>10}", file=sys.stderr)
    for name in names:
        with open(os.path.join(queries, name)) as f:
            sql = f.read().strip().rstrip(";")
        run = fresh()
        cold, _ = timed(run, sql)
        run(sql)
        runs = []
        for _ in range(iterations):
            elapsed, rows = timed(run, sql)
            runs.append({"elapsed": elapsed, "row_count": rows})
        query = name[: -len(".sql")]
        median = sorted(r["elapsed"] for r in runs)[len(runs) // 2]
        print(f"{query:<8} {cold:>9.2f} ms {median:>9.2f} ms {runs[-1]['row_count']:>10}", file=sys.stderr)
        results.append({"query": query, "cold": cold, "iterations": runs})
    return results


def write_result(output, engine, name, version, iterations, results):
    context = {"engine": engine, "name": name, "version": version, "iterations": iterations}
    with open(output, "w") as f:
        json.dump({"context": context, "queries": results}, f, indent=2)
