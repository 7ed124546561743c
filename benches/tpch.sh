#!/bin/sh
# TPC-H, tarn against DuckDB and raw DataFusion in one run: generates the data (tpchgen, through
# `tarn bench tpch`: CSV, loaded into managed tables, unloaded as Parquet and registered as the
# lake tables of schema tpch_lake, copied into schema tpch_sorted with the sort keys of AWS's
# Redshift TPC-H DDL), runs the 22 queries on tarn's managed tables (plain DDL: the headline;
# AWS's sort keys: a second line) and lake tables, on DuckDB's native tables and with DuckDB's read_parquet over the same Parquet files
# (PyPI duckdb), and on raw DataFusion over those files (PyPI datafusion, when installed). Each
# query is timed cold (its first run in a freshly opened engine or database instance; the OS
# cache is warm) and warm (median of ITERATIONS after a warm-up). Prints one table of geometric
# means and ratios, then the per-query ratios; fails when engines disagree on a row count.
#
#   benches/tpch.sh [SF] [ITERATIONS]     (default SF 1, 3 iterations; results in target/tpch-sfSF/)
#   TARN_BENCH_ARGS="--memory-limit 4GB" SORT_KEYS=0 benches/tpch.sh 10 1
#   TARN=/tmp/tarn-old benches/tpch.sh 1 3     (a given tarn binary instead of building this tree)
# SORT_KEYS=0 leaves out the tables with AWS's sort keys (at SF 10 their sorted writes spill
# tens of GB to disk under a 4 GB memory limit).
set -eu
SF=${1:-1}
ITERATIONS=${2:-3}
THREADS=${THREADS:-$(nproc)}
SORT_KEYS=${SORT_KEYS:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/target/tpch-sf$SF"
PEERS="$ROOT/benches/peers"
mkdir -p "$OUT"
if [ -z "${TARN:-}" ]; then
    cargo build --release -p tarn-cli --manifest-path "$ROOT/Cargo.toml"
    TARN="${CARGO_TARGET_DIR:-$ROOT/target}/release/tarn"
fi
QUERIES="$ROOT/benches/tpch/queries"
# shellcheck disable=SC2086 # TARN_BENCH_ARGS is a list of flags
tarn() { "$TARN" -w "$OUT/warehouse" --threads "$THREADS" ${TARN_BENCH_ARGS:-} "$@"; }
if [ "$SORT_KEYS" = 1 ]; then
    if ! tarn -c "SELECT 1 FROM tpch_sorted.lineitem LIMIT 1" >/dev/null 2>&1; then
        tarn bench tpch --sf "$SF" --data "$OUT/data" --sort-keys
    fi
elif [ ! -f "$OUT/warehouse/catalog.db" ]; then
    tarn bench tpch --sf "$SF" --data "$OUT/data"
fi
# Warehouses made before `tarn bench tpch` analyzed its tables get their statistics now (files
# already analyzed are skipped).
set -- -c ANALYZE
for table in customer lineitem nation orders part partsupp region supplier; do
    set -- "$@" -c "ANALYZE tpch_lake.$table"
done
tarn "$@" >/dev/null
tarn bench run "$QUERIES" -n "$ITERATIONS" --name managed -o "$OUT/tarn-managed.json"
tarn bench run "$QUERIES" -n "$ITERATIONS" --schema tpch_lake --name lake -o "$OUT/tarn-lake.json"
if [ "$SORT_KEYS" = 1 ]; then
    tarn bench run "$QUERIES" -n "$ITERATIONS" --schema tpch_sorted --name "managed, AWS sort keys" -o "$OUT/tarn-sorted.json"
fi
python3 "$PEERS/duckdb_tpch.py" "$OUT/data" "$QUERIES" "$ITERATIONS" "$OUT/duckdb.json" "$OUT/duckdb-parquet.json" "$THREADS"
RESULTS="$OUT/duckdb.json $OUT/duckdb-parquet.json $OUT/tarn-managed.json $OUT/tarn-lake.json"
if [ "$SORT_KEYS" = 1 ]; then
    RESULTS="$RESULTS $OUT/tarn-sorted.json"
fi
if python3 -c 'import datafusion' 2>/dev/null; then
    python3 "$PEERS/datafusion_tpch.py" "$OUT/data" "$QUERIES" "$ITERATIONS" "$OUT/datafusion.json" "$THREADS"
    RESULTS="$RESULTS $OUT/datafusion.json"
fi
echo
# shellcheck disable=SC2086 # RESULTS is a list of files
python3 "$PEERS/summary.py" $RESULTS | tee "$OUT/summary.txt"
