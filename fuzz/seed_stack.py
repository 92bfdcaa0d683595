#!/usr/bin/python3
"""Generate the seed corpus of fuzz_stack under fuzz/corpus/stack/.

A fuzz_stack input is 3 configuration bytes followed by records
[op][len hi][len lo][bytes] (see the comment at the top of fuzz_stack.c).
Each seed here is a realistic script: UDP datagrams over IPv4/IPv6 to a few
ports, pings, fragmented datagrams (in order, shuffled, with a piece
missing), ICMP errors quoting datagrams the stack sent, time steps past the
idle and reassembly timeouts, sends and sendtos, limits reached; run under
several configurations (presets, arena, fault injection, device budget,
offload, any_ip off, determinism check).

Run:  /usr/bin/python3 fuzz/seed_stack.py      (rewrites fuzz/corpus/stack/)
Only this corpus is touched; seed_corpus.py owns the others.
"""
import hashlib
import os
import random
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MAX_SEEDS = 190

os.environ.setdefault("SCAPY_USE_LIBPCAP", "no")
import logging  # noqa: E402
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import (  # noqa: E402
    IP, IPv6, UDP, ICMP, TCP, Raw, IPv6ExtHdrFragment, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting,
    HBHOptUnknown, ICMPv6EchoRequest, ICMPv6DestUnreach, ICMPv6PacketTooBig,
    ICMPv6TimeExceeded, ICMPv6ND_NS, DNS, DNSQR, fragment,
)

# ---- ops (fuzz_stack.c) ----------------------------------------------------
IN_RAW, IN_FIX, IN_FRAG, ADVANCE, POLL, DRAIN, RECV, SEND, SENDTO, FREE, OPEN, INFO, \
    ICMP_ERR, ANSWER, IN_PAST, BIGSEND = range(16)

# config byte 0
P_SMALL, P_MEDIUM, P_DEFAULT, P_TIGHT = 0, 1, 2, 3
ARENA, FAULTS, DEVICE, OFFLOAD, PREFIXES, TWICE = 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
# config byte 1
MTU576, MTU1280, MTU1500, MTU9000 = 0, 1, 2, 3
F_NONE, F_ODD, F_HASH, F_REFUSE = 0x00, 0x04, 0x08, 0x0C
T0, T1S, T1Y, T2_62 = 0x00, 0x10, 0x20, 0x30
NO_ECHO, FREE_ALL = 0x40, 0x80
# drain flags
D_RECV, D_FREE_CLOSED, D_ECHO, D_FREE_ERR, D_FREE_NEW = 1, 2, 4, 8, 16

# Addresses: the stack's prefixes (any_ip off) are 192.0.2.0/24,
# 10.0.0.1/32 and 2001:db8::/32.  Peers live in 198.51.100.0/24 and
# 2001:db8:ffff::/48 (inside the v6 prefix: the stack answers from the
# destination it was sent to).
L4, L4B, P4, P4B = "192.0.2.1", "10.0.0.1", "198.51.100.7", "198.51.100.9"
L6, P6, P6B = "2001:db8::1", "2001:db8:ffff::7", "2001:db8:ffff::9"


def rec(op, data=b""):
    data = bytes(data)
    assert len(data) <= 0xFFFF
    return bytes([op]) + struct.pack(">H", len(data)) + data


def cfg(f0=P_SMALL, f1=MTU1500, f2=0x07):
    return bytes([f0, f1, f2])


def adv_us(us):
    return rec(ADVANCE, bytes([0]) + struct.pack(">H", us))


def adv_ms(ms):
    return rec(ADVANCE, bytes([1]) + struct.pack(">H", ms))


def adv_s(s):
    return rec(ADVANCE, bytes([2]) + struct.pack(">H", s))


def adv_h(h):
    return rec(ADVANCE, bytes([3, 0, h - 1]))


def adv_deadline(mode=4, extra=0):
    return rec(ADVANCE, bytes([mode]) + struct.pack(">H", extra))


def drain(flags=D_RECV | D_ECHO):
    return rec(DRAIN, [flags])


def pkt(p, fix=False):
    return rec(IN_FIX if fix else IN_RAW, bytes(p))


def frag(p, unit=1, order=0, flags=0, ident=1):
    """Let the harness fragment p: pieces of (unit+1)*8 bytes."""
    return rec(IN_FRAG, bytes([unit, order, flags, ident]) + bytes(p))


def udp4(sport, dport, payload, src=P4, dst=L4, **kw):
    return IP(src=src, dst=dst, **kw) / UDP(sport=sport, dport=dport) / payload


