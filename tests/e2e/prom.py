#!/usr/bin/env python3
"""prom.py FILE EXPR...: reads a Prometheus text scrape and prints the value
of each EXPR, one per line: `name` or `name{a="x",b="y"}` (exact labels;
missing: -1). `prom.py FILE --check` checks the format: HELP and TYPE once
per family before its samples, histogram buckets cumulative in le order
with +Inf equal to _count."""
import re
import sys

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')


def parse(path):
    samples, types, helps, order = {}, {}, {}, []
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert name not in helps, f"HELP twice for {name}"
            helps[name] = True
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert name not in types, f"TYPE twice for {name}"
            assert name in helps, f"TYPE before HELP for {name}"
            types[name] = kind
        elif line:
            m = LINE.match(line)
            assert m, f"not a sample line: {line!r}"
            name, labels, value = m.group(1), m.group(2) or "", m.group(3)
            fam = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
            assert fam in types, f"sample before its TYPE: {line!r}"
            samples[(name, labels)] = float(value)
            order.append((name, labels, float(value)))
    return samples, types, order


def check(path):
    samples, types, order = parse(path)
    for fam, kind in types.items():
        if kind != "histogram":
            continue
        groups = {}
        for name, labels, v in order:
            if name == fam + "_bucket":
                rest = re.sub(r',?le="[^"]*"', "", labels)
                le = re.search(r'le="([^"]*)"', labels).group(1)
                groups.setdefault(rest, []).append((le, v))
        for rest, bs in groups.items():
            les = [float("inf") if le == "+Inf" else float(le) for le, _ in bs]
            assert les == sorted(les) and les[-1] == float("inf"), f"{fam}: le order {les}"
            vals = [v for _, v in bs]
            assert vals == sorted(vals), f"{fam}{{{rest}}}: buckets not cumulative {vals}"
            count = samples.get((fam + "_count", rest))
            assert count == vals[-1], f"{fam}{{{rest}}}: +Inf {vals[-1]} != _count {count}"
    print(f"prom: {len(types)} families, {len(samples)} samples, format ok")


def main():
    if sys.argv[2] == "--check":
        check(sys.argv[1])
        return
    samples, _, _ = parse(sys.argv[1])
    for e in sys.argv[2:]:
        m = re.match(r"^([^{]+)(?:\{(.*)\})?$", e)
        v = samples.get((m.group(1), m.group(2) or ""), -1)
        print(int(v) if v == int(v) else v)


if __name__ == "__main__":
    main()
