#!/usr/bin/env bash
# The floor: what a person does by hand to get one demo worker up on Slurm — sbatch a
# script, poll squeue until it runs, poll the worker until it answers. Prints one line:
#   sbatch_s squeue_s running_s healthy_s job_id
# (seconds since the start of this script). Usage: floor.sh PYTHON PORT WORKDIR
set -euo pipefail
python=$1 port=$2 workdir=$3
mkdir -p "$workdir"
cat >"$workdir/floor.sbatch" <<EOF
#!/bin/bash
#SBATCH --job-name=floor-bench
#SBATCH --output=$workdir/floor-%j.out
#SBATCH --cpus-per-task=1
#SBATCH --time=10
#SBATCH --comment=sgorch-bench-floor
exec "$python" -m sgorch.demo_worker --host 127.0.0.1 --port $port --model floor
EOF
now() { date +%s.%N; }
t0=$(now)
job=$(sbatch --parsable "$workdir/floor.sbatch")
job=${job%%;*}
t_sbatch=$(now)
while [ -z "$(squeue -h -j "$job" -o %i 2>/dev/null)" ]; do sleep 0.02; done
t_squeue=$(now)
until [ "$(squeue -h -j "$job" -o %T 2>/dev/null)" = RUNNING ]; do sleep 0.02; done
t_running=$(now)
deadline=$(( $(date +%s) + 120 ))
until curl -sf -o /dev/null "http://127.0.0.1:$port/health"; do
  [ "$(date +%s)" -lt "$deadline" ] || { scancel "$job"; echo "floor: worker never answered" >&2; exit 1; }
  sleep 0.02
done
t_healthy=$(now)
scancel "$job"
awk -v a="$t0" -v b="$t_sbatch" -v c="$t_squeue" -v d="$t_running" -v e="$t_healthy" -v j="$job" \
  'BEGIN { printf "%.3f %.3f %.3f %.3f %s\n", b-a, c-a, d-a, e-a, j }'