def udp6(sport, dport, payload, src=P6, dst=L6, **kw):
    return IPv6(src=src, dst=dst, **kw) / UDP(sport=sport, dport=dport) / payload


def ep(fam_sel, addr_idx, port_sel):
    """Selector bytes for pick_ep: fam 1 = v4, 2 = v6, 0 = any; port_sel
    indexes {53, 7, 9, 40000, 0, 5353, 65535, 123}."""
    return bytes([fam_sel | (addr_idx << 2), port_sel])


def sendto(h, from_ep, to_ep, payload, flags=0):
    return rec(SENDTO, bytes([h, flags]) + from_ep + to_ep + payload)


def bigsend(h, length, fill=0x41):
    return rec(BIGSEND, bytes([h]) + struct.pack(">H", length) + bytes([fill]))


seeds = []


def add(*parts):
    seeds.append(b"".join(parts))


DNSQ = bytes(DNS(rd=1, qd=DNSQR(qname="example.com")))


def basics():
    # UDP v4 to a few ports, echo, idle out, more traffic.
    for conf in (cfg(), cfg(P_MEDIUM, MTU1500 | T1S), cfg(P_DEFAULT, MTU9000 | FREE_ALL),
                 cfg(P_SMALL | ARENA, MTU576), cfg(P_SMALL | PREFIXES, MTU1280 | T1Y)):
        add(conf,
            pkt(udp4(40000, 53, DNSQ)), pkt(udp4(40001, 7, b"echo me")),
            pkt(udp4(40000, 53, DNSQ)), pkt(udp4(5353, 9, b"discard")),
            drain(), rec(POLL), adv_ms(100), drain(D_RECV),
            adv_s(6), drain(D_FREE_CLOSED), adv_s(61), drain(D_FREE_CLOSED),
            pkt(udp4(40000, 53, DNSQ)), drain(), rec(POLL))
    # UDP v6.
    for conf in (cfg(), cfg(P_MEDIUM | OFFLOAD, MTU1280), cfg(P_SMALL | PREFIXES, MTU1500)):
        add(conf,
            pkt(udp6(40000, 53, DNSQ)), pkt(udp6(40001, 7, b"v6 echo")),
            pkt(udp6(40002, 123, bytes(48))), drain(), rec(POLL), adv_deadline(),
            adv_s(30), drain(D_FREE_CLOSED | D_RECV), adv_deadline(4), drain())
    # Mixed, with recv/send/info on handles by index.
    add(cfg(P_SMALL, MTU1500),
        pkt(udp4(1000, 7, b"a")), pkt(udp6(1001, 7, b"b")), rec(DRAIN, [0]),
        rec(RECV, [0, 4]), rec(RECV, [1, 0]), rec(RECV, [0, 5]),
        rec(SEND, b"\x00reply-one"), rec(SEND, b"\x01reply-two"), rec(INFO, [0, 1]),
        rec(POLL), rec(FREE, [0]), rec(SEND, b"\x00stale"), rec(RECV, [0, 5]),
        rec(INFO, [0, 0]), drain(), rec(POLL))


# scapy fills ICMP timestamps from the clock: pinned (to the value in the
# committed seeds) so that the corpus is reproducible.
ICMP_TS = 0x01373EB7


def pings():
    for conf in (cfg(), cfg(P_DEFAULT, MTU1500 | NO_ECHO), cfg(P_SMALL | OFFLOAD, MTU576)):
        add(conf,
            pkt(IP(src=P4, dst=L4) / ICMP(type=8, id=7, seq=1) / b"ping-payload"),
            pkt(IPv6(src=P6, dst=L6) / ICMPv6EchoRequest(id=7, seq=1, data=b"ping6")),
            pkt(IP(src=P4, dst=L4B) / ICMP(type=8, id=7, seq=2) / (b"x" * 1400)),
            rec(POLL), adv_ms(1000),
            pkt(IPv6(src=P6, dst=L6) / ICMPv6ND_NS(tgt=L6)),
            pkt(IP(src=P4, dst=L4) / ICMP(type=13, ts_ori=ICMP_TS, ts_rx=ICMP_TS, ts_tx=ICMP_TS)),
            rec(POLL))
    # A big ping arriving in fragments: the reply leaves fragmented.
    big = IP(src=P4, dst=L4, id=4242) / ICMP(type=8, id=9, seq=9) / (b"P" * 3000)
    add(cfg(P_MEDIUM, MTU1500), *[pkt(f) for f in fragment(big, fragsize=1000)], rec(POLL))
    big6 = IPv6(src=P6, dst=L6) / ICMPv6EchoRequest(id=9, seq=9, data=b"Q" * 3000)
    add(cfg(P_MEDIUM, MTU1280), frag(big6, unit=99, order=0, ident=3), rec(POLL))


