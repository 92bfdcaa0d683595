"""Capture reading for the seed generators: plain Python, stdlib only (no
scapy), so build-time code (pcap_seeds.py) can import it.

  pcap_dir()            the project's captures: ../pcaps/ if it holds any,
                        else ../../shared/pcaps-real/
  capture_files(d)      every *.pcap / *.pcapng under d, recursively
  read_capture(path)    (linktype, frame, byte order, timestamp in us) per
                        packet of a classic pcap or a pcapng file
  read_pcap(path)       (linktype, frame) pairs of read_capture()
  strip_link(lt, frame) the IP packet in a frame, or None
  transport(ip)         (family, proto, l4 bytes, src, dst) or None
  ip_seeds(ip)          (module, control bytes, payload) for every parser
                        fuzz target an IP packet reaches (seed_corpus.py's
                        add_ip() and pcap_seeds.py both use it)

Link headers stripped by strip_link: Ethernet 14 bytes + 4 per
802.1Q/802.1ad tag (non-IP ethertypes skipped), raw IP (101, 12, 14, 228,
229) 0, Linux cooked 16 (113) / 20 (276), BSD loopback 4 (0: host-order
family, 108: network order).
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Longest seed the parser corpora keep (seed_corpus.py's add() cuts there).
MAX_SEED_LEN = 1600


def pcap_dir():
    for d in (os.path.join(ROOT, "pcaps"), os.path.join(ROOT, "..", "shared", "pcaps-real")):
        if os.path.isdir(d) and capture_files(d):
            return d
    return None


def capture_files(d, skip=()):
    """Every *.pcap / *.pcapng under d (recursively: pcaps/, pcaps/edge/,
    pcaps/recorded/, ...), as sorted paths relative to d.  skip: names of
    directories (at any depth) not to descend into, e.g. ("golden",)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(d):
        dirnames[:] = sorted(n for n in dirnames if n not in skip)
        for name in filenames:
            if name.endswith((".pcap", ".pcapng")):
                out.append(os.path.relpath(os.path.join(dirpath, name), d))
    return sorted(out)


def _pcapng_ts_units(e, body):
    """Timestamp units per second and offset (s) from an Interface
    Description Block's options (if_tsresol, if_tsoffset)."""
    units, offset, off = 1000000, 0, 8
    while off + 4 <= len(body):
        code, olen = struct.unpack_from(e + "HH", body, off)
        if code == 0:                                  # opt_endofopt
            break
        val = body[off + 4:off + 4 + olen]
        if code == 9 and olen >= 1:                    # if_tsresol
            r = val[0]
            units = 2 ** (r & 0x7F) if r & 0x80 else 10 ** r
        elif code == 14 and olen >= 8:                 # if_tsoffset (seconds)
            offset = struct.unpack_from(e + "q", val, 0)[0]
        off += 4 + ((olen + 3) & ~3)
    return units or 1000000, offset


def _us(ticks, units, offset_s=0):
    return ticks * 1000000 // units + offset_s * 1000000


