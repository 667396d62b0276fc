#!/usr/bin/env python3
"""The layout is the architecture: this check keeps it so (a `unit` test).

usage: check_layout.py SOURCE_ROOT LIB.a...

1. No merge leftovers: no tracked *.orig / *.rej file, no conflict markers.
2. Tier rules: a file includes only headers of its own tier and of the tiers
   below it (docs/architecture.md draws them); headers named *_internal.h or
   *_impl.h are included only from their own folder.
3. No file-level cycles: among the object files of the given static
   libraries, "a.o uses a symbol b.o defines" must form no cycle, and neither
   may headers including each other.
Prints one line per violation and exits 1 when there is any."""
import os
import re
import subprocess
import sys

# tier -> the tiers it may include (its own always). Longest prefix wins.
TIERS = {
    'common': [],
    'messages': ['common'],
    'actors': ['common'],
    'dispatch/redis': ['common'],
    'dispatch/store': ['common'],
    'dispatch/logstore': ['common'],
    'dispatch': ['common', 'messages', 'actors', 'dispatch/redis', 'dispatch/store',
                 'dispatch/logstore'],
    'runner/sandbox': ['common'],
    'runner/exec': ['common', 'runner/sandbox'],
    'runner': ['common', 'messages', 'actors', 'runner/exec', 'runner/sandbox'],
    'client': ['common', 'messages', 'actors'],
    'cmd': ['common', 'messages', 'actors', 'dispatch', 'dispatch/redis', 'dispatch/store',
            'dispatch/logstore', 'runner', 'runner/exec', 'runner/sandbox', 'client'],
}
FREE = ('tests/', 'bench/', 'fuzz/')  # may include anything
INTERNAL = re.compile(r'(_internal|_impl)\.h$|^actors/actor_frame\.h$')
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def tier_of(path):
    best = None
    for t in TIERS:
        if path.startswith(t + '/') and (best is None or len(t) > len(best)):
            best = t
    return best


def tracked(root):
    out = subprocess.run(['git', '-C', root, 'ls-files', '-z'], capture_output=True, check=False)
    if out.returncode != 0:  # not a git checkout (a tarball): walk the tree
        files = []
        for d, dirs, names in os.walk(root):
            dirs[:] = [x for x in dirs if not x.startswith(('.', 'build'))]
            files += [os.path.relpath(os.path.join(d, n), root) for n in names]
        return files
    return [f for f in out.stdout.decode().split('\0') if f]


def check_leftovers(root, files, problems):
    marker = re.compile(r'^(<<<<<<< |>>>>>>> |\|\|\|\|\|\|\| )', re.M)
    for f in files:
        if f.endswith(('.orig', '.rej')):
            problems.append(f'{f}: merge leftover committed')
        elif f.endswith(('.c', '.h', '.lua', '.py', '.sh', '.build', '.md', '.sql')):
            try:
                text = open(os.path.join(root, f), encoding='utf-8', errors='replace').read()
            except OSError:
                continue
            if marker.search(text):
                problems.append(f'{f}: conflict marker')


def check_includes(root, files, problems):
    graph = {}
    for f in files:
        if not f.endswith(('.c', '.h')) or not os.path.exists(os.path.join(root, f)):
            continue
        text = open(os.path.join(root, f), encoding='utf-8', errors='replace').read()
        incs = [i for i in INCLUDE.findall(text) if '/' in i]
        if f.endswith('.h'):
            graph[f] = [i for i in incs if i.endswith('.h')]
        if f.startswith(FREE):
            continue
        mine = tier_of(f)
        if mine is None:
            continue
        allowed = set(TIERS[mine]) | {mine}
        for inc in incs:
            theirs = tier_of(inc)
            if theirs is None:
                continue
            if theirs not in allowed:
                problems.append(f'{f}: includes {inc} ({mine} may not use {theirs})')
            elif INTERNAL.search(inc) and os.path.dirname(inc) != os.path.dirname(f):
                problems.append(f'{f}: includes {inc}, internal to {os.path.dirname(inc)}/')
    for cycle in cycles(graph):
        problems.append('header cycle: ' + ' -> '.join(cycle + [cycle[0]]))


def nm(lib):
    """{object: (defined symbols, undefined symbols)} of one static library."""
    out = subprocess.run(['nm', '-A', '-g', lib], capture_output=True, text=True, check=True)
    objs = {}
    for line in out.stdout.splitlines():
        m = re.match(r'^(.*?):(.*?\.o):\s*(?:[0-9a-fA-F]+)?\s+(\w)\s+(\S+)$', line)
        if not m:
            continue
        obj = m.group(2)
        d, u = objs.setdefault(obj, (set(), set()))
        (u if m.group(3) == 'U' else d).add(m.group(4))
    return objs


def check_objects(libs, problems):
    defs, uses = {}, {}
    for lib in libs:
        for obj, (d, u) in nm(lib).items():
            name = os.path.basename(obj)
            uses[name] = u
            for s in d:
                defs[s] = name
    graph = {o: sorted({defs[s] for s in u if s in defs and defs[s] != o})
             for o, u in uses.items()}
    for cycle in cycles(graph):
        problems.append('file cycle: ' + ' -> '.join(cycle + [cycle[0]]))


def cycles(graph):
    """One cycle per strongly connected component of more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 64
    root, libs = sys.argv[1], sys.argv[2:]
    files = tracked(root)
    problems = []
    check_leftovers(root, files, problems)
    check_includes(root, files, problems)
    check_objects(libs, problems)
    for p in problems:
        print(p)
    print(f'layout: {len(problems)} problem(s) in {len(files)} files, {len(libs)} libraries')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
