"""One table of a TPC-H or TPC-DS run: every result file's geometric means (warm medians and
cold first runs) and their ratios to DuckDB's native tables and to DuckDB's read_parquet on the
same files, then the per-query warm ratios of tarn's table kinds to their DuckDB peer (managed
tables to native tables, lake tables to read_parquet), the worst of them, and any query that
failed or whose row count differs between engines (exit code 1).

usage: python3 summary.py [--title TITLE] DUCKDB_NATIVE.json DUCKDB_PARQUET.json OTHER.json...
"""

import json
import math
import sys


def load(path):
    with open(path) as f:
        result = json.load(f)
    context = result["context"]
    label = context["engine"] + (f" ({context['name']})" if context.get("name") else "")
    queries, failed = {}, {}
    for q in result["queries"]:
        if "error" in q:
            failed[q["query"]] = q["error"]
            continue
        times = sorted(i["elapsed"] for i in q["iterations"])
        queries[q["query"]] = {
            "warm": times[len(times) // 2],
            "cold": q.get("cold"),
            "rows": q["iterations"][-1].get("row_count"),
        }
    return label, queries, failed


def geomean(values):
    values = [v for v in values if v]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def main():
    args = sys.argv[1:]
    title = "TPC-H"
    if args[:1] == ["--title"]:
        title, args = args[1], args[2:]
    loaded = [load(p) for p in args]
    failures = [(label, q, error) for label, _, failed in loaded for q, error in failed.items()]
    runs = [(label, queries) for label, queries, _ in loaded]
    (native_label, native), (parquet_label, parquet) = runs[0], runs[1]
    names = [q for q in native if all(q in r for _, r in runs)]

    def ratio(run, peer, kind):
        return geomean([run[q][kind] / peer[q][kind] for q in names if run[q][kind] and peer[q][kind]])

    print(f"{title}, {len(names)} queries; geometric means in seconds, ratios per query then geometric")
    header = f"| {'':<44} | {'warm':>7} | {'cold':>7} | {'warm vs DuckDB native':>21} | {'warm vs DuckDB read_parquet':>27} | {'cold vs DuckDB native':>21} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for label, run in runs:
        warm = geomean([run[q]["warm"] for q in names]) / 1000
        cold = geomean([run[q]["cold"] for q in names if run[q]["cold"]]) / 1000
        print(
            f"| {label:<44} | {warm:>7.3f} | {cold:>7.3f} | {ratio(run, native, 'warm'):>20.2f}x |"
            f" {ratio(run, parquet, 'warm'):>26.2f}x | {ratio(run, native, 'cold'):>20.2f}x |"
        )

    tarn = [(label, run) for label, run in runs if label.startswith("tarn")]
    if tarn:
        print()
        columns = "".join(f" {label[:22]:>22}" for label, _ in tarn)
        print(f"{'query':<6} {'DuckDB native':>14} {'read_parquet':>13}{columns}   (warm ms; tarn: ratio to its DuckDB peer)")
        for q in names:
            cells = ""
            for label, run in tarn:
                peer = parquet if "managed" not in label else native
                cells += f" {run[q]['warm']:>10.1f} ({run[q]['warm'] / peer[q]['warm']:>6.2f}x)"
            print(f"{q:<6} {native[q]['warm']:>14.1f} {parquet[q]['warm']:>13.1f}{cells}")
        print()
        for label, run in tarn:
            for peer_label, peer in [("DuckDB native", native), ("DuckDB read_parquet", parquet)]:
                ratios = sorted(((run[q]["warm"] / peer[q]["warm"], q) for q in names), reverse=True)
                top = ", ".join(f"{q} {r:.2f}x" for r, q in ratios[:6])
                print(f"worst of {label} vs {peer_label}: {top}")

    mismatched = [q for q in names if len({r[q]["rows"] for _, r in runs}) > 1]
    print()
    for label, q, error in failures:
        print(f"FAILED: {q} in {label}: {error[:200]}")
    if mismatched:
        print("ROW COUNTS DIFFER: " + ", ".join(mismatched))
    if failures or mismatched:
        sys.exit(1)
    print(f"row counts agree between all {len(runs)} runs")


if __name__ == "__main__":
    main()
