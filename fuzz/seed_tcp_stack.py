#!/usr/bin/python3
"""Seeds for fuzz_tcp_stack (layout: top of fuzz/fuzz_tcp_stack.c).

Plain Python, no dependencies: writes fuzz/corpus/tcp_stack/*.  Each seed
is a realistic script (handshakes, data both ways, close sequences,
timeouts, SYN cookies, holes, zero windows, ICMP errors, IPv6...), so
mutations start from deep states.
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "tcp_stack")

ACK, PSH, FIN, SYN, RST = 0x10, 0x08, 0x01, 0x02, 0x04


def rec(op, *p):
    b = bytes([op]) + bytes(p)
    return (b + bytes(12))[:12]


def seg(slot=0, flags=ACK, d=0, d2=0, win=65535, plen=0, opts=0, o1=0, o2=0, base=0, bad=0):
    p0 = (slot & 3) | (base << 2) | (0x10 if bad else 0)
    return rec(0, p0, flags, d & 0xff, d2 & 0xff, win >> 8, win & 0xff, plen >> 8, plen & 0xff,
               opts, o1, o2)


def syn(slot=0, synack=False, isn=1000, win=65535, opts=0, mss_sel=1, port8080=False):
    i = struct.pack(">I", isn)
    return rec(1, slot, (1 if synack else 0) | (2 if port8080 else 0), *i, win >> 8, win & 0xff,
               opts, mss_sel)


def connect(slot=0, fixed=False):
    return rec(2, slot, 1 if fixed else 0)


def write(h=0, n=1000):
    return rec(3, h, n >> 8, n & 0xff)


def read(h=0, cap=5):
    return rec(4, h, cap)


def shutdown(h=0):
    return rec(5, h)


def close(h=0):
    return rec(6, h)


def abort(h=0):
    return rec(7, h)


def free(h=0):
    return rec(8, h)


def nodelay(h=0, on=True):
    return rec(9, h, 2 if on else 0)


def adv(mode, v=0):
    return rec(10, mode, v >> 8, v & 0xff)


def deadline():
    return adv(4)


def icmp(slot=0, typ=0, code=1, seqmode=0, mtu=0, d=0):
    return rec(11, slot, typ, code, seqmode, mtu >> 8, mtu & 0xff, d)


def drain(flags=3):
    return rec(13, flags)


def burst(slot=0, n=4, hole=255, flags=0):
    return rec(15, slot, n, hole, flags)


def raw(tcp, rel=True):
    return bytes([12 | (0x10 if rel else 0), len(tcp)]) + tcp


def rawseg(flags, seq=0, ack=0, win=65535, payload=0, opts=b""):
    doff = (20 + len(opts)) // 4
    h = struct.pack(">HHIIBBHHH", 0, 0, seq, ack, doff << 4, flags, win, 0, 0) + opts
    return h + bytes(payload)


def cfg(c0=0x22, c1=0x7f, c2=0x13):
    return bytes([c0, c1, c2])


def handshake(slot=0, opts=0):
    return syn(slot, opts=opts) + seg(slot)


seeds = {}

# Passive open, data both ways, the peer closes first, we close, TIME-WAIT-less.
seeds["passive-data-close"] = cfg() + handshake() + seg(plen=500, flags=ACK | PSH) + \
    write(0, 3000) + seg() + deadline() + seg(flags=ACK | FIN) + read() + close() + seg() + \
    adv(2, 5)
# Active open, we shut down first: FIN-WAIT-1/2, TIME-WAIT, time out.
seeds["active-shutdown-timewait"] = cfg(0xa2) + connect(1) + syn(1, synack=True, isn=77) + \
    write(0, 2000) + seg(1) + seg(1, ACK | PSH, plen=100) + shutdown() + seg(1) + \
    seg(1, ACK | FIN) + deadline() + deadline() + adv(3, 1)
# Simultaneous close.
seeds["simultaneous-close"] = cfg() + handshake() + shutdown() + seg(flags=ACK | FIN, d2=-1 & 0xff) + \
    seg() + deadline()
# SYN cookies (backlog 0).
seeds["syn-cookie"] = cfg(0x26) + handshake(opts=0x0f) + seg(plen=300, flags=ACK | PSH) + write(0, 700) + \
    seg() + seg(flags=ACK | FIN) + close() + seg()
seeds["syn-cookie-data-on-ack"] = cfg(0x26, 0x05) + syn() + seg(plen=100, flags=ACK | PSH) + read()
# Small buffers, a burst with a hole: out of order, SACK, then the hole filled.
seeds["hole-sack"] = cfg(0x20, 0x3f, 0x10) + handshake() + burst(0, 6, 2) + \
    seg(plen=1400, base=1, flags=ACK | PSH) + read(0, 6) + read(0, 6) + burst(0, 3) + read(0, 7)
# Zero window: persist probes, then the window opens.
seeds["persist"] = cfg(0xa1, 0x0f) + handshake() + seg(win=0) + write(0, 5000) + deadline() + \
    deadline() + deadline() + seg(win=4096) + seg() + deadline()
# Retransmission timeout until the connection gives up.
seeds["rto-giveup"] = cfg(0xa2, 0x0f, 0x13) + handshake() + write(0, 4000) + deadline() + \
    deadline() + deadline() + deadline() + deadline() + deadline() + deadline() + read()
# Fast retransmit and NewReno recovery with SACK.
seeds["fast-retransmit"] = cfg(0x22, 0x0f) + handshake() + nodelay() + write(0, 12000) + \
    seg(d2=-7000 & 0xff) + seg(d2=0x80) + seg(d2=0x80) + seg(d2=0x80, opts=0x10, o1=3) + \
    seg(d2=0x80, opts=0x20, o1=1, o2=5) + seg(d2=0x80) + seg() + deadline() + seg()
# Active open refused (RST), then ICMP errors on a new SYN.
seeds["connect-refused"] = cfg() + connect(2) + seg(2, RST | ACK, d2=0) + connect(3) + \
    icmp(3, 0, 3) + connect(0) + deadline() + deadline() + deadline()
seeds["icmp-too-big"] = cfg(0x22) + handshake() + write(0, 6000) + icmp(0, 3, 0, 0, 600) + \
    seg() + icmp(0, 1, 0, 1) + icmp(0, 0, 1, 2, 0, 5)
# Keep-alive probes until the connection times out.
seeds["keepalive"] = cfg(0xaa, 0x0f) + handshake() + adv(2, 2) + deadline() + deadline() + \
    seg() + deadline() + deadline() + deadline() + deadline()
# RST in ESTABLISHED, challenge ACKs for an in-window RST and a SYN.
seeds["rst-challenge"] = cfg() + handshake() + seg(flags=RST, d=5) + seg(flags=SYN, d=3) + \
    seg(flags=RST) + read() + free()
# TIME-WAIT then a new SYN on the same 4-tuple (RFC 6191).
seeds["timewait-reuse"] = cfg(0x22, 0x0f) + handshake() + close() + seg() + \
    seg(flags=ACK | FIN) + syn(isn=100000) + seg() + seg(plen=10, flags=ACK | PSH) + read(1)
# Data after close: RST.
seeds["data-after-close"] = cfg() + handshake() + close() + seg(plen=50, flags=ACK | PSH) + \
    seg(plen=50, flags=ACK | PSH)
# Unread data at close: RST.
seeds["close-unread"] = cfg(0x22, 0x7f, 0x10) + handshake() + seg(plen=50, flags=ACK | PSH) + close()
# Several connections at once, passive and active.
seeds["multi"] = cfg(0x21, 0x0b, 0x13) + handshake(0) + handshake(1) + connect(2) + \
    syn(2, True, 5555) + seg(2) + write(0, 3000) + write(1, 3000) + write(2, 3000) + \
    burst(0, 3) + burst(1, 3, 1) + burst(2, 3) + seg(0) + seg(1) + seg(2) + deadline() + \
    free(0) + free(1) + free(2) + deadline() + deadline()
# Raw segments near the connection's sequence space.
seeds["raw"] = cfg() + handshake() + raw(rawseg(ACK | PSH, payload=40)) + \
    raw(rawseg(ACK, opts=bytes([1, 1, 8, 10]) + bytes(8))) + raw(rawseg(FIN | ACK)) + read()
# IPv6 variants.
seeds["v6-passive"] = cfg(0x62) + handshake() + seg(plen=1200, flags=ACK | PSH) + write(0, 5000) + \
    seg() + deadline() + seg(flags=ACK | FIN) + close() + seg()
seeds["v6-active-cookie"] = cfg(0x66, 0x0f) + connect(0) + syn(0, True, 1) + seg(0) + \
    write(0, 2000) + seg() + handshake(1) + icmp(0, 1, 0, 0, 1280)
# Free while data is queued: the connection finishes in the background.
seeds["free-background"] = cfg(0xa0, 0x0f, 0x10) + handshake() + write(0, 4000) + free() + seg() + \
    deadline() + seg(flags=ACK | FIN) + deadline() + deadline()
# Abort in several states.
seeds["abort"] = cfg(0x22, 0x0f) + connect(0) + abort() + handshake(1) + abort(1) + deadline()
# Tight memory.
seeds["tight-mem"] = cfg(0x22, 0x0f, 0x53) + handshake(0) + handshake(1) + handshake(2) + \
    burst(0, 8, 3) + burst(1, 8, 5) + write(0, 20000) + write(1, 20000)
# Timestamps going back (PAWS).
seeds["paws"] = cfg(0x22, 0x0f) + handshake() + seg(plen=10, flags=ACK | PSH, opts=0x48, o1=50) + \
    adv(1, 100) + seg(plen=10, flags=ACK | PSH, opts=0x08) + read()

os.makedirs(OUT, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(OUT, name), "wb") as fh:
        fh.write(data)
print("wrote %d seeds to %s" % (len(seeds), OUT))
