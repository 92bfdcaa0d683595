#!/usr/bin/python3
"""stackfix: scapy writes the inputs, stackfix_driver runs them through a
stack, scapy checks every output.

    stackfix.py gen   IN            write the inputs ("<id> <hex>" lines)
    stackfix.py check IN OUT        check the driver's outputs

Input ids are "<kind>-<n>", fragments of one datagram "<kind>-<n>.<k>"; an
output line carries the id of the input after which it was sent, so the
outputs of a case are those whose id (before the '.') is the case's.

The driver refuses UDP ports 1000-1999 and echoes every other datagram
from the flow's local endpoint.  What check expects, by kind:

  udp4 udp6 frag4 frag6   one echo: addresses and ports swapped, the same
                          payload, scapy's recomputed checksums equal the
                          packet's (IPv4 header, UDP); an echo larger than
                          the MTU comes back fragmented and is reassembled
                          first (scapy's defragment for IPv4, by hand for
                          IPv6), each fragment <= 1500 bytes
  ping4 ping6             one echo reply: same id, seq and data
  refused4 refused6       one port unreachable (3/3, ICMPv6 1/4) quoting
                          the original from its start (576 / 1280 limits)
  proto4                  ICMP protocol unreachable (3/2) quoting it
  proto6 proto6x          ICMPv6 Parameter Problem 1, pointer at the
                          next-header byte naming the protocol
  dstopt6                 ICMPv6 Parameter Problem 2, pointer at the option

Every ICMP message's checksum is recomputed by scapy too.  Exit status 1
on any mismatch, with a list of what failed.
"""
import random
import struct
import sys

from scapy.all import (ICMP, IP, UDP, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, HBHOptUnknown,
                       ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6DestUnreach, ICMPv6PacketTooBig,
                       ICMPv6TimeExceeded, ICMPv6ParamProblem, Raw, fragment, fragment6, raw)
from scapy.layers.inet import defragment

SEED = 0x51CE
MTU = 1500


def rnd4(r):
    return "198.%d.%d.%d" % (r.choice((18, 19)), r.randrange(256), r.randrange(1, 255))


def rnd6(r):
    return "2001:2:0:%x::%x" % (r.randrange(0x10000), r.randrange(1, 0x10000))


def rport(r):
    while True:
        p = r.randrange(1, 65536)
        if not 1000 <= p <= 1999:
            return p


def payload(r, lo, hi):
    return bytes(r.randrange(256) for _ in range(r.randrange(lo, hi + 1)))


def gen(path):
    r = random.Random(SEED)
    cases = []  # (id, bytes)

    def add(cid, pkt):
        cases.append((cid, raw(pkt)))

    for i in range(20):
        add("udp4-%d" % i, IP(src=rnd4(r), dst=rnd4(r), id=r.randrange(65536)) /
            UDP(sport=rport(r), dport=rport(r)) / Raw(payload(r, 0, 1400)))
        add("udp6-%d" % i, IPv6(src=rnd6(r), dst=rnd6(r)) /
            UDP(sport=rport(r), dport=rport(r)) / Raw(payload(r, 0, 1400)))
    for i in range(8):
        add("ping4-%d" % i, IP(src=rnd4(r), dst=rnd4(r)) /
            ICMP(type=8, id=r.randrange(65536), seq=r.randrange(65536)) / Raw(payload(r, 0, 1000)))
        add("ping6-%d" % i, IPv6(src=rnd6(r), dst=rnd6(r)) /
            ICMPv6EchoRequest(id=r.randrange(65536), seq=r.randrange(65536),
                              data=payload(r, 0, 1000)))
    for i in range(6):
        p = (IP(src=rnd4(r), dst=rnd4(r), id=r.randrange(65536)) /
             UDP(sport=rport(r), dport=rport(r)) / Raw(payload(r, 1500, 6000)))
        fr = fragment(p, fragsize=r.choice((256, 512, 1000, 1480)))
        if i % 2:
            r.shuffle(fr)
        for k, f in enumerate(fr):
            add("frag4-%d.%d" % (i, k), f)
        p = (IPv6(src=rnd6(r), dst=rnd6(r)) / IPv6ExtHdrFragment(id=r.randrange(1 << 32)) /
             UDP(sport=rport(r), dport=rport(r)) / Raw(payload(r, 1500, 6000)))
        fr = fragment6(p, r.choice((600, 1000, 1280, 1500)))
        if i % 2:
            r.shuffle(fr)
        for k, f in enumerate(fr):
            add("frag6-%d.%d" % (i, k), f)
    for i in range(6):
        add("refused4-%d" % i, IP(src=rnd4(r), dst=rnd4(r)) /
            UDP(sport=rport(r), dport=r.randrange(1000, 2000)) / Raw(payload(r, 0, 1200)))
        add("refused6-%d" % i, IPv6(src=rnd6(r), dst=rnd6(r)) /
            UDP(sport=rport(r), dport=r.randrange(1000, 2000)) / Raw(payload(r, 0, 1400)))
    for i in range(2):
        add("proto4-%d" % i, IP(src=rnd4(r), dst=rnd4(r), proto=253) / Raw(payload(r, 8, 700)))
        add("proto6-%d" % i, IPv6(src=rnd6(r), dst=rnd6(r), nh=253) / Raw(payload(r, 0, 700)))
        add("proto6x-%d" % i, IPv6(src=rnd6(r), dst=rnd6(r)) / IPv6ExtHdrDestOpt(nh=253) /
            Raw(payload(r, 0, 700)))
        add("dstopt6-%d" % i, IPv6(src=rnd6(r), dst=rnd6(r)) /
            IPv6ExtHdrDestOpt(options=[HBHOptUnknown(otype=0x9e, optdata=b"ab")]) /
            UDP(sport=rport(r), dport=rport(r)) / Raw(payload(r, 0, 100)))
    with open(path, "w") as f:
        f.write("# stackfix inputs (seed %#x): <id> <hex>\n" % SEED)
        for cid, b in cases:
            f.write("%s %s\n" % (cid, b.hex()))
    groups = {c.split(".")[0] for c, _ in cases}
    print("stackfix gen: %d inputs, %d cases -> %s" % (len(cases), len(groups), path))


