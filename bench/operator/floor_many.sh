#!/usr/bin/env bash
# The floor for many jobs: COUNT demo workers submitted by hand, one sbatch each, each
# carrying the comment TAG; worker i listens on 127.0.0.1:(BASE_PORT + i) (the caller
# checked those ports are free). Prints the job ids, one a line.
# Usage: floor_many.sh PYTHON WORKDIR COUNT TAG BASE_PORT
set -euo pipefail
[ $# -eq 5 ] || { echo "usage: floor_many.sh PYTHON WORKDIR COUNT TAG BASE_PORT" >&2; exit 2; }
python=$1 workdir=$2 count=$3 tag=$4 base=$5
[[ $count =~ ^[0-9]+$ ]] && [ "$count" -le 1000 ] || { echo "COUNT must be 0..1000" >&2; exit 2; }
[[ $base =~ ^[0-9]+$ ]] && [ $((base + count)) -le 65536 ] || { echo "bad BASE_PORT" >&2; exit 2; }
mkdir -p "$workdir"
cat >"$workdir/floor.sbatch" <<SCRIPT
#!/bin/bash
exec "$python" -m sgorch.demo_worker --host 127.0.0.1 --port "\$1" --model floor
SCRIPT
for ((i = 0; i < count; i++)); do
  job=$(sbatch --parsable --job-name="floor-many-$i" --output="$workdir/floor-%j.out" \
    --cpus-per-task=1 --time=30 --comment="$tag" "$workdir/floor.sbatch" $((base + i)))
  echo "${job%%;*}"
done