def read_capture(path):
    """Yield (linktype, frame bytes, byte order, timestamp in us) for every
    packet of a classic pcap (either byte order, micro- or nanosecond magic)
    or a pcapng file (every section and interface; EPB, SPB and the obsolete
    PB; if_tsresol / if_tsoffset honoured).  The byte order ("<" or ">") is
    the file's / section's: the capturing host's, which DLT_NULL headers are
    written in.  The timestamp is None for Simple Packet Blocks (they carry
    none).  Self-contained: no scapy."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        print(f"skip {path}: too short for a capture file", file=sys.stderr)
        return
    u32 = struct.Struct("<I").unpack_from
    magic = u32(data, 0)[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D, 0xD4C3B2A1, 0x4D3CB2A1):
        e = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
        linktype = struct.unpack_from(e + "I", data, 20)[0] & 0x0FFFFFFF
        off = 24
        while off + 16 <= len(data):
            sec, frac, incl = struct.unpack_from(e + "III", data, off)
            off += 16
            ts = sec * 1000000 + (frac // 1000 if nano else frac)
            yield linktype, data[off:off + incl], e, ts
            off += incl
        return
    if magic != 0x0A0D0D0A:
        print(f"skip {path}: neither pcap nor pcapng", file=sys.stderr)
        return
    e, ifaces, off = "<", [], 0
    while off + 12 <= len(data):
        if u32(data, off)[0] == 0x0A0D0D0A:         # Section Header Block
            bom = data[off + 8:off + 12]
            if bom == b"\x4d\x3c\x2b\x1a":
                e = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                e = ">"
            else:
                print(f"{path}: bad pcapng byte-order magic at {off}", file=sys.stderr)
                return
            ifaces = []
        btype, blen = struct.unpack_from(e + "II", data, off)
        if blen < 12 or blen % 4 or off + blen > len(data):
            print(f"{path}: truncated or bad pcapng block at {off}", file=sys.stderr)
            return
        body = data[off + 8:off + blen - 4]
        if btype == 1 and len(body) >= 8:             # Interface Description
            lt, _res, snap = struct.unpack_from(e + "HHI", body, 0)
            ifaces.append((lt, snap) + _pcapng_ts_units(e, body))
        elif btype == 6 and len(body) >= 20:          # Enhanced Packet
            ifid, tsh, tsl, caplen, _olen = struct.unpack_from(e + "IIIII", body, 0)
            if ifid < len(ifaces):
                lt, _snap, units, tsoff = ifaces[ifid]
                yield lt, body[20:20 + caplen], e, _us(tsh << 32 | tsl, units, tsoff)
        elif btype == 3 and len(body) >= 4 and ifaces:  # Simple Packet
            olen = struct.unpack_from(e + "I", body, 0)[0]
            snap = ifaces[0][1] or olen
            yield ifaces[0][0], body[4:4 + min(olen, snap, len(body) - 4)], e, None
        elif btype == 2 and len(body) >= 20:          # Packet Block (obsolete)
            ifid, _drops, tsh, tsl, caplen, _olen = struct.unpack_from(e + "HHIIII", body, 0)
            if ifid < len(ifaces):
                lt, _snap, units, tsoff = ifaces[ifid]
                yield lt, body[20:20 + caplen], e, _us(tsh << 32 | tsl, units, tsoff)
        off += blen


def read_pcap(path):
    """(linktype, frame) pairs of read_capture() (seed_stack.py uses it)."""
    for lt, frame, _order, _ts in read_capture(path):
        yield lt, frame


AF_INET, AF_INET6_BSD = 2, (24, 28, 30)   # NetBSD/OpenBSD, FreeBSD, Darwin


def strip_link(linktype, frame, order="<"):
    """The IP packet in a frame, or None (non-IP frames are skipped)."""
    if linktype == 1:  # Ethernet, any number of 802.1Q / 802.1ad tags
        off, etype = 12, None
        while off + 2 <= len(frame):
            etype = struct.unpack(">H", frame[off:off + 2])[0]
            if etype in (0x8100, 0x88A8, 0x9100):
                off += 4
                continue
            off += 2
            break
        if etype not in (0x0800, 0x86DD):
            return None
        return frame[off:]
    if linktype in (101, 12, 14, 228, 229):  # raw IP (incl. the BSD numbers)
        return frame if frame and frame[0] >> 4 in (4, 6) else None
    if linktype == 113:  # Linux cooked v1: protocol at 14, 16-byte header
        if len(frame) < 16 or struct.unpack(">H", frame[14:16])[0] not in (0x0800, 0x86DD):
            return None
        return frame[16:]
    if linktype == 276:  # Linux cooked v2: protocol at 0, 20-byte header
        if len(frame) < 20 or struct.unpack(">H", frame[0:2])[0] not in (0x0800, 0x86DD):
            return None
        return frame[20:]
    if linktype in (0, 108):  # BSD loopback: 4-byte address family
        if len(frame) < 4:
            return None
        # DLT_NULL: the capturing host's byte order (the file's); a file
        # rewritten on another host may disagree, so try the other order too.
        # DLT_LOOP: always network order.
        orders = (order, "<" if order == ">" else ">") if linktype == 0 else (">",)
        for o in orders:
            fam = struct.unpack(o + "I", frame[:4])[0]
            if fam == AF_INET or fam in AF_INET6_BSD:
                return frame[4:]
        return None
    return None


def transport(ip):
    """(family, proto, l4 bytes, src, dst) of an IP packet, or None for a
    non-first fragment / garbage.  l4 runs to the IP length (or frame end)."""
    if not ip:
        return None
    v = ip[0] >> 4
    if v == 4 and len(ip) >= 20:
        ihl = (ip[0] & 15) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        fo = struct.unpack(">H", ip[6:8])[0] & 0x1FFF
        if ihl < 20 or fo != 0 or total < ihl:
            return None
        return 4, ip[9], ip[ihl:min(total, len(ip))], ip[12:16], ip[16:20]
    if v == 6 and len(ip) >= 40:
        end = min(len(ip), 40 + struct.unpack(">H", ip[4:6])[0])
        nh, off = ip[6], 40
        for _ in range(8):
            if nh not in (0, 43, 44, 60) or off + 8 > end:
                break
            if nh == 44:
                if struct.unpack(">H", ip[off + 2:off + 4])[0] & 0xFFF8:
                    return None
                hl = 8
            else:
                hl = (ip[off + 1] + 1) * 8
            nh, off = ip[off], off + hl
        if nh in (0, 43, 44, 60) or off > end:
            return None
        return 6, nh, ip[off:end], ip[8:24], ip[24:40]
    return None


def ip_seeds(ip, both_csum_modes=True):
    """(module, control bytes, payload) for every parser target an IP packet
    reaches, with the control bytes that get deep (see fuzz_<module>.c):
    ipv4 [0x01] checksum fixed up then verified (and [0x08] no checksum,
    in-place emit, if both_csum_modes); ipv6 [0x00]; tcp / udp [0x01] over
    IPv4, [0x02] over IPv6 (pseudo-header, checksum fixed up); icmp4 /
    icmp6 [0x01] (checksum fixed up).  The caller cuts ctl + payload to
    MAX_SEED_LEN."""
    ip = bytes(ip)
    out = []
    if ip and ip[0] >> 4 == 4:
        out.append(("ipv4", b"\x01", ip))
        if both_csum_modes:
            out.append(("ipv4", b"\x08", ip))
    elif ip and ip[0] >> 4 == 6:
        out.append(("ipv6", b"\x00", ip))
    t = transport(ip)
    if t is None:
        return out
    fam, proto, l4, _src, _dst = t
    if proto == 6:
        out.append(("tcp", b"\x01" if fam == 4 else b"\x02", l4))
    elif proto == 17:
        out.append(("udp", b"\x01" if fam == 4 else b"\x02", l4))
    elif proto == 1 and fam == 4:
        out.append(("icmp4", b"\x01", l4))
    elif proto == 58 and fam == 6:
        out.append(("icmp6", b"\x01", l4))
    return out
