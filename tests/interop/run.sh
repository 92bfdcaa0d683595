#!/usr/bin/env bash
# sluice against the Linux kernel stack, over a TUN device, inside a network
# namespace this script creates (and always deletes).  Shared by scripts/demo
# (--demo) and the CTest test interop_tun.
#
#   run.sh --bin BUILD/examples/sluice-tun [--demo] [--artifacts DIR] [--no-impair] [--no-proxy]
#
# Inside namespace sl-{demo,test}-PID: sluice-tun runs on TUN device sl0; the
# kernel side has 198.18.0.1/32 and 2001:2::1/128 on sl0, and routes
# 198.18.0.0/15 and 2001:2::/48 through it, so every address there is sluice.
# From the kernel side: ping / ping -6, HTTP (curl, v4 and v6), /bytes/10000000
# with size and SHA-256 checked, POST of 1 MiB to /sha256, TCP echo / discard /
# chargen with nc, a refused port, UDP echo with socat (v4 and v6); then one
# /bytes/10000000 under loss and reordering on a second device (sl1, prefix
# 198.19.250.0/24): tc netem if the kernel has it, else sluice-tun's own
# --loss/--reorder; the same download from sluice-tun --no-offload (a plain
# device: sl0 runs with virtio-net offloads, TSO both ways, and the test checks
# they were used).  Then sluice-tun --proxy (tun2socks style) between this
# namespace and a server namespace (python3 http.server, socat echoes), see the
# proxy section.  Only 198.18.0.0/15 and 2001:2::/48 are ever used.
#
# Exit: 0 all checks passed, 1 a check failed, 77 skipped (not root, no
# /dev/net/tun, a tool missing).  Every command is bounded by `timeout`.
set -uo pipefail

SKIP=77
MODE=test
BIN=""
ARTIFACTS=""
IMPAIR=1
PROXY=1
while [ $# -gt 0 ]; do
  case "$1" in
    --demo) MODE=demo ;;
    --bin) BIN="$2"; shift ;;
    --artifacts) ARTIFACTS="$2"; shift ;;
    --no-impair) IMPAIR=0 ;;
    --no-proxy) PROXY=0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

skip() {
  echo "SKIP: $*"
  exit "$SKIP"
}

[ -n "$BIN" ] && [ -x "$BIN" ] || { echo "run.sh: --bin PATH to sluice-tun required" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces and a TUN device); run as root or with sudo"
[ -c /dev/net/tun ] || skip "/dev/net/tun is missing (no TUN support in this kernel/container)"
for t in ip tc ss curl socat nc ping python3 sha256sum timeout head cmp; do
  command -v "$t" >/dev/null 2>&1 || skip "'$t' not installed (scripts/bootstrap installs it)"
done

NS="sl-$MODE-$$"
NSM="$NS-m" # proxy: sluice-tun --proxy runs here
NSS="$NS-s" # proxy: the servers
PXPID=""
SRV_PIDS=""
WORK="$(mktemp -d "/tmp/sluice-$MODE.XXXXXX")"
PID=""
PID2=""
FAILS=0
START=$(date +%s)

say() { echo "$*"; }
ok() { echo "ok: $*"; }
fail() {
  echo "FAIL: $*"
  FAILS=$((FAILS + 1))
}
nsx() { ip netns exec "$NS" "$@"; }

