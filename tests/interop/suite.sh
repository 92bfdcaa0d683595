#!/usr/bin/env bash
# The interop suite: sluice-tun against the Linux kernel stack over TUN, IPv4
# and IPv6, inside a network namespace this script creates (and always
# deletes).  CTest test interop_suite (label interop).  See docs/tun.md.
#
#   suite.sh --bin BUILD/examples/sluice-tun [--sanitize 0|1] [--artifacts DIR]
#
# Parts (each prints "ok: ..." lines and its duration):
#   A  100 concurrent curl fetches of /bytes/N (50 over IPv4, 50 over IPv6),
#      each N different, size and SHA-256 checked
#   B  64 MiB each way: nc upload into discard, POST to /sha256 (= sha256sum),
#      GET /bytes/67108864 (SHA-256), 64 MiB of chargen (RFC 864 pattern)
#   C  8 MiB each way under loss/reordering/duplication: tc netem on the TUN
#      when the kernel has sch_netem, else sluice-tun --loss/--reorder
#      (kernel -> sluice) and --tx-loss/--tx-reorder (sluice -> kernel)
#   D  refused ports: TCP RST, UDP -> ICMP / ICMPv6 port unreachable
#   E  close orders: client first (kernel TIME-WAIT in ss), server first
#      (HTTP Connection: close; sluice's FIN first in the capture)
#   F  SYN-ACK options from sluice: MSS, window scale, SACK-permitted, TS
#   G  capture check (tshark, checksum validation on): malformed packets,
#      bad checksums in sluice's packets (the kernel's are partial: TUN
#      offload), zero windows that never reopen, retransmissions from
#      sluice without loss, ACKs of unseen data from sluice
#   H  sluice-tun exits cleanly on SIGTERM; with --sanitize 1 (an SL_SANITIZE
#      build) its stderr must hold no AddressSanitizer / UBSan report
#
# Namespace sl-suite-PID; kernel side 198.18.0.1 and 2001:2::1.  sl0 (clean)
# gets 198.18.0.0/15 and 2001:2::/48; sl1 (impaired) gets the more specific
# 198.19.250.0/24 and 2001:2:0:1::/64.  Nothing outside those ranges, nothing
# outside the namespace.  Every command is bounded by `timeout`, every loop by
# a count.
#
# Exit: 0 all passed, 1 a check failed, 77 skipped (not root, no /dev/net/tun,
# a tool missing).
set -uo pipefail

SKIP=77
BIN=""
ARTIFACTS=""
SANITIZE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN="$2"; shift ;;
    --artifacts) ARTIFACTS="$2"; shift ;;
    --sanitize) SANITIZE="$2"; shift ;;
    *) echo "suite.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
case "$SANITIZE" in 1 | ON | on | TRUE | true | YES | yes) SANITIZE=1 ;; *) SANITIZE=0 ;; esac

skip() {
  echo "SKIP: $*"
  exit "$SKIP"
}

[ -n "$BIN" ] && [ -x "$BIN" ] || { echo "suite.sh: --bin PATH to sluice-tun required" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces and a TUN device)"
[ -c /dev/net/tun ] || skip "/dev/net/tun is missing (no TUN support here)"
for t in ip tc ss curl socat nc python3 sha256sum timeout head tshark awk; do
  command -v "$t" >/dev/null 2>&1 || skip "'$t' not installed (scripts/bootstrap installs it)"
done

NS="sl-suite-$$"
WORK="$(mktemp -d /tmp/sluice-suite.XXXXXX)"
PID0=""
PID1=""
FAILS=0
T0=$(date +%s.%N)
TIMINGS=()

