#!/usr/bin/python3
"""Generate the seed corpora under fuzz/corpus/<module>/.

Seeds come from two places:
  * realistic packets built with scapy (options, extension headers, ICMP
    errors quoting packets, fragments, ...);
  * the IP packets of the project's captures: every *.pcap / *.pcapng
    under ../pcaps/ (recursively: edge/, recorded/, ...) if present, else
    ../../shared/pcaps-real/.  Classic pcap (both byte orders, micro- and
    nanosecond) and pcapng are read without scapy by pcapread.py
    (read_capture, strip_link: see there for the link types handled).
    Only up to MAX_PER_MODULE seeds per module are kept here; every pcap
    packet becomes a seed at build time instead (pcap_seeds.py, which
    shares pcapread.ip_seeds with add_ip() below).

Each fuzz target reads one or more control bytes before the packet (see the
comment at the top of fuzz_<module>.c); seeds carry the prefixes that reach
the deep code (e.g. "fix the checksum up, then verify").

Run:  /usr/bin/python3 fuzz/seed_corpus.py            (rewrites fuzz/corpus/)
      /usr/bin/python3 fuzz/seed_corpus.py --dry-run  (counts only, writes nothing)
"""
import hashlib
import os
import random
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_PER_MODULE = 190

# The capture readers are plain Python (shared with seed_stack.py and the
# build-time pcap_seeds.py, which must not need scapy).
from pcapread import (  # noqa: E402
    MAX_SEED_LEN, capture_files, ip_seeds, pcap_dir, read_capture, strip_link,
)

os.environ.setdefault("SCAPY_USE_LIBPCAP", "no")
import logging  # noqa: E402
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import (  # noqa: E402
    IP, IPv6, TCP, UDP, ICMP, Raw, IPOption_RR, IPOption_Timestamp, IPOption_LSRR,
    IPOption_SSRR, IPOption_Router_Alert, IPOption_NOP, IPOption_EOL,
    IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting, IPv6ExtHdrFragment,
    IPv6ExtHdrSegmentRouting, RouterAlert, PadN, Pad1, HBHOptUnknown, Jumbo,
    ICMPv6EchoRequest, ICMPv6EchoReply, ICMPv6PacketTooBig, ICMPv6DestUnreach,
    ICMPv6TimeExceeded, ICMPv6ParamProblem, ICMPv6ND_RS, ICMPv6ND_RA, ICMPv6ND_NS,
    ICMPv6ND_NA, ICMPv6ND_Redirect, ICMPv6NDOptSrcLLAddr, ICMPv6NDOptPrefixInfo,
    ICMPv6NDOptMTU, AH, ESP, DNS, DNSQR,
)

corpus = {m: [] for m in ("checksum", "ipv4", "ipv6", "tcp", "udp", "icmp4", "icmp6")}


def add(module, ctl, payload):
    data = bytes(ctl) + bytes(payload)
    if len(data) > MAX_SEED_LEN:
        data = data[:MAX_SEED_LEN]
    corpus[module].append(data)


# ---------------------------------------------------------------- pcaps --

def from_pcaps(verbose=False):
    d = pcap_dir()
    if d is None:
        print("no pcaps found (pcaps/ or ../shared/pcaps-real/)", file=sys.stderr)
        return
    n = 0
    # Only the third-party captures at the top of pcaps/: every packet of
    # every capture (recorded/, edge/ too) is seeded at build time by
    # pcap_seeds.py into build/.../fuzz/pcap-seeds/, uncapped.
    for name in [f for f in capture_files(d) if os.sep not in f]:
        k = total = 0
        for lt, frame, order, _ts in read_capture(os.path.join(d, name)):
            total += 1
            ip = strip_link(lt, frame, order)
            if not ip:
                continue
            k += 1
            add_ip(ip, both_csum_modes=False)
        if verbose:
            print(f"{k:5d} of {total:5d} packets  {name}")
        n += k
    print(f"{n} IP packets from {d}")


def add_ip(ip, both_csum_modes=True):
    """Seed every module an IP packet reaches (pcapread.ip_seeds)."""
    for module, ctl, payload in ip_seeds(ip, both_csum_modes):
        add(module, ctl, payload)


# -------------------------------------------------------- scapy packets --

A4, B4 = "192.0.2.1", "198.51.100.7"
A6, B6 = "2001:db8::1", "2001:db8::2"
LL6 = "fe80::1"


