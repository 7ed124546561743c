#!/bin/sh
# Engine settings measured on TPC-H in one run: DuckDB (native tables and read_parquet) once,
# then tarn once per variant (managed tables, or lake tables with --schema tpch_lake), each a list of `tarn bench run` flags, and one
# table of geometric means and ratios (benches/README.md records what each setting gave).
# Run benches/tpch.sh SF first: it generates and loads the data.
#
#   benches/tpch_settings.sh SF ITERATIONS "VARIANT FLAGS" ...
#   benches/tpch_settings.sh 1 3 "" "--threads 4" "--set datafusion.execution.batch_size=32768"
#   TARN=/tmp/tarn-old benches/tpch_settings.sh 1 3 ""     (a given tarn binary, as in tpch.sh)
set -eu
SF=$1
ITERATIONS=$2
shift 2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/target/tpch-sf$SF"
PEERS="$ROOT/benches/peers"
TARN="${TARN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/tarn}"
QUERIES="$ROOT/benches/tpch/queries"
[ -f "$OUT/warehouse/catalog.db" ] || { echo "run benches/tpch.sh $SF first" >&2; exit 2; }
python3 "$PEERS/duckdb_tpch.py" "$OUT/data" "$QUERIES" "$ITERATIONS" "$OUT/duckdb.json" "$OUT/duckdb-parquet.json" "$(nproc)"
RESULTS="$OUT/duckdb.json $OUT/duckdb-parquet.json"
n=0
for variant in "$@"; do
    n=$((n + 1))
    # Global flags (--threads, --memory-limit) before `bench`, run flags (--set, --schema) after.
    global=$(echo "$variant" | sed -n 's/.*\(--threads [0-9]*\).*/\1/p')
    run=$(echo "$variant" | sed 's/--threads [0-9]*//')
    case "$variant" in *--schema*) kind=lake ;; *) kind=managed ;; esac
    # shellcheck disable=SC2086 # flag lists
    "$TARN" -w "$OUT/warehouse" $global bench run "$QUERIES" -n "$ITERATIONS" --name "$kind ${variant:-default}" $run -o "$OUT/variant-$n.json"
    RESULTS="$RESULTS $OUT/variant-$n.json"
done
# shellcheck disable=SC2086 # RESULTS is a list of files
python3 "$PEERS/summary.py" $RESULTS