say() { echo "$*"; }
ok() { echo "ok: $*"; }
fail() {
  echo "FAIL: $*"
  FAILS=$((FAILS + 1))
}
nsx() { ip netns exec "$NS" "$@"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
part_begin() {
  PART="$1"
  PT=$(now)
  say "--- $PART"
}
part_end() { TIMINGS+=("$(printf '%-44s %6ss' "$PART" "$(secs "$PT")")"); }

# stop_pid PID: SIGTERM, wait up to 10 s, then SIGKILL.  Sets STOP_RC to the
# exit status (137 = had to be killed).
stop_pid() {
  local p="$1" i
  STOP_RC=0
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null || { wait "$p" 2>/dev/null; STOP_RC=$?; return 0; }
  for i in $(seq 1 100); do
    kill -0 "$p" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$p" 2>/dev/null && say "note: pid $p ignored SIGTERM for 10 s, killed"
  wait "$p" 2>/dev/null
  STOP_RC=$?
}

BGPIDS=()
cleanup() {
  local rc=$? p
  trap - EXIT INT TERM
  for p in "${BGPIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  stop_pid "$PID0"
  stop_pid "$PID1"
  ip netns del "$NS" 2>/dev/null || true
  if [ "$rc" -ne 0 ] && [ "$rc" -ne "$SKIP" ] && [ -n "$ARTIFACTS" ]; then
    mkdir -p "$ARTIFACTS" && cp -f "$WORK"/*.pcap "$WORK"/*.log "$WORK"/*.txt "$ARTIFACTS"/ 2>/dev/null
    echo "captures and logs kept in $ARTIFACTS"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

timeout 5 ip netns add "$NS" || { echo "cannot create network namespace $NS"; exit 1; }
nsx ip link set lo up

# start_tun DEV NAME ARGS...: sluice-tun on DEV, pcap WORK/NAME.pcap, log
# WORK/NAME.log; sets TUNPID.  Not through nsx so that $! is sluice-tun itself.
start_tun() {
  local dev="$1" name="$2" i
  shift 2
  ip netns exec "$NS" "$BIN" --dev "$dev" --stats --max-seconds 300 \
    --pcap "$WORK/$name.pcap" "$@" >"$WORK/$name.log" 2>&1 &
  TUNPID=$!
  for i in $(seq 1 100); do
    nsx ip link show "$dev" 2>/dev/null | grep -q "UP" && return 0
    kill -0 "$TUNPID" 2>/dev/null || break
    sleep 0.1
  done
  echo "sluice-tun did not bring up $dev:"
  cat "$WORK/$name.log"
  return 1
}

start_tun sl0 clean || exit 1
PID0=$TUNPID
nsx ip addr add 198.18.0.1/32 dev sl0
nsx ip -6 addr add 2001:2::1/128 dev sl0 nodad
nsx ip route add 198.18.0.0/15 dev sl0
nsx ip -6 route add 2001:2::/48 dev sl0
say "namespace $NS: sluice-tun pid $PID0 on sl0 (198.18.0.0/15, 2001:2::/48)$([ "$SANITIZE" = 1 ] && echo ', ASan+UBSan build')"

# Expected SHA-256 of /bytes/N (byte i = i mod 251) for a list of N.
pattern_sha() {
  timeout 60 python3 - "$@" <<'EOF'
import hashlib, sys
ns = [int(a) for a in sys.argv[1:]]
big = bytes(range(251)) * (max(ns) // 251 + 1)
for n in ns:
    print(n, hashlib.sha256(memoryview(big)[:n]).hexdigest())
EOF
}

# ---- A: 100 concurrent connections ----------------------------------------------
part_begin "A 100 concurrent curl /bytes/N (v4+v6)"
NS_LIST=()
for i in $(seq 0 99); do NS_LIST+=($((20011 + i * 9973))); done # 20011 .. ~1 MB, all different
pattern_sha "${NS_LIST[@]}" >"$WORK/expect.txt"
mkdir -p "$WORK/conc"
CPIDS=()
for i in $(seq 0 99); do
  n=${NS_LIST[$i]}
  if [ $((i % 2)) -eq 0 ]; then url="http://198.18.$((i / 2)).$((i + 2))/bytes/$n"; else url="http://[2001:2::$(printf %x $((0x100 + i)))]/bytes/$n"; fi
  nsx timeout 60 curl -sS --max-time 50 --noproxy '*' -o "$WORK/conc/$i.bin" "$url" \
    2>"$WORK/conc/$i.err" &
  CPIDS+=($!)
done
BGPIDS=("${CPIDS[@]}")
bad=0
for i in $(seq 0 99); do
  wait "${CPIDS[$i]}"
  rc=$?
  n=${NS_LIST[$i]}
  want=$(awk -v n="$n" '$1 == n { print $2 }' "$WORK/expect.txt")
  size=$(stat -c %s "$WORK/conc/$i.bin" 2>/dev/null || echo 0)
  sum=$(sha256sum "$WORK/conc/$i.bin" 2>/dev/null | cut -d' ' -f1)
  if [ "$rc" -ne 0 ] || [ "$size" != "$n" ] || [ "$sum" != "$want" ]; then
    bad=$((bad + 1))
    [ "$bad" -le 5 ] && say "  conn $i (/bytes/$n): curl rc $rc, $size bytes, $(head -c 120 "$WORK/conc/$i.err")"
  fi
done
BGPIDS=()
total=$(awk '{ s += $1 } END { print s }' "$WORK/expect.txt")
if [ "$bad" -eq 0 ]; then
  ok "100 concurrent fetches (50 IPv4, 50 IPv6, $total bytes, N = ${NS_LIST[0]}..${NS_LIST[99]}): sizes and SHA-256 match"
else
  fail "$bad of 100 concurrent fetches wrong"
fi
rm -rf "$WORK/conc"
part_end

# ---- B: 64 MiB each way --------------------------------------------------------------
part_begin "B 64 MiB transfers each way"
BIG=67108864
timeout 20 head -c $BIG /dev/urandom >"$WORK/big.bin"
BIGSUM=$(sha256sum "$WORK/big.bin" | cut -d' ' -f1)
t=$(now)
if nsx timeout 60 nc -N -w 20 2001:2::9 9 <"$WORK/big.bin" >/dev/null 2>"$WORK/nc.err"; then
  ok "upload 64 MiB into discard [2001:2::9]:9 in $(secs "$t")s (sluice closed after our FIN)"
else
  fail "upload 64 MiB into discard: $(head -c 200 "$WORK/nc.err")"
fi
t=$(now)
got=$(nsx timeout 60 curl -sS --max-time 55 --noproxy '*' --data-binary @"$WORK/big.bin" \
  -H 'Content-Type: application/octet-stream' http://198.18.8.8/sha256 2>&1)
if [ "$got" = "$BIGSUM" ]; then
  ok "POST 64 MiB to 198.18.8.8/sha256 in $(secs "$t")s: sluice's digest = sha256sum (${BIGSUM:0:16}...)"
else
  fail "POST 64 MiB /sha256: got '${got:0:200}', expected $BIGSUM"
fi
rm -f "$WORK/big.bin"
want=$(pattern_sha $BIG | cut -d' ' -f2)
t=$(now)
out=$(nsx timeout 60 curl -sS --max-time 55 --noproxy '*' 'http://[2001:2::80]/bytes/67108864' 2>"$WORK/curl.err" |
  tee >(wc -c >"$WORK/size.txt") | sha256sum | cut -d' ' -f1)
sleep 0.2
size=$(tr -d ' \n' <"$WORK/size.txt" 2>/dev/null)
if [ "$out" = "$want" ] && [ "$size" = "$BIG" ]; then
  ok "GET [2001:2::80]/bytes/67108864 in $(secs "$t")s: $size bytes, SHA-256 matches"
else
  fail "GET /bytes/67108864: $size bytes, SHA-256 $out (expected $want) $(head -c 200 "$WORK/curl.err")"
fi
want=$(timeout 60 python3 -c "
import hashlib
line = lambda k: bytes(32 + (k + j) % 95 for j in range(72)) + b'\r\n'
cyc = b''.join(line(k) for k in range(95))
n = $BIG
print(hashlib.sha256((cyc * (n // len(cyc) + 1))[:n]).hexdigest())")
t=$(now)
out=$(nsx timeout 60 socat -u TCP:198.18.1.19:19,connect-timeout=5 STDOUT 2>/dev/null | head -c $BIG |
  tee >(wc -c >"$WORK/size.txt") | sha256sum | cut -d' ' -f1)
sleep 0.2
size=$(tr -d ' \n' <"$WORK/size.txt" 2>/dev/null)
if [ "$out" = "$want" ] && [ "$size" = "$BIG" ]; then
  ok "chargen 198.18.1.19:19: first 64 MiB in $(secs "$t")s follow the RFC 864 pattern"
else
  fail "chargen: $size bytes, SHA-256 $out (expected $want)"
fi
part_end

# ---- D: refused ports -------------------------------------------------------------------
part_begin "D refused ports (TCP RST, ICMP unreachable)"
for dst in 198.18.7.7 '[2001:2::7]'; do
  h=${dst#[}
  h=${h%]}
  if out=$(nsx timeout 10 nc -v -z -w 3 "$h" 81 2>&1); then
    fail "TCP $dst:81 should be refused, got: ${out:0:100}"
  elif echo "$out" | grep -qiE "refused"; then
    ok "TCP $dst:81 (no service): connection refused (RST; counted in the capture in G)"
  else
    fail "TCP $dst:81: $out"
  fi
  out=$(echo probe | nsx timeout 10 socat -t 2 - "UDP:$dst:5001" 2>&1)
  if echo "$out" | grep -qi "refused"; then
    ok "UDP $dst:5001 (no service): socat sees ECONNREFUSED (ICMP port unreachable)"
  else
    fail "UDP $dst:5001: expected 'Connection refused', got '${out:0:120}'"
  fi
done
part_end

# ---- E: close orders ---------------------------------------------------------------------
part_begin "E close orders and TIME-WAIT"
# Client first: nc sends FIN after stdin's EOF, the echo service answers with its
# own FIN, so the kernel side ends in TIME-WAIT.
got=$(echo "close order" | nsx timeout 10 nc -N -w 5 198.18.2.7 7 2>&1)
got6=$(echo "close order" | nsx timeout 10 nc -N -w 5 2001:2::2:7 7 2>&1)
tw=$(nsx timeout 5 ss -Htan state time-wait '( dport = :7 )' 2>/dev/null)
if [ "$got" = "close order" ] && [ "$got6" = "close order" ] &&
  echo "$tw" | grep -q '198.18.2.7:7' && echo "$tw" | grep -q '\[2001:2::2:7\]:7'; then
  ok "client closes first (nc -N to echo): kernel in TIME-WAIT for 198.18.2.7:7 and [2001:2::2:7]:7 (ss)"
else
  fail "client-first close: echo '$got'/'$got6', ss time-wait: $(echo "$tw" | tr '\n' ';')"
fi
# Server first: HTTP answers with Connection: close and sends its FIN right
# after the body; the kernel side never enters TIME-WAIT (LAST-ACK instead).
h=$(nsx timeout 10 curl -sS -D - -o /dev/null --max-time 5 --noproxy '*' http://198.18.2.80/ 2>&1)
h6=$(nsx timeout 10 curl -sS -D - -o /dev/null --max-time 5 --noproxy '*' 'http://[2001:2::2:80]/' 2>&1)
sleep 0.3
tw=$(nsx timeout 5 ss -Htan state time-wait '( dport = :80 )' 2>/dev/null | grep -E '198\.18\.2\.80:80|\[2001:2::2:80\]:80')
if echo "$h" | grep -qi '^connection: close' && echo "$h6" | grep -qi '^connection: close' && [ -z "$tw" ]; then
  ok "server closes first (HTTP Connection: close, v4+v6): no kernel TIME-WAIT (sluice holds it; FIN order checked in G)"
else
  fail "server-first close: headers '$(echo "$h" | head -1)', kernel TIME-WAIT: $tw"
fi
part_end

# ---- C: under impairment ----------------------------------------------------------------
part_begin "C 8 MiB each way under impairment"
wait_gone() {
  local i
  for i in $(seq 1 50); do
    nsx ip link show "$1" >/dev/null 2>&1 || return 0
    sleep 0.1
  done
}
route_sl1() {
  nsx ip addr add 198.18.0.1/32 dev sl1 2>/dev/null
  nsx ip -6 addr add 2001:2::1/128 dev sl1 nodad 2>/dev/null
  nsx ip route add 198.19.250.0/24 dev sl1
  nsx ip -6 route add 2001:2:0:1::/64 dev sl1
}
HOW=""
if start_tun sl1 impaired --tx-loss 5 --tx-reorder 25 --tx-dup 1; then
  PID1=$TUNPID
  route_sl1
  if nsx tc qdisc add dev sl1 root netem loss 5% delay 5ms reorder 25% duplicate 1% 2>"$WORK/tc.err"; then
    HOW="tc netem loss 5% delay 5ms reorder 25% duplicate 1% (kernel -> sluice) + --tx-loss 5 --tx-reorder 25 (sluice -> kernel)"
  else
    say "note: no tc netem here ($(head -c 60 "$WORK/tc.err" | tr -d '\n')); using sluice-tun's own impairment"
    stop_pid "$PID1"
    PID1=""
    wait_gone sl1
    if start_tun sl1 impaired --loss 5 --reorder 25 --dup 1 --tx-loss 5 --tx-reorder 25 --tx-dup 1; then
      PID1=$TUNPID
      route_sl1
      HOW="sluice-tun --loss 5 --reorder 25 --dup 1 (kernel -> sluice) --tx-loss 5 --tx-reorder 25 --tx-dup 1 (sluice -> kernel)"
    fi
  fi
fi
if [ -n "$HOW" ]; then
  say "impairment: $HOW"
  M=8388608
  want=$(pattern_sha $M | cut -d' ' -f2)
  t=$(now)
  out=$(nsx timeout 90 curl -sS --max-time 85 --noproxy '*' http://198.19.250.1/bytes/$M 2>"$WORK/curl.err" |
    tee >(wc -c >"$WORK/size.txt") | sha256sum | cut -d' ' -f1)
  sleep 0.2
  size=$(tr -d ' \n' <"$WORK/size.txt" 2>/dev/null)
  if [ "$out" = "$want" ] && [ "$size" = "$M" ]; then
    ok "impaired GET 198.19.250.1/bytes/$M in $(secs "$t")s: SHA-256 matches"
  else
    fail "impaired GET /bytes/$M: $size bytes, SHA-256 $out $(head -c 200 "$WORK/curl.err")"
  fi
  timeout 10 head -c $M /dev/urandom >"$WORK/mid.bin"
  want=$(sha256sum "$WORK/mid.bin" | cut -d' ' -f1)
  t=$(now)
  got=$(nsx timeout 90 curl -sS --max-time 85 --noproxy '*' --data-binary @"$WORK/mid.bin" \
    -H 'Content-Type: application/octet-stream' 'http://[2001:2:0:1::8]/sha256' 2>&1)
  if [ "$got" = "$want" ]; then
    ok "impaired POST 8 MiB to [2001:2:0:1::8]/sha256 in $(secs "$t")s: digest matches"
  else
    fail "impaired POST /sha256: got '${got:0:200}', expected $want"
  fi
  rm -f "$WORK/mid.bin"
else
  fail "could not start the impaired sluice-tun on sl1"
fi
part_end

# Packets the kernel dropped on the TUN devices (its queue towards sluice-tun
# is txqueuelen 500 packets; a burst of ACKs from 100 connections can fill it):
# those losses explain retransmissions in the "clean" run.
tun_drops() {
  local d q
  d=$(nsx ip -s link show "$1" 2>/dev/null | awk '/TX:/ { getline; print $4; exit }')
  q=$(nsx tc -s qdisc show dev "$1" 2>/dev/null | awk '/dropped/ { for (i = 1; i < NF; i++) if ($i == "dropped") { gsub(",", "", $(i + 1)); s += $(i + 1) } } END { print s + 0 }')
  echo $((${d:-0} + ${q:-0}))
}
DROPS0=$(tun_drops sl0)
DROPS1=$(tun_drops sl1)
say "kernel -> sluice packets dropped by the TUN queue: sl0 ${DROPS0:-?}, sl1 ${DROPS1:-?}"

# ---- H: clean exit, sanitizers ------------------------------------------------------------
part_begin "H SIGTERM exit and sanitizer reports"
for v in PID0:clean PID1:impaired; do
  var=${v%%:*}
  name=${v#*:}
  p=${!var}
  [ -n "$p" ] || continue
  stop_pid "$p"
  eval "$var=''"
  if [ "$STOP_RC" -eq 0 ] && grep -q "signal, exiting" "$WORK/$name.log"; then
    ok "sluice-tun ($name) exited 0 after SIGTERM"
  else
    fail "sluice-tun ($name) exit status $STOP_RC after SIGTERM"
  fi
  if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error|SUMMARY: (Address|Undefined|Leak)" "$WORK/$name.log"; then
    fail "sanitizer report from sluice-tun ($name):"
    grep -m 20 -E "ERROR|runtime error|SUMMARY|#[0-9] " "$WORK/$name.log"
  elif [ "$SANITIZE" = 1 ]; then
    ok "ASan+UBSan: no report from sluice-tun ($name)"
  fi
done
part_end

# ---- F + G: the captures -----------------------------------------------------------------
# No reassembly and no application dissectors: HTTP reassembly of 64 MiB bodies
# makes tshark ten times slower and adds nothing to the TCP checks.
TS_OPTS=(-o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE -o ip.check_checksum:TRUE
  -o tcp.analyze_sequence_numbers:TRUE -o tcp.relative_sequence_numbers:TRUE
  -o tcp.desegment_tcp_streams:FALSE
  # One flag per protocol: tshark 4.0 ignores a comma list here, and its HTTP
  # heuristics then flag random POST bodies as malformed.
  --disable-protocol http --disable-protocol chargen --disable-protocol echo
  --disable-protocol discard)
# One pass per capture: every packet's direction, stream, flags, window and
# the analysis flags (an FT_NONE field prints 1 when present).
dump() {
  timeout 120 tshark -n -r "$1" "${TS_OPTS[@]}" -T fields -E separator=/t -E occurrence=f \
    -e frame.number -e ip.src -e ipv6.src -e ip.proto -e ipv6.nxt -e tcp.stream -e tcp.flags \
    -e tcp.window_size -e tcp.len -e _ws.malformed -e ip.checksum.status -e tcp.checksum.status \
    -e udp.checksum.status -e icmp.checksum.status -e icmpv6.checksum.status \
    -e tcp.analysis.retransmission -e tcp.analysis.fast_retransmission \
    -e tcp.analysis.spurious_retransmission -e tcp.analysis.zero_window \
    -e tcp.analysis.ack_lost_segment -e tcp.analysis.lost_segment \
    -e tcp.options.mss_val -e tcp.options.wscale.shift -e tcp.options.sack_perm \
    -e tcp.options.timestamp.tsval -e tcp.srcport -e tcp.dstport \
    -e icmp.type -e icmp.code -e icmpv6.type -e icmpv6.code \
    -e tcp.flags.syn -e tcp.flags.ack -e tcp.flags.fin -e tcp.flags.reset \
    -e tcp.checksum -e tcp.checksum_calculated -e _ws.expert.message \
    >"$2" 2>"$2.err"
}
# Columns: 1 frame 2 ip.src 3 ipv6.src 4 ip.proto 5 ipv6.nxt 6 stream 7 flags
# 8 win 9 len 10 malformed 11-15 checksum status (0 = bad) 16 retrans 17 fast
# 18 spurious 19 zero_window 20 ack_lost 21 lost_segment 22 mss 23 ws
# 24 sack_perm 25 tsval 26 sport 27 dport 28-29 icmp 30-31 icmpv6 32 SYN 33 ACK
# 34 FIN 35 RST 36 tcp.checksum 37 tcp.checksum_calculated 38 expert
ANALYZE='
function fromsl() { return ($2 != "" && $2 != "198.18.0.1") || ($3 != "" && $3 != "2001:2::1") }
{
  n++
  sl = fromsl()
  if ($10 != "") malformed++
  for (c = 11; c <= 15; c++) if ($c == "0") {
    # 0xffff for a sum of zero is the other one-complement zero (RFC 1624 sec. 3);
    # Linux sometimes writes it for TCP (seen on packets from the kernel into TUN);
    # tshark 4.0 calls it bad, sluice (correctly) accepts it.
    if (c == 12 && $36 == "0xffff" && $37 == "0x0000") { negzero++; continue }
    # sluice-tun runs with TUN offloads: the kernel hands over its packets
    # with the TCP/UDP checksum left partial (virtio-net NEEDS_CSUM, the
    # pseudo-header sum only), so only sluice'"'"'s own must be valid.
    if (!sl) { partial_k++; continue }
    # ... and sluice'"'"'s ICMP errors quote such a packet as it came.
    if (($28 != "" || $30 != "") && (c == 12 || c == 13)) { partial_k++; continue }
    badsum++
    if (nb++ < 3) print "  bad checksum: frame " $1 (sl ? " from sluice" : " from the kernel") > "/dev/stderr"
  }
  if ($6 == "") {
    if (sl && $28 == "3" && $29 == "3") icmp4unr++
    if (sl && $30 == "1" && $31 == "4") icmp6unr++
    next
  }
  s = $6; SYN = $32 == "1"; ACK = $33 == "1"; FIN = $34 == "1"; RST = $35 == "1"
  if (!sl && SYN && !ACK) { syn++ }
  if (sl && SYN && ACK) {
    synack++
    if ($22 != "" && $23 != "" && $24 != "" && $25 != "") synack_full++
    else if (bs++ < 3) print "  SYN-ACK without all options: frame " $1 " mss=" $22 " ws=" $23 " sack=" $24 " ts=" $25 > "/dev/stderr"
    if ($2 != "" && $22 != "") mss4[$22]++
    if ($3 != "" && $22 != "") mss6[$22]++
  }
  if (sl && RST) rst_sl++
  if (sl && FIN && !(s in fin_k) && !(s in fin_sl)) { fin_sl_first[s] = 1 }
  if (!sl && FIN && !(s in fin_k) && !(s in fin_sl)) { fin_k_first[s] = 1 }
  if (sl && FIN) fin_sl[s] = 1
  if (!sl && FIN) fin_k[s] = 1
  if (sl && $16 != "") { rt_sl++; if ($17 != "") frt_sl++; if ($18 != "") srt_sl++; if (nr++ < 3) print "  retransmission from sluice: frame " $1 " stream " s > "/dev/stderr" }
  if (!sl && $16 != "") rt_k++
  if (sl && $20 != "") { al_sl++; if (na++ < 3) print "  sluice ACKs unseen data: frame " $1 " stream " s > "/dev/stderr" }
  if (!sl && $20 != "") al_k++
  if ($21 != "") lost++
  if (sl && $19 != "") { zw[s]++; zwopen[s] = 1; zw_sl++ }
  if (sl && $8 != "" && $8 > 0 && (s in zwopen)) delete zwopen[s]
  if (sl && (FIN || RST) && (s in zwopen)) delete zwopen[s]
  if (!sl && (FIN || RST) && (s in zwopen)) delete zwopen[s]
  streams[s] = 1
}
END {
  nst = 0; for (s in streams) nst++
  stuck = 0; for (s in zwopen) stuck++
  srv = 0; cli = 0
  for (s in fin_sl_first) srv++
  for (s in fin_k_first) cli++
  m4 = ""; for (v in mss4) m4 = m4 v " "
  m6 = ""; for (v in mss6) m6 = m6 v " "
  printf "partial_k=%d ", partial_k
  printf "packets=%d streams=%d malformed=%d badsum=%d negzero_csum=%d syn=%d synack=%d synack_full=%d mss4=%s mss6=%s rst_sl=%d icmp4unr=%d icmp6unr=%d fin_sl_first=%d fin_k_first=%d rt_sl=%d frt_sl=%d srt_sl=%d rt_k=%d ackunseen_sl=%d ackunseen_k=%d lost=%d zw_sl=%d zw_stuck=%d\n", n, nst, malformed, badsum, negzero, syn, synack, synack_full, m4 == "" ? "-" : m4, m6 == "" ? "-" : m6, rst_sl, icmp4unr, icmp6unr, srv, cli, rt_sl, frt_sl, srt_sl, rt_k, al_sl, al_k, lost, zw_sl, stuck
}'
kv() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'; }

part_begin "F+G capture analysis (tshark)"
for name in clean impaired; do
  [ -f "$WORK/$name.pcap" ] || continue
  t=$(now)
  if ! dump "$WORK/$name.pcap" "$WORK/$name.txt"; then
    fail "tshark on $name.pcap: $(head -c 200 "$WORK/$name.txt.err")"
    continue
  fi
  # mss4/mss6 may hold several values separated by spaces: squash them.
  R=$(awk -F'\t' "$ANALYZE" "$WORK/$name.txt" 2>"$WORK/$name.details.txt" | sed 's/ \([0-9]\)/,\1/g; s/,\([a-z]\)/ \1/g')
  say "$name.pcap ($(stat -c %s "$WORK/$name.pcap") bytes, tshark $(secs "$t")s): $R"
  sed 's/^/  /' "$WORK/$name.details.txt" | head -12
  [ "$(kv "$R" malformed)" = 0 ] && ok "$name: no malformed packets" || fail "$name: $(kv "$R" malformed) malformed packets"
  [ "$(kv "$R" badsum)" = 0 ] && ok "$name: all of sluice's IP/TCP/UDP/ICMP checksums valid ($(kv "$R" partial_k) of the kernel's left partial by the TUN offload, $(kv "$R" negzero_csum) written as 0xffff for zero)" || fail "$name: $(kv "$R" badsum) bad checksums"
  [ "$(kv "$R" ackunseen_sl)" = 0 ] && ok "$name: sluice never ACKs data it did not receive" ||
    fail "$name: $(kv "$R" ackunseen_sl) ACKs of unseen segments from sluice"
  [ "$(kv "$R" zw_stuck)" = 0 ] && ok "$name: $(kv "$R" zw_sl) zero-window ads from sluice, all reopened" ||
    fail "$name: $(kv "$R" zw_stuck) streams left at a zero window by sluice"
  if [ "$name" = clean ]; then
    rt=$(kv "$R" rt_sl)
    if [ "$rt" = 0 ]; then
      ok "clean: no retransmissions from sluice (kernel: $(kv "$R" rt_k))"
    elif [ "${DROPS0:-0}" -gt 0 ] && [ "$(kv "$R" srt_sl)" = 0 ]; then
      ok "clean: $rt retransmissions from sluice, all after the kernel dropped $DROPS0 packets (ACKs) on its full TUN queue; none spurious (kernel: $(kv "$R" rt_k))"
    else
      fail "clean: $rt retransmissions from sluice ($(kv "$R" srt_sl) of data already ACKed) with no loss on the device (kernel: $(kv "$R" rt_k))"
    fi
    sa=$(kv "$R" synack)
    if [ "$sa" -ge 100 ] && [ "$(kv "$R" synack_full)" = "$sa" ] &&
      [ "$(kv "$R" mss4)" = 1460 ] && [ "$(kv "$R" mss6)" = 1440 ]; then
      ok "all $sa SYN-ACKs from sluice carry MSS (1460 v4 / 1440 v6), WS, SACK_PERM, TS"
    else
      fail "SYN-ACK options: $sa SYN-ACKs, $(kv "$R" synack_full) with all four, MSS v4 $(kv "$R" mss4) v6 $(kv "$R" mss6)"
    fi
    [ "$(kv "$R" icmp4unr)" -ge 1 ] && [ "$(kv "$R" icmp6unr)" -ge 1 ] && [ "$(kv "$R" rst_sl)" -ge 2 ] &&
      ok "capture: sluice sent RSTs ($(kv "$R" rst_sl)), ICMP port unreachable ($(kv "$R" icmp4unr)), ICMPv6 port unreachable ($(kv "$R" icmp6unr))" ||
      fail "capture: RST $(kv "$R" rst_sl), ICMP unreachable $(kv "$R" icmp4unr), ICMPv6 $(kv "$R" icmp6unr)"
    [ "$(kv "$R" fin_sl_first)" -ge 100 ] && [ "$(kv "$R" fin_k_first)" -ge 3 ] &&
      ok "capture: sluice sent the first FIN in $(kv "$R" fin_sl_first) streams (HTTP), the kernel in $(kv "$R" fin_k_first) (nc)" ||
      fail "capture: FIN first from sluice in $(kv "$R" fin_sl_first) streams, from the kernel in $(kv "$R" fin_k_first)"
  else
    say "impaired: sluice retransmitted $(kv "$R" rt_sl) segments ($(kv "$R" frt_sl) fast, $(kv "$R" srt_sl) spurious), the kernel $(kv "$R" rt_k)"
  fi
done
part_end

say "--- sluice-tun counters (clean, a few) ---"
grep -E '^  (tcp_conn_accepted|tcp_retransmit|tcp_fast_retransmit|tcp_rto|ip_tx|app_tx_eagain_drop|tcp_drop_paws|mem_peak_bytes) ' "$WORK/clean.log"
say "--- sluice-tun counters (impaired, a few) ---"
grep -E '^  (tcp_conn_accepted|tcp_retransmit|tcp_fast_retransmit|tcp_rto|tcp_drop_paws|impair_[a-z_]+) ' "$WORK/impaired.log" 2>/dev/null

say "--- timings"
for l in "${TIMINGS[@]}"; do say "  $l"; done
TOTAL=$(secs "$T0")
if [ "$FAILS" -eq 0 ]; then
  say "interop suite: all checks passed (${TOTAL}s)"
  exit 0
fi
say "interop suite: $FAILS check(s) FAILED (${TOTAL}s)"
exit 1