def fragments():
    d4 = udp4(40000, 53, bytes(range(256)) * 6, id=777)
    d6 = udp6(40000, 53, bytes(range(256)) * 6)
    for order in (0, 1, 7, 200):
        add(cfg(P_SMALL, MTU1500), frag(d4, unit=15, order=order), drain(), rec(POLL))
        add(cfg(P_MEDIUM, MTU1280), frag(d6, unit=20, order=order, ident=order), drain(),
            rec(POLL))
    # scapy's own fragments, in order and shuffled.
    fr = fragment(d4, fragsize=400)
    add(cfg(), *[pkt(f) for f in fr], drain(), rec(POLL))
    rnd = random.Random(5)
    fr2 = list(fr)
    rnd.shuffle(fr2)
    add(cfg(P_SMALL | ARENA), *[pkt(f) for f in fr2], drain(), rec(POLL))
    # Duplicate, overlap, inconsistent end, DF, missing piece then timeout.
    for flags in (1, 4, 8, 16, 2, 3):
        add(cfg(P_SMALL, MTU1500), frag(d4, unit=7, order=3, flags=flags, ident=2),
            frag(d6, unit=7, order=5, flags=flags, ident=2), drain(), rec(POLL),
            adv_s(4), rec(POLL), adv_s(31), rec(POLL))
    # First fragment only: reassembly timeout -> Time Exceeded.
    first = fragment(d4, fragsize=256)[0]
    add(cfg(P_SMALL), pkt(first), adv_deadline(5), adv_deadline(4), rec(POLL))
    add(cfg(P_DEFAULT), pkt(first), adv_s(29), adv_s(2), rec(POLL), adv_h(1))
    v6first = IPv6(src=P6, dst=L6) / IPv6ExtHdrFragment(offset=0, m=1, id=99) / \
        UDP(sport=4, dport=5) / (b"y" * 64)
    add(cfg(P_SMALL), pkt(v6first, fix=True), adv_s(3), rec(POLL), adv_s(1), rec(POLL))
    # Too many datagrams / bytes in reassembly.
    parts = []
    for i in range(8):
        parts.append(frag(udp4(1000 + i, 53, b"z" * 3000, id=100 + i), unit=50, flags=2,
                          ident=i))
    add(cfg(P_SMALL, MTU1500), *parts, adv_s(5), rec(POLL))
    # A 64 KiB datagram in fragments (over reasm_bytes in the small preset).
    huge = udp4(9, 9, b"H" * 60000, id=9999)
    add(cfg(P_DEFAULT, MTU9000), frag(huge, unit=31, order=0), drain(), rec(POLL))
    add(cfg(P_SMALL, MTU9000), frag(huge, unit=31, order=1), rec(POLL))
    # Fragmented protocol-unreachable and port-unreachable.
    add(cfg(P_SMALL, MTU1500 | F_REFUSE),
        frag(IP(src=P4, dst=L4, proto=253, id=5) / (b"q" * 600), unit=9),
        frag(udp4(1, 2, b"r" * 600, id=6), unit=9), rec(POLL))