stop_pid() { # stop_pid PID: SIGTERM, wait up to 5 s, then SIGKILL
  local p="$1" i
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null || return 0
  for i in $(seq 1 50); do
    kill -0 "$p" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$PID"
  stop_pid "$PID2"
  stop_pid "$PXPID"
  for p in $SRV_PIDS; do stop_pid "$p"; done
  ip netns del "$NS" 2>/dev/null || true
  ip netns del "$NSM" 2>/dev/null || true
  ip netns del "$NSS" 2>/dev/null || true
  if [ "$rc" -ne 0 ] && [ "$rc" -ne "$SKIP" ] && [ -n "$ARTIFACTS" ]; then
    mkdir -p "$ARTIFACTS" && cp -f "$WORK"/*.pcap "$WORK"/*.log "$ARTIFACTS"/ 2>/dev/null &&
      echo "captures and logs kept in $ARTIFACTS"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the namespace and sluice-tun ------------------------------------------
timeout 5 ip netns add "$NS" || { echo "cannot create network namespace $NS"; exit 1; }
nsx ip link set lo up

start_tun() { # start_tun DEV LOGNAME EXTRA-ARGS...: sets TUNPID; fails if DEV never comes up
  local dev="$1" name="$2" i
  shift 2
  # Not through nsx: $! must be the process itself (ip netns exec execs it).
  ip netns exec "$NS" "$BIN" --dev "$dev" --stats --max-seconds 120 \
    --pcap "$WORK/$name.pcap" "$@" >"$WORK/$name.log" 2>&1 &
  TUNPID=$!
  for i in $(seq 1 50); do
    if nsx ip link show "$dev" 2>/dev/null | grep -q "UP"; then
      return 0
    fi
    kill -0 "$TUNPID" 2>/dev/null || break
    sleep 0.1
  done
  return 1
}

start_tun sl0 sluice-tun
rc=$?
PID=$TUNPID
if [ "$rc" -ne 0 ]; then
  echo "sluice-tun did not bring up sl0:"
  cat "$WORK/sluice-tun.log"
  exit 1
fi
nsx ip addr add 198.18.0.1/32 dev sl0
nsx ip -6 addr add 2001:2::1/128 dev sl0 nodad
nsx ip route add 198.18.0.0/15 dev sl0
nsx ip -6 route add 2001:2::/48 dev sl0
say "namespace $NS: sluice-tun (pid $PID) on TUN sl0; kernel side 198.18.0.1, 2001:2::1;"
say "  198.18.0.0/15 and 2001:2::/48 are routed to sluice"

# ---- ping --------------------------------------------------------------------
for target in 198.18.5.5 198.19.200.1 2001:2::abcd; do
  v=-4
  case "$target" in *:*) v=-6 ;; esac
  out=$(nsx timeout 10 ping "$v" -c 3 -i 0.2 -W 2 "$target" 2>&1)
  label="ping $target"
  [ "$v" = -6 ] && label="ping -6 $target"
  if echo "$out" | grep -q " 3 received"; then
    rtt=$(echo "$out" | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p')
    ok "$label: 3/3 replies (avg ${rtt} ms)"
  else
    fail "$label: $(echo "$out" | grep -E 'received|unreachable' | head -1)"
  fi
done

# ---- HTTP ------------------------------------------------------------------------
CURL=(curl -sS --max-time 20 --noproxy '*')
if page=$(nsx timeout 25 "${CURL[@]}" http://198.18.7.7/ 2>&1) && echo "$page" | grep -q "Hello from sluice"; then
  ok "curl http://198.18.7.7/ -> \"$(echo "$page" | sed -n 's|.*<h1>\(.*\)</h1>.*|\1|p')\""
else
  fail "curl http://198.18.7.7/: $page"
fi
if page=$(nsx timeout 25 "${CURL[@]}" -6 'http://[2001:2::80]/' 2>&1) && echo "$page" | grep -q "Hello from sluice"; then
  ok "curl -6 http://[2001:2::80]/ -> the same page over IPv6"
else
  fail "curl -6 http://[2001:2::80]/: $page"
fi

N=10000000
EXPECT=$(timeout 30 python3 -c "import hashlib,sys; n=$N; print(hashlib.sha256((bytes(range(251))*(n//251+1))[:n]).hexdigest())")
check_bytes() { # check_bytes URL LABEL [N]: /bytes/N, size and SHA-256 checked
  local url="$1" label="$2" n="${3:-$N}" stat size sum want
  if ! stat=$(nsx timeout 60 curl -sS --max-time 55 --noproxy '*' -o "$WORK/bytes.bin" \
    -w '%{size_download} %{time_total}' "$url" 2>&1); then
    fail "$label: curl: $stat"
    return 1
  fi
  want=$EXPECT
  if [ "$n" != "$N" ]; then
    want=$(timeout 30 python3 -c "import hashlib; n=$n; print(hashlib.sha256((bytes(range(251))*(n//251+1))[:n]).hexdigest())")
  fi
  size=$(stat -c %s "$WORK/bytes.bin")
  sum=$(sha256sum "$WORK/bytes.bin" | cut -d' ' -f1)
  rm -f "$WORK/bytes.bin"
  if [ "$size" = "$n" ] && [ "$sum" = "$want" ]; then
    local secs=${stat#* }
    ok "$label: $size bytes in ${secs}s, SHA-256 ${sum:0:16}... matches"
  else
    fail "$label: got $size bytes, SHA-256 $sum (expected $n, $want)"
    return 1
  fi
}
check_bytes http://198.18.9.9/bytes/$N "curl /bytes/$N"

head -c 1048576 /dev/urandom >"$WORK/post.bin"
want=$(sha256sum "$WORK/post.bin" | cut -d' ' -f1)
if got=$(nsx timeout 25 "${CURL[@]}" --data-binary @"$WORK/post.bin" \
  -H 'Content-Type: application/octet-stream' http://198.18.8.8/sha256 2>&1) && [ "$got" = "$want" ]; then
  ok "POST 1 MiB to /sha256: sluice's digest = sha256sum (${want:0:16}...)"
else
  fail "POST /sha256: got '$got', expected '$want'"
fi

# ---- echo, discard, chargen, a refused port -------------------------------------
msg="hello sluice $$"
if got=$(echo "$msg" | nsx timeout 10 nc -N -w 5 198.18.1.7 7 2>&1) && [ "$got" = "$msg" ]; then
  ok "nc echo 198.18.1.7:7 -> \"$got\""
else
  fail "nc echo: got '$got'"
fi
if nsx timeout 20 nc -N -w 10 198.18.1.7 7 <"$WORK/post.bin" >"$WORK/echo.bin" 2>"$WORK/nc.err" &&
  cmp -s "$WORK/post.bin" "$WORK/echo.bin"; then
  ok "nc echo of 1 MiB both ways: identical"
else
  fail "nc echo of 1 MiB: $(stat -c %s "$WORK/echo.bin" 2>/dev/null) bytes back, $(cat "$WORK/nc.err")"
fi
if nsx timeout 20 nc -N -w 10 2001:2::9 9 <"$WORK/post.bin" >/dev/null 2>"$WORK/nc.err"; then
  ok "nc discard [2001:2::9]:9 took 1 MiB and closed"
else
  fail "nc discard: $(cat "$WORK/nc.err")"
fi
first=$(nsx timeout 10 nc -w 5 198.18.1.19 19 2>/dev/null | head -n 2 | tr -d '\r')
line0=$(python3 -c "print(''.join(chr(32+(j%95)) for j in range(72)))")
line1=$(python3 -c "print(''.join(chr(32+((1+j)%95)) for j in range(72)))")
if [ "$first" = "$line0"$'\n'"$line1" ]; then
  ok "nc chargen 198.18.1.19:19: RFC 864 lines (\"${line0:0:20}...\")"
else
  fail "chargen: got '${first:0:80}'"
fi
if out=$(nsx timeout 10 curl -sS --max-time 5 --noproxy '*' http://198.18.7.7:81/ 2>&1); then
  fail "port 81 should be refused, got: $out"
elif echo "$out" | grep -qiE "refused|couldn't connect"; then
  ok "port 81 (no service): connection refused (RST)"
else
  fail "port 81: $out"
fi

# ---- UDP echo ----------------------------------------------------------------------
for dst in 198.18.3.3 '[2001:2::7]'; do
  got=$(echo "udp $msg" | nsx timeout 10 socat -t 2 - "UDP:$dst:7" 2>&1)
  if [ "$got" = "udp $msg" ]; then
    ok "socat UDP echo $dst:7 -> \"$got\""
  else
    fail "UDP echo $dst:7: got '$got'"
  fi
done

# ---- under loss and reordering --------------------------------------------------------
# (a) kernel -> sluice impaired (requests, ACKs): tc netem on a second TUN, sl1
#     (198.19.250.0/24), or, without sch_netem, sluice-tun's own --loss/--reorder
#     on its input, which is the same direction.
# (b) sluice -> kernel impaired (the data of a download): --tx-loss/--tx-reorder
#     on a third TUN, sl2 (198.19.251.0/24); exercises sluice's loss recovery.
wait_gone() { # the device goes away with its last fd
  local i
  for i in $(seq 1 50); do
    nsx ip link show "$1" >/dev/null 2>&1 || return 0
    sleep 0.1
  done
}
route_dev() { # route_dev DEV PREFIX
  nsx ip addr add 198.18.0.1/32 dev "$1" 2>/dev/null
  nsx ip route add "$2" dev "$1"
}
if [ "$IMPAIR" -eq 1 ]; then
  how=""
  if start_tun sl1 sluice-tun-netem; then
    PID2=$TUNPID
    route_dev sl1 198.19.250.0/24
    if nsx tc qdisc add dev sl1 root netem loss 5% delay 5ms reorder 25% 2>"$WORK/tc.err"; then
      how="tc netem loss 5% delay 5ms reorder 25% (kernel -> sluice)"
    else
      say "note: tc netem is not available here ($(head -c 60 "$WORK/tc.err" | tr -d '\n'))"
      say "      (no sch_netem module): sluice-tun --loss 5 --reorder 25 impairs the same direction"
      stop_pid "$PID2"
      PID2=""
      rm -f "$WORK/sluice-tun-netem.log" "$WORK/sluice-tun-netem.pcap"
      wait_gone sl1
      if start_tun sl1 sluice-tun-rxloss --loss 5 --reorder 25; then
        route_dev sl1 198.19.250.0/24
        how="5% loss, 25% reordering (kernel -> sluice)"
      else
        fail "sluice-tun --loss did not bring up sl1"
      fi
      PID2=$TUNPID
    fi
  else
    PID2=$TUNPID
    fail "second sluice-tun did not bring up sl1"
  fi
  if [ -n "$how" ]; then
    check_bytes http://198.19.250.1/bytes/$N "$how: curl /bytes/$N"
  fi
  stop_pid "$PID2"
  PID2=""

  if start_tun sl2 sluice-tun-txloss --tx-loss 5 --tx-reorder 25; then
    PID2=$TUNPID
    route_dev sl2 198.19.251.0/24
    N2=2000000
    check_bytes http://198.19.251.1/bytes/$N2 \
      "5% loss, 25% reordering (sluice -> kernel): curl /bytes/$N2" "$N2"
  else
    PID2=$TUNPID
    fail "sluice-tun --tx-loss did not bring up sl2"
  fi
  stop_pid "$PID2"
  PID2=""
fi

# ---- a plain TUN device (--no-offload) ----------------------------------------------
# sl0 runs with offloads (virtio-net header: the kernel hands over and takes
# 64 KiB TCP segments, checksums left partial); sl3 is the plain device where
# the kernel segments and checksums every packet.
if start_tun sl3 sluice-tun-plain --no-offload; then
  PID2=$TUNPID
  route_dev sl3 198.19.252.0/24
  check_bytes http://198.19.252.1/bytes/$N "plain device (--no-offload): curl /bytes/$N"
  out=$(nsx timeout 10 ping -c 2 -i 0.2 -W 2 198.19.252.9 2>&1)
  if echo "$out" | grep -q " 2 received"; then
    ok "plain device (--no-offload): ping 198.19.252.9"
  else
    fail "plain device (--no-offload): ping: $(echo "$out" | tail -2 | tr '\n' ' ')"
  fi
else
  PID2=$TUNPID
  fail "sluice-tun --no-offload did not bring up sl3"
fi
stop_pid "$PID2"
PID2=""

# ---- proxy (tun2socks style) -------------------------------------------------------
# Three namespaces: this one ($NS) is the client side (curl, nc, socat); $NSS is
# the server side (python3 http.server on 8000, a socat TCP echo on 7007, socat
# UDP echoes on 7777), 198.19.0.2 and 2001:2:0:1::2 on a veth whose other end
# (198.19.0.1, 2001:2:0:1::1) is in $NSM, where sluice-tun --proxy runs.  Its
# TUN device slp0 is created in $NSM and then moved into $NS (the fd stays with
# sluice-tun): the client routes 198.19.0.0/16 and 2001:2:0:1::/64 into slp0,
# sluice accepts each flow and opens a kernel socket in $NSM, whose routes lead
# to the veth, never back into the TUN.
#
#   $NS: curl --> slp0 ==TUN fd==> sluice-tun [$NSM] --> kernel socket --> veth --> $NSS: servers
if [ "$PROXY" -eq 1 ]; then
  nsm() { ip netns exec "$NSM" "$@"; }
  nss() { ip netns exec "$NSS" "$@"; }
  px_ready=1
  for n in "$NSM" "$NSS"; do
    timeout 5 ip netns add "$n" || { fail "proxy: cannot create namespace $n"; px_ready=0; }
  done
  if [ "$px_ready" -eq 1 ]; then
    for n in "$NSM" "$NSS"; do
      ip -n "$n" link set lo up
      # no duplicate address detection: the addresses are usable at once
      ip netns exec "$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    done
    ip -n "$NSM" link add slpm type veth peer name slps netns "$NSS" &&
      ip -n "$NSM" addr add 198.19.0.1/24 dev slpm &&
      ip -n "$NSM" -6 addr add 2001:2:0:1::1/64 dev slpm nodad &&
      ip -n "$NSM" link set slpm up &&
      ip -n "$NSS" addr add 198.19.0.2/24 dev slps &&
      ip -n "$NSS" -6 addr add 2001:2:0:1::2/64 dev slps nodad &&
      ip -n "$NSS" link set slps up || { fail "proxy: veth setup"; px_ready=0; }
  fi
  if [ "$px_ready" -eq 1 ]; then
    # the servers
    mkdir -p "$WORK/www"
    head -c 5242880 /dev/urandom >"$WORK/www/blob.bin"
    PXSUM=$(sha256sum "$WORK/www/blob.bin" | cut -d' ' -f1)
    ip netns exec "$NSS" timeout 120 python3 -m http.server --bind :: --directory "$WORK/www" 8000 \
      >"$WORK/http-server.log" 2>&1 &
    SRV_PIDS="$SRV_PIDS $!"
    ip netns exec "$NSS" timeout 120 socat -T 30 TCP6-LISTEN:7007,ipv6only=0,reuseaddr PIPE \
      >"$WORK/tcp-echo.log" 2>&1 &
    SRV_PIDS="$SRV_PIDS $!"
    ip netns exec "$NSS" timeout 120 socat -T 30 UDP4-LISTEN:7777,reuseaddr PIPE >"$WORK/udp4-echo.log" 2>&1 &
    SRV_PIDS="$SRV_PIDS $!"
    ip netns exec "$NSS" timeout 120 socat -T 30 UDP6-LISTEN:7777,ipv6only=1,reuseaddr PIPE \
      >"$WORK/udp6-echo.log" 2>&1 &
    SRV_PIDS="$SRV_PIDS $!"
    # sluice-tun --proxy in the middle; built-in HTTP kept on port 80 (precedence check)
    ip netns exec "$NSM" "$BIN" --dev slp0 --proxy --services http --stats --max-seconds 120 \
      --pcap "$WORK/sluice-tun-proxy.pcap" >"$WORK/sluice-tun-proxy.log" 2>&1 &
    PXPID=$!
    up=0
    for i in $(seq 1 50); do
      if nsm ip link show slp0 2>/dev/null | grep -q "UP"; then up=1; break; fi
      kill -0 "$PXPID" 2>/dev/null || break
      sleep 0.1
    done
    if [ "$up" -eq 0 ]; then
      fail "proxy: sluice-tun --proxy did not bring up slp0: $(head -c 300 "$WORK/sluice-tun-proxy.log")"
      px_ready=0
    fi
  fi
  if [ "$px_ready" -eq 1 ]; then
    # move the TUN netdev to the client side (the moved device is down: bring it up)
    ip -n "$NSM" link set slp0 netns "$NS" &&
      nsx ip link set slp0 up &&
      nsx ip addr add 198.18.0.5/32 dev slp0 &&
      nsx ip -6 addr add 2001:2::5/128 dev slp0 nodad &&
      nsx ip route add 198.19.0.0/16 dev slp0 src 198.18.0.5 &&
      nsx ip -6 route add 2001:2:0:1::/64 dev slp0 src 2001:2::5 ||
      { fail "proxy: moving slp0 into $NS"; px_ready=0; }
  fi
  if [ "$px_ready" -eq 1 ]; then
    # wait (bounded) for the listeners and for the veth to carry both families
    for i in $(seq 1 50); do
      n=$(nss ss -Hlnt '( sport = :8000 or sport = :7007 )' 2>/dev/null | wc -l)
      u=$(nss ss -Hlnu 'sport = :7777' 2>/dev/null | wc -l)
      [ "$n" -ge 2 ] && [ "$u" -ge 2 ] && break
      sleep 0.1
    done
    nsm timeout 5 ping -4 -c 1 -W 2 198.19.0.2 >/dev/null 2>&1
    nsm timeout 5 ping -6 -c 1 -W 2 2001:2:0:1::2 >/dev/null 2>&1
    say "proxy: client $NS -> TUN slp0 -> sluice-tun --proxy (pid $PXPID) in $NSM -> veth -> servers in $NSS"

    px_get() { # px_get URL LABEL [curl args]: the 5 MB file, size and SHA-256 checked
      local url="$1" label="$2" stat size sum
      shift 2
      if ! stat=$(nsx timeout 30 curl -sS --max-time 25 --noproxy '*' "$@" -o "$WORK/px.bin" \
        -w '%{size_download} %{time_total}' "$url" 2>&1); then
        fail "$label: curl: $stat"
        return 1
      fi
      size=$(stat -c %s "$WORK/px.bin")
      sum=$(sha256sum "$WORK/px.bin" | cut -d' ' -f1)
      rm -f "$WORK/px.bin"
      if [ "$size" = 5242880 ] && [ "$sum" = "$PXSUM" ]; then
        ok "$label: $size bytes in ${stat#* }s, SHA-256 ${sum:0:16}... matches"
      else
        fail "$label: got $size bytes, SHA-256 $sum (expected 5242880, $PXSUM)"
      fi
    }
    px_get http://198.19.0.2:8000/blob.bin "proxy: curl http://198.19.0.2:8000/blob.bin (python http.server behind sluice)"
    px_get 'http://[2001:2:0:1::2]:8000/blob.bin' "proxy: curl -6 http://[2001:2:0:1::2]:8000/blob.bin" -6

    for dst in 198.19.0.2 '[2001:2:0:1::2]'; do
      got=$(echo "proxied $msg" | nsx timeout 10 socat -t 2 - "UDP:$dst:7777" 2>&1)
      if [ "$got" = "proxied $msg" ]; then
        ok "proxy: UDP round trip to socat echo $dst:7777 -> \"$got\""
      else
        fail "proxy: UDP round trip $dst:7777: got '$got'"
      fi
    done

    # 1 MiB both ways through a TCP echo; nc -N half-closes: the FIN must reach the
    # server (shutdown(SHUT_WR)) and the server's FIN must come back (sl_stream_shutdown)
    if nsx timeout 20 nc -N -w 10 198.19.0.2 7007 <"$WORK/post.bin" >"$WORK/pxecho.bin" 2>"$WORK/nc.err" &&
      cmp -s "$WORK/post.bin" "$WORK/pxecho.bin"; then
      ok "proxy: nc 1 MiB through socat TCP echo 198.19.0.2:7007, half-close both ways: identical"
    else
      fail "proxy: nc TCP echo: $(stat -c %s "$WORK/pxecho.bin" 2>/dev/null) bytes back, $(cat "$WORK/nc.err")"
    fi

    # nothing listens on 8001 in the server namespace: the kernel's refusal becomes an RST
    # (after sluice's handshake; when it comes at once curl reports "couldn't connect")
    if out=$(nsx timeout 10 curl -sS --max-time 5 --noproxy '*' http://198.19.0.2:8001/ 2>&1); then
      fail "proxy: port 8001 should fail, got: $out"
    elif echo "$out" | grep -qiE "reset|refused|couldn't connect"; then
      ok "proxy: closed port 198.19.0.2:8001: the server's refusal reaches the client as RST"
    else
      fail "proxy: port 8001: $out"
    fi

    # --services http: port 80 is answered by sluice itself, not forwarded
    if page=$(nsx timeout 10 curl -sS --max-time 5 --noproxy '*' http://198.19.0.2/ 2>&1) &&
      echo "$page" | grep -q "Hello from sluice"; then
      ok "proxy: --services http keeps port 80 local (\"Hello from sluice\")"
    else
      fail "proxy: port 80 with --services http: $page"
    fi
  fi
  stop_pid "$PXPID"
  PXPID=""
  for p in $SRV_PIDS; do stop_pid "$p"; done
  SRV_PIDS=""
  ip netns del "$NSM" 2>/dev/null || true
  ip netns del "$NSS" 2>/dev/null || true
fi

# ---- sluice-tun's own view --------------------------------------------------------
stop_pid "$PID"
PID=""
stop_pid "$PID2"
PID2=""
# The offloads were used on sl0: TCP segments longer than the MTU both ways.
for c in tcp_tso_tx app_rx_coalesced; do
  v=$(awk -v c="$c" '$1 == c { print $2 }' "$WORK/sluice-tun.log")
  if [ -n "$v" ] && [ "$v" -gt 0 ]; then
    ok "sl0 offloads in use: $c = $v"
  elif grep -q "no TUN offloads here" "$WORK/sluice-tun.log"; then
    say "note: this kernel has no TUN offloads; sl0 ran on the plain device"
  else
    fail "sl0 offloads: counter $c is ${v:-0}"
  fi
done
if [ "$MODE" = test ]; then
  say "--- sluice-tun (sl0) ---"
  cat "$WORK/sluice-tun.log"
  for f in "$WORK"/sluice-tun-*.log; do
    [ -f "$f" ] || continue
    say "--- $(basename "$f" .log) ---"
    cat "$f"
  done
else
  say "sluice-tun's counters (a few; --stats prints all):"
  for f in "$WORK"/sluice-tun.log "$WORK"/sluice-tun-*.log; do
    [ -f "$f" ] || continue
    grep -E '^  (tcp_conn_accepted|icmp_echo_replied|udp_rx|tcp_retransmit|tcp_fast_retransmit|ip_tx|proxy_streams_total|proxy_bytes_down) ' "$f" |
      awk -v n="$(basename "$f" .log)" '{printf "  %-18s %-20s %s\n", n, $1, $2}'
  done
fi

ELAPSED=$(($(date +%s) - START))
if [ "$FAILS" -eq 0 ]; then
  say "all checks passed against the Linux kernel stack (${ELAPSED}s)"
  exit 0
fi
say "$FAILS check(s) FAILED (${ELAPSED}s)"
exit 1
