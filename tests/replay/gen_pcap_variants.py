#!/usr/bin/python3
"""Re-wrap packets of the real captures in the pcap flavours the committed
files do not use, so the C pcap reader's other paths are replayed too:
big-endian and nanosecond files, 802.1Q / 802.1ad (QinQ) tags, Linux cooked
capture (113), LINKTYPE_IPV4 (228) and LINKTYPE_IPV6 (229), and a snaplen
cut.  The IP packets themselves are the real ones, byte for byte.

Usage: /usr/bin/python3 gen_pcap_variants.py SRC_PCAP_DIR OUT_DIR OUT_EXPECT

Writes OUT_DIR/*.pcap and their expectations (gen_pcap_expect.py format).
"""

import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from scapy.all import IP, CookedLinux, Dot1AD, Dot1Q, Ether, IPv6, Raw, conf  # noqa: E402
from scapy.utils import PcapWriter, RawPcapReader  # noqa: E402

import gen_pcap_expect  # noqa: E402

MAC1, MAC2 = "02:00:00:00:00:01", "02:00:00:00:00:02"


def ip_packets(src_dir, name):
    """The IP packets (bytes) of a real capture, padding stripped."""
    r = RawPcapReader(os.path.join(src_dir, name))
    cls = conf.l2types.get(r.linktype)
    out = []
    for data, meta in r:
        if len(data) != meta.wirelen:
            continue
        l3 = gen_pcap_expect.first_ip(cls(data))
        if l3 is None:
            continue
        b = bytes(l3.original)
        n = (40 + l3.plen) if isinstance(l3, IPv6) else l3.len
        out.append(b[:n])
    r.close()
    return out


def write(path, pkts, **kw):
    w = PcapWriter(path, sync=True, **kw)
    for i, p in enumerate(pkts):
        p.time = 1700000000 + i / 8
        w.write(p)
    w.close()


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: gen_pcap_variants.py SRC_PCAP_DIR OUT_DIR OUT_EXPECT")
    src, out_dir, out_exp = sys.argv[1:]
    os.makedirs(out_dir, exist_ok=True)
    for f in os.listdir(out_dir):
        if f.endswith(".pcap"):
            os.remove(os.path.join(out_dir, f))
    v4 = (ip_packets(src, "icmp4_dest_unreach_udp.pcap") +
          # (#3 of that file has an offload-broken checksum: skipped)
          [ip_packets(src, "tcp_http_session_flags.pcap")[i] for i in (0, 1, 2, 4)] +
          ip_packets(src, "ipv4_frag_udp.pcap"))
    v6 = (ip_packets(src, "icmp6_packet_too_big.pcap") +
          ip_packets(src, "ipv6_routing_header_udp_icmp6.pcap") +
          ip_packets(src, "linktype_raw_ipv6_udp.pcap"))

    def typed(b):
        return IPv6(b) if b[0] >> 4 == 6 else IP(b)

    both = v4 + v6
    write(os.path.join(out_dir, "variant_be_usec_vlan.pcap"),
          [Ether(src=MAC1, dst=MAC2) / Dot1Q(vlan=100) / typed(b) for b in both],
          linktype=1, endianness=">")
    write(os.path.join(out_dir, "variant_le_nsec_qinq.pcap"),
          [Ether(src=MAC1, dst=MAC2) / Dot1AD(vlan=7) / Dot1Q(vlan=200) / typed(b) for b in both],
          linktype=1, endianness="<", nano=True)
    write(os.path.join(out_dir, "variant_be_nsec_sll.pcap"),
          [CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=b"\x02\0\0\0\0\x01\0\0") /
           typed(b) for b in both], linktype=113, endianness=">", nano=True)
    write(os.path.join(out_dir, "variant_linktype_ipv4.pcap"), [IP(b) for b in v4], linktype=228)
    write(os.path.join(out_dir, "variant_linktype_ipv6.pcap"), [IPv6(b) for b in v6],
          linktype=229)
    write(os.path.join(out_dir, "variant_raw101_be.pcap"), [typed(b) for b in both],
          linktype=101, endianness=">")
    # A snaplen cut: whole frames built by scapy, records cut to 72 bytes
    # (wire length kept), written by hand in the classic format.
    path = os.path.join(out_dir, "variant_snaplen72.pcap")
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 72, 1))
        for i, b in enumerate(v4[1:5]):
            fr = bytes(Ether(src=MAC1, dst=MAC2) / typed(b))
            f.write(struct.pack("<IIII", 1700000000 + i, 0, min(72, len(fr)), len(fr)))
            f.write(fr[:72])
    gen_pcap_expect.generate(out_dir, None, out_exp)


if __name__ == "__main__":
    main()
