#!/bin/sh
# TPC-DS, tarn against DuckDB in one run: generates the data (DuckDB's dsdgen from the pinned
# wheels of benches/tpcds/requirements.txt, through `tarn bench tpcds`: Parquet files registered
# as the external tables of schema tpcds_lake and copied into managed tables in public), checks
# that all 99 queries answer on both table kinds as DuckDB answers them on the same files, runs
# them on tarn's managed and lake tables and on DuckDB (native tables, and read_parquet over the
# same files), each cold (its first run in a freshly opened engine or database instance; the OS
# cache is warm) and warm (median of ITERATIONS after a warm-up). Prints one table of geometric
# means and ratios, the per-query ratios and the worst queries; fails when a query fails, an
# answer differs from DuckDB's or engines disagree on a row count.
#
#   benches/tpcds.sh [SF] [ITERATIONS]     (default SF 1, 3 iterations; results in target/tpcds-sfSF/)
#   CHECK=0 benches/tpcds.sh 1 3           (leaves out the answer check)
set -eu
SF=${1:-1}
ITERATIONS=${2:-3}
THREADS=${THREADS:-$(nproc)}
CHECK=${CHECK:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/target/tpcds-sf$SF"
PEERS="$ROOT/benches/peers"
QUERIES="$ROOT/benches/tpcds/queries"
mkdir -p "$OUT"
cargo build --release -p tarn-cli --manifest-path "$ROOT/Cargo.toml"
TARN="${CARGO_TARGET_DIR:-$ROOT/target}/release/tarn"
# shellcheck disable=SC2086 # TARN_BENCH_ARGS is a list of flags
tarn() { "$TARN" -w "$OUT/warehouse" --threads "$THREADS" ${TARN_BENCH_ARGS:-} "$@"; }
# DuckDB (generator, checker and peer) in a virtual environment of the pinned wheels.
PYTHON="$OUT/python/bin/python"
if ! cmp -s "$ROOT/benches/tpcds/requirements.txt" "$OUT/python/requirements.txt"; then
    python3 -m venv --clear "$OUT/python"
    "$PYTHON" -m pip install --quiet --only-binary :all: -r "$ROOT/benches/tpcds/requirements.txt"
    cp "$ROOT/benches/tpcds/requirements.txt" "$OUT/python/requirements.txt"
fi
if ! tarn -c "SELECT 1 FROM web_site LIMIT 1" >/dev/null 2>&1; then
    tarn bench tpcds --sf "$SF" --data "$OUT/data" --python "$PYTHON"
fi
if [ "$CHECK" = 1 ]; then
    for schema in tpcds_lake public; do
        # A differing answer stops the run after its report.
        if ! "$PYTHON" "$ROOT/benches/tpcds/tpcds.py" check "$OUT/data" "$QUERIES" "$TARN" "$OUT/warehouse" "$schema" \
            >"$OUT/check-$schema.txt"; then
            grep -v ': ok' "$OUT/check-$schema.txt"
            exit 1
        fi
        tail -n 1 "$OUT/check-$schema.txt"
    done
fi
tarn bench run "$QUERIES" -n "$ITERATIONS" --name managed -o "$OUT/tarn-managed.json"
tarn bench run "$QUERIES" -n "$ITERATIONS" --schema tpcds_lake --name lake -o "$OUT/tarn-lake.json"
"$PYTHON" "$PEERS/duckdb_tpcds.py" "$OUT/data" "$QUERIES" "$ITERATIONS" "$OUT/duckdb.json" "$OUT/duckdb-parquet.json" "$THREADS"
echo
# Fails (after printing) when a query failed or the engines disagree on a row count.
status=0
python3 "$PEERS/summary.py" --title TPC-DS "$OUT/duckdb.json" "$OUT/duckdb-parquet.json" "$OUT/tarn-managed.json" \
    "$OUT/tarn-lake.json" >"$OUT/summary.txt" || status=$?
cat "$OUT/summary.txt"
exit "$status"
