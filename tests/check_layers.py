#!/usr/bin/env python3
"""check_layers.py — every #include "..." goes down the layers of docs/ARCHITECTURE.md.

    pipeline  ->  models  ->  formats, compute        (core/, flux.h is the public header)
    cli/, frontend/, ui/*, plugin/*  ->  flux.h       (front-ends also frontend/, plugins ui/,
                                                       plugin/common/)

Usage: check_layers.py [ROOT]   (default: the repository holding this script)
Prints one line per include that breaks the rule (file:line: what and why) and per include
circle between modules (x.c with x.h), and exits 1; exits 0 when every include is allowed. Standard library only: it runs in meson test and in
tests/run.sh.
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SOURCES = ('.c', '.h', '.cu', '.cuh')
# Folders of the rule, most specific first: a file belongs to the first that holds it.
# Each maps to the folders (or single files, for the few headers a layer may take from
# another) its includes may name. The public header core/flux.h is allowed everywhere.
RULES = [
    # the pipeline (flux_generate, loading, probing, scheduler): everything below it
    ('core/pipeline', ['core/pipeline', 'core/models', 'core/formats', 'core/compute']),
    # the models' forwards and weights: the tensors, file formats and kernels
    ('core/models', ['core/models', 'core/formats', 'core/compute']),
    # kernels and backends: the tensor-type module only (dtypes, blocks), no file reader
    ('core/compute', ['core/compute', 'core/formats/dtype.h', 'core/formats/quant.h',
                      'core/formats/convert.h']),
    # tensors and file formats: nothing above, and no kernels
    ('core/formats', ['core/formats']),
    # the CLI and the front-ends are clients of flux.h
    ('cli', ['cli']),
    ('frontend', ['frontend']),
    # what both GIMP entries compile in (the preview watch): the front-end core and the window's
    # one header (each entry links the window made with its own GTK)
    ('plugin/common', ['plugin/common', 'frontend', 'ui/common/flux-preview-window.h']),
    # a GIMP entry: the front-end core, what the entries share, its own dialog (ui/<same version>)
    ('plugin/*', ['plugin/{v}', 'plugin/common', 'ui/{v}', 'frontend']),
    # what both dialogs compile in (the Model files rows), each against its own GTK
    ('ui/common', ['ui/common', 'frontend']),
    # a dialog: the front-end core and what the dialogs share, never the plug-in
    ('ui/*', ['ui/{v}', 'ui/common', 'frontend']),
]
PUBLIC = 'core/flux.h'
# Headers made by meson at configure time (not in the tree): where they are made.
GENERATED = {'frontend-config.h': 'frontend', 'plugin-config.h': 'plugin/{v}'}
# Not layered: the tests and benchmarks look inside the library on purpose.
SKIP = ('tests/', 'bench/', 'build')


def rule_for(path):
    """(allowed prefixes, version) for a repository-relative path, or None (not checked)."""
    for folder, allowed in RULES:
        if folder.endswith('/*'):
            top = folder[:-2] + '/'
            if path.startswith(top) and '/' in path[len(top):]:
                v = path[len(top):].split('/')[0]
                return [a.format(v=v) for a in allowed], v
        elif path.startswith(folder + '/'):
            return allowed, None
    return None


def under(path, prefix):
    return path == prefix or path.startswith(prefix + '/')


def module(path):
    """A module is a .c with its .h: core/compute/ops.c and ops.h are core/compute/ops."""
    return os.path.splitext(path)[0]


def circles(edges):
    """Include circles between modules (a.c includes b.h and b.c includes a.h): every
    strongly connected group of more than one module, by Tarjan's algorithm."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append('include circle: ' + ' <-> '.join(sorted(group)) +
                           ' (split out what both need, so that the arrows point one way)')

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), '..'))
    files = []
    for d, dirs, names in os.walk(root):
        rel = os.path.relpath(d, root)
        dirs[:] = [x for x in dirs if not x.startswith('.') and not
                   (rel == '.' and x.startswith(SKIP))]
        for n in names:
            if n.endswith(SOURCES):
                files.append(os.path.normpath(os.path.join(rel, n)).replace(os.sep, '/'))
    by_name = {}
    for f in files:
        by_name.setdefault(os.path.basename(f), []).append(f)

    bad = []
    edges = {}  # module -> modules it includes
    checked = 0
    for f in sorted(files):
        r = rule_for(f)
        if r is None:
            continue
        allowed, v = r
        here = os.path.dirname(f)
        with open(os.path.join(root, f), encoding='utf-8', errors='replace') as fh:
            for lineno, line in enumerate(fh, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                checked += 1
                name = m.group(1)
                beside = os.path.normpath(os.path.join(here, name)).replace(os.sep, '/')
                if beside in files:  # the compiler's first choice: next to the includer
                    targets = [beside]
                elif os.path.basename(name) in GENERATED:
                    targets = [GENERATED[os.path.basename(name)].format(v=v) + '/' + name]
                else:  # found on the include path: any file of that name (ends with `name`)
                    targets = [t for t in by_name.get(os.path.basename(name), [])
                               if t == name or t.endswith('/' + name)]
                if not targets:
                    bad.append(f'{f}:{lineno}: "{name}" is not in the tree')
                    continue
                edges.setdefault(module(f), set()).update(module(t) for t in targets)
                ok = [t for t in targets
                      if t == PUBLIC or any(under(t, a) for a in allowed)]
                if not ok:
                    bad.append(f'{f}:{lineno}: includes {" or ".join(targets)}; '
                               f'{f.rsplit("/", 1)[0]}/ may include only {PUBLIC}, '
                               + ', '.join(a + ('' if a.endswith('.h') else '/')
                                           for a in allowed))
    bad += circles(edges)
    for b in bad:
        print(b)
    print(f'check_layers: {checked} includes in the layered folders, {len(bad)} against the rule'
          ' (docs/ARCHITECTURE.md)')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
