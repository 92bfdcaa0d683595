#!/usr/bin/python3
"""Turn every IP packet of the project's captures into fuzz seeds (build time).

    pcap_seeds.py OUTDIR PCAPS_DIR

Reads every *.pcap / *.pcapng under PCAPS_DIR recursively (pcaps/,
pcaps/edge/, pcaps/recorded/, ...; golden/ directories, which hold expected
outputs, are skipped) and writes OUTDIR/<module>/<first 16 hex digits of the
sha1>:

  ipv4 ipv6 tcp udp icmp4 icmp6
      every distinct packet, exactly as seed_corpus.py's add_ip() seeds a
      capture packet (pcapread.ip_seeds, cut to MAX_SEED_LEN): ipv4 [0x01],
      ipv6 [0x00], tcp / udp [0x01] over IPv4 / [0x02] over IPv6, icmp4 /
      icmp6 [0x01]; no cap on the number of seeds.
  stack
      fuzz_stack scripts, per capture: config = library defaults, MTU 1500,
      no filter, start time 1 s, unlimited device budget; then for each
      packet in capture order: time advanced by the gap since the previous
      packet (us record up to 65535 us, else ms record clipped to 65535 ms;
      no record for a gap <= 0), the packet as an "input raw" record, a drain
      (recv + echo) record.  A capture longer than one script continues in
      the next: a script holds at most PKTS_PER_SCRIPT packets,
      MAX_RECORDS records and stays under 64 KiB, so every packet is in
      exactly one script.

OUTDIR/<module>/ is emptied first.  Deterministic, stdlib only (no scapy):
the fuzz build runs it (fuzz/CMakeLists.txt), the committed corpora under
fuzz/corpus/ are not touched.
"""
import hashlib
import os
import shutil
import struct
import sys
import time

sys.dont_write_bytecode = True   # run by the build: leave the source tree alone
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pcapread import (  # noqa: E402
    MAX_SEED_LEN, capture_files, ip_seeds, read_capture, strip_link,
)

PARSER_MODULES = ("ipv4", "ipv6", "tcp", "udp", "icmp4", "icmp6")
MODULES = PARSER_MODULES + ("stack",)
SKIP_DIRS = ("golden",)

# ---- fuzz_stack input layout (fuzz_stack.c; the names of seed_stack.py) ----
IN_RAW, ADVANCE, DRAIN = 0, 3, 5
P_DEFAULT = 2                       # config byte 0: library defaults, heap
MTU1500, F_NONE, T1S = 2, 0x00, 0x10  # config byte 1
BUDGET_UNLIMITED = 0x07             # config byte 2 (no fault injection)
D_RECV, D_ECHO = 1, 4
MAX_RECORDS = 256                   # fuzz_stack.c
MAX_SCRIPT = 0xFFFF                 # bytes: a script stays under 64 KiB
PKTS_PER_SCRIPT = 120

CONFIG = bytes([P_DEFAULT, MTU1500 | F_NONE | T1S, BUDGET_UNLIMITED])


def rec(op, data=b""):
    data = bytes(data)
    assert len(data) <= 0xFFFF
    return bytes([op]) + struct.pack(">H", len(data)) + data


DRAIN_REC = rec(DRAIN, [D_RECV | D_ECHO])


