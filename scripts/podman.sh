#!/usr/bin/env bash
# podman as this kind of machine needs it, for `npm run image` and `npm run test:image`:
# - runc, not crun: the machine's cgroups are hybrid (v1 controllers plus a v2 mount), which
#   crun refuses;
# - cgroupfs and a file events log: there is no systemd to ask;
# - rlimits no higher than the machine's own: podman's defaults (nofile 1048576, nproc
#   4194304) exceed them and runc cannot raise a limit above its parent's hard limit.
#   nproc is capped at kernel.pid_max too: podman's conmon was seen running with nproc
#   32768 (this machine's pid_max) although the shell's hard limit was 96367.
# Usage: scripts/podman.sh <podman subcommand> [args…]
set -euo pipefail

if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1; then
  echo "podman: podman or runc is missing: run bash scripts/ensure-setup.sh image" >&2
  exit 1
fi

global=(--runtime runc --cgroup-manager cgroupfs --events-backend file)
subcommand="${1:-}"
shift || true
case "$subcommand" in
  run | create | build)
    nofile="$(ulimit -Hn)"
    nproc="$(ulimit -Hu)"
    pid_max="$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo unlimited)"
    if [ "$nproc" = unlimited ] || { [ "$pid_max" != unlimited ] && [ "$pid_max" -lt "$nproc" ]; }; then
      nproc="$pid_max"
    fi
    limits=()
    [ "$nofile" != unlimited ] && limits+=(--ulimit "nofile=$nofile:$nofile")
    [ "$nproc" != unlimited ] && limits+=(--ulimit "nproc=$nproc:$nproc")
    exec podman "${global[@]}" "$subcommand" "${limits[@]}" "$@"
    ;;
  *)
    exec podman "${global[@]}" "$subcommand" "$@"
    ;;
esac