def tcp_variants():
    ts = ("Timestamp", (123456789, 987654321))
    return [
        TCP(sport=40000, dport=80, flags="S", seq=1000,
            options=[("MSS", 1460), ("SAckOK", b""), ts, ("NOP", None), ("WScale", 7)]),
        TCP(sport=80, dport=40000, flags="SA", seq=5000, ack=1001,
            options=[("MSS", 1400), ("NOP", None), ("NOP", None), ("SAckOK", b""),
                     ("NOP", None), ("WScale", 14)]),
        TCP(sport=40000, dport=80, flags="A", seq=1001, ack=5001,
            options=[("NOP", None), ("NOP", None), ts]),
        TCP(sport=40000, dport=80, flags="PA", seq=1001, ack=5001,
            options=[("NOP", None), ("NOP", None), ts]) / Raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        TCP(sport=80, dport=40000, flags="A", seq=5001, ack=1001,
            options=[("NOP", None), ("NOP", None), ("SAck", (2000, 3000))]),
        TCP(sport=80, dport=40000, flags="A", seq=5001, ack=1001,
            options=[("NOP", None), ("NOP", None), ts, ("NOP", None), ("NOP", None),
                     ("SAck", (2000, 3000, 4000, 5000, 6000, 7000))]),
        TCP(sport=80, dport=40000, flags="A", seq=5001, ack=1001,
            options=[("NOP", None), ("NOP", None),
                     ("SAck", (1, 2, 3, 4, 5, 6, 7, 8))]),
        TCP(sport=1, dport=2, flags="UA", urgptr=3, seq=7, ack=8) / Raw(b"urgent!"),
        TCP(sport=1, dport=2, flags="FPUA", urgptr=1000) / Raw(b"x"),
        TCP(sport=1, dport=2, flags="RA", seq=9) / Raw(b"connection reset: no listener"),
        TCP(sport=1, dport=2, flags="SEC", seq=0xFFFFFFFF,
            options=[("MSS", 536), ("WScale", 255), ("EOL", None)]),
        TCP(sport=1, dport=2, flags="S", options=[(30, b"\x00\x81\x01\x02\x03\x04\x05\x06\x07\x08"),
                                                  ("MSS", 1460)]),  # MPTCP MP_CAPABLE
        TCP(sport=1, dport=2, flags="S", options=[(34, b"\x01\x02\x03\x04\x05\x06\x07\x08"),
                                                  ("SAckOK", b"")]),  # TFO cookie
        TCP(sport=1, dport=2, flags="S", options=[(254, b"\xf9\x89"), ("NOP", None),
                                                  ("WScale", 2)]),  # experimental
        TCP(sport=1, dport=2, flags="A", reserved=1),  # AE bit
        TCP(sport=1, dport=2, flags="A", reserved=7, window=0),
    ]


def build_tcp():
    for i, t in enumerate(tcp_variants()):
        add("tcp", [0x01], bytes(IP(src=A4, dst=B4) / t)[20:])
        add("tcp", [0x02], bytes(IPv6(src=A6, dst=B6) / t)[40:])
        if i % 4 == 0:
            add("tcp", [0x00], bytes(IP(src=A4, dst=B4) / t)[20:])
    # Hand-made option areas: EOL then junk, duplicate options (last wins).
    base = bytes(TCP(sport=5, dport=6, flags="S", seq=1))[:12]
    for opts in (b"\x00\xff\xff\xff",
                 b"\x02\x04\x05\xb4\x02\x04\x02\x18",
                 b"\x03\x03\x01\x03\x03\x08\x01\x00",
                 b"\x05\x0a" + bytes(8) + b"\x05\x0a" + bytes(range(8)),
                 b"\x08\x0a" + bytes(range(8)) + b"\x01\x01",
                 b"\x01" * 40,
                 b"\x99\x02\x01\x01"):
        doff = (20 + len(opts)) // 4
        seg = base + bytes([doff << 4, 0x02]) + b"\xff\xff\x00\x00\x00\x00" + opts
        add("tcp", [0x01], seg)