def icmp_errors():
    # A flow, our echo reply, then the peer's ICMP errors quoting it (built
    # by the harness from the packet we sent: op ICMP_ERR).
    for conf in (cfg(), cfg(P_MEDIUM | PREFIXES), cfg(P_SMALL | OFFLOAD, MTU1280)):
        for sel in range(6):
            add(conf, pkt(udp4(33434, 7, b"trace")), drain(), rec(POLL),
                rec(ICMP_ERR, [0, sel, 3 if sel == 0 else 0, 0, 0, 0x05, 0x00, 2]),
                drain(0), rec(INFO, [0, 0]), rec(RECV, [0, 5]))
        for sel in range(5):
            add(conf, pkt(udp6(33434, 7, b"trace6")), drain(), rec(POLL),
                rec(ICMP_ERR, [0, sel, 4 if sel == 0 else 0, 0, 0, 0x05, 0x00, 2]),
                drain(0), rec(INFO, [0, 0]))
    # scapy-built errors quoting what the echo server sent back.
    reply4 = udp4(7, 33434, b"trace", src=L4, dst=P4)
    reply6 = udp6(7, 33434, b"trace6", src=L6, dst=P6)
    add(cfg(), pkt(udp4(33434, 7, b"trace")), drain(), rec(POLL),
        pkt(IP(src=P4, dst=L4) / ICMP(type=3, code=3) / bytes(reply4)),
        pkt(IP(src=P4, dst=L4) / ICMP(type=3, code=4, nexthopmtu=1400) / bytes(reply4)[:28]),
        pkt(IP(src=P4, dst=L4) / ICMP(type=11, code=0) / bytes(reply4)), drain(0))
    add(cfg(), pkt(udp6(33434, 7, b"trace6")), drain(), rec(POLL),
        pkt(IPv6(src=P6, dst=L6) / ICMPv6DestUnreach(code=4) / bytes(reply6)),
        pkt(IPv6(src=P6, dst=L6) / ICMPv6PacketTooBig(mtu=1280) / bytes(reply6)),
        pkt(IPv6(src=P6, dst=L6) / ICMPv6TimeExceeded() / bytes(reply6)), drain(0))
    # Errors naming no flow, and quoting a fragment.
    add(cfg(), pkt(IP(src=P4, dst=L4) / ICMP(type=3, code=1) / bytes(udp4(1, 2, b"?", src=L4,
                                                                          dst=P4))),
        pkt(IP(src=P4, dst=L4) / ICMP(type=11, code=1) /
            bytes(IP(src=L4, dst=P4, frag=10, proto=17) / (b"F" * 16))), rec(POLL))
    # Errors the stack sends: port unreachable (filter), protocol
    # unreachable, IPv6 parameter problems, rate limit reached.
    add(cfg(P_SMALL, MTU1500 | F_REFUSE),
        *[pkt(udp4(2000 + i, 9, b"refused")) for i in range(5)],
        *[pkt(udp6(2000 + i, 9, b"refused")) for i in range(3)], rec(POLL), adv_s(2),
        pkt(udp4(3000, 9, b"again")), rec(POLL))
    add(cfg(P_SMALL, MTU1500 | F_ODD),
        pkt(IP(src=P4, dst=L4, proto=253) / (b"\x00" * 40)),
        pkt(IPv6(src=P6, dst=L6, nh=253) / (b"\x00" * 40)),
        pkt(IPv6(src=P6, dst=L6) / IPv6ExtHdrDestOpt(options=[HBHOptUnknown(otype=0x87,
                                                                            optdata=b"xy")]) /
            UDP(sport=1, dport=2)),
        pkt(IPv6(src=P6, dst=L6) / IPv6ExtHdrRouting(addresses=[L6], segleft=1) /
            UDP(sport=1, dport=2)),
        pkt(udp4(1, 2, b"even port accepted")), pkt(udp4(1, 3, b"odd port refused")),
        rec(POLL))


def sends():
    # Bound handles, sendto from any address, big datagrams that fragment.
    add(cfg(P_SMALL, MTU1500),
        rec(OPEN, ep(1, 0, 0)), rec(OPEN, ep(0, 0, 2)), rec(OPEN, b"\x80"),
        sendto(0, ep(1, 0, 0), ep(1, 1, 3), b"from the bound handle"),
        sendto(2, ep(2, 0, 5), ep(2, 1, 3), b"v6 from a send-only handle"),
        sendto(2, ep(1, 2, 1), ep(2, 1, 3), b"family mismatch"),
        pkt(udp4(40000, 53, b"to the bound port")), pkt(udp4(40000, 9, b"to any:9")),
        drain(D_RECV | D_ECHO), rec(POLL), rec(FREE, [1]), rec(FREE, [1]))
    for conf in (cfg(P_SMALL, MTU576), cfg(P_MEDIUM, MTU1280), cfg(P_DEFAULT | DEVICE, MTU1500, 1),
                 cfg(P_SMALL | ARENA, MTU9000)):
        add(conf, rec(OPEN, b"\x80"),
            sendto(0, ep(1, 0, 3), ep(1, 1, 3), b"", 0),
            bigsend(0, 3000), bigsend(0, 65507), bigsend(0, 65508),
            sendto(0, ep(2, 0, 3), ep(2, 1, 3), b"x" * 2000),
            rec(POLL), rec(POLL), rec(POLL), drain())
    # Flow sends until the tx queue is full, then WRITABLE after a poll.
    add(cfg(P_SMALL, MTU1500), pkt(udp4(5000, 7, b"hi")), rec(DRAIN, [0]),
        *[rec(SEND, b"\x00" + bytes([i]) * 1000) for i in range(10)],
        bigsend(0, 40000), drain(0), rec(POLL), drain(0), rec(SEND, b"\x00after"),
        rec(POLL))
    # Device that takes one packet per poll.
    add(cfg(P_SMALL | DEVICE, MTU576, 0), pkt(udp4(5000, 7, b"hi")), rec(DRAIN, [0]),
        bigsend(0, 3000), rec(POLL), rec(POLL), rec(POLL), rec(POLL), rec(POLL), rec(POLL),
        rec(POLL), drain(0))
    # Flows past max_flows, a receive queue overflowing.
    add(cfg(P_SMALL, MTU1500), *[pkt(udp4(6000 + i, 53, DNSQ)) for i in range(10)],
        *[pkt(udp4(6000, 53, bytes([i]) * 100)) for i in range(6)], drain(D_RECV),
        rec(INFO, [0, 0]), drain(D_FREE_NEW), rec(POLL))


