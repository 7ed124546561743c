"""What the TPC-H peers share: the tables, the queries in natural order (q2 before q10), one
warm-up then N timed runs of each, and a result in `tarn bench run`'s JSON format for
`tarn bench compare`."""

import json
import os
import re
import sys
import time

TABLES = ["region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"]


def natural(name):
    digits = re.sub(r"\D", "", name)
    return (int(digits) if digits else 1 << 60, name)


def run_queries(queries, iterations, run):
    """Runs every .sql file of `queries` with `run(sql) -> row count`; returns the results."""
    results = []
    names = sorted((f for f in os.listdir(queries) if f.endswith(".sql")), key=natural)
    print(f"{'query':<8} {'median':>12} {'rows':>10}", file=sys.stderr)
    for name in names:
        with open(os.path.join(queries, name)) as f:
            sql = f.read().strip().rstrip(";")
        run(sql)
        runs = []
        for _ in range(iterations):
            started = time.perf_counter()
            rows = run(sql)
            runs.append({"elapsed": (time.perf_counter() - started) * 1000.0, "row_count": rows})
        query = name[: -len(".sql")]
        median = sorted(r["elapsed"] for r in runs)[len(runs) // 2]
        print(f"{query:<8} {median:>9.2f} ms {runs[-1]['row_count']:>10}", file=sys.stderr)
        results.append({"query": query, "iterations": runs})
    return results


def write_result(output, engine, version, iterations, results):
    context = {"engine": engine, "name": "", "version": version, "iterations": iterations}
    with open(output, "w") as f:
        json.dump({"context": context, "queries": results}, f, indent=2)
