#!/usr/bin/env bash
# Re-record the real Slurm CLI / slurmrestd fixtures in tests/data/slurm/<major.minor>/
# against the local single-node cluster from deploy/local-slurm/up.sh.
#
#   sudo deploy/local-slurm/up.sh && sudo tests/data/slurm/record.sh [OUTDIR]
#
# Takes ~2-3 minutes (one job must run into its 1-minute time limit). Only jobs this
# script submits are shown in the squeue/REST job-list fixtures (filtered by job id)
# and only they are cancelled at the end, so other users of the cluster are left alone
# -- except that, for a few seconds, the "Resources/Priority" case fills every CPU row
# of the node, which delays other jobs submitted meanwhile.
#
# slurmrestd knobs (defaults fit Slurm 22.05; 24.x has other plugin names/versions):
#   REST_API=v0.0.38  REST_PLUGINS=openapi/v0.0.38  REST_PORT=6820
# shellcheck disable=SC2016  # backticks in single quotes are Markdown, not shell
set -euo pipefail
export LC_ALL=C
unset SLURM_CONF SLURM_JWT

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
VER_FULL="$(scontrol --version | awk '{print $2}')"
VER="$(echo "$VER_FULL" | cut -d. -f1,2)"
OUT="${1:-$HERE/$VER}"
REST_API="${REST_API:-v0.0.38}"
REST_PLUGINS="${REST_PLUGINS:-openapi/v0.0.38}"
REST_PORT="${REST_PORT:-6820}"
SQ_FMT='%i|%j|%T|%r|%N|%S|%e|%L|%l|%k'

[[ $(id -u) -eq 0 ]] || { echo "record.sh: run as root" >&2; exit 2; }
"$ROOT/deploy/local-slurm/up.sh" --check >/dev/null || {
  echo "record.sh: cluster not up; run deploy/local-slurm/up.sh first" >&2; exit 1; }

WORK="$(mktemp -d /tmp/slurm-fixtures.XXXXXX)"
SOCK="$WORK/slurmrestd.sock"
cd "$WORK"
mkdir -p "$OUT"
# cli-* and rest-* fixtures come from other recorders (cli-README.md, record-rest-extra.sh)
find "$OUT" -maxdepth 1 -type f \( -name '*.out' -o -name '*.err' -o -name '*.rc' -o -name '*.json' \
  -o -name '*.http' -o -name '*.txt' \) ! -name 'cli-*' ! -name 'rest-*' -delete
INDEX="$WORK/index.md"
: >"$INDEX"
MY_JOBS=()
RESTD_PIDS=()

cleanup() {
  local p
  for p in "${RESTD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if (( ${#MY_JOBS[@]} )); then scancel "${MY_JOBS[@]}" 2>/dev/null || true; fi
}
trap cleanup EXIT

md_escape() { sed -e 's/|/\\|/g' -e 's/`/\\`/g' <<<"$1"; }
shell_quote() {  # readable POSIX quoting: bare if safe, else '...'
  local a out="" q="'"
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./=:,+@%-]+$ ]]; then out+="$a "
    else out+="'${a//$q/$q\\$q$q}' "; fi
  done
  echo "${out% }"
}