def build_udp():
    dns = DNS(rd=1, qd=DNSQR(qname="example.com"))
    for pl in (b"", b"x", b"\x00" * 7, bytes(dns), bytes(range(64))):
        add("udp", [0x01], bytes(IP(src=A4, dst=B4) / UDP(sport=5353, dport=53) / pl)[20:])
        add("udp", [0x02], bytes(IPv6(src=A6, dst=B6) / UDP(sport=5353, dport=53) / pl)[40:])
    u = bytearray(bytes(UDP(sport=1, dport=2) / b"abcd"))
    u[6:8] = b"\x00\x00"
    add("udp", [0x03], u)       # zero checksum over IPv4: "none"
    add("udp", [0x04], u)       # zero checksum over IPv6: error
    add("udp", [0x05], bytes(u) + b"pad!")   # bytes past the length field
    add("udp", [0x00], b"\x00\x01\x00\x02\x00\x08\x00\x00")


def build_ipv4():
    opts_list = [
        [],
        [IPOption_Router_Alert()],
        [IPOption_RR(routers=["10.0.0.1", "10.0.0.2"])],
        [IPOption_Timestamp(flg=0, timestamp=[1, 2])],
        [IPOption_LSRR(routers=["10.0.0.1"])],
        [IPOption_SSRR(routers=["10.0.0.1", "10.0.0.2"])],
        [IPOption_NOP(), IPOption_Router_Alert(), IPOption_EOL()],
    ]
    for o in opts_list:
        add_ip(IP(src=A4, dst=B4, options=o, ttl=3) / UDP(sport=1, dport=2) / b"hi")
    add_ip(IP(src=A4, dst=B4, flags="DF", tos=0xb8) / TCP(sport=1, dport=2, flags="S"))
    add_ip(IP(src=A4, dst=B4, flags="MF", id=77, frag=0) / (b"A" * 24))
    add_ip(IP(src=A4, dst=B4, flags="MF", id=77, frag=3, proto=17) / (b"B" * 24))
    add_ip(IP(src=A4, dst=B4, flags="evil", id=78, frag=8189, proto=6) / (b"C" * 16))
    add_ip(IP(src=A4, dst=B4, proto=253) / (b"\x00" * 40) / (b"\x00" * 6))
    # Ethernet-padded: bytes past total_len.
    add("ipv4", [0x01], bytes(IP(src=A4, dst=B4) / ICMP()) + b"\x00" * 18)
    # Unknown option, zero-length option, truncated option.
    for raw in (b"\x9e\x04\xaa\xbb", b"\x07\x00\x00\x00", b"\x01\x01\x01\x44"):
        h = bytearray(bytes(IP(src=A4, dst=B4, proto=17, ihl=6, len=24)))
        add("ipv4", [0x01], bytes(h[:20]) + raw)


def build_icmp4():
    inner_udp = IP(src=B4, dst=A4, ttl=1) / UDP(sport=33434, dport=53) / b"payload!"
    inner_tcp = IP(src=B4, dst=A4) / TCP(sport=40000, dport=443, seq=0xdeadbeef, flags="S")
    inner_echo = IP(src=B4, dst=A4) / ICMP(type=8, id=0x1234, seq=7) / b"ping"
    inner_frag = IP(src=B4, dst=A4, frag=10, proto=17) / (b"F" * 16)
    msgs = [
        ICMP(type=8, id=1, seq=1) / b"abcdefgh",
        ICMP(type=0, id=1, seq=1) / b"abcdefgh",
        ICMP(type=3, code=3) / bytes(inner_udp),
        ICMP(type=3, code=4, nexthopmtu=1400) / bytes(inner_tcp)[:28],
        ICMP(type=3, code=1) / bytes(inner_tcp),
        ICMP(type=11, code=0) / bytes(inner_echo),
        ICMP(type=11, code=1) / bytes(inner_frag),
        ICMP(type=12, code=0, ptr=20) / bytes(IP(src=B4, dst=A4, options=[IPOption_Router_Alert()]) /
                                             UDP(sport=7, dport=9)),
        ICMP(type=5, code=1, gw="10.0.0.1") / bytes(inner_udp)[:28],
        ICMP(type=13, id=3, seq=4, ts_ori=1, ts_rx=2, ts_tx=3),
    ]
    for m in msgs:
        add("icmp4", [0x01], bytes(m))
        add_ip(IP(src=A4, dst=B4) / m)
    add("icmp4", [0x00], bytes(msgs[2]))
    add("icmp4", [0x09], bytes(msgs[2]))  # NULL-body emit variant


