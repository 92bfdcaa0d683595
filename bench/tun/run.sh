#!/usr/bin/env bash
# Over-TUN benchmarks: sluice-tun against lwIP, the Linux kernel itself and
# the bare TUN device, with the Linux kernel as the client (issue 8).
#
#   bench/tun/run.sh [--build DIR] [--quick] [--seconds S] [--warmup W]
#                    [--mtus "1500 65520"] [--peers "sluice sluice_plain lwip kernel sink"]
#                    [--tests "bulk_in bulk_out rate"] [--streams "1 8"]
#                    [--conc "1 64"] [--txqueuelen N] [--lwip-input lock|mbox]
#                    [--sluice-args "ARGS"] [--keep DIR]
#
# --build DIR: a CMake build of this tree (Release!) holding
# examples/sluice-tun and bench/{tun_client,tun_sink,kernel_peer,lwip_tun};
# default: the first of build/tunbench, build/bench, build/rel that has
# them.  --quick: 0.5 s per figure, MTU 1500 only, 1 stream, 1 client (a
# smoke run of the whole harness, about 15 s; --seconds, --warmup, --mtus,
# --streams, --conc given explicitly still apply).  --keep DIR keeps every
# peer's log and counters.  --sluice-args adds options to every sluice-tun
# (e.g. "--pcap /tmp/x.pcap"; each figure overwrites it).
#
# Every figure gets a namespace of its own, sl-bench-<pid>-<n> (and, for the
# kernel peer, sl-bench-<pid>-<n>-s), deleted right after it and again on
# exit whatever happens.  The layout is the one of tests/interop/run.sh:
#
#   sluice (sluice-tun as installed: TUN offloads on, virtio-net header,
#   TSO both ways), sluice_plain (sluice-tun --no-offload, the plain
#   device), sluice_tN (sluice-tun --threads N: N runtimes,
#   include/sluice/runtime.h, one per queue of a multi-queue sl0, a thread
#   per connection, examples/rt_services.c, on the plain device: no
#   offloads),
#   lwip, sink: the peer opens TUN device sl0 in the namespace; the
#       kernel side has 198.18.0.1/32 on sl0 and routes 198.18.0.0/15 into
#       it; the peer is 198.18.0.2 (sluice-tun answers on every address,
#       lwip_tun's netif has 198.18.0.2/15, tun_sink answers nothing).
#   kernel: a veth pair, sl0 (198.18.0.1/24) in the client's namespace and
#       sl0p (198.18.0.2/24) in <ns>-s, where kernel_peer serves on
#       ordinary kernel sockets.  Both ends get the figure's MTU; offloads
#       (TSO/GSO/GRO) stay at the veth defaults, i.e. on, as a kernel-to-
#       kernel path normally runs.
#
# The client is always tun_client (bench/tun/tun_client.c, see its header
# for exactly what each figure counts), run in the client namespace:
#
#   bulk_in   kernel -> peer: N streams write into the discard port (9) for
#             S seconds; gbps = bytes the peer ACKed (written - SIOCOUTQ)
#             over the interval.  Peer "sink": a UDP flood of MTU-sized
#             datagrams into the device instead (a bare device cannot
#             ACK), sent with UDP GSO so that the sender costs about what
#             the TCP sender does per packet; gbps = what tun_sink read
#             (from its first to its last packet), sent_gbps = what the
#             kernel was given, dev_drops = the difference lost on the
#             device queue.
#   bulk_out  peer -> kernel: N streams read from the chargen port (19);
#             gbps = bytes read.  Peer "sink": tun_sink --write, UDP
#             packets of the MTU written into the device to a kernel UDP
#             socket (gbps = what the device took; delivered_gbps = what
#             the socket's reader got).
#   rate      C concurrent clients, each: connect to the echo port (7),
#             send 1 byte, read it back, close; conn_per_s = completed
#             exchanges per second.  Client addresses: 198.18.0.1 and
#             198.18.0.11-17, round-robin (more 4-tuples against TIME-WAIT).
#             Not for "sink".
#
# Output: one line per figure, e.g.
#   tun bulk_in peer=sluice mtu=1500 streams=1 gbps=2.310 cpu_pct=97 client_cpu_pct=40 ...
#   tun conn_rate peer=lwip mtu=1500 conc=64 conn_per_s=5123 cpu_pct=88 ...
# cpu_pct is the peer's user-space process (sluice-tun, lwip_tun with all
# its threads, kernel_peer, tun_sink) from utime+stime in /proc/PID/stat
# over the measured interval; 100 = one core.  dev_drops = packets the
# kernel dropped on the TUN device's queue (tx_dropped of sl0: the peer did
# not read fast enough) during the figure.  On a loaded machine a peer can
# show dev_drops with cpu_pct well under 100: it was runnable but not
# running (CPU time went to other processes); compare figures only from
# runs at a similar load (the first and last comment lines give it).
# Lines starting with '#' are comments (the setup, the peer's counters,
# failures); a failed figure prints its line with error=... instead of the
# figures.
#
# Exit: 0 every figure measured, 1 a figure failed, 2 bad usage or missing
# binaries, 77 skipped (not root, no /dev/net/tun, no `ip`).  Only
# 198.18.0.0/15 is used, only inside the namespaces; every command is
# bounded by `timeout` or by the program's own --max-seconds; only the
# processes this script started are stopped, by PID.
set -uo pipefail

