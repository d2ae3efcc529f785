#!/usr/bin/env bash
# Services for the real-backend tests: `start` or `stop`.
# Docker: installs Debian's docker.io and debootstrap if missing (apt-get update
# once), starts dockerd listening on a unix socket only (no TCP), waits for
# `docker info`; `stop` ends only a dockerd that a `start` of this script
# launched: ownership (pid + process start time) is recorded in
# $STATE/dockerd.owner only then, and a dockerd that already answered is
# never recorded, so never stopped.
# PostgreSQL: installs Debian's postgresql if its binaries are missing; the
# test fixture starts and stops its own throw-away server on 127.0.0.1.
set -euo pipefail
STATE=${AX_NAS_SERVICES_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ax-nas-plugins/services}
mkdir -p "$STATE"
SOCK=/var/run/docker.sock
PIDFILE=$STATE/dockerd.pid
OWNER=$STATE/dockerd.owner
APT_STAMP=$STATE/apt-updated

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  if [[ ! -e $APT_STAMP ]]; then
    as_root apt-get update -qq && touch "$APT_STAMP"
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}

docker_ok() { docker -H "unix://$SOCK" info >/dev/null 2>&1; }

# Start time of a pid (clock ticks since boot, field 22 of /proc/PID/stat).
start_time() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $20}'; }
# True while a pid runs (a zombie has ended).
running() { [[ $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) =~ ^[^ZX]$ ]]; }

start_docker() {
  if docker_ok; then
    echo "services: dockerd already answers on $SOCK (not started by this script)"
    return 0
  fi
  apt_install docker.io debootstrap
  echo "services: starting dockerd (unix socket $SOCK only, log $STATE/dockerd.log)"
  # setsid: dockerd lives in its own session; `stop` ends it by pid.
  setsid /usr/sbin/dockerd --host "unix://$SOCK" --pidfile "$PIDFILE" \
    >"$STATE/dockerd.log" 2>&1 < /dev/null &
  local launched=$!
  for _ in $(seq 1 120); do
    if docker_ok; then
      # ours only if the pid file names the process launched above
      local pid
      pid=$(cat "$PIDFILE" 2>/dev/null || true)
      if [[ -n $pid && ($pid == "$launched" ||
        $(awk '{print $4}' "/proc/$pid/stat" 2>/dev/null) == "$launched") ]]; then
        echo "$pid $(start_time "$pid")" >"$OWNER"
      fi
      echo "services: dockerd is up"
      return 0
    fi
    sleep 0.5
  done
  echo "services: dockerd did not answer within 60 s; last log lines:" >&2
  tail -n 20 "$STATE/dockerd.log" >&2 || true
  return 1
}

stop_docker() {
  if [[ ! -f $OWNER ]]; then
    echo "services: no dockerd started by this script; nothing stopped"
    return 0
  fi
  local pid started
  read -r pid started <"$OWNER" || true
  if [[ -n $pid && -d /proc/$pid && $(start_time "$pid") == "$started" ]] &&
    grep -q dockerd "/proc/$pid/comm"; then
    kill "$pid" || true
    for _ in $(seq 1 60); do running "$pid" || break; sleep 0.5; done
    running "$pid" && kill -9 "$pid" || true
  else
    echo "services: the recorded dockerd (pid $pid) is gone; nothing stopped"
  fi
  rm -f "$OWNER"
}

postgres_binaries() {
  command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

case "${1:-}" in
  start)
    postgres_binaries || apt_install postgresql
    start_docker
    ;;
  stop) stop_docker ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
