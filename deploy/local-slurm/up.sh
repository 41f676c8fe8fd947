#!/usr/bin/env bash
# Bring up a single-node Slurm cluster on this machine (development/CI only).
#
#   deploy/local-slurm/up.sh           install (if needed), configure, start, wait idle
#   deploy/local-slurm/up.sh --check   exit 0 if the cluster answers and the node is
#                                      idle/mixed/allocated, 1 otherwise; changes nothing
#
# Idempotent: a second run with the cluster already up only re-renders the config,
# finds it unchanged, sees the daemons running and the node idle, and exits.
#
# Environment knobs (all optional):
#   LOCAL_SLURM_CPUS=N       CPUs the node claims (default: max(nproc, 32); claims above
#                            nproc work thanks to SlurmdParameters=config_overrides)
#   LOCAL_SLURM_TIMEOUT=S    seconds to wait for the node to become idle (default 60)
#   LOCAL_SLURM_JWT=0        do not configure auth/jwt (default: on if the plugin exists)
#   LOCAL_SLURM_CLEAN=1      start slurmctld with -c (discard saved job/node state)
set -euo pipefail

PROG="local-slurm:"
log() { echo "$PROG $*"; }
warn() { echo "$PROG WARNING: $*" >&2; }
die() { echo "$PROG ERROR: $1" >&2; exit "${2:-1}"; }

MODE=up
case "${1:-}" in
  "") ;;
  --check) MODE=check ;;
  -h|--help)
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
    exit 0 ;;
  *) die "unknown argument '$1' (usage: up.sh [--check])" 2 ;;
esac

# Always talk to the cluster this script manages, whatever the caller's environment.
unset SLURM_CONF
export LC_ALL=C

HOST="$(hostname -s)"
CONF_DIR=/etc/slurm
CONF="$CONF_DIR/slurm.conf"
CGROUP_CONF="$CONF_DIR/cgroup.conf"
SPOOL=/var/spool/slurm
STATE_DIR="$SPOOL/statesave"
SLURMD_SPOOL="$SPOOL/slurmd"
LOG_DIR=/var/log/slurm
JWT_KEY="$STATE_DIR/jwt_hs256.key"
MUNGE_KEY=/etc/munge/munge.key
MARKER="# Managed by SGOrch deploy/local-slurm/up.sh"
TIMEOUT="${LOCAL_SLURM_TIMEOUT:-60}"

# ---------------------------------------------------------------- helpers
live_pids() {  # pids of processes named exactly $1, ignoring zombies
  local p st
  for p in $(pgrep -x "$1" || true); do
    st="$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null || true)"
    [[ -n $st && $st != Z ]] && echo "$p"
  done
  return 0
}
running() { [[ -n "$(live_pids "$1")" ]]; }

node_states() {
  # One state per line for our node (e.g. "idle", "down*"); empty if unreachable.
  timeout 15 sinfo -h -N -n "$HOST" -o '%T' 2>/dev/null || true
}

states_healthy() {
  # $1: newline-separated states. Healthy = every line is a usable state.
  local s any=0
  while IFS= read -r s; do
    [[ -z "$s" ]] && continue
    any=1
    case "$s" in
      idle|mixed|allocated|completing|planned) ;;
      *) return 1 ;;
    esac
  done <<<"$1"
  [[ $any -eq 1 ]]
}

# ---------------------------------------------------------------- --check
if [[ $MODE == check ]]; then
  # Read-only: needs neither root nor Debian, just the client tools.
  if ! command -v sinfo >/dev/null 2>&1; then
    echo "$PROG check: sinfo not installed" >&2
    exit 1
  fi
  # The controller is local: if it is not running, say so at once instead of letting
  # sinfo retry for ~9 s.
  for d in munged slurmctld slurmd; do
    if ! running "$d"; then
      echo "$PROG check: not up ($d not running)" >&2
      exit 1
    fi
  done
  st="$(node_states)"
  if states_healthy "$st"; then
    echo "$PROG check: up, node $HOST $(echo "$st" | sort -u | paste -sd, -)"
    exit 0
  fi
  echo "$PROG check: not up (node $HOST state: ${st:-unreachable})" >&2
  exit 1