SKIP=77
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD=""
QUICK=0
SECS=5
WARM=0.5
MTUS="1500 65520"
PEERS="sluice sluice_plain lwip kernel sink"
TESTS="bulk_in bulk_out rate"
STREAMS="1 8"
CONCS="1 64"
TXQLEN=""
LWIP_INPUT=lock
KEEP=""
SLUICE_ARGS=""
secs_set=0
mtus_set=0
warm_set=0
streams_set=0
conc_set=0

usage() {
  sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD="${2:-}"; shift ;;
    --quick) QUICK=1 ;;
    --seconds) SECS="${2:-}"; secs_set=1; shift ;;
    --warmup) WARM="${2:-}"; warm_set=1; shift ;;
    --mtus) MTUS="${2:-}"; mtus_set=1; shift ;;
    --peers) PEERS="${2:-}"; shift ;;
    --tests) TESTS="${2:-}"; shift ;;
    --streams) STREAMS="${2:-}"; streams_set=1; shift ;;
    --conc) CONCS="${2:-}"; conc_set=1; shift ;;
    --txqueuelen) TXQLEN="${2:-}"; shift ;;
    --lwip-input) LWIP_INPUT="${2:-}"; shift ;;
    --keep) KEEP="${2:-}"; shift ;;
    --sluice-args) SLUICE_ARGS="${2:-}"; shift ;;
    -h | --help) usage ;;
    *) echo "run.sh: unknown argument $1" >&2; usage ;;
  esac
  shift
done
if [ "$QUICK" -eq 1 ]; then
  # the defaults of a quick run; options given explicitly still win
  [ "$secs_set" -eq 1 ] || SECS=0.5
  [ "$warm_set" -eq 1 ] || WARM=0.2
  [ "$mtus_set" -eq 1 ] || MTUS=1500
  [ "$streams_set" -eq 1 ] || STREAMS=1
  [ "$conc_set" -eq 1 ] || CONCS=1
fi
num_ok() { [[ "$1" =~ ^[0-9]+([.][0-9]+)?$ ]]; }
if ! num_ok "$SECS" || ! num_ok "$WARM"; then
  echo "run.sh: bad --seconds/--warmup" >&2
  exit 2
fi
case "$LWIP_INPUT" in lock | mbox) ;; *) echo "run.sh: --lwip-input lock|mbox" >&2; exit 2 ;; esac
for m in $MTUS; do
  if ! [[ "$m" =~ ^[0-9]+$ ]] || [ "$m" -lt 576 ] || [ "$m" -gt 65535 ]; then
    echo "run.sh: bad MTU $m" >&2
    exit 2
  fi
