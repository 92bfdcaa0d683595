#!/usr/bin/python3
"""The Wireshark-reassembly oracle for sluice-replay's play-server mode.

For every capture under the given directories and every TCP flow in it that
qualifies, the bytes sluice delivered to the application (sluice-replay
--json: to_app_bytes, to_app_sha256) must equal the initiator's byte stream
as Wireshark reassembles it (tshark -q -z follow,tcp,raw,N).

A flow qualifies when its capture holds its complete handshake (SYN from
the initiator, SYN-ACK from the responder), none of its frames is cut short
by the snapshot length, and the recorded responder never reset it (after a
responder RST the stack, playing that responder, has aborted and rightly
refuses what the initiator sends later).  The replay runs with --loopback
and --fix-checksums, so that captures taken on lo or with checksum offload
are judged on their TCP content, as Wireshark judges them.

usage: oracle.py SLUICE_REPLAY DIR... [-v]
Exit: 0 all qualifying flows match (and at least one was checked), 1 not,
77 skipped (no tshark).
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys

TSHARK = "tshark"


def captures(dirs):
    out = []
    for d in dirs:
        for root, _subdirs, files in os.walk(d):
            if os.path.basename(root) == "golden":
                continue
            for f in sorted(files):
                if f.endswith((".pcap", ".pcapng")):
                    out.append(os.path.join(root, f))
    return sorted(out)


def tshark_fields(path, fields, display_filter="tcp"):
    cmd = [TSHARK, "-n", "-r", path, "-Y", display_filter, "-T", "fields",
           "-E", "separator=|", "-E", "occurrence=f"]
    for f in fields:
        cmd += ["-e", f]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if res.returncode != 0:
        raise RuntimeError(f"tshark failed on {path}: {res.stderr.strip()}")
    rows = []
    for line in res.stdout.splitlines():
        rows.append(line.split("|"))
    return rows


def endpoint(addr4, addr6, port):
    if addr6:
        return f"[{addr6}]:{port}"
    return f"{addr4}:{port}"


def qualifying_streams(path):
    """{stream: (initiator, responder)} for the flows that qualify."""
    fields = ["tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst",
              "tcp.dstport", "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.reset",
              "frame.len", "frame.cap_len"]
    st = {}
    for row in tshark_fields(path, fields):
        if len(row) < len(fields) or row[0] == "":
            continue
        (stream, s4, s6, sp, d4, d6, dp, syn, ack, rst, flen, clen) = row
        src, dst = endpoint(s4, s6, sp), endpoint(d4, d6, dp)
        syn, ack, rst = syn in ("1", "True"), ack in ("1", "True"), rst in ("1", "True")
        s = st.setdefault(stream, {"init": None, "resp": None, "synack": False,
                                   "trunc": False, "resp_rst": False, "events": []})
        s["events"].append((src, dst, syn, ack, rst))
        if int(clen) < int(flen):
            s["trunc"] = True
        if syn and not ack and s["init"] is None:
            s["init"], s["resp"] = src, dst
    good = {}
    for stream, s in st.items():
        if s["init"] is None or s["trunc"]:
            continue
        for (src, dst, syn, ack, rst) in s["events"]:
            if src == s["resp"] and syn and ack:
                s["synack"] = True
            if src == s["resp"] and rst:
                s["resp_rst"] = True
        if s["synack"] and not s["resp_rst"]:
            good[int(stream)] = (s["init"], s["resp"])
    return good


def follow(path, streams):
    """{stream: (node0, bytes node0 -> node1)}"""
    if not streams:
        return {}
    cmd = [TSHARK, "-n", "-r", path, "-q"]
    for n in streams:
        cmd += ["-z", f"follow,tcp,raw,{n}"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        raise RuntimeError(f"tshark follow failed on {path}: {res.stderr.strip()}")
    out = {}
    cur = None
    node0 = None
    data = bytearray()
    for line in res.stdout.splitlines():
        if line.startswith("Filter: tcp.stream eq "):
            cur = int(line.split()[-1])
            node0 = None
            data = bytearray()
        elif line.startswith("Node 0: "):
            node0 = line[len("Node 0: "):].strip()
        elif line.startswith("Node 1: "):
            pass
        elif line.startswith("====="):
            if cur is not None:
                out[cur] = (node0, bytes(data))
                cur = None
        elif cur is not None and line and not line.startswith("\t"):
            data += bytes.fromhex(line.strip())
    return out


def norm(ep):
    """tshark and sluice may spell an IPv6 address differently."""
    if ep.startswith("["):
        import ipaddress
        addr, port = ep[1:].rsplit("]:", 1)
        return f"[{ipaddress.ip_address(addr).compressed}]:{port}"
    return ep


def main():
    args = [a for a in sys.argv[1:] if a != "-v"]
    verbose = "-v" in sys.argv[1:]
    if len(args) < 2:
        print(__doc__)
        return 2
    replay, dirs = args[0], args[1:]
    if shutil.which(TSHARK) is None:
        print("SKIP: tshark is not installed (scripts/bootstrap installs it)")
        return 77
    checked = failed = 0
    for path in captures(dirs):
        good = qualifying_streams(path)
        if not good:
            if verbose:
                print(f"-- {path}: no qualifying TCP flow")
            continue
        res = subprocess.run([replay, "--json", "--loopback", "--fix-checksums", path],
                             capture_output=True, text=True, timeout=600)
        if res.returncode != 0:
            print(f"FAIL {path}: sluice-replay exited {res.returncode}: {res.stderr.strip()}")
            failed += 1
            continue
        summary = json.loads(res.stdout)
        played = {}
        for f in summary["flows"]:
            if f["proto"] == "tcp" and f.get("handshake"):
                key = (norm(f["initiator"]), norm(f["responder"]))
                played.setdefault(key, []).append(f)
        streams = follow(path, sorted(good))
        used = {}
        for n in sorted(good):
            init, resp = norm(good[n][0]), norm(good[n][1])
            node0, data = streams.get(n, (None, b""))
            if node0 is not None and norm(node0) != init:
                print(f"FAIL {path} stream {n}: tshark's node 0 is {node0}, initiator {init}")
                failed += 1
                continue
            key = (init, resp)
            i = used.get(key, 0)
            used[key] = i + 1
            cands = played.get(key, [])
            if i >= len(cands):
                print(f"FAIL {path} stream {n}: {init} -> {resp} not in sluice-replay's flows")
                failed += 1
                continue
            f = cands[i]
            want_sha = hashlib.sha256(data).hexdigest()
            got_len = f.get("to_app_bytes")
            got_sha = f.get("to_app_sha256")
            checked += 1
            if f.get("role") != "played" or got_len != len(data) or got_sha != want_sha:
                failed += 1
                print(f"FAIL {path} stream {n} {init} -> {resp}: wireshark {len(data)} bytes "
                      f"{want_sha[:16]}, sluice {f.get('role')} {got_len} bytes "
                      f"{(got_sha or '')[:16]} (state {f.get('state')})")
            elif verbose:
                print(f"ok   {path} stream {n} {init} -> {resp}: {len(data)} bytes")
    print(f"oracle: {checked} flows checked, {failed} failed")
    if checked == 0:
        print("oracle: no qualifying flow at all: the corpus lost its TCP captures?")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
