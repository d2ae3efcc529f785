#!/usr/bin/env bash
# Services for the real-backend tests: `start` or `stop`.
# Docker: installs Debian's docker.io and debootstrap if missing (apt-get update
# once), starts dockerd listening on a unix socket only (no TCP), waits for
# `docker info`; `stop` ends only the dockerd this script started (pid file).
set -euo pipefail
STATE=${AX_NAS_SERVICES_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ax-nas-plugins/services}
mkdir -p "$STATE"
SOCK=/var/run/docker.sock
PIDFILE=$STATE/dockerd.pid
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
  for _ in $(seq 1 120); do
    if docker_ok; then echo "services: dockerd is up"; return 0; fi
    sleep 0.5
  done
  echo "services: dockerd did not answer within 60 s; last log lines:" >&2
  tail -n 20 "$STATE/dockerd.log" >&2 || true
  return 1
}

stop_docker() {
  [[ -f $PIDFILE ]] || return 0
  local pid
  pid=$(cat "$PIDFILE")
  if [[ -n $pid && -d /proc/$pid ]] && grep -q dockerd "/proc/$pid/comm"; then
    kill "$pid" || true
    for _ in $(seq 1 60); do [[ -d /proc/$pid ]] || break; sleep 0.5; done
    [[ -d /proc/$pid ]] && kill -9 "$pid" || true
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  start) start_docker ;;
  stop) stop_docker ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
