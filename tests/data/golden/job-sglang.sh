#!/bin/bash
#SBATCH --job-name=sgl-llm-1
#SBATCH --comment=sgorch:v1;instance=prod;deployment=llm;slot=1;hash=7fbf3f189a81
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
# SGOrch worker: Deployment 'llm', slot 1, template 7fbf3f189a81.
# Rendered by the operator; secrets reach the job through its environment only.
set -eo pipefail

# Ports 20000-29999: below Linux's ephemeral range (32768+), so none of the
# engine's own outgoing connections can take the port before it binds it (after
# loading its model); the search starts at the job id, so jobs on a node start apart.
sgorch_port_free() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket, sys
s = socket.socket()
try:
    s.bind(("", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$1"
  else
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}
sgorch_pick_port() {
  local first=20000 span=10000 port tries
  port=$(( first + ${SLURM_JOB_ID:-$$} % span ))
  for ((tries = 0; tries < 500; tries++)); do
    if sgorch_port_free "${port}"; then
      echo "${port}"
      return
    fi
    port=$(( first + (port - first + 1) % span ))
  done
  echo "sgorch: no free port in ${first}-$(( first + span - 1 ))" >&2
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

source '/opt/sglang venv/bin/activate'

exec python -m sglang.launch_server --model-path meta-llama/Llama-3.1-8B-Instruct --host "${HOST}" --port "${PORT}" --tp 2 '--chat-template={x}'
