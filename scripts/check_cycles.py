#!/usr/bin/env python3
"""Fails on cycles between the project's files, of two kinds:
  calls:    file A calls file B when A's object file needs a symbol B's object defines (nm), over the
            objects of a build tree: the libraries and dptrain, not tests/, bench/ or fuzz/;
  includes: file A includes file B when A has #include "B", over every source of the source tree.
Prints each cycle with the edges that close it, and exits 1 when there is one; 2 when it finds
nothing to check (a build tree without objects would otherwise pass).

usage: scripts/check_cycles.py --build BUILD_DIR --source SOURCE_DIR [--nm NM]"""
import argparse
import collections
import os
import re
import subprocess
import sys

LEFT_OUT = ('tests/', 'bench/', 'fuzz/')  # their files call the libraries, never the reverse
SOURCE_EXTS = ('.c', '.h', '.cu', '.cuh')
DEFINED = set('TDBRCGSVW')  # nm: text, data, bss, read-only, common, small, weak


def object_source(build, obj):
    """The repo-relative source of an object: build/ps/CMakeFiles/dpt_ps.dir/ps.c.o -> ps/ps.c."""
    rel = os.path.relpath(obj, build)
    m = re.match(r'(?:(.*)/)?CMakeFiles/[^/]+\.dir/(.*)\.o$', rel)
    if not m:
        return None
    parts = ['..' if p == '__' else p for p in m.group(2).split('/')]
    return os.path.normpath(os.path.join(m.group(1) or '', *parts))


def call_graph(build, source, nm):
    objs = {}
    for d, _, files in os.walk(build):
        if 'CompilerId' in d or os.path.relpath(d, build).startswith(LEFT_OUT):
            continue
        for f in files:
            if not f.endswith('.o'):
                continue
            obj = os.path.join(d, f)
            src = object_source(build, obj)
            # Left: objects of sources since removed, which a build tree keeps.
            if src and not src.startswith(LEFT_OUT) and os.path.exists(os.path.join(source, src)):
                objs[obj] = src
    defs, needs = collections.defaultdict(set), collections.defaultdict(set)
    if objs:  # one nm for all: -A starts every line with "OBJECT:"
        out = subprocess.run([nm, '-A'] + sorted(objs), capture_output=True, text=True,
                             check=True).stdout
        for line in out.splitlines():
            obj, _, rest = line.partition(':')
            p = rest.split()
            if len(p) == 3 and p[1] in DEFINED:
                defs[p[2]].add(objs[obj])
            elif len(p) == 2 and p[0] == 'U':
                needs[objs[obj]].add(p[1])
    graph = collections.defaultdict(dict)  # graph[a][b] = the symbols a takes from b
    for a, syms in needs.items():
        for sym in syms:
            for b in defs.get(sym, ()):
                if b != a:
                    graph[a].setdefault(b, []).append(sym)
    files = set(needs) | {f for fs in defs.values() for f in fs}
    return graph, files


def include_graph(source):
    found = []
    for d, dirs, files in os.walk(source):
        dirs[:] = [x for x in dirs if x != '.git' and
                   not os.path.exists(os.path.join(d, x, 'CMakeCache.txt'))]
        found += [os.path.join(d, f) for f in files if f.endswith(SOURCE_EXTS)]
    rel = {os.path.relpath(p, source) for p in found}
    graph = collections.defaultdict(dict)
    for f in sorted(rel):
        with open(os.path.join(source, f), errors='replace') as fh:
            for line in fh:
                m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                if not m:
                    continue
                # The compiler's search order: the file's own folder, then -I include/ and the root.
                for base in (os.path.dirname(f), 'include', ''):
                    target = os.path.normpath(os.path.join(base, m.group(1)))
                    if target in rel:
                        if target != f:
                            graph[f][target] = [m.group(1)]
                        break
    return graph, rel


def cycles(graph):
    """Strongly connected components of more than one file (Tarjan's, without recursion)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def report(kind, graph):
    found = cycles(graph)
    for comp in found:
        print('%s cycle: %s' % (kind, ' '.join(comp)))
        for a in comp:
            for b, why in sorted(graph[a].items()):
                if b in comp:
                    print('    %s -> %s (%s)' % (a, b, ', '.join(sorted(why)[:4])))
    return len(found)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', required=True, help='a configured and built build tree')
    ap.add_argument('--source', required=True, help='the source tree')
    ap.add_argument('--nm', default='nm', help='the nm that reads the build\'s objects')
    args = ap.parse_args()
    calls, called_files = call_graph(args.build, args.source, args.nm)
    includes, source_files = include_graph(args.source)
    if not calls or not includes:
        print('check_cycles: nothing to check: %s in %s' %
              ('no object files' if not calls else 'no sources',
               args.build if not calls else args.source), file=sys.stderr)
        return 2
    n = report('call', calls) + report('include', includes)
    if n:
        return 1
    print('no cycles: calls between %d files, includes between %d files' %
          (len(called_files), len(source_files)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