done

skip() {
  echo "SKIP: $*"
  exit "$SKIP"
}
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces and TUN devices); run as root or with sudo"
[ -c /dev/net/tun ] || skip "/dev/net/tun is missing (no TUN support in this kernel/container)"
for t in ip timeout awk sed; do
  command -v "$t" >/dev/null 2>&1 || skip "'$t' not installed (scripts/bootstrap installs it)"
done

# ---- binaries ------------------------------------------------------------------
if [ -z "$BUILD" ]; then
  for d in "$ROOT/build/tunbench" "$ROOT/build/bench" "$ROOT/build/rel"; do
    if [ -x "$d/bench/tun_client" ] && [ -x "$d/examples/sluice-tun" ]; then
      BUILD="$d"
      break
    fi
  done
fi
[ -n "$BUILD" ] || { echo "run.sh: no build found; pass --build DIR (cmake -DCMAKE_BUILD_TYPE=Release)" >&2; exit 2; }
SLUICE="$BUILD/examples/sluice-tun"
CLIENT="$BUILD/bench/tun_client"
SINK="$BUILD/bench/tun_sink"
KPEER="$BUILD/bench/kernel_peer"
LWIP="$BUILD/bench/lwip_tun"
for b in "$CLIENT" "$SINK" "$KPEER" "$SLUICE"; do
  [ -x "$b" ] || { echo "run.sh: $b is missing (build the tun_client tun_sink kernel_peer sluice-tun targets)" >&2; exit 2; }
done
BTYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null)

# ---- state and cleanup -----------------------------------------------------------
WORK="$(mktemp -d /tmp/sl-bench-tun.XXXXXX)"
ALL_NS=""
PEER_PID=""
FIG=0
FAILS=0
START=$(date +%s)

stop_pid() { # stop_pid PID: SIGTERM, wait up to 5 s, then SIGKILL; sets STOP_RC
  local p="$1" _
  STOP_RC=""
  [ -n "$p" ] || return 0
  if kill -TERM "$p" 2>/dev/null; then
    for _ in $(seq 1 50); do
      kill -0 "$p" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$p" 2>/dev/null || true
  fi
  wait "$p" 2>/dev/null
  STOP_RC=$?
}