def stress_configs():
    base = [pkt(udp4(40000, 53, DNSQ)), pkt(udp6(40000, 53, DNSQ)),
            pkt(IP(src=P4, dst=L4) / ICMP(type=8) / b"p"),
            frag(udp4(1, 2, b"f" * 1500, id=3), unit=20, order=9), drain(), rec(POLL),
            adv_s(10), rec(POLL), drain(D_FREE_CLOSED), adv_h(2), rec(POLL)]
    for f0, f1, f2 in ((P_SMALL | FAULTS, MTU1500, 0x00), (P_SMALL | FAULTS, MTU1500, 0x08),
                       (P_MEDIUM | FAULTS | ARENA, MTU1280, 0x18),
                       (P_TIGHT, MTU1500, 0x07), (P_TIGHT | ARENA, MTU576, 0x07),
                       (P_SMALL | TWICE, MTU1500 | T2_62, 0x07),
                       (P_DEFAULT | ARENA | TWICE, MTU9000, 0x07),
                       (P_SMALL | DEVICE, MTU1500 | F_HASH, 0x02),
                       (P_MEDIUM | OFFLOAD | PREFIXES, MTU1500 | T1Y | FREE_ALL, 0x07)):
        add(cfg(f0, f1, f2), *base)
    # Time going backwards for one packet; huge jumps.
    add(cfg(P_SMALL, MTU1500 | T1S), adv_s(10), rec(IN_PAST, b"\xff" + bytes(udp4(1, 7, b"old"))),
        drain(), rec(POLL), adv_h(200), adv_h(200), rec(POLL))


def tcp_and_junk():
    # Not-UDP inputs (TCP, truncated, bad versions) between good ones.
    add(cfg(), pkt(IP(src=P4, dst=L4) / TCP(sport=40000, dport=80, flags="S")),
        pkt(IPv6(src=P6, dst=L6) / TCP(sport=40000, dport=80, flags="S")),
        rec(IN_RAW, b"\x45\x00"), rec(IN_RAW, b"\x00" * 20), rec(IN_RAW, b""),
        pkt(udp4(1, 7, b"ok")), rec(POLL), drain())


def from_pcaps():
    """Every top-level pcap's first 40 IP packets, in order, as one script.
    (Every packet of every capture becomes a script at build time:
    pcap_seeds.py.)"""
    sys.path.insert(0, HERE)
    from pcapread import pcap_dir, read_pcap, strip_link  # plain Python, no scapy
    d = pcap_dir()
    if d is None:
        return
    for name in sorted(os.listdir(d)):
        if not name.endswith(".pcap"):
            continue
        parts = []
        for lt, frame in read_pcap(os.path.join(d, name)):
            ip = strip_link(lt, frame)
            if ip:
                parts.append(pkt(ip[:4000]))
        if parts:
            add(cfg(P_MEDIUM, MTU1500), *parts[:40], drain(), rec(POLL), adv_s(31), rec(POLL))


def write():
    d = os.path.join(HERE, "corpus", "stack")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    uniq = {}
    for s in seeds:
        uniq.setdefault(hashlib.sha1(s).hexdigest(), s)
    if len(uniq) > MAX_SEEDS:
        uniq = {k: uniq[k] for k in sorted(uniq)[:MAX_SEEDS]}
    total = 0
    for h, s in uniq.items():
        with open(os.path.join(d, h[:16]), "wb") as f:
            f.write(s)
        total += len(s)
    print(f"stack {len(uniq):4d} seeds, {total} bytes, largest {max(map(len, uniq.values()))}")


def main():
    basics()
    pings()
    fragments()
    icmp_errors()
    sends()
    stress_configs()
    tcp_and_junk()
    from_pcaps()
    write()


if __name__ == "__main__":
    main()
