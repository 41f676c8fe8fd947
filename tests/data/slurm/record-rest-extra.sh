#!/usr/bin/env bash
# Record the slurmrestd answers the rest client needs beyond record.sh's: the controller
# unreachable, keys v0.0.38 refuses, a bad signal, an API version the daemon lacks, and
# a submission in exactly the shape RestSlurmClient sends on v0.0.38.
#
#   sudo deploy/local-slurm/up.sh && sudo tests/data/slurm/record-rest-extra.sh [OUTDIR]
#
# Writes OUTDIR/rest-<case>.json (default tests/data/slurm/<major.minor>/), each
# {"request": {"method", "path", "body"}, "status": HTTP status, "body": the answer,
# decoded if JSON, else its text}. Takes ~10 s; cancels the one job it submits.
set -euo pipefail
export LC_ALL=C
unset SLURM_CONF

HERE="$(cd "$(dirname "$0")" && pwd)"
VER="$(scontrol --version | awk '{print $2}' | cut -d. -f1,2)"
OUT="${1:-$HERE/$VER}"
API="${REST_API:-v0.0.38}"
PLUGINS="${REST_PLUGINS:-openapi/v0.0.38}"

[[ $(id -u) -eq 0 ]] || { echo "record-rest-extra.sh: run as root" >&2; exit 2; }
WORK="$(mktemp -d /tmp/rest-extra.XXXXXX)"
PIDS=()
JOBS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if (( ${#JOBS[@]} )); then scancel "${JOBS[@]}" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$OUT"

start_restd() {  # start_restd SOCKET [SLURM_CONF]
  local sock=$1 conf=${2:-}
  env ${conf:+SLURM_CONF="$conf"} SLURMRESTD_SECURITY=disable_user_check \
    setsid slurmrestd -a rest_auth/local -s "$PLUGINS" "unix:$sock" >"$sock.log" 2>&1 9>&- &
  PIDS+=($!)
  for _ in $(seq 1 50); do [[ -S $sock ]] && return 0; sleep 0.1; done
  echo "slurmrestd on $sock did not start" >&2; cat "$sock.log" >&2; exit 1
}

# rec CASE SOCKET METHOD PATH [BODY]
rec() {
  local name=$1 sock=$2 method=$3 path=$4 body=${5:-} status args
  args=(-s -X "$method" --unix-socket "$sock" -o "$WORK/body" -w '%{http_code}')
  [[ -n $body ]] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
  status="$(curl "${args[@]}" "http://localhost$path")"
  jq -n --indent 2 --arg method "$method" --arg path "$path" --arg body "$body" \
    --argjson status "$status" --rawfile answer "$WORK/body" \
    '{request: {method: $method, path: $path, body: ($body | fromjson? // null)},
      status: $status, body: ($answer | fromjson? // $answer)}' >"$OUT/rest-$name.json"
  echo "recorded rest-$name.json (HTTP $status)"
}

# A configuration whose controller port has no listener: connection refused at once.
mkdir -p "$WORK/badconf"
sed -e 's/^SlurmctldPort=.*/SlurmctldPort=6999/' /etc/slurm/slurm.conf >"$WORK/badconf/slurm.conf"
echo "MessageTimeout=2" >>"$WORK/badconf/slurm.conf"

start_restd "$WORK/ok.sock"
start_restd "$WORK/down.sock" "$WORK/badconf/slurm.conf"
A="/slurm/$API"
MINIMAL='"current_working_directory": "/tmp", "environment": {"PATH": "/usr/bin:/bin"}'

rec unknown-version-ping "$WORK/ok.sock" GET "/slurm/v0.0.44/ping"
rec submit-excluded-nodes "$WORK/ok.sock" POST "$A/job/submit" \
  "{\"script\": \"#!/bin/bash\\ntrue\", \"job\": {\"name\": \"fx-rest-exclude\", $MINIMAL, \"excluded_nodes\": \"vm\"}}"
rec submit-gres-unknown "$WORK/ok.sock" POST "$A/job/submit" \
  "{\"script\": \"#!/bin/bash\\ntrue\", \"job\": {\"name\": \"fx-rest-gres\", $MINIMAL, \"gres\": \"gpu:1\"}}"
rec delete-bad-signal "$WORK/ok.sock" DELETE "$A/job/999999?signal=BOGUS"
# An impossible request: HTTP 200 with a job id AND error 2015 -- the job exists (PENDING).
rec submit-impossible-cpus "$WORK/ok.sock" POST "$A/job/submit" \
  "{\"script\": \"#!/bin/bash\\ntrue\", \"job\": {\"name\": \"fx-rest-impossible\", $MINIMAL, \"cpus_per_task\": 999}}"
JOB="$(jq -r '.body.job_id // empty' "$OUT/rest-submit-impossible-cpus.json")"
[[ -n $JOB ]] && JOBS+=("$JOB")

# The shape RestSlurmClient.submit sends on v0.0.38, then the job as GET /jobs shows it.
CLIENT_BODY="$(jq -cn --arg cwd "$WORK" '{
  script: "#!/bin/bash\nsleep 30\n",
  job: {name: "fx-rest-client", comment: "sgorch:v1;instance=fixture;deployment=rest;slot=0;hash=0123abcd",
        current_working_directory: $cwd, standard_output: ($cwd + "/%x-%j.out"), tasks: 1,
        cpus_per_task: 2, partition: "debug", environment: {PATH: "/usr/bin:/bin",
        SLURM_JOB_NAME: "fx-rest-client"}, nodes: [1, 1], open_mode: "append",
        memory_per_node: 100, time_limit: 7}}')"
rec submit-client-shape "$WORK/ok.sock" POST "$A/job/submit" "$CLIENT_BODY"
JOB="$(jq -r '.body.job_id // empty' "$OUT/rest-submit-client-shape.json")"
if [[ -n $JOB ]]; then
  JOBS+=("$JOB")
  for _ in $(seq 1 30); do
    [[ "$(squeue -h -j "$JOB" -o %T)" == RUNNING ]] && break
    sleep 0.5
  done
  rec job-client-shape "$WORK/ok.sock" GET "$A/job/$JOB"
  rec delete-signal-usr1 "$WORK/ok.sock" DELETE "$A/job/$JOB?signal=USR1"
fi

rec unreachable-ping "$WORK/down.sock" GET "$A/ping"
rec unreachable-jobs "$WORK/down.sock" GET "$A/jobs"
rec unreachable-submit "$WORK/down.sock" POST "$A/job/submit" \
  "{\"script\": \"#!/bin/bash\\ntrue\", \"job\": {\"name\": \"fx-rest-down\", $MINIMAL}}"
rec unreachable-delete "$WORK/down.sock" DELETE "$A/job/12345"
