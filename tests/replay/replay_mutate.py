#!/usr/bin/python3
"""sluice-replay on damaged captures: no crash, no hang, a clear exit status.

Every capture in pcaps/ (recursive, goldens excluded) is damaged in several
seeded ways -- random bytes flipped (headers and payloads alike), the file
cut short, a record length inflated, frames duplicated or reordered -- and
replayed in both modes.  sluice-replay must exit 0 (the capture was read,
possibly with frames counted as non-IP or dropped by the stack) or 1 (the
capture cannot be read: a clear message on stderr), within the time limit,
without a sanitizer report (the test runs the build's binary, which CI
builds with ASan + UBSan).

usage: replay_mutate.py SLUICE_REPLAY PCAPS_DIR [ROUNDS]   (default 3)
"""
import os
import random
import struct
import subprocess
import sys
import tempfile


def captures(top):
    out = []
    for root, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d != "golden")
        for f in sorted(files):
            if f.endswith((".pcap", ".pcapng")) and os.path.getsize(os.path.join(root, f)) < 200000:
                out.append(os.path.join(root, f))
    return sorted(out)


def mutate(data, rng, kind):
    b = bytearray(data)
    if kind == 0:  # flip bytes anywhere past the file header
        for _ in range(rng.randint(1, 12)):
            i = rng.randrange(24, len(b)) if len(b) > 24 else rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == 1:  # cut short
        b = b[:rng.randrange(1, len(b))]
    elif kind == 2 and len(b) > 40 and b[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        # classic little-endian pcap: make one record's caplen lie
        off = 24
        recs = []
        while off + 16 <= len(b):
            incl = struct.unpack_from("<I", b, off + 8)[0]
            recs.append(off)
            off += 16 + incl
        if recs:
            r = rng.choice(recs)
            struct.pack_into("<I", b, r + 8, rng.choice([0, 1, 65535, 262144, 0x7fffffff]))
    elif kind == 3 and len(b) > 40 and b[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        # duplicate and shuffle records (time runs backwards, flows repeat)
        off = 24
        recs = []
        while off + 16 <= len(b):
            incl = struct.unpack_from("<I", b, off + 8)[0]
            if off + 16 + incl > len(b):
                break
            recs.append(bytes(b[off:off + 16 + incl]))
            off += 16 + incl
        recs = recs + rng.sample(recs, min(len(recs), 5))
        rng.shuffle(recs)
        b = b[:24] + b"".join(recs)
    else:  # random garbage after the header
        b = b[:24] + bytes(rng.randrange(256) for _ in range(rng.randrange(16, 400)))
    return bytes(b)


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    replay, top = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    rng = random.Random(20261129)
    runs = bad = 0
    with tempfile.TemporaryDirectory(prefix="sluice-mutate.") as tmp:
        for path in captures(top):
            with open(path, "rb") as fh:
                data = fh.read()
            for r in range(rounds):
                kind = (r + runs) % 5
                m = mutate(data, rng, kind)
                mp = os.path.join(tmp, "m" + os.path.splitext(path)[1])
                with open(mp, "wb") as fh:
                    fh.write(m)
                for mode in ("inject", "play-server"):
                    runs += 1
                    try:
                        res = subprocess.run([replay, "--json", "--mode", mode,
                                              "-o", os.path.join(tmp, "o.pcap"), mp],
                                             capture_output=True, text=True, timeout=60)
                    except subprocess.TimeoutExpired:
                        bad += 1
                        print(f"FAIL {path} kind {kind} {mode}: hang (over 60 s)")
                        continue
                    err = res.stderr
                    sanitizer = "Sanitizer" in err or "runtime error" in err
                    if res.returncode not in (0, 1) or sanitizer or \
                            (res.returncode == 1 and not err.strip()):
                        bad += 1
                        keep = os.path.join(tempfile.gettempdir(),
                                            f"sluice-mutate-fail-{runs}{os.path.splitext(path)[1]}")
                        with open(keep, "wb") as fh:
                            fh.write(m)
                        print(f"FAIL {path} kind {kind} {mode}: exit {res.returncode}, "
                              f"input kept as {keep}\n{err[-2000:]}")
    print(f"replay_mutate: {runs} runs, {bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