# rec NAME DESCRIPTION [ENV=VAL ...] -- CMD ARGS...
# Writes NAME.out (stdout), NAME.err (stderr), NAME.rc (exit code) and an index line.
rec() {
  local name=$1 desc=$2; shift 2
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done; shift
  local t0 t1 rc=0
  t0=$EPOCHREALTIME
  env "${envs[@]}" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" || rc=$?
  t1=$EPOCHREALTIME
  echo "$rc" >"$OUT/$name.rc"
  local secs; secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')"
  local cmd; cmd="$(shell_quote "$@")"
  (( ${#envs[@]} )) && cmd="${envs[*]} $cmd"
  cmd="${cmd//$WORK/\$WORK}"
  printf '| `%s` | %s | exit %s | %ss | `%s` |\n' "$name" "$(md_escape "$desc")" "$rc" "$secs" \
    "$(md_escape "$cmd")" >>"$INDEX"
  echo "recorded $name (exit $rc, ${secs}s)"
}

submit() {  # submit VAR sbatch-args... ; stores job id in VAR and remembers it
  local var=$1 id; shift
  id="$(sbatch --parsable -o /dev/null -e /dev/null "$@")"
  id="${id%%;*}"
  MY_JOBS+=("$id")
  printf -v "$var" '%s' "$id"
}

filter_jobs() {  # keep only the JSON_IDS jobs in a {"jobs": [...]} document (size < 100 KB)
  local f=$1 tmp; tmp="$(mktemp)"
  jq --indent 2 --argjson ids "[$JSON_IDS]" '.jobs |= map(select(.job_id as $j | $ids | index($j)))' \
    "$f" >"$tmp" && cat "$tmp" >"$f" && rm -f "$tmp"
}

state_of() { squeue -h --states=all -j "$1" -o '%T' 2>/dev/null || true; }
wait_state() {  # wait_state ID SECONDS STATE...
  local id=$1 secs=$2 end s; shift 2
  end=$(( SECONDS + secs ))
  while (( SECONDS < end )); do
    s="$(state_of "$id")"
    for want in "$@"; do [[ $s == "$want" ]] && return 0; done
    sleep 1
  done
  echo "record.sh: job $id did not reach $* in ${secs}s (is $s)" >&2
  return 1
}
reason_of() { squeue -h --states=all -j "$1" -o '%r' 2>/dev/null || true; }
wait_reason() {  # wait_reason ID SECONDS : waits until a pending job has a reason != None
  local id=$1 end=$(( SECONDS + $2 ))
  while (( SECONDS < end )); do
    case "$(reason_of "$id")" in ""|None) sleep 0.5 ;; *) return 0 ;; esac
  done
}

COMMENT='sgorch:v1 instance=test resource=demo slot=0 hash=abc123'
COMMENT_PIPE='sgorch:v1 instance=test resource=pipe slot=1 hash=a|b c'
WEIRD_NAME='fx weird|name "q" $HOME ü'

# ------------------------------------------------------------------ start the timeout job first
submit J_TIMEOUT -J fx-timeout --time=1 --comment "$COMMENT" --wrap 'sleep 600'
echo "timeout job $J_TIMEOUT submitted (needs ~1-2 min to hit its limit)"

# ------------------------------------------------------------------ simple CLI cases
rec scontrol_version "scontrol --version" -- scontrol --version
rec scontrol_ping_up "scontrol ping, controller up" -- scontrol ping
rec sinfo_states "node state list" -- sinfo -h -o '%T'
rec sacct_disabled "sacct with accounting_storage/none" -- sacct -j "$J_TIMEOUT"
rec scancel_unknown "scancel of an unknown job id" -- scancel 999999
rec scancel_unknown_verbose "scancel -v of an unknown job id" -- scancel -v 999999
rec squeue_unknown_id "squeue -j of an unknown job id" -- squeue -h --states=all -j 999999 -o "$SQ_FMT"
rec scontrol_show_job_unknown "scontrol show job of an unknown id" -- scontrol show job -o 999999

rec sbatch_parsable_ok "successful submission (stdout = job id)" -- \
  sbatch --parsable -J fx-ok -o /dev/null --comment "$COMMENT" --wrap 'sleep 1'
MY_JOBS+=("$(cut -d';' -f1 "$OUT/sbatch_parsable_ok.out")")
rec sbatch_bad_partition "rejected submission: unknown partition" -- \
  sbatch --parsable -p nosuch -o /dev/null --wrap true
rec sbatch_bad_account "unknown account: ACCEPTED because accounting is disabled" -- \
  sbatch --parsable -A nosuchaccount -o /dev/null --wrap true
MY_JOBS+=("$(cut -d';' -f1 "$OUT/sbatch_bad_account.out")")
rec sbatch_bad_time "rejected submission: malformed --time" -- \
  sbatch --parsable --time=bogus -o /dev/null --wrap true
rec sbatch_impossible_cpus "impossible request (--cpus-per-task=999) is accepted, stays PENDING" -- \
  sbatch --parsable -J fx-impossible --cpus-per-task=999 -o /dev/null --comment "$COMMENT" --wrap true
J_IMPOSSIBLE="$(cut -d';' -f1 "$OUT/sbatch_impossible_cpus.out")"
MY_JOBS+=("$J_IMPOSSIBLE")

# ------------------------------------------------------------------ controller unreachable
BAD_DIR="$WORK/badconf"
mkdir -p "$BAD_DIR"
sed 's/^SlurmctldPort=.*/SlurmctldPort=6999/' /etc/slurm/slurm.conf >"$BAD_DIR/slurm.conf"
[[ -f /etc/slurm/cgroup.conf ]] && cp /etc/slurm/cgroup.conf "$BAD_DIR/"
BADENV="SLURM_CONF=$BAD_DIR/slurm.conf"
rec unreachable_squeue "controller unreachable (wrong SlurmctldPort)" "$BADENV" -- \
  squeue -h --states=all -o "$SQ_FMT"
rec unreachable_scancel "controller unreachable" "$BADENV" -- scancel 12345
rec unreachable_sbatch "controller unreachable" "$BADENV" -- sbatch --parsable -o /dev/null --wrap true
rec unreachable_scontrol_ping "controller unreachable" "$BADENV" -- scontrol ping
rec unreachable_sinfo "controller unreachable" "$BADENV" -- sinfo -h -o '%T'

# ------------------------------------------------------------------ job-state mix
wait_state "$J_TIMEOUT" 240 TIMEOUT
submit J_COMPLETED -J fx-completed --comment "$COMMENT" --wrap 'true'
submit J_FAILED -J fx-failed --comment "$COMMENT" --wrap 'exit 3'
submit J_CANCELLED -J fx-cancelled --comment "$COMMENT" --wrap 'sleep 600'
submit J_RUNNING -J fx-running --comment "$COMMENT" --wrap 'sleep 600'
submit J_PIPE -J fx-pipe-comment --comment "$COMMENT_PIPE" --wrap 'sleep 600'
submit J_WEIRD -J "$WEIRD_NAME" --comment "$COMMENT" --wrap 'sleep 600'
submit J_HELD -J fx-held --hold --comment "$COMMENT" --wrap 'sleep 600'
submit J_DEP -J fx-dependency --dependency="afterok:$J_RUNNING" --wrap 'true'
submit J_BEGIN -J fx-begin --begin=now+3600 --wrap 'true'
wait_state "$J_CANCELLED" 30 RUNNING
scancel "$J_CANCELLED"
wait_state "$J_COMPLETED" 30 COMPLETED
wait_state "$J_FAILED" 30 FAILED
wait_state "$J_CANCELLED" 30 CANCELLED
wait_state "$J_RUNNING" 30 RUNNING
wait_state "$J_WEIRD" 30 RUNNING
wait_state "$J_PIPE" 30 RUNNING

# Fill every CPU "row" (OverSubscribe=FORCE:N) so the next two jobs wait for resources.
NODE_CPUS="$(sinfo -h -N -o '%c' | head -1)"
ROWS="$(scontrol show partition -o | sed -n 's/.*OverSubscribe=FORCE:\([0-9]*\).*/\1/p' | head -1)"
ROWS="${ROWS:-1}"
BLOCKERS=()
for _ in $(seq 1 "$ROWS"); do
  submit b -J fx-blocker -c "$NODE_CPUS" --wrap 'sleep 600'; BLOCKERS+=("$b")
done
submit J_RESOURCES -J fx-wait-resources -c "$NODE_CPUS" --comment "$COMMENT" --wrap 'sleep 600'
submit J_PRIORITY -J fx-wait-priority -c "$NODE_CPUS" --comment "$COMMENT" --wrap 'sleep 600'
wait_reason "$J_RESOURCES" 20
wait_reason "$J_PRIORITY" 20
sleep 2

IDS="$(IFS=,; echo "${MY_JOBS[*]}")"
rec squeue_mix "job-state mix (only this script's jobs, via -j)" -- \
  squeue -h --states=all -j "$IDS" -o "$SQ_FMT"
JSON_IDS="$J_TIMEOUT,$J_IMPOSSIBLE,$J_COMPLETED,$J_FAILED,$J_CANCELLED,$J_RUNNING,$J_PIPE,$J_WEIRD,$J_HELD,$J_RESOURCES,$J_PRIORITY"
rec squeue_mix_json "squeue --json (ignores -j on 22.05!), then jq-filtered to 11 of the jobs above" -- \
  squeue --json --states=all -j "$IDS"
filter_jobs "$OUT/squeue_mix_json.out"
scancel "${BLOCKERS[@]}" "$J_RESOURCES" "$J_PRIORITY"

rec scontrol_show_job_running "scontrol show job -o, RUNNING job with comment" -- \
  scontrol show job -o "$J_RUNNING"
rec scontrol_show_job_weird "scontrol show job -o, RUNNING job with | in name" -- \
  scontrol show job -o "$J_WEIRD"
rec scontrol_show_job_pending "scontrol show job -o, PENDING impossible job" -- \
  scontrol show job -o "$J_IMPOSSIBLE"
rec scontrol_show_job_failed "scontrol show job -o, FAILED (exit 3) job" -- \
  scontrol show job -o "$J_FAILED"
rec scontrol_show_job_timeout "scontrol show job -o, TIMEOUT job" -- \
  scontrol show job -o "$J_TIMEOUT"
rec scancel_finished "scancel of a job that already COMPLETED" -- scancel "$J_COMPLETED"

# ------------------------------------------------------------------ slurmrestd (unix socket)
rest_index() {  # name desc method path status
  printf '| `%s` | %s | HTTP %s | | `%s %s` |\n' "$1" "$(md_escape "$2")" "$5" "$3" "$4" >>"$INDEX"
  echo "recorded $1 (HTTP $5)"
}
# rest NAME DESC METHOD PATH [BODY] [extra curl args...]  (unix socket)
rest() {
  local name=$1 desc=$2 method=$3 path=$4 body=${5:-}; shift 5 || shift $#
  local args=(-s -o "$OUT/$name.json" -w '%{http_code}' -X "$method" --unix-socket "$SOCK")
  [[ -n $body ]] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
  local code; code="$(curl "${args[@]}" "$@" "http://localhost$path" || true)"
  echo "$code" >"$OUT/$name.http"
  rest_index "$name" "$desc" "$method" "$path" "$code"
}

SLURMRESTD_SECURITY=disable_user_check slurmrestd -s list >"$OUT/slurmrestd_plugins.txt" 2>&1 || true
SLURMRESTD_SECURITY=disable_user_check slurmrestd -a list >>"$OUT/slurmrestd_plugins.txt" 2>&1 || true
printf '| `slurmrestd_plugins.txt` | `slurmrestd -s list` then `slurmrestd -a list` (stderr) | | | |\n' >>"$INDEX"

SLURMRESTD_SECURITY=disable_user_check setsid slurmrestd -a rest_auth/local -s "$REST_PLUGINS" \
  "unix:$SOCK" >"$WORK/slurmrestd-unix.log" 2>&1 9>&- &
RESTD_PIDS+=($!)
for _ in $(seq 1 50); do [[ -S $SOCK ]] && break; sleep 0.1; done

curl -s --unix-socket "$SOCK" http://localhost/openapi/v3 -o "$WORK/openapi.json" || true
if [[ $(stat -c %s "$WORK/openapi.json") -le 100000 ]]; then
  cp "$WORK/openapi.json" "$OUT/rest_openapi_v3.json"
  printf '| `rest_openapi_v3.json` | full OpenAPI document (GET /openapi/v3; /openapi, /openapi.json, /openapi.yaml return the same) | | | `GET /openapi/v3` |\n' >>"$INDEX"
fi
jq -r '.paths | to_entries[] | "\(.key) \(.value | keys | join(","))"' "$WORK/openapi.json" \
  >"$OUT/rest_openapi_paths.txt" 2>/dev/null || true
printf '| `rest_openapi_paths.txt` | path + methods list extracted from GET /openapi/v3 with jq | | | |\n' >>"$INDEX"

A="/slurm/$REST_API"
rest rest_ping "ping (rest_auth/local)" GET "$A/ping"
rest rest_jobs "job list, jq-filtered to the same 11 jobs as squeue_mix_json" GET "$A/jobs"
filter_jobs "$OUT/rest_jobs.json"
rest rest_job_running "one RUNNING job" GET "$A/job/$J_RUNNING"
rest rest_job_timeout "one TIMEOUT job" GET "$A/job/$J_TIMEOUT"
rest rest_job_unknown "unknown job id" GET "$A/job/999999"
SUBMIT_OK="$(jq -cn --arg c "sgorch:v1 instance=test resource=rest slot=3 hash=def456" '{job: {name: "fx-rest", partition: "debug", current_working_directory: "/tmp", environment: {PATH: "/usr/bin:/bin"}, comment: $c}, script: "#!/bin/bash\nsleep 30"}')"
rest rest_submit_ok "submit OK; body: $SUBMIT_OK" POST "$A/job/submit" "$SUBMIT_OK"
J_REST="$(jq -r '.job_id // empty' "$OUT/rest_submit_ok.json")"
[[ -n $J_REST ]] && MY_JOBS+=("$J_REST")
SUBMIT_BADPART="$(jq -c '.job.partition = "nosuch"' <<<"$SUBMIT_OK")"
rest rest_submit_bad_partition "the OK body with job.partition = \"nosuch\"" POST "$A/job/submit" "$SUBMIT_BADPART"
SUBMIT_NOENV="$(jq -c 'del(.job.environment)' <<<"$SUBMIT_OK")"
rest rest_submit_no_environment "the OK body without job.environment" POST "$A/job/submit" "$SUBMIT_NOENV"
rest rest_submit_malformed 'truncated JSON body `{"job": `' POST "$A/job/submit" '{"job": '
if [[ -n $J_REST ]]; then
  wait_state "$J_REST" 30 RUNNING || true
  rest rest_delete_ok "DELETE of a RUNNING job" DELETE "$A/job/$J_REST"
  sleep 1
  rest rest_job_after_delete "the deleted job afterwards" GET "$A/job/$J_REST"
fi
rest rest_delete_unknown "DELETE of an unknown job id" DELETE "$A/job/999999"

# ------------------------------------------------------------------ JWT over TCP (127.0.0.1)
if grep -q '^AuthAltTypes=.*auth/jwt' /etc/slurm/slurm.conf; then
  tok="$(scontrol token lifespan=900 2>"$OUT/scontrol_token.err")" && trc=0 || trc=$?
  echo "$trc" >"$OUT/scontrol_token.rc"
  # Keep header and payload, drop the signature.
  sed -E 's/^(SLURM_JWT=[^.]*\.[^.]*)\..*/\1.REDACTED-SIGNATURE/' <<<"$tok" >"$OUT/scontrol_token.out"
  printf '| `scontrol_token` | JWT for root (signature redacted) | exit %s | | `scontrol token lifespan=900` |\n' "$trc" >>"$INDEX"
  TOKEN="${tok#SLURM_JWT=}"
  SLURM_JWT=daemon SLURMRESTD_SECURITY=disable_user_check setsid slurmrestd -a rest_auth/jwt \
    -s "$REST_PLUGINS" "127.0.0.1:$REST_PORT" >"$WORK/slurmrestd-tcp.log" 2>&1 9>&- &
  RESTD_PIDS+=($!)
  for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$REST_PORT/" && break; sleep 0.1; done
  tcp() {  # tcp NAME DESC PATH curl-args...
    local name=$1 desc=$2 path=$3; shift 3
    local code; code="$(curl -s -o "$OUT/$name.json" -w '%{http_code}' "$@" "http://127.0.0.1:$REST_PORT$path" || true)"
    echo "$code" >"$OUT/$name.http"
    rest_index "$name" "$desc (TCP 127.0.0.1:$REST_PORT, SLURM_JWT=daemon slurmrestd -a rest_auth/jwt)" GET "$path" "$code"
  }
  tcp rest_jwt_ping_ok "headers X-SLURM-USER-NAME: root + X-SLURM-USER-TOKEN" "$A/ping" \
    -H "X-SLURM-USER-NAME: root" -H "X-SLURM-USER-TOKEN: $TOKEN"
  tcp rest_jwt_no_headers "no auth headers" "$A/ping"
  tcp rest_jwt_token_only "X-SLURM-USER-TOKEN only, no X-SLURM-USER-NAME" "$A/ping" -H "X-SLURM-USER-TOKEN: $TOKEN"
  tcp rest_jwt_bogus_token "bogus token: slurmrestd passes it through, slurmctld rejects" "$A/jobs" \
    -H "X-SLURM-USER-NAME: root" -H "X-SLURM-USER-TOKEN: not-a-jwt"
fi

# ------------------------------------------------------------------ cleanup + README
for p in "${RESTD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
RESTD_PIDS=()
scancel "${MY_JOBS[@]}" 2>/dev/null || true
MY_JOBS=()
sleep 2
left="$(squeue -h -j "$IDS" -t PENDING,RUNNING,CONFIGURING,COMPLETING,SUSPENDED -o %i 2>/dev/null | wc -l)"
echo "jobs of this script still pending/running after scancel: $left"

{
  echo "# Real Slurm $VER_FULL outputs (parser fixtures)"
  echo
  echo "Recorded by \`tests/data/slurm/record.sh\` on $(date -u +%Y-%m-%d) against the single-node"
  echo "cluster of \`deploy/local-slurm/up.sh\` (Debian, node \`$(hostname -s)\`, partition \`debug\`,"
  echo "$NODE_CPUS CPUs claimed, OverSubscribe=FORCE:$ROWS, no accounting, auth/munge + auth/jwt)."
  echo "Do not edit by hand: re-run the script (it rewrites this file and every fixture;"
  echo "\`NOTES.md\`, if present, is hand-written and kept). \`\$WORK\` below is the script's"
  echo "temporary directory; \`\$WORK/badconf/slurm.conf\` is /etc/slurm/slurm.conf with"
  echo "SlurmctldPort=6999 (nothing listens there: connection refused)."
  echo
  echo "Files per CLI case: \`NAME.out\` = stdout, \`NAME.err\` = stderr (may be empty),"
  echo "\`NAME.rc\` = exit code. Per REST case: \`NAME.json\` = body (not always JSON: see the"
  echo "401 cases), \`NAME.http\` = HTTP status. Times are wall-clock for that one command."
  echo "REST cases ran \`curl -s -X METHOD --unix-socket \$WORK/slurmrestd.sock http://localhost/PATH\`"
  echo "(plus \`-H 'Content-Type: application/json' --data-binary BODY\` for POST) against"
  echo "\`SLURMRESTD_SECURITY=disable_user_check slurmrestd -a rest_auth/local -s $REST_PLUGINS unix:\$WORK/slurmrestd.sock\`."
  echo "The jq-filtered JSON files are re-indented by jq (slurmrestd itself writes \`\\/\` for \`/\`)."
  echo "The squeue format is \`$SQ_FMT\`"
  echo "(id|name|state|reason|nodes|start|end|time-left|time-limit|comment). Note that a \`|\` in"
  echo "the name or the comment is NOT escaped: split from both ends or cap the field count."
  echo
  echo "## Jobs in the state-mix fixtures"
  echo
  echo "| role | job id | how it was made |"
  echo "| --- | --- | --- |"
  echo "| timeout | $J_TIMEOUT | \`--time=1 --wrap 'sleep 600'\` (ran into its 1 min limit) |"
  echo "| impossible (pending) | $J_IMPOSSIBLE | \`--cpus-per-task=999\` |"
  echo "| completed | $J_COMPLETED | \`--wrap true\` |"
  echo "| failed | $J_FAILED | \`--wrap 'exit 3'\` |"
  echo "| cancelled | $J_CANCELLED | \`sleep 600\`, then \`scancel\` while RUNNING |"
  echo "| running | $J_RUNNING | \`sleep 600\`, comment \`$COMMENT\` |"
  echo "| running, pipe char in comment | $J_PIPE | comment \`$(md_escape "$COMMENT_PIPE")\` |"
  echo "| running, odd name | $J_WEIRD | \`-J '$(md_escape "$WEIRD_NAME")'\` |"
  echo "| held | $J_HELD | \`--hold\` |"
  echo "| dependency | $J_DEP | \`--dependency=afterok:$J_RUNNING\` |"
  echo "| begin time | $J_BEGIN | \`--begin=now+3600\` |"
  echo "| blockers | $(IFS=,; echo "${BLOCKERS[*]}") | \`-c $NODE_CPUS\` x $ROWS to fill every CPU row (any that do not fit pend with reason Resources) |"
  echo "| waits (1) | $J_RESOURCES | \`-c $NODE_CPUS\` after the blockers (its reason: see squeue_mix) |"
  echo "| waits (2) | $J_PRIORITY | \`-c $NODE_CPUS\` after that |"
  echo "| REST-submitted | ${J_REST:-none} | \`POST $A/job/submit\`, then DELETE |"
  echo
  echo "Every comment option above was passed as \`--comment '<text>'\`; all jobs used"
  echo "\`-o /dev/null -e /dev/null\` unless shown in the command column."
  echo
  echo "## Cases"
  echo
  echo "| file(s) | what | result | time | exact command |"
  echo "| --- | --- | --- | --- | --- |"
  cat "$INDEX"
} >"$OUT/README.md"
chmod 0644 "$OUT"/*
echo "fixtures written to $OUT"
