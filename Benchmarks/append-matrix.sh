#!/usr/bin/env bash
# Runs `logstore bench append` over the configurations reported in issue closing notes,
# each RUNS times (default 3), and prints the median ratio to the fsync ceiling measured in
# the same run, with p50/p99 of the median run. Usage: Benchmarks/append-matrix.sh [RUNS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
seconds=${2:-5}
swift build -c release >/dev/null
bin=.build/release/logstore
configs=(
  "--threads 1 --backend pwritev"
  "--threads 16 --backend pwritev"
  "--threads 64 --backend pwritev"
  "--threads 1 --backend io_uring --uring-mode linked"
  "--threads 16 --backend io_uring --uring-mode linked"
  "--threads 64 --backend io_uring --uring-mode linked"
  "--threads 1 --backend io_uring --uring-mode dsync"
  "--threads 16 --backend io_uring --uring-mode dsync"
  "--threads 64 --backend io_uring --uring-mode dsync"
  "--threads 1 --backend pwritev --no-prewrite"
  "--threads 16 --backend pwritev --no-prewrite"
)
printf '%-52s %8s %10s %10s %8s %8s %6s\n' configuration ratio ops/s ceiling/s p50_us p99_us batch
for config in "${configs[@]}"; do
  for ((i = 0; i < runs; i++)); do
    # shellcheck disable=SC2086
    "$bin" bench append $config --duration "$seconds" --json 2>/dev/null
  done | python3 -c '
import json, sys
rows = sorted((json.loads(l) for l in sys.stdin if l.strip()), key=lambda d: d["ratio_to_ceiling"])
m = rows[len(rows) // 2]
print("%-52s %7.2fx %10.0f %10.0f %8.0f %8.0f %6.1f   (ratios: %s)" % (sys.argv[1], m["ratio_to_ceiling"], m["ops_per_sec"],
      m["fsync_ceiling_per_sec"], m["p50_us"], m["p99_us"], m["mean_batch"], ", ".join("%.2f" % r["ratio_to_ceiling"] for r in rows)))
' "$config"
done
