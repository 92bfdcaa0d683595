#!/usr/bin/env python3
"""docs/runtime.md quotes the examples: every region between two
/* [name] */ markers in the given sources must appear verbatim in the doc,
so the excerpts stay the compiled code.  Usage: doc_excerpts.py DOC SRC..."""
import re
import sys

doc = open(sys.argv[1]).read()
bad = 0
for src in sys.argv[2:]:
    text = open(src).read()
    for name in sorted(set(re.findall(r"/\* \[([a-z-]+)\] \*/", text))):
        lines = text.split("\n")
        at = [i for i, l in enumerate(lines) if l.strip() == "/* [%s] */" % name]
        if len(at) != 2:
            print("%s: marker [%s] must appear exactly twice" % (src, name))
            bad += 1
            continue
        body = "\n".join(lines[at[0] + 1:at[1]]) + "\n"
        if body not in doc:
            print("%s: excerpt [%s] differs from %s" % (src, name, sys.argv[1]))
            bad += 1
        else:
            print("ok: %s [%s]" % (src, name))
sys.exit(1 if bad else 0)
