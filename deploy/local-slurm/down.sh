#!/usr/bin/env bash
# Stop the local single-node Slurm cluster started by up.sh (development/CI only).
# Stops slurmrestd, slurmd, slurmctld and munged if they run. Idempotent.
# Leaves packages, configuration, keys and saved state in place; up.sh restarts it.
set -euo pipefail

PROG="local-slurm:"
log() { echo "$PROG $*"; }
die() { echo "$PROG ERROR: $1" >&2; exit "${2:-1}"; }

case "${1:-}" in
  "") ;;
  -h|--help) sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument '$1' (usage: down.sh)" 2 ;;
esac

[[ $(id -u) -eq 0 ]] || die "must run as root" 2

exec 9>/run/local-slurm.lock
flock -w 60 9 || die "another up.sh/down.sh holds /run/local-slurm.lock" 1

live_pids() {  # pids of processes named exactly $1, ignoring zombies
  local p st
  for p in $(pgrep -x "$1" || true); do
    st="$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null || true)"
    [[ -n $st && $st != Z ]] && echo "$p"
  done
  return 0
}
running() { [[ -n "$(live_pids "$1")" ]]; }

stop_daemon() {
  local name=$1 pids
  pids="$(live_pids "$name")"
  if [[ -z $pids ]]; then
    log "$name not running"
    return 0
  fi
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 1 100); do
    if ! running "$name"; then
      log "stopped $name (pid $(paste -sd, - <<<"$pids"))"
      return 0
    fi
    sleep 0.2
  done
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  sleep 0.2
  log "killed $name (did not exit on SIGTERM within 20 s)"
}

# Order: REST front-end, compute daemon, controller (saves state on SIGTERM), auth.
stop_daemon slurmrestd
stop_daemon slurmd
stop_daemon slurmctld
stop_daemon munged
log "down"