def advance(gap_us):
    """The record advancing time by a capture gap (None: nothing)."""
    if gap_us is None or gap_us <= 0:
        return None
    if gap_us <= 0xFFFF:
        return rec(ADVANCE, bytes([0]) + struct.pack(">H", gap_us))
    return rec(ADVANCE, bytes([1]) + struct.pack(">H", min(gap_us // 1000, 0xFFFF)))


def stack_scripts(packets):
    """fuzz_stack scripts covering packets [(ip, ts_us or None), ...] in
    order, each within PKTS_PER_SCRIPT / MAX_RECORDS / MAX_SCRIPT."""
    room = MAX_SCRIPT - len(CONFIG) - 3 - len(DRAIN_REC)   # longest packet
    scripts, parts, size, nrec, npkt, prev_ts = [], [], 0, 0, 0, None
    for ip, ts in packets:
        ip = ip[:room]
        p = rec(IN_RAW, ip)
        adv = advance(ts - prev_ts) if ts is not None and prev_ts is not None else None
        prev_ts = ts if ts is not None else prev_ts
        need_rec = 2 + (adv is not None)
        need = len(p) + len(DRAIN_REC) + (len(adv) if adv else 0)
        if npkt and (npkt >= PKTS_PER_SCRIPT or nrec + need_rec > MAX_RECORDS or
                     len(CONFIG) + size + need > MAX_SCRIPT):
            scripts.append(CONFIG + b"".join(parts))
            parts, size, nrec, npkt = [], 0, 0, 0
            adv = None                       # a new script starts at 1 s
            need_rec, need = 2, len(p) + len(DRAIN_REC)
        if adv:
            parts.append(adv)
        parts += [p, DRAIN_REC]
        size += need
        nrec += need_rec
        npkt += 1
    if parts:
        scripts.append(CONFIG + b"".join(parts))
    return scripts


def fixture_packets(path):
    """The IP packets of a fixture file (tests/fixtures/gen_fixtures.py:
    NAME <TAB> EXPECT <TAB> HEX <TAB> KEYS per line, '#' comments)."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 3:
                try:
                    out.append(bytes.fromhex(cols[2]))
                except ValueError:
                    pass
    return out


def main(argv):
    fixtures = None
    if len(argv) == 5 and argv[3] == "--fixtures":
        fixtures = argv[4]
        argv = argv[:3]
    if len(argv) != 3:
        print("usage: pcap_seeds.py OUTDIR PCAPS_DIR [--fixtures FILE]", file=sys.stderr)
        return 2
    out_dir, pcaps = argv[1], argv[2]
    t0 = time.monotonic()
    if not os.path.isdir(pcaps):
        print(f"pcap_seeds: {pcaps} is not a directory", file=sys.stderr)
        return 1
    seeds = {m: {} for m in MODULES}
    ncap = npkt = nframes = ncut = 0
    for name in capture_files(pcaps, skip=SKIP_DIRS):
        ncap += 1
        packets = []
        for lt, frame, order, ts in read_capture(os.path.join(pcaps, name)):
            nframes += 1
            ip = strip_link(lt, frame, order)
            if not ip:
                continue
            packets.append((ip, ts))
            for module, ctl, payload in ip_seeds(ip, both_csum_modes=False):
                data = ctl + payload
                if len(data) > MAX_SEED_LEN:
                    data = data[:MAX_SEED_LEN]
                    ncut += 1
                seeds[module].setdefault(hashlib.sha1(data).hexdigest()[:16], data)
        npkt += len(packets)
        for s in stack_scripts(packets):
            seeds["stack"].setdefault(hashlib.sha1(s).hexdigest()[:16], s)

    nfix = 0
    if fixtures is not None:
        # The scapy-made fixtures too (valid and malformed alike): parser
        # seeds, and one stack script feeding them all in order.
        fx = fixture_packets(fixtures)
        nfix = len(fx)
        for ip in fx:
            for module, ctl, payload in ip_seeds(ip, both_csum_modes=False):
                data = (ctl + payload)[:MAX_SEED_LEN]
                seeds[module].setdefault(hashlib.sha1(data).hexdigest()[:16], data)
        for s in stack_scripts([(ip, None) for ip in fx]):
            seeds["stack"].setdefault(hashlib.sha1(s).hexdigest()[:16], s)

    for m in MODULES:
        d = os.path.join(out_dir, m)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for h, data in seeds[m].items():
            with open(os.path.join(d, h), "wb") as f:
                f.write(data)
    for m in MODULES:
        sizes = [len(s) for s in seeds[m].values()]
        print(f"pcap_seeds: {m:6s} {len(sizes):5d} seeds, {sum(sizes):8d} bytes, "
              f"largest {max(sizes, default=0)}")
    print(f"pcap_seeds: {npkt} IP packets of {nframes} frames in {ncap} captures under "
          f"{pcaps} ({ncut} parser seeds cut to {MAX_SEED_LEN} bytes), {nfix} fixtures -> {out_dir} "
          f"in {time.monotonic() - t0:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
