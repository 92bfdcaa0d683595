#!/usr/bin/env bash
# The runtime's example programs against the Linux kernel, in a namespace
# this script creates (sl-rtx-PID) and always deletes:
#   sluice-tun --threads 2 (two runtimes on a two-queue TUN device):
#     TCP echo (1 MiB each on 8 parallel connections, v4 and v6), discard,
#     chargen (RFC 864 lines checked), UDP echo, a refused port;
#   rt-echo-epoll: echo of 1 MiB on 8 parallel connections.
# Client checks in /usr/bin/python3 (kernel sockets).  Exit 77 = skipped.
#
#   examples.sh --tun PATH/sluice-tun --epoll PATH/rt-echo-epoll
set -uo pipefail
TUN=""; EPOLL=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tun) TUN="$2"; shift 2 ;;
    --epoll) EPOLL="$2"; shift 2 ;;
    *) echo "examples.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$TUN" ] && [ -x "$EPOLL" ] || { echo "examples.sh: --tun and --epoll required" >&2; exit 2; }
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces and a TUN device)"
[ -c /dev/net/tun ] || skip "/dev/net/tun is missing"
command -v ip >/dev/null 2>&1 || skip "'ip' not installed"
[ -x /usr/bin/python3 ] || skip "/usr/bin/python3 missing"

NS="sl-rtx-$$"
PID=""
WORK="$(mktemp -d /tmp/sl-rtx.XXXXXX)"
FAILS=0
cleanup() {
  if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null; sleep 0.3; kill -KILL "$PID" 2>/dev/null; fi
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
nsx() { ip netns exec "$NS" "$@"; }
timeout 5 ip netns add "$NS" || { echo "cannot create namespace $NS"; exit 1; }
nsx ip link set lo up

start() { # dev, command...
  local dev=$1; shift
  ip netns exec "$NS" "$@" >"$WORK/log" 2>&1 &
  PID=$!
  for _ in $(seq 1 50); do
    nsx ip link show "$dev" 2>/dev/null | grep -q "UP" && break
    sleep 0.1
  done
  nsx ip addr add 198.18.0.1/32 dev "$dev"
  nsx ip -6 addr add 2001:2::1/128 dev "$dev" nodad
  nsx ip route add 198.18.0.0/15 dev "$dev"
  nsx ip -6 route add 2001:2::/48 dev "$dev"
  nsx ip link set dev "$dev" txqueuelen 10000
}
stop() { # wait for a clean exit on SIGTERM
  kill -TERM "$PID"
  local i
  for i in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$PID" 2>/dev/null; then echo "FAIL: did not exit on SIGTERM"; FAILS=$((FAILS + 1)); kill -KILL "$PID"; fi
  wait "$PID"; local rc=$?
  PID=""
  [ $rc -eq 0 ] || { echo "FAIL: exit status $rc"; cat "$WORK/log"; FAILS=$((FAILS + 1)); }
}
check() { # name, python client args...
  local name=$1; shift
  if timeout 60 ip netns exec "$NS" /usr/bin/python3 - "$@" <<'PY'
import socket, sys, threading, hashlib, os
mode = sys.argv[1]
def echo(host, port, n, errs):
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM); s.settimeout(20); s.connect((host, port))
    data = os.urandom(n); got = bytearray()
    def w():
        s.sendall(data); s.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=w); t.start()
    while True:
        b = s.recv(65536)
        if not b: break
        got += b
    t.join(); s.close()
    if bytes(got) != data: errs.append('%s:%d echo mismatch %d/%d' % (host, port, len(got), n))
def par(host, port):
    errs = []; ts = [threading.Thread(target=echo, args=(host if i % 2 == 0 else host6, port, 1 << 20, errs)) for i in range(8)]
    [t.start() for t in ts]; [t.join() for t in ts]
    if errs: print(errs); sys.exit(1)
host, host6 = '198.18.0.2', '2001:2::2'
if mode == 'echo':
    par(host, int(sys.argv[2]))
elif mode == 'discard':
    s = socket.create_connection((host, 9), 10); s.sendall(os.urandom(1 << 20)); s.shutdown(socket.SHUT_WR)
    s.settimeout(10); assert s.recv(1) == b''
elif mode == 'chargen':
    s = socket.create_connection((host, 19), 10); s.settimeout(10); got = bytearray()
    while len(got) < 200000: got += s.recv(65536)
    s.close()
    for i in range(0, 190000, 74):
        line = got[i:i + 74]; k = i // 74
        want = bytes(32 + (k + c) % 95 for c in range(72)) + b'\r\n'
        assert line == want, (k, line)
elif mode == 'udp':
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); s.connect((host, 7))
    for i in range(100):
        d = os.urandom(1 + i * 13)
        s.send(d); assert s.recv(65536) == d
elif mode == 'refused':
    try:
        socket.create_connection((host, 12345), 5); sys.exit(1)
    except ConnectionRefusedError:
        pass
PY
  then echo "ok: $name"; else echo "FAIL: $name"; FAILS=$((FAILS + 1)); fi
}

start slx0 "$TUN" --dev slx0 --threads 2 --stats --max-seconds 100
check "sluice-tun --threads 2: echo 8 x 1 MiB (v4, v6)" echo 7
check "sluice-tun --threads 2: discard 1 MiB" discard
check "sluice-tun --threads 2: chargen 200 kB, RFC 864 lines" chargen
check "sluice-tun --threads 2: UDP echo x 100" udp
check "sluice-tun --threads 2: closed port refused" refused
stop
grep -E "runtime|streams=" "$WORK/log"
nsx ip link del slx0 2>/dev/null

start sle0 "$EPOLL" --dev sle0 --max-seconds 100
check "rt-echo-epoll: echo 8 x 1 MiB (v4, v6)" echo 4242
stop
grep -E "served" "$WORK/log"

[ $FAILS -eq 0 ] && echo "examples: all passed" || echo "examples: $FAILS failed"
[ $FAILS -eq 0 ]
