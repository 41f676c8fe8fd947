#!/bin/bash
#SBATCH --job-name=vllm-llm-1
#SBATCH --comment=sgorch:v1;instance=prod;deployment=llm;slot=1;hash=ba874389bae0
#SBATCH --output=/shared/logs/llm/%x-%j.out
#SBATCH --open-mode=append
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=16
#SBATCH --time=1445
#SBATCH --mem=65536M
#SBATCH --partition=gpu
#SBATCH --account=acct
#SBATCH --qos=high
#SBATCH --reservation=res
#SBATCH --gres=gpu:h100:2
#SBATCH --constraint=h100&ib
#SBATCH --exclude=n1,n2
#SBATCH --nice=10
#SBATCH --mail-type=FAIL
#
# SGOrch worker: Deployment 'llm', slot 1, template ba874389bae0.
# Rendered by the operator; secrets reach the job through its environment only.
set -eo pipefail

sgorch_pick_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("", 0))
print(s.getsockname()[1]); s.close()'
    return
  fi
  local port
  for _ in $(seq 1 200); do
    port=$(( (RANDOM % 20000) + 30000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
      echo "${port}"
      return
    fi
  done
  echo "sgorch: no free port found" >&2
  return 1
}

sgorch_write_endpoint() {
  local dir=$1 tmp
  mkdir -p "${dir}"
  tmp=$(mktemp "${dir}/.${SLURM_JOB_ID}.XXXXXX")
  printf '{"host": "%s", "port": %s, "job_id": "%s", "started_at": "%s"}\n' \
    "${ADVERTISE_HOST}" "${PORT}" "${SLURM_JOB_ID}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"${tmp}"
  mv -f "${tmp}" "${dir}/${SLURM_JOB_ID}.json"
}

PORT=$(sgorch_pick_port)
HOST=0.0.0.0
ADVERTISE_HOST="$(hostname -f 2>/dev/null || hostname)"
export PORT HOST
sgorch_write_endpoint /shared/logs/llm/endpoints
echo "sgorch: job ${SLURM_JOB_ID} serving on ${ADVERTISE_HOST}:${PORT}" >&2

# pre_commands
module load cuda/12.4
export NCCL_DEBUG=WARN

source /opt/vllm/bin/activate

exec vllm serve Qwen/Qwen2.5-7B --host "${HOST}" --port "${PORT}" --max-model-len 8192