def build_ipv6():
    u = UDP(sport=1, dport=2) / b"data"
    pkts = [
        IPv6(src=A6, dst=B6, tc=0xb8, fl=0x12345) / u,
        IPv6(src=A6, dst=B6) / TCP(sport=1, dport=2, flags="S", options=[("MSS", 1440)]),
        IPv6(src=A6, dst=B6) / IPv6ExtHdrHopByHop(options=[RouterAlert()]) / ICMPv6EchoRequest(),
        IPv6(src=A6, dst=B6) / IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\x00\x00\x00\x00")]) / u,
        IPv6(src=A6, dst=B6) / IPv6ExtHdrHopByHop(options=[HBHOptUnknown(otype=0x3e, optdata=b"ab")]) / u,
        IPv6(src=A6, dst=B6) / IPv6ExtHdrDestOpt(options=[HBHOptUnknown(otype=0x87, optdata=b"xy")]) / u,
        IPv6(src=A6, dst=B6) / IPv6ExtHdrDestOpt(options=[HBHOptUnknown(otype=0xc7, optdata=b"")]) / u,
        IPv6(src=A6, dst=B6) / IPv6ExtHdrHopByHop(options=[Jumbo(jumboplen=70000)]) / u,
        IPv6(src=A6, dst=B6) / IPv6ExtHdrRouting(addresses=["2001:db8::3"], segleft=1) / u,
        IPv6(src=A6, dst=B6) / IPv6ExtHdrSegmentRouting(addresses=["2001:db8::3"]) / u,
        IPv6(src=A6, dst=B6) / IPv6ExtHdrFragment(offset=0, m=1, id=42) / UDP(sport=1, dport=2) / (b"q" * 16),
        IPv6(src=A6, dst=B6) / IPv6ExtHdrFragment(offset=2, m=0, id=42, nh=17) / (b"r" * 10),
        IPv6(src=A6, dst=B6) / IPv6ExtHdrFragment(offset=0, m=0, id=43) / u,   # atomic
        IPv6(src=A6, dst=B6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() /
        IPv6ExtHdrRouting() / IPv6ExtHdrFragment(id=5) / IPv6ExtHdrDestOpt() / u,
        IPv6(src=A6, dst=B6) / IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop() / u,   # HBH not first
        IPv6(src=A6, dst=B6) / AH(spi=1, seq=1, icv=b"\x00" * 12) / u,
        IPv6(src=A6, dst=B6) / ESP(spi=1, seq=1, data=b"ciphertext"),
        IPv6(src=A6, dst=B6, nh=59) / b"trailing",
        IPv6(src=A6, dst=B6) / IPv6ExtHdrFragment(id=7) / IPv6ExtHdrFragment(id=8) / u,
    ]
    for p in pkts:
        add_ip(p)
    # Eight and nine chained destination-options headers.
    chain = IPv6(src=A6, dst=B6)
    for _ in range(8):
        chain = chain / IPv6ExtHdrDestOpt()
    add_ip(chain / u)
    add_ip(chain / IPv6ExtHdrDestOpt() / u)
    # Payload length shorter than the frame, and plen 0.
    add("ipv6", [0x01], bytes(IPv6(src=A6, dst=B6, plen=4, nh=59) / (b"z" * 12)))
    add("ipv6", [0x02], bytes(IPv6(src=A6, dst=B6, plen=0, nh=59)))


def build_icmp6():
    inner_udp = IPv6(src=B6, dst=A6, hlim=1) / UDP(sport=33434, dport=53) / b"payload!"
    inner_tcp = IPv6(src=B6, dst=A6) / TCP(sport=40000, dport=443, seq=0xdeadbeef, flags="S")
    inner_echo = IPv6(src=B6, dst=A6) / ICMPv6EchoRequest(id=0x1234, seq=9) / b"ping"
    inner_frag = IPv6(src=B6, dst=A6) / IPv6ExtHdrFragment(offset=5, m=1, nh=17) / (b"F" * 16)
    inner_first = IPv6(src=B6, dst=A6) / IPv6ExtHdrFragment(offset=0, m=1) / UDP(sport=4, dport=5) / (b"x" * 8)
    inner_ext = IPv6(src=B6, dst=A6) / IPv6ExtHdrHopByHop(options=[RouterAlert()]) / \
        IPv6ExtHdrRouting(addresses=[A6]) / UDP(sport=6, dport=7)
    msgs = [
        ICMPv6EchoRequest(id=1, seq=1, data=b"abcdefgh"),
        ICMPv6EchoReply(id=1, seq=1, data=b"abcdefgh"),
        ICMPv6PacketTooBig(mtu=1280) / bytes(inner_udp),
        ICMPv6PacketTooBig(mtu=1400) / bytes(inner_tcp)[:48],
        ICMPv6DestUnreach(code=4) / bytes(inner_tcp),
        ICMPv6TimeExceeded(code=0) / bytes(inner_echo),
        ICMPv6TimeExceeded(code=1) / bytes(inner_frag),
        ICMPv6DestUnreach(code=1) / bytes(inner_first),
        ICMPv6ParamProblem(code=1, ptr=40) / bytes(inner_ext),
        ICMPv6ND_RS() / ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01"),
        ICMPv6ND_RA() / ICMPv6NDOptPrefixInfo(prefix="2001:db8::") / ICMPv6NDOptMTU(mtu=1500),
        ICMPv6ND_NS(tgt=B6) / ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01"),
        ICMPv6ND_NA(tgt=B6, R=0, S=1, O=1),
        ICMPv6ND_Redirect(tgt=LL6, dst=B6),
    ]
    for m in msgs:
        wire = bytes(IPv6(src=A6, dst=B6) / m)
        add("icmp6", [0x01], wire[40:])
        add_ip(wire)
    add("icmp6", [0x00], bytes(msgs[2]))
    add("icmp6", [0x45], bytes(msgs[4]))  # NULL ph, emit with a real one


def build_checksum():
    rnd = random.Random(1624)
    # 12 control bytes (alignment, initial sum, splits, new value, positions).
    for n in (0, 1, 2, 3, 7, 8, 31, 32, 33, 63, 64, 65, 127, 200, 1500):
        ctl = bytes([rnd.randrange(8)]) + rnd.randbytes(11)
        add("checksum", ctl, rnd.randbytes(n))
    add("checksum", bytes(12), b"\xff" * 64)
    add("checksum", b"\x03" + b"\xff" * 4 + b"\x01\x02\x03\x04" + b"\x00\x00\x21", bytes(40))
    add("checksum", b"\x05" + bytes(4) + b"\x10\x00\x00\x00\xff\xff\x10", b"\x00\x00" * 30)
    # Real headers: an IPv4 header and a TCP segment.
    add("checksum", b"\x01" + bytes(4) + b"\x04\x04\x04\x04\x0a\x0b\x5c",
        bytes(IP(src=A4, dst=B4) / TCP()))
    add("checksum", b"\x06" + b"\xde\xad\xbe\xef" + b"\x02\x03\x05\x07\x12\x34\x86",
        bytes(IPv6(src=A6, dst=B6) / UDP() / b"checksum me"))


def write():
    total = 0
    for m, items in corpus.items():
        d = os.path.join(HERE, "corpus", m)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        seen = {}
        for data in items:
            seen.setdefault(hashlib.sha1(data).hexdigest(), data)
        if len(seen) > MAX_PER_MODULE:
            keep = sorted(seen)[:MAX_PER_MODULE]
            seen = {k: seen[k] for k in keep}
        for h, data in seen.items():
            with open(os.path.join(d, h[:16]), "wb") as f:
                f.write(data)
            total += len(data)
        print(f"{m:9s} {len(seen):4d} seeds")
    print(f"total {total} bytes")


def dry_run():
    """What write() would produce, without touching fuzz/corpus/."""
    for m, items in corpus.items():
        uniq = len({hashlib.sha1(d).hexdigest() for d in items})
        print(f"{m:9s} {min(uniq, MAX_PER_MODULE):4d} seeds (of {uniq} distinct)")


def main():
    import argparse
    ap = argparse.ArgumentParser(description="Generate the seed corpora under fuzz/corpus/.")
    ap.add_argument("--dry-run", action="store_true",
                    help="print how many packets of each pcap would be used and the seed "
                         "counts per module; write nothing")
    args = ap.parse_args()
    build_checksum()
    build_ipv4()
    build_ipv6()
    build_tcp()
    build_udp()
    build_icmp4()
    build_icmp6()
    from_pcaps(verbose=args.dry_run)
    if args.dry_run:
        dry_run()
    else:
        write()


if __name__ == "__main__":
    main()
