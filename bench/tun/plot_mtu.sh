#!/usr/bin/env bash
# Throughput against MTU, kernel -> peer, 1 stream: sluice-tun (with its
# TUN offloads, and --no-offload), lwIP, the kernel over veth and the bare
# TUN device, from bench/tun/run.sh lines.
#
#   sudo bench/tun/run.sh --seconds 2 --tests bulk_in --streams 1 \
#        --mtus "1500 4000 9000 16000 32000 65520" > /tmp/tun-mtu.txt
#   bench/tun/plot_mtu.sh /tmp/tun-mtu.txt docs/perf-mtu.png
#
# Needs gnuplot (Debian gnuplot-nox).  Writes a PNG; prints the table.
set -euo pipefail
in=${1:?usage: plot_mtu.sh RUN_SH_OUTPUT OUT.png}
out=${2:?usage: plot_mtu.sh RUN_SH_OUTPUT OUT.png}
command -v gnuplot >/dev/null || { echo "plot_mtu.sh: gnuplot missing (apt install gnuplot-nox)" >&2; exit 1; }
dat=$(mktemp)
trap 'rm -f "$dat"' EXIT
# One row per MTU: mtu sluice lwip kernel device sluice_plain
awk '/^tun bulk_in / && / streams=1 / {
       peer = ""; mtu = ""; g = "";
       for (i = 1; i <= NF; i++) {
         split($i, kv, "=");
         if (kv[1] == "peer") peer = kv[2];
         else if (kv[1] == "mtu") mtu = kv[2];
         else if (kv[1] == "gbps") g = kv[2];
       }
       v[mtu, peer] = g; mtus[mtu] = 1;
     }
     END {
       n = 0; for (m in mtus) list[++n] = m + 0;
       for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
         if (list[j] < list[i]) { t = list[i]; list[i] = list[j]; list[j] = t; }
       for (i = 1; i <= n; i++) {
         m = list[i];
         printf "%d %s %s %s %s %s\n", m, v[m, "sluice"], v[m, "lwip"], v[m, "kernel"], v[m, "tun_sink"],
                v[m, "sluice_plain"];
       }
     }' "$in" >"$dat"
echo "mtu sluice lwip kernel(veth) tun-device sluice-no-offload (Gbit/s)"
cat "$dat"
gnuplot <<GP
set terminal pngcairo size 900,560 font "sans,11" noenhanced
set output "$out"
set title "kernel -> peer over TUN, 1 TCP stream (device: bare reader, UDP flood)"
set xlabel "MTU (bytes)"
set ylabel "Gbit/s"
set logscale x 2
set xtics (1500, 4000, 9000, 16000, 32000, 65520)
set key top left
set grid
plot "$dat" using 1:5 with linespoints lw 2 title "TUN device ceiling (tun_sink)", \
     "$dat" using 1:4 with linespoints lw 2 title "Linux kernel over veth", \
     "$dat" using 1:2 with linespoints lw 2 title "sluice-tun (TUN offloads)", \
     "$dat" using 1:6 with linespoints lw 2 title "sluice-tun --no-offload", \
     "$dat" using 1:3 with linespoints lw 2 title "lwIP 2.1.3 (Debian)"
GP
echo "plot_mtu.sh: wrote $out"