del_ns() {
  local n
  for n in "$@"; do
    timeout 10 ip netns del "$n" 2>/dev/null || true
  done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$PEER_PID"
  # shellcheck disable=SC2086
  del_ns $ALL_NS
  if [ -n "$KEEP" ]; then
    mkdir -p "$KEEP" && cp -f "$WORK"/*.log "$KEEP"/ 2>/dev/null && echo "# logs kept in $KEEP"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Peers end by themselves after BOUND seconds, whatever happens to this script.
BOUND=$(awk -v s="$SECS" -v w="$WARM" 'BEGIN { printf "%d", s + w + 30 }')
CTIMEOUT=$(awk -v s="$SECS" -v w="$WARM" 'BEGIN { printf "%d", s + w + 20 }')
SRCS="198.18.0.1,198.18.0.11,198.18.0.12,198.18.0.13,198.18.0.14,198.18.0.15,198.18.0.16,198.18.0.17"

new_ns() { # new_ns NAME: created, lo up, IPv4-only, client-friendly sysctls
  timeout 5 ip netns add "$1" || return 1
  ALL_NS="$ALL_NS $1"
  ip -n "$1" link set lo up
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
    net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1 >/dev/null 2>&1
  return 0
}

wait_dev_up() { # wait_dev_up NS DEV PID: the peer created DEV and brought it up
  local _
  for _ in $(seq 1 100); do
    ip -n "$1" link show "$2" 2>/dev/null | grep -q "UP" && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

tun_kernel_side() { # tun_kernel_side NS: addresses and routes of the kernel side of sl0
  local a
  ip -n "$1" route add 198.18.0.0/15 dev sl0 || return 1
  for a in ${SRCS//,/ }; do
    ip -n "$1" addr add "$a/32" dev sl0 || return 1
  done
  [ -z "$TXQLEN" ] || ip -n "$1" link set sl0 txqueuelen "$TXQLEN"
  return 0
}

veth_setup() { # veth_setup NS NSS MTU: sl0 (198.18.0.1/24 + SRCS) in NS, sl0p (198.18.0.2/24) in NSS
  local a
  ip -n "$1" link add sl0 mtu "$3" type veth peer name sl0p netns "$2" mtu "$3" &&
    ip -n "$2" addr add 198.18.0.2/24 dev sl0p && ip -n "$2" link set sl0p up &&
    ip -n "$1" addr add 198.18.0.1/24 dev sl0 && ip -n "$1" link set sl0 up || return 1
  for a in ${SRCS//,/ }; do
    [ "$a" = 198.18.0.1 ] || ip -n "$1" addr add "$a/32" dev sl0 || return 1
  done
}

probe_tcp() { # probe_tcp NS: port 9 of 198.18.0.2 accepts a connection
  local _
  for _ in $(seq 1 40); do
    ip netns exec "$1" timeout 1 bash -c 'exec 3<>/dev/tcp/198.18.0.2/9' 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

dev_drops() { # dev_drops NS: tx_dropped of sl0 (kernel -> peer direction)
  ip netns exec "$1" cat /sys/class/net/sl0/statistics/tx_dropped 2>/dev/null || echo 0
}

fail_fig() { # fail_fig LINE-PREFIX REASON [LOG]
  FAILS=$((FAILS + 1))
  echo "$1 error=$2"
  if [ -n "${3:-}" ] && [ -f "$3" ]; then
    tail -n 5 "$3" | sed 's/^/#   /'
  fi
}

# Interesting counters of the peer's --stats, as one comment line.
peer_counters() { # peer_counters PEER LOG
  local re
  case "$1" in
    sluice | sluice_plain | sluice_t*) re='^ +(tcp_tso_tx|app_rx_coalesced|tcp_retransmit|tcp_fast_retransmit|tcp_rto|tcp_drop_[a-z_]+|tcp_conn_accepted|tcp_conn_refused|app_tx_eagain_drop|tx_eagain|mem_peak_bytes|ip_rx|ip_tx) ' ;;
    lwip) re='^ +(rx_pkts|rx_mbox_drops|rx_alloc_fail|tx_pkts|tx_errors|conns_accepted|close_failed) ' ;;
    *) return 0 ;;
  esac
  local s
  s=$(grep -E "$re" "$2" 2>/dev/null | awk '{printf "%s=%s ", $1, $2}')
  [ -z "$s" ] || echo "#   $1 counters: $s"
}

# ---- one figure ------------------------------------------------------------------------
# run_fig PEER TEST MTU N   (N = streams for bulk_*, concurrent clients for rate)
run_fig() {
  local peer="$1" test="$2" mtu="$3" n="$4"
  FIG=$((FIG + 1))
  local ns="sl-bench-$$-$FIG" nss="" log="$WORK/fig$FIG-$peer-$test-$mtu-$n.log"
  local name="$test" what="streams=$n"
  [ "$test" = rate ] && { name=conn_rate; what="conc=$n"; }
  local prefix="tun $name peer=$peer mtu=$mtu $what"
  [ "$peer" = sink ] && { prefix="tun $name peer=tun_sink mtu=$mtu $what proto=udp"; peer=tun_sink; }

  if ! new_ns "$ns"; then
    fail_fig "$prefix" "namespace"
    return
  fi
  PEER_PID=""
  local out="" rc=0 d0=0 d1=0 client_args=()
  case "$test" in
    bulk_in) client_args=(send --port 9 --streams "$n") ;;
    bulk_out) client_args=(recv --port 19 --streams "$n") ;;
    rate) client_args=(rate --port 7 --conc "$n" --src "$SRCS") ;;
  esac
  client_args+=(--dst 198.18.0.2 --seconds "$SECS" --warmup "$WARM")

  case "$peer" in
    sluice | sluice_plain | sluice_t* | lwip)
      if [ "$peer" != lwip ]; then
        local targs=""
        case "$peer" in
          sluice_plain) targs="--no-offload" ;;
          sluice_t*) targs="--threads ${peer#sluice_t}" ;;
        esac
        # shellcheck disable=SC2086
        ip netns exec "$ns" "$SLUICE" --dev sl0 --mtu "$mtu" --stats --max-seconds "$BOUND" $targs \
          $SLUICE_ARGS >"$log" 2>&1 &
      else
        ip netns exec "$ns" "$LWIP" --dev sl0 --mtu "$mtu" --input "$LWIP_INPUT" --stats \
          --max-seconds "$BOUND" >"$log" 2>&1 &
      fi
      PEER_PID=$!
      if ! wait_dev_up "$ns" sl0 "$PEER_PID" || ! tun_kernel_side "$ns" || ! probe_tcp "$ns"; then
        fail_fig "$prefix" "peer_not_ready" "$log"
      else
        d0=$(dev_drops "$ns")
        out=$(ip netns exec "$ns" timeout "$CTIMEOUT" "$CLIENT" "${client_args[@]}" --cpu-pid "$PEER_PID" \
          2>>"$log")
        rc=$?
        d1=$(dev_drops "$ns")
        if ! kill -0 "$PEER_PID" 2>/dev/null; then
          fail_fig "$prefix" "peer_died $out" "$log"
        elif [ "$rc" -ne 0 ]; then
          fail_fig "$prefix" "client_rc_$rc $out" "$log"
        else
          echo "$prefix $out dev_drops=$((d1 - d0))"
        fi
      fi
      stop_pid "$PEER_PID"
      PEER_PID=""
      [ "$STOP_RC" = 0 ] || echo "#   $peer exited with status $STOP_RC after SIGTERM"
      peer_counters "$peer" "$log"
      ;;
    kernel)
      nss="$ns-s"
      if ! new_ns "$nss"; then
        fail_fig "$prefix" "namespace"
      elif ! veth_setup "$ns" "$nss" "$mtu"; then
        fail_fig "$prefix" "veth_setup"
      else
        ip netns exec "$nss" "$KPEER" --max-seconds "$BOUND" >"$log" 2>&1 &
        PEER_PID=$!
        if ! probe_tcp "$ns"; then
          fail_fig "$prefix" "peer_not_ready" "$log"
        else
          out=$(ip netns exec "$ns" timeout "$CTIMEOUT" "$CLIENT" "${client_args[@]}" --cpu-pid "$PEER_PID" \
            2>>"$log")
          rc=$?
          if [ "$rc" -ne 0 ]; then
            fail_fig "$prefix" "client_rc_$rc $out" "$log"
          else
            echo "$prefix $out"
          fi
        fi
        stop_pid "$PEER_PID"
        PEER_PID=""
      fi
      ;;
    tun_sink)
      if [ "$test" = bulk_in ]; then
        # the device reader counts; the kernel floods it with UDP datagrams of the MTU
        ip netns exec "$ns" "$SINK" --dev sl0 --mtu "$mtu" --max-seconds "$BOUND" >"$log.out" 2>"$log" &
        PEER_PID=$!
        if ! wait_dev_up "$ns" sl0 "$PEER_PID" || ! tun_kernel_side "$ns"; then
          fail_fig "$prefix" "sink_not_ready" "$log"
        else
          d0=$(dev_drops "$ns")
          local cout
          cout=$(ip netns exec "$ns" timeout "$CTIMEOUT" "$CLIENT" udp --dst 198.18.0.2 --port 9 \
            --streams "$n" --size "$mtu" --seconds "$SECS" --warmup "$WARM" 2>>"$log")
          rc=$?
          d1=$(dev_drops "$ns")
          stop_pid "$PEER_PID"
          PEER_PID=""
          out=$(cat "$log.out" 2>/dev/null)
          # the sender's side: sent_gbps, sent_pps, its CPU
          local sender
          sender=$(echo "$cout" | tr ' ' '\n' | grep -E '^(sent_gbps|sent_pps|client_cpu_pct)=' | tr '\n' ' ')
          if [ "$rc" -ne 0 ] || ! echo "$out" | grep -q '^gbps='; then
            fail_fig "$prefix" "sink rc=$rc $out $cout" "$log"
          else
            echo "$prefix $out ${sender}dev_drops=$((d1 - d0))"
          fi
        fi
        stop_pid "$PEER_PID" # (when it never got ready)
        PEER_PID=""
      else
        # tun_sink --write: the device as fast as it takes packets, to a kernel UDP socket
        ip netns exec "$ns" "$SINK" --write --dev sl0 --mtu "$mtu" --seconds "$SECS" --warmup "$WARM" \
          --max-seconds "$BOUND" >"$log.out" 2>"$log" &
        PEER_PID=$!
        if ! wait_dev_up "$ns" sl0 "$PEER_PID" || ! tun_kernel_side "$ns"; then
          fail_fig "$prefix" "sink_not_ready" "$log"
        else
          local _
          for _ in $(seq 1 $((BOUND * 10))); do
            kill -0 "$PEER_PID" 2>/dev/null || break
            sleep 0.1
          done
          stop_pid "$PEER_PID"
          rc=$STOP_RC
          PEER_PID=""
          out=$(cat "$log.out" 2>/dev/null)
          if [ "$rc" != 0 ] || ! echo "$out" | grep -q '^gbps='; then
            fail_fig "$prefix" "sink rc=$rc $out" "$log"
          else
            echo "$prefix $out"
          fi
        fi
      fi
      ;;
  esac
  # shellcheck disable=SC2086
  del_ns $ns $nss
  ALL_NS=$(echo "$ALL_NS" | tr ' ' '\n' | grep -vxF -e "$ns" -e "${nss:-$ns}" | tr '\n' ' ')
}

# ---- the matrix ------------------------------------------------------------------------
echo "# tun bench: $(date -u +%Y-%m-%dT%H:%M:%SZ) kernel=$(uname -r) cpus=$(nproc)" \
  "load=\"$(cut -d' ' -f1-3 /proc/loadavg)\" build=$BUILD type=${BTYPE:-?} secs=$SECS warmup=$WARM" \
  "quick=$QUICK lwip_input=$LWIP_INPUT txqueuelen=${TXQLEN:-default}"
[ "$BTYPE" = Release ] || echo "# warning: $BUILD is not a Release build; the figures mean little"
for peer in $PEERS; do
  case "$peer" in
    sluice | sluice_plain | sluice_t[1-9] | sluice_t[1-9][0-9] | kernel | sink) ;;
    lwip)
      [ -x "$LWIP" ] || echo "# skip peer lwip: $LWIP not built (apt-get install liblwip-dev, re-run cmake)" ;;
    *) echo "run.sh: unknown peer $peer (sluice sluice_plain sluice_tN lwip kernel sink)" >&2; exit 2 ;;
  esac
done
for t in $TESTS; do
  case "$t" in bulk_in | bulk_out | rate) ;; *) echo "run.sh: unknown test $t" >&2; exit 2 ;; esac
done

for mtu in $MTUS; do
  for peer in $PEERS; do
    [ "$peer" = lwip ] && [ ! -x "$LWIP" ] && continue
    for test in $TESTS; do
      case "$test" in
        bulk_in | bulk_out)
          for n in $STREAMS; do
            # the bare device has no streams: its write ceiling is one writer
            [ "$peer" = sink ] && [ "$test" = bulk_out ] && [ "$n" != "${STREAMS%% *}" ] && continue
            run_fig "$peer" "$test" "$mtu" "$n"
          done
          ;;
        rate)
          [ "$peer" = sink ] && continue
          for c in $CONCS; do run_fig "$peer" rate "$mtu" "$c"; done
          ;;
      esac
    done
  done
done

echo "# tun bench: $FIG figures, $FAILS failed, $(($(date +%s) - START)) s," \
  "load=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
[ "$FAILS" -eq 0 ]
