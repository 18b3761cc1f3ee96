#!/usr/bin/env python
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The import graph of plugins/ by package, and the import rules it must keep.

    python hack/import_graph.py [--rev REV] [--check]

Prints "package -> packages it imports" (a package is a directory of plugins/module_utils, e.g. _readiness.checks,
or plugins/modules, plugins/action, ...; a top-level module_utils file counts as its own package), then the rule
violations:
- an underscore NAME (function, constant, class) imported from another package (importing one of our underscore
  modules or packages themselves, e.g. ``from ..module_utils import _apply``, is fine);
- a planner (anything outside _readiness) importing _readiness.checks;
- _readiness.checks importing _providers;
- a cycle between packages.
With --rev, reads the tree of a git revision instead of the working tree. --check exits 1 on any violation.
Also importable: ``graph(root)`` and ``violations(root)`` for tests.
"""

import argparse
import ast
import pathlib
import subprocess
import sys
import tempfile

PREFIX = "ansible_collections.kubecompass.readiness."


def package_of(relpath):
    """'plugins/module_utils/_readiness/checks/x.py' -> '_readiness.checks'; 'plugins/modules/x.py' -> 'modules'."""
    parts = pathlib.PurePosixPath(relpath).with_suffix("").parts
    if parts[:2] == ("plugins", "module_utils"):
        rest = parts[2:]
        if not rest:
            return "module_utils"
        if rest[-1] == "__init__" or len(rest) > 1:
            rest = rest[:-1]
        return ".".join(rest) or "module_utils"
    return ".".join(parts[1:-1]) or parts[0]


def target_package(module, root):
    """The package an absolute import of the collection lands in, or None for anything else."""
    if not module.startswith(PREFIX + "plugins."):
        return None, None
    dotted = module[len(PREFIX):].replace(".", "/")
    for candidate in (dotted + ".py", dotted + "/__init__.py"):
        if (root / candidate).is_file():
            return package_of(candidate), root / candidate
    return package_of(dotted + ".py"), None


def _is_module(module, name, root):
    base = root / module[len(PREFIX):].replace(".", "/")
    return (base / (name + ".py")).is_file() or (base / name / "__init__.py").is_file()


def scan(root):
    """(edges {package: {package}}, [violation strings])."""
    root = pathlib.Path(root)
    edges, problems = {}, []
    for path in sorted((root / "plugins").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        source = package_of(rel)
        edges.setdefault(source, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            target, _file = target_package(node.module, root)
            if target is None:
                continue
            for alias in node.names:
                if _is_module(node.module, alias.name, root):
                    landed = package_of(node.module[len(PREFIX):].replace(".", "/") + "/" + alias.name + ".py")
                else:
                    landed = target
                    if alias.name.startswith("_") and not alias.name.startswith("__") and landed != source:
                        problems.append("%s:%d imports underscore name %s from %s" % (
                            rel, node.lineno, alias.name, node.module[len(PREFIX):]))
                if landed != source:
                    edges[source].add(landed)
                full = node.module + "." + alias.name
                if "._readiness.checks" in full + "." and not source.startswith("_readiness"):
                    problems.append("%s:%d planner imports %s" % (rel, node.lineno, full[len(PREFIX):]))
                if source.startswith("_readiness.checks") and "._providers" in full:
                    problems.append("%s:%d check imports %s" % (rel, node.lineno, full[len(PREFIX):]))
    problems.extend("cycle: %s" % " -> ".join(cycle) for cycle in cycles(edges))
    return edges, problems


def cycles(edges):
    """Package cycles, each once, as [a, b, ..., a]; a package and its subpackages (x, x.y) are one node."""
    def node(name):
        return name.split(".")[0]
    graph = {}
    for source, targets in edges.items():
        graph.setdefault(node(source), set()).update(node(t) for t in targets if node(t) != node(source))
    found, seen = [], set()

    def visit(start, here, path):
        for nxt in sorted(graph.get(here, ())):
            if nxt == start:
                key = frozenset(path)
                if key not in seen:
                    seen.add(key)
                    found.append(path + [start])
            elif nxt not in path and nxt > start:
                visit(start, nxt, path + [nxt])
    for start in sorted(graph):
        visit(start, start, [start])
    return found


def graph(root):
    return scan(root)[0]


def violations(root):
    return scan(root)[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", help="a git revision to read instead of the working tree")
    parser.add_argument("--check", action="store_true", help="exit 1 when a rule is broken")
    args = parser.parse_args()
    root = pathlib.Path(__file__).resolve().parents[1]
    if args.rev:
        with tempfile.TemporaryDirectory() as tmp:
            archive = subprocess.run(["git", "-C", str(root), "archive", args.rev, "plugins"], check=True,
                                     capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            edges, problems = scan(tmp)
    else:
        edges, problems = scan(root)
    for source in sorted(edges):
        print("%s -> %s" % (source, ", ".join(sorted(edges[source])) or "(nothing)"))
    print("\n%d violation(s)" % len(problems))
    for problem in problems:
        print("  " + problem)
    return 1 if args.check and problems else 0


if __name__ == "__main__":
    sys.exit(main())