fi

# ---------------------------------------------------------------- preconditions
if [[ $(id -u) -ne 0 ]]; then
  die "must run as root (it installs packages, writes /etc/slurm and starts daemons)" 2
fi
# shellcheck source=/dev/null
OS_ID="$(. /etc/os-release 2>/dev/null && echo "${ID:-}")"
if [[ "$OS_ID" != debian ]]; then
  die "only Debian is supported (found ID='${OS_ID:-unknown}' in /etc/os-release)" 2
fi

# Serialise concurrent runs (daemons are started with fd 9 closed so they never
# inherit the lock).
exec 9>/run/local-slurm.lock
if ! flock -w 60 9; then
  die "another up.sh/down.sh holds /run/local-slurm.lock" 1
fi

# ---------------------------------------------------------------- packages
PKGS=(munge slurmctld slurmd slurm-client slurmrestd)
OPTIONAL_PKGS=(slurm-wlm-jwt-plugin)

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for p in "${PKGS[@]}"; do pkg_installed "$p" || missing+=("$p"); done
want_optional=()
if [[ "${LOCAL_SLURM_JWT:-1}" != 0 ]]; then
  for p in "${OPTIONAL_PKGS[@]}"; do pkg_installed "$p" || want_optional+=("$p"); done
fi
if (( ${#missing[@]} + ${#want_optional[@]} > 0 )); then
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-cache show "${PKGS[@]}" >/dev/null 2>&1; then
    log "running apt-get update (package lists missing or stale)"
    apt-get update -qq
  fi
  # Optional packages only if the archive has them (names may change between releases).
  for p in "${want_optional[@]}"; do
    if apt-cache show "$p" >/dev/null 2>&1; then missing+=("$p"); else
      warn "optional package $p not available; skipping"; fi
  done
  if (( ${#missing[@]} > 0 )); then
    log "installing packages: ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
else
  log "packages already installed"
fi

id slurm >/dev/null 2>&1 || die "user 'slurm' does not exist after package install"
id munge >/dev/null 2>&1 || die "user 'munge' does not exist after package install"

SLURM_VERSION="$(slurmd -V 2>/dev/null | awk '{print $2}')"   # e.g. 22.05.8
IFS=. read -r V_MAJ V_MIN _ <<<"$SLURM_VERSION"
V_NUM=$((10#${V_MAJ:-0} * 100 + 10#${V_MIN:-0}))                  # e.g. 2205

PLUGIN_DIR=""
for cand in $(dpkg -L slurm-wlm-basic-plugins 2>/dev/null | grep '/select_cons_tres\.so$' || true); do
  PLUGIN_DIR="$(dirname "$cand")"; break
done
if [[ -z $PLUGIN_DIR ]]; then
  cand="$(find /usr/lib /usr/lib64 -name select_cons_tres.so -print -quit 2>/dev/null || true)"
  [[ -n $cand ]] && PLUGIN_DIR="$(dirname "$cand")"
fi
have_plugin() {
  # have_plugin task/none -> checks $PLUGIN_DIR/task_none.so; unknown dir => assume yes
  [[ -z $PLUGIN_DIR ]] && return 0
  [[ -e "$PLUGIN_DIR/${1//\//_}.so" ]]
}

# ---------------------------------------------------------------- directories
mkdir -p /run/munge "$CONF_DIR" "$STATE_DIR" "$SLURMD_SPOOL" "$LOG_DIR"
chown munge:munge /run/munge && chmod 0755 /run/munge
for d in /etc/munge /var/lib/munge /var/log/munge; do
  [[ -d $d ]] && chown munge:munge "$d"
done
chown slurm:slurm "$SPOOL" "$STATE_DIR" "$LOG_DIR"
chmod 0755 "$SPOOL" "$STATE_DIR" "$LOG_DIR"
chown root:root "$SLURMD_SPOOL" && chmod 0755 "$SLURMD_SPOOL"

# ---------------------------------------------------------------- keys
MUNGE_KEY_NEW=0
if [[ ! -s $MUNGE_KEY ]]; then
  if command -v mungekey >/dev/null 2>&1; then
    mungekey --create --force --keyfile="$MUNGE_KEY" >/dev/null
  else
    dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
  fi
  MUNGE_KEY_NEW=1
  log "created munge key $MUNGE_KEY"
fi
chown munge:munge "$MUNGE_KEY"
chmod 0400 "$MUNGE_KEY"

USE_JWT=0
if [[ "${LOCAL_SLURM_JWT:-1}" != 0 ]] && have_plugin auth/jwt; then
  USE_JWT=1
  if [[ ! -s $JWT_KEY ]]; then
    (umask 077 && dd if=/dev/urandom of="$JWT_KEY" bs=32 count=1 status=none)
    log "created JWT key $JWT_KEY"
  fi
  chown slurm:slurm "$JWT_KEY"
  chmod 0600 "$JWT_KEY"
fi

# ---------------------------------------------------------------- config
NPROC="$(nproc)"
CPUS="${LOCAL_SLURM_CPUS:-$(( NPROC > 32 ? NPROC : 32 ))}"
MEM_DETECTED="$(slurmd -C 2>/dev/null | tr ' ' '\n' | sed -n 's/^RealMemory=//p' | head -1)"
MEM_DETECTED="${MEM_DETECTED:-1024}"
# Round down to 512 MiB so tiny fluctuations never change the config.
if (( MEM_DETECTED > 1024 )); then REAL_MEM=$(( MEM_DETECTED / 512 * 512 )); else REAL_MEM=$MEM_DETECTED; fi

render_conf() {
  cat <<EOF
$MARKER -- local development/CI only.
# Regenerated on every run; manual edits are overwritten.
ClusterName=localslurm
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=slurm
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
EOF
  if [[ $USE_JWT == 1 ]]; then
    echo "AuthAltTypes=auth/jwt"
    echo "AuthAltParameters=jwt_key=$JWT_KEY"
  fi
  cat <<EOF
StateSaveLocation=$STATE_DIR
SlurmdSpoolDir=$SLURMD_SPOOL
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
EOF
  # Only name plugins that exist in this build; otherwise Slurm's default is used.
  have_plugin task/none && echo "TaskPlugin=task/none"
  echo "SelectType=select/cons_tres"
  echo "SelectTypeParameters=CR_CPU"
  have_plugin accounting_storage/none && echo "AccountingStorageType=accounting_storage/none"
  cat <<EOF
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SlurmdParameters=config_overrides
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=${REAL_MEM} State=UNKNOWN
PartitionName=debug Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
EOF
}

CONF_CHANGED=0
new_conf="$(mktemp)"
trap 'rm -f "$new_conf"' EXIT
render_conf >"$new_conf"
if [[ -f $CONF ]] && cmp -s "$new_conf" "$CONF"; then
  log "slurm.conf unchanged ($CONF)"
else
  if [[ -f $CONF ]]; then
    if ! head -1 "$CONF" | grep -qF "$MARKER"; then
      cp -p "$CONF" "$CONF.bak-local-slurm"
      log "backed up foreign $CONF to $CONF.bak-local-slurm"
    fi
    CONF_CHANGED=1
  fi
  install -m 0644 -o root -g root "$new_conf" "$CONF"
  log "wrote $CONF (node $HOST CPUs=$CPUS RealMemory=$REAL_MEM, jwt=$USE_JWT)"
fi

# Slurm >= 24.05 understands CgroupPlugin=disabled; some builds read cgroup.conf even
# with proctrack/linuxproc + task/none, so give them one that turns cgroups off.
if (( V_NUM >= 2405 )); then
  want_cg="$MARKER
CgroupPlugin=disabled"
  if [[ ! -f $CGROUP_CONF ]] || [[ "$(cat "$CGROUP_CONF")" != "$want_cg" ]]; then
    [[ -f $CGROUP_CONF ]] && ! head -1 "$CGROUP_CONF" | grep -qF "$MARKER" \
      && cp -p "$CGROUP_CONF" "$CGROUP_CONF.bak-local-slurm"
    printf '%s\n' "$want_cg" >"$CGROUP_CONF"
    CONF_CHANGED=1
    log "wrote $CGROUP_CONF (CgroupPlugin=disabled)"
  fi
fi

# ---------------------------------------------------------------- daemons

stop_daemon() {
  local name=$1 pids
  pids="$(live_pids "$name")"
  [[ -z $pids ]] && return 0
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 1 100); do
    running "$name" || { log "stopped $name"; return 0; }
    sleep 0.2
  done
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  log "killed $name (did not exit on SIGTERM within 20 s)"
}

wait_for() {  # wait_for SECONDS DESCRIPTION CMD...
  local secs=$1 what=$2 end; shift 2
  end=$(( SECONDS + secs ))
  until "$@" >/dev/null 2>&1; do
    (( SECONDS >= end )) && die "timed out after ${secs}s waiting for $what"
    sleep 0.3
  done
}

munge_ok() { munge -n | unmunge; }

if [[ $MUNGE_KEY_NEW == 1 ]] && running munged; then
  stop_daemon munged
fi
if running munged; then
  log "munged already running"
else
  runuser -u munge -- /usr/sbin/munged 9>&-
  wait_for 15 "munged" munge_ok
  log "started munged"
fi

if [[ $CONF_CHANGED == 1 || $MUNGE_KEY_NEW == 1 ]]; then
  if running slurmd || running slurmctld; then
    log "configuration changed: restarting slurmctld and slurmd"
    stop_daemon slurmd
    stop_daemon slurmctld
  fi
fi

if running slurmctld; then
  log "slurmctld already running"
else
  ctld_args=()
  if [[ "${LOCAL_SLURM_CLEAN:-0}" == 1 ]]; then ctld_args+=(-c); fi
  if ! slurmctld "${ctld_args[@]}" 9>&-; then
    tail -n 20 "$LOG_DIR/slurmctld.log" >&2 || true
    die "slurmctld failed to start (see $LOG_DIR/slurmctld.log)"
  fi
  wait_for 30 "slurmctld to answer" scontrol ping
  log "started slurmctld${ctld_args:+ (${ctld_args[*]})}"
fi

if running slurmd; then
  log "slurmd already running"
else
  if ! slurmd 9>&-; then
    tail -n 20 "$LOG_DIR/slurmd.log" >&2 || true
    die "slurmd failed to start (see $LOG_DIR/slurmd.log)"
  fi
  log "started slurmd"
fi

# ---------------------------------------------------------------- wait for idle
end=$(( SECONDS + TIMEOUT ))
last_resume=-100
while :; do
  st="$(node_states)"
  if states_healthy "$st"; then break; fi
  if (( SECONDS >= end )); then
    tail -n 10 "$LOG_DIR/slurmctld.log" >&2 || true
    die "node $HOST not idle after ${TIMEOUT}s (state: ${st:-unreachable})"
  fi
  case "$st" in
    *down*|*drain*|*fail*)
      # '*' suffix = not responding yet; resume only helps once slurmd registered.
      if [[ $st != *'*'* ]] && (( SECONDS - last_resume >= 5 )); then
        if scontrol update nodename="$HOST" state=resume >/dev/null 2>&1; then
          log "resumed node $HOST (was $st)"
        fi
        last_resume=$SECONDS
      fi ;;
  esac
  sleep 0.5
done

log "$(scontrol --version)"
log "node $HOST: $(echo "$st" | sort -u | paste -sd, -) (partition debug, CPUs=$CPUS)"
