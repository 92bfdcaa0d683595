#!/usr/bin/python3
"""Golden replays: every capture in pcaps/ through sluice-replay, diffed.

For each capture pcaps/REL.pcap[ng] (any subdirectory but golden/):
  * `sluice-replay --json --mode inject`      == pcaps/golden/REL.inject.json
  * `sluice-replay --json --mode play-server` == pcaps/golden/REL.play-server.json
  * `sluice-replay --json -o OUT` (the default mode) prints exactly one of
    the two above (the one its "mode" names), and for the captures recorded
    from sluice-tun (pcaps/recorded/) OUT == pcaps/golden/REL.out.pcap byte
    for byte;
  * a second default run gives the same JSON and the same OUT (replays are
    reproducible within a run as well as against the goldens).
All runs use sluice-replay's fixed default secret.

usage: replay_golden.py SLUICE_REPLAY PCAPS_DIR [--update]
  --update rewrites the goldens (review the diff before committing).
"""
import difflib
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile

MODES = ("inject", "play-server")


def captures(top):
    out = []
    for root, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d != "golden")
        for f in sorted(files):
            if f.endswith((".pcap", ".pcapng")):
                out.append(os.path.relpath(os.path.join(root, f), top))
    return sorted(out)


def run(replay, args):
    res = subprocess.run([replay] + args, capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        raise RuntimeError(f"sluice-replay {' '.join(args)} exited {res.returncode}: "
                           f"{res.stderr.strip()}")
    return res.stdout


def diff(want, got, name):
    lines = list(difflib.unified_diff(want.splitlines(), got.splitlines(), "golden/" + name,
                                      "now", lineterm="", n=1))
    return "\n".join(lines[:40])


def main():
    args = [a for a in sys.argv[1:] if a != "--update"]
    update = "--update" in sys.argv[1:]
    if len(args) != 2:
        print(__doc__)
        return 2
    replay, top = args
    gold = os.path.join(top, "golden")
    failed = 0
    n = 0
    tmp = tempfile.mkdtemp(prefix="sluice-golden.")
    try:
        for rel in captures(top):
            n += 1
            path = os.path.join(top, rel)
            stem = os.path.splitext(rel)[0]
            outs = {}
            for mode in MODES:
                outs[mode] = run(replay, ["--json", "--mode", mode, path])
            o1, o2 = os.path.join(tmp, "1.pcap"), os.path.join(tmp, "2.pcap")
            d1 = run(replay, ["--json", "-o", o1, path])
            d2 = run(replay, ["--json", "-o", o2, path])
            problems = []
            if d1 != d2 or not filecmp.cmp(o1, o2, shallow=False):
                problems.append("two default runs differ (not reproducible)")
            if d1 not in outs.values():
                problems.append("the default run matches neither explicit mode")
            want_pcap = rel.startswith("recorded" + os.sep)
            gpcap = os.path.join(gold, stem + ".out.pcap")
            if update:
                for mode in MODES:
                    g = os.path.join(gold, f"{stem}.{mode}.json")
                    os.makedirs(os.path.dirname(g), exist_ok=True)
                    with open(g, "w") as fh:
                        fh.write(outs[mode])
                if want_pcap:
                    shutil.copyfile(o1, gpcap)
            else:
                for mode in MODES:
                    g = os.path.join(gold, f"{stem}.{mode}.json")
                    if not os.path.exists(g):
                        problems.append(f"no golden {g} (run with --update)")
                        continue
                    with open(g) as fh:
                        want = fh.read()
                    if want != outs[mode]:
                        problems.append(f"{mode} summary differs:\n"
                                        + diff(want, outs[mode], f"{stem}.{mode}.json"))
                if want_pcap:
                    if not os.path.exists(gpcap):
                        problems.append(f"no golden {gpcap}")
                    elif not filecmp.cmp(gpcap, o1, shallow=False):
                        problems.append(f"output pcap differs from {gpcap}")
            if problems:
                failed += 1
                print(f"FAIL {rel}")
                for p in problems:
                    print("     " + p.replace("\n", "\n     "))
            else:
                print(f"ok   {rel}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"replay_golden: {n} captures, {failed} failed{' (goldens updated)' if update else ''}")
    if n == 0:
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
