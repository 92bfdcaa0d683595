#!/usr/bin/env bash
# One rt_stress run (tests/runtime/rt_stress.c) inside a network namespace
# this script creates (sl-rt-PID) and always deletes.  Only 198.18.0.0/15
# and 2001:2::/48 are used, inside the namespace.
#
#   run.sh --bin PATH/rt_stress --time SECONDS -- [rt_stress options]
#
# Exit: rt_stress's status; 77 = skipped (not root, no /dev/net/tun, no ip).
set -uo pipefail
BIN=""
LIMIT=240
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN="$2"; shift 2 ;;
    --time) LIMIT="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$BIN" ] && [ -x "$BIN" ] || { echo "run.sh: --bin PATH to rt_stress required" >&2; exit 2; }
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces and a TUN device)"
[ -c /dev/net/tun ] || skip "/dev/net/tun is missing"
command -v ip >/dev/null 2>&1 || skip "'ip' not installed"
command -v timeout >/dev/null 2>&1 || skip "'timeout' not installed"

NS="sl-rt-$$"
cleanup() { ip netns del "$NS" 2>/dev/null || true; }
trap cleanup EXIT INT TERM
timeout 5 ip netns add "$NS" || { echo "cannot create network namespace $NS"; exit 1; }
ip netns exec "$NS" ip link set lo up
# -k: a hung run is killed (and fails) rather than blocking CI
timeout -k 5 "$LIMIT" ip netns exec "$NS" "$BIN" "$@"
rc=$?
[ $rc -eq 124 ] && echo "FAIL: rt_stress did not finish within $LIMIT s"
exit $rc