# ---------------------------------------------------------------------------

class Checker:
    def __init__(self):
        self.fail = []
        self.checks = 0

    def ok(self, cond, cid, what):
        self.checks += 1
        if not cond:
            self.fail.append("%s: %s" % (cid, what))
        return cond


def read_lines(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            cid, h = line.split(" ", 1)
            out.append((cid, bytes.fromhex(h)))
    return out


def group_of(cid):
    return cid.split(".")[0]


def v4_hdr_csum_ok(b):
    ihl = (b[0] & 15) * 4
    h = IP(b[:ihl])
    c = h.chksum
    del h.chksum
    return IP(raw(h)).chksum == c


def udp_csum_ok(fam, src, dst, udp_bytes):
    """scapy recomputes the UDP checksum over the pseudo-header."""
    ipc = IP if fam == 4 else IPv6
    kw = {"proto": 17} if fam == 4 else {"nh": 17}
    p = ipc(raw(ipc(src=src, dst=dst, **kw) / Raw(udp_bytes)))
    c = p[UDP].chksum
    del p[UDP].chksum
    return c != 0 and ipc(raw(p))[UDP].chksum == c


def icmp_csum_ok(b):
    """Recompute an ICMP / ICMPv6 checksum with scapy (header + Raw body,
    so the quote is not re-serialised)."""
    if b[0] >> 4 == 4:
        ihl = (b[0] & 15) * 4
        m = b[ihl:]
        x = ICMP(m[:8]) / Raw(m[8:])
        c = x.chksum
        del x.chksum
        return struct.unpack("!H", raw(x)[2:4])[0] == c
    ip = IPv6(b[:40])
    m = b[40:]
    cls = {1: ICMPv6DestUnreach, 2: ICMPv6PacketTooBig, 3: ICMPv6TimeExceeded,
           4: ICMPv6ParamProblem, 129: ICMPv6EchoReply}[m[0]]
    x = IPv6(src=ip.src, dst=ip.dst, hlim=ip.hlim) / cls(m[:8]) / Raw(m[8:])
    c = x[cls].cksum
    del x[cls].cksum
    return struct.unpack("!H", raw(x)[42:44])[0] == c


def reasm6(ck, cid, pkts):
    """Reassemble IPv6 outputs (Fragment header right after the fixed
    header, as the stack writes them).  Returns (src, dst, nh, payload)
    tuples, one per datagram."""
    whole, byid = [], {}
    for b in pkts:
        ip = IPv6(b)
        plen = struct.unpack("!H", b[4:6])[0]
        ck.ok(len(b) <= MTU, cid, "IPv6 output of %d bytes > MTU" % len(b))
        if b[6] != 44:
            whole.append((ip.src, ip.dst, b[6], b[40:40 + plen]))
            continue
        fo = struct.unpack("!H", b[42:44])[0]
        fid = struct.unpack("!I", b[44:48])[0]
        byid.setdefault((ip.src, ip.dst, fid), []).append((fo & ~7, fo & 1, b[40], b[48:40 + plen]))
    for (src, dst, fid), fr in byid.items():
        fr.sort()
        data, ok = b"", True
        for off, more, nh, d in fr:
            ok = ok and off == len(data)
            data += d
        ok = ok and fr[-1][1] == 0 and all(f[1] == 1 for f in fr[:-1])
        ok = ok and len({f[2] for f in fr}) == 1
        if ck.ok(ok, cid, "IPv6 output fragments of id %#x do not reassemble" % fid):
            whole.append((src, dst, fr[0][2], data))
    return whole


def reasm4(ck, cid, pkts):
    whole = []
    for b in pkts:
        ck.ok(len(b) <= MTU, cid, "IPv4 output of %d bytes > MTU" % len(b))
        ck.ok(v4_hdr_csum_ok(b), cid, "IPv4 header checksum differs from scapy's")
    for p in defragment([IP(b) for b in pkts]):
        tl = p.len if p.len is not None else len(raw(p))
        body = raw(p.payload)
        if p.flags.MF or p.frag != 0:
            ck.ok(False, cid, "IPv4 fragments left over after defragment")
            continue
        whole.append((p.src, p.dst, p.proto, body[:tl - p.ihl * 4] if p.ihl else body))
    return whole


def original_udp(case_inputs):
    """The input datagram (src, dst, sport, dport, payload, family)."""
    b = case_inputs[0]
    if b[0] >> 4 == 4:
        if len(case_inputs) > 1:
            p = defragment([IP(x) for x in case_inputs])[0]
            p = IP(raw(IP(src=p.src, dst=p.dst, proto=p.proto) / Raw(raw(p.payload))))
        else:
            p = IP(b)
        return p.src, p.dst, p[UDP].sport, p[UDP].dport, bytes(p[UDP].payload), 4
    frs = []
    for x in case_inputs:
        q = IPv6(x)
        f = q[IPv6ExtHdrFragment] if IPv6ExtHdrFragment in q else None
        frs.append((f.offset * 8 if f else 0, raw(f.payload) if f else raw(q.payload), q, f))
    frs.sort(key=lambda t: t[0])
    q = frs[0][2]
    if frs[0][3] is not None:
        data = b"".join(t[1] for t in frs)
        u = UDP(data)
    else:
        u = q[UDP]
    return q.src, q.dst, u.sport, u.dport, bytes(u.payload), 6


def check_udp(ck, cid, ins, outs):
    src, dst, sport, dport, data, fam = original_udp(ins)
    if not ck.ok(outs, cid, "no output"):
        return
    ok = all((b[0] >> 4) == fam for b in outs)
    if not ck.ok(ok, cid, "output of the wrong family"):
        return
    whole = reasm4(ck, cid, outs) if fam == 4 else reasm6(ck, cid, outs)
    if not ck.ok(len(whole) == 1, cid, "%d datagrams out, want 1" % len(whole)):
        return
    s, d, proto, body = whole[0]
    ck.ok(proto == 17, cid, "echo is not UDP (%d)" % proto)
    ck.ok((s, d) == (dst, src), cid, "addresses not swapped: %s -> %s" % (s, d))
    u = UDP(body)
    ck.ok((u.sport, u.dport) == (dport, sport), cid,
          "ports not swapped: %d -> %d" % (u.sport, u.dport))
    ck.ok(u.len == len(body), cid, "UDP length %d, %d bytes" % (u.len, len(body)))
    ck.ok(bytes(u.payload) == data, cid, "payload differs (%d vs %d bytes)" %
          (len(bytes(u.payload)), len(data)))
    ck.ok(udp_csum_ok(fam, s, d, body), cid, "UDP checksum differs from scapy's")
    if len(outs) == 1 and fam == 4:
        ck.ok(v4_hdr_csum_ok(outs[0]), cid, "IPv4 header checksum differs from scapy's")


def one_icmp(ck, cid, ins, outs):
    if not ck.ok(len(outs) == 1, cid, "%d outputs, want 1" % len(outs)):
        return None
    b = outs[0]
    orig = ins[0]
    ck.ok(icmp_csum_ok(b), cid, "ICMP checksum differs from scapy's")
    if b[0] >> 4 == 4:
        p, o = IP(b), IP(orig)
        ck.ok(v4_hdr_csum_ok(b), cid, "IPv4 header checksum differs from scapy's")
        ck.ok(p.proto == 1, cid, "not ICMP")
    else:
        p, o = IPv6(b), IPv6(orig)
        ck.ok(p.nh == 58, cid, "not ICMPv6")
    ck.ok((p.src, p.dst) == (o.dst, o.src), cid, "addresses not swapped")
    return p


def check_ping(ck, cid, ins, outs):
    p = one_icmp(ck, cid, ins, outs)
    if p is None:
        return
    if IP in p:
        q = IP(ins[0])[ICMP]
        m = p[ICMP]
        ck.ok((m.type, m.code) == (0, 0), cid, "not an echo reply: %d/%d" % (m.type, m.code))
        ck.ok((m.id, m.seq) == (q.id, q.seq), cid, "id/seq differ")
        ck.ok(bytes(m.payload) == bytes(q.payload), cid, "data differs")
    else:
        q = IPv6(ins[0])[ICMPv6EchoRequest]
        ok = ck.ok(ICMPv6EchoReply in p, cid, "not an echo reply")
        if ok:
            m = p[ICMPv6EchoReply]
            ck.ok((m.id, m.seq) == (q.id, q.seq), cid, "id/seq differ")
            ck.ok(m.data == q.data, cid, "data differs")


def check_error(ck, cid, ins, outs, want4, want6, ptr=None):
    p = one_icmp(ck, cid, ins, outs)
    if p is None:
        return
    b, orig = outs[0], ins[0]
    if b[0] >> 4 == 4:
        ck.ok(b[0] == 0x45, cid, "options in our ICMP error")
        t, c = b[20], b[21]
        quote, limit, total = b[28:], 548, 576
        ck.ok((t, c) == want4, cid, "ICMP %d/%d, want %d/%d" % ((t, c) + want4))
    else:
        t, c = b[40], b[41]
        quote, limit, total = b[48:], 1232, 1280
        ck.ok((t, c) == want6, cid, "ICMPv6 %d/%d, want %d/%d" % ((t, c) + want6))
        if ptr is not None:
            got = struct.unpack("!I", b[44:48])[0]
            ck.ok(got == ptr, cid, "pointer %d, want %d" % (got, ptr))
    ck.ok(len(b) <= total, cid, "error of %d bytes > %d" % (len(b), total))
    ck.ok(len(quote) == min(len(orig), limit), cid,
          "quote of %d bytes, want %d" % (len(quote), min(len(orig), limit)))
    ck.ok(quote == orig[:len(quote)], cid, "quote differs from the original")


def check(in_path, out_path):
    ins, outs = read_lines(in_path), read_lines(out_path)
    cases, order = {}, []
    for cid, b in ins:
        g = group_of(cid)
        if g not in cases:
            cases[g] = []
            order.append(g)
        cases[g].append(b)
    got = {}
    for cid, b in outs:
        got.setdefault(group_of(cid), []).append(b)
    ck = Checker()
    for g in got:
        ck.ok(g in cases, g, "output for an unknown input id")
    kinds = {}
    for g in order:
        kind = g.split("-")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
        o = got.get(g, [])
        try:
            if kind in ("udp4", "udp6", "frag4", "frag6"):
                check_udp(ck, g, cases[g], o)
            elif kind in ("ping4", "ping6"):
                check_ping(ck, g, cases[g], o)
            elif kind in ("refused4", "refused6"):
                check_error(ck, g, cases[g], o, (3, 3), (1, 4))
            elif kind == "proto4":
                check_error(ck, g, cases[g], o, (3, 2), None)
            elif kind == "proto6":
                check_error(ck, g, cases[g], o, None, (4, 1), ptr=6)
            elif kind == "proto6x":
                check_error(ck, g, cases[g], o, None, (4, 1), ptr=40)
            elif kind == "dstopt6":
                orig = cases[g][0]
                check_error(ck, g, cases[g], o, None, (4, 2), ptr=orig.index(b"\x9e\x02ab"))
            else:
                ck.ok(False, g, "unknown kind")
        except Exception as e:  # a malformed output must fail, not crash
            ck.ok(False, g, "exception while checking: %r" % e)
    print("stackfix check: %d inputs in %d cases, %d outputs, %d checks" %
          (len(ins), len(order), len(outs), ck.checks))
    for k in sorted(kinds):
        print("  %-9s %3d cases" % (k, kinds[k]))
    if ck.fail:
        print("FAILED (%d):" % len(ck.fail))
        for f in ck.fail:
            print("  " + f)
        return 1
    print("all passed")
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "gen":
        gen(sys.argv[2])
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "check":
        return check(sys.argv[2], sys.argv[3])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
