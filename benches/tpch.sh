#!/bin/sh
# TPC-H, tarn against DuckDB in one run: generates the data (tpchgen, through `tarn bench
# tpch`), runs the 22 queries in tarn (managed tables and Parquet lake tables) and in DuckDB
# (PyPI duckdb), and prints the per-query ratios and their geometric means. With PyPI
# datafusion installed it also runs raw DataFusion on the same Parquet files, to show what
# tarn adds to the engine it is built on.
#
#   benches/tpch.sh [SF] [ITERATIONS]     (default SF 1, 3 iterations; results in target/tpch-sfSF/)
set -eu
SF=${1:-1}
ITERATIONS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/target/tpch-sf$SF"
mkdir -p "$OUT"
cargo build --release -p tarn-cli --manifest-path "$ROOT/Cargo.toml"
TARN="${CARGO_TARGET_DIR:-$ROOT/target}/release/tarn"
QUERIES="$ROOT/benches/tpch/queries"
if [ ! -f "$OUT/warehouse/catalog.db" ]; then
    "$TARN" -w "$OUT/warehouse" bench tpch --sf "$SF" --data "$OUT/data"
fi
"$TARN" -w "$OUT/warehouse" bench run "$QUERIES" -n "$ITERATIONS" --name managed -o "$OUT/tarn-managed.json"
"$TARN" -w "$OUT/warehouse" bench run "$QUERIES" -n "$ITERATIONS" --schema tpch_lake --name parquet -o "$OUT/tarn-parquet.json"
python3 "$ROOT/benches/peers/duckdb_tpch.py" "$OUT/data" "$QUERIES" "$ITERATIONS" "$OUT/duckdb.json"
echo "== tarn managed tables (B) vs DuckDB (A)"
"$TARN" bench compare "$OUT/duckdb.json" "$OUT/tarn-managed.json"
echo "== tarn Parquet lake tables (B) vs DuckDB (A)"
"$TARN" bench compare "$OUT/duckdb.json" "$OUT/tarn-parquet.json"
if python3 -c 'import datafusion' 2>/dev/null; then
    python3 "$ROOT/benches/peers/datafusion_tpch.py" "$OUT/data" "$QUERIES" "$ITERATIONS" "$OUT/datafusion.json"
    echo "== tarn Parquet lake tables (B) vs raw DataFusion on the same files (A)"
    "$TARN" bench compare "$OUT/datafusion.json" "$OUT/tarn-parquet.json"
fi
