#!/bin/sh
# The file layout of managed tables, measured: for each layout (tarn.parquet_* settings), the
# TPC-H tables are copied with CTAS into their own schema (timed: the write cost), their size is
# summed, and the 22 queries run on them with the decoded-data cache off (every run decodes the
# files: the read cost) and cold. One table: size, write time, read geometric means, each also
# as a ratio to the first layout. Run benches/tpch.sh SF first: it generates and loads the data.
#
#   benches/layout.sh SF ITERATIONS "NAME:SETTING=VALUE,..." ...
#   benches/layout.sh 1 3 "snappy:" "zstd:tarn.parquet_compression=zstd" "lz4:tarn.parquet_compression=lz4_raw"
set -eu
SF=$1
ITERATIONS=$2
shift 2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/target/tpch-sf$SF"
TARN="${CARGO_TARGET_DIR:-$ROOT/target}/release/tarn"
QUERIES="$ROOT/benches/tpch/queries"
THREADS=${THREADS:-$(nproc)}
[ -f "$OUT/warehouse/catalog.db" ] || { echo "run benches/tpch.sh $SF first" >&2; exit 2; }
tarn() { "$TARN" -w "$OUT/warehouse" --threads "$THREADS" "$@"; }
TABLES="region nation supplier customer part partsupp orders lineitem"
RESULTS=""
for layout in "$@"; do
    name=${layout%%:*}
    settings=$(echo "${layout#*:}" | tr ',' ' ')
    schema="layout_$name"
    sql="DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema;"
    for setting in $settings; do
        sql="$sql SET ${setting%%=*} = '${setting#*=}';"
    done
    for table in $TABLES; do
        sql="$sql CREATE TABLE $schema.$table AS SELECT * FROM public.$table;"
    done
    start=$(date +%s.%N)
    tarn -c "$sql" >/dev/null
    end=$(date +%s.%N)
    bytes=$(tarn --format csv -c "SELECT sum(size_bytes) FROM svv_table_info WHERE schema = '$schema'" | tail -1)
    tarn --cache-size 0 bench run "$QUERIES" -n "$ITERATIONS" --schema "$schema" --name "$name" -o "$OUT/layout-$name.json"
    RESULTS="$RESULTS $name $bytes $(echo "$end - $start" | bc) $OUT/layout-$name.json"
done
# shellcheck disable=SC2086 # RESULTS is a list of fields
python3 - $RESULTS <<'EOF'
import json, math, sys

def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))

args = sys.argv[1:]
rows = []
for i in range(0, len(args), 4):
    name, size, write, path = args[i], int(args[i + 1]), float(args[i + 2]), args[i + 3]
    queries = json.load(open(path))["queries"]
    warm = geomean([sorted(x["elapsed"] for x in q["iterations"])[len(q["iterations"]) // 2] for q in queries]) / 1000
    cold = geomean([q["cold"] for q in queries]) / 1000
    rows.append((name, size, write, warm, cold))
base = rows[0]
print(f"{'layout':<12} {'size MB':>8} {'x':>6} {'CTAS s':>7} {'x':>6} {'read s':>7} {'x':>6} {'cold s':>7} {'x':>6}")
for name, size, write, warm, cold in rows:
    print(f"{name:<12} {size / 1e6:>8.0f} {size / base[1]:>6.2f} {write:>7.2f} {write / base[2]:>6.2f} "
          f"{warm:>7.3f} {warm / base[3]:>6.2f} {cold:>7.3f} {cold / base[4]:>6.2f}")
EOF
