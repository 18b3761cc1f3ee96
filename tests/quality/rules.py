"""The collection's architecture rules (the style guide's "Rules learned"), each a function of a repository root that
returns its violations, so the same rule runs on the real tree and on a deliberately bad synthetic one.

A "package" is a directory under plugins/: a name is private to the directory whose module defines it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

COLLECTION = "ansible_collections.kubecompass.readiness."

# The checks are the assessment's own: only _readiness (catalog, engine) imports them. Everything else, the
# remediation planners (_guardrails, _velero, _control_plane, _node's snapshots) and the modules and actions above all,
# reads Kubernetes meaning from module_utils/_k8s.
ASSESSMENT = "plugins/module_utils/_readiness/"
CHECKS = "plugins/module_utils/_readiness/checks/"
PROVIDERS = "plugins/module_utils/_providers/"

# Each vocabulary by its words. Outside the vocabulary home, a literal whose words of one vocabulary are the whole
# vocabulary or a part the home names as a constant is a copy of it (vocabulary_copies).
VOCABULARIES = {
    "tiers": {"critical", "important", "best_effort"},
    "distributions": {"kubeadm", "rke2", "k3s", "eks", "gke", "aks"},
    "encryption provider kinds": {"identity", "aescbc", "aesgcm", "secretbox", "kms"},
    "resources that cover Secrets": {"secrets", "secrets.", "*.", "*.*"},
}

# Where the vocabularies live, each as one constant (whole vocabularies and the named parts of one).
VOCABULARY_HOME = "plugins/module_utils/_k8s"
# Vocabularies of which any two words outside the home are a copy: which names cover Secrets is Kubernetes meaning
# (KC-SEC-004 and the planner once read it differently), never a check's or a planner's own data.
ANY_TWO_WORDS = ("resources that cover Secrets",)

AUTH_FRAGMENT = "kubecompass.readiness.auth_options"
ACTION_GROUP = "readiness"


def python_files(root: Path, under: str = "plugins") -> list[Path]:
    return sorted((root / under).rglob("*.py"))


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _module_path(root: Path, dotted: str) -> str | None:
    """plugins/... path (without .py) of a collection module or package, or None when it is not ours."""
    if not dotted.startswith(COLLECTION):
        return None
    return dotted[len(COLLECTION):].replace(".", "/")


def _is_module(root: Path, path: str) -> bool:
    return (root / (path + ".py")).is_file() or (root / path).is_dir()


def _defining_file(root: Path, path: str) -> str:
    """The file whose namespace holds the names of module or package ``path``."""
    return path + ".py" if (root / (path + ".py")).is_file() else path + "/__init__.py"


def _package(file: str) -> str:
    return file.rsplit("/", 1)[0]


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def imports(root: Path, file: Path) -> list[tuple[int, str, str | None]]:
    """(line, imported module path, imported name or None) of every import of our collection in a file, at any
    depth (function-level imports count). A ``from X import m`` of a module m is reported as module ``X/m``."""
    found = []
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                path = _module_path(root, alias.name)
                if path:
                    found.append((node.lineno, path, None))
        elif isinstance(node, ast.ImportFrom) and node.module:
            path = _module_path(root, node.module)
            if not path:
                continue
            for alias in node.names:
                if _is_module(root, f"{path}/{alias.name}"):
                    found.append((node.lineno, f"{path}/{alias.name}", None))
                else:
                    found.append((node.lineno, path, alias.name))
    return found


def underscore_imports_across_packages(root: Path) -> list[str]:
    """Rule 1: no private name (``_x``, not a module) imported from, or read as an attribute of, a module of another
    package. Importing our underscore-named packages and modules themselves is how the layout is addressed."""
    violations = []
    for file in python_files(root):
        here = _relative(root, file)
        module_aliases = {}
        tree = ast.parse(file.read_text(), str(file))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and _module_path(root, node.module):
                path = _module_path(root, node.module)
                for alias in node.names:
                    if _is_module(root, f"{path}/{alias.name}"):
                        module_aliases[alias.asname or alias.name] = f"{path}/{alias.name}"
                    elif _private(alias.name) and _package(_defining_file(root, path)) != _package(here):
                        violations.append(f"{here}:{node.lineno} imports {alias.name} from {path}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and _module_path(root, alias.name):
                        module_aliases[alias.asname] = _module_path(root, alias.name)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and _private(node.attr)
                    and node.value.id in module_aliases):
                target = module_aliases[node.value.id]
                if _package(_defining_file(root, target)) != _package(here):
                    violations.append(f"{here}:{node.lineno} reads {node.value.id}.{node.attr} of {target}")
    return sorted(set(violations))


def layer_violations(root: Path) -> list[str]:
    """Rule 1: nothing outside the assessment (no planner, module or action) imports the checks; checks never import
    the managed-provider clients."""
    violations = []
    for file in python_files(root):
        here = _relative(root, file)
        for line, path, _name in imports(root, file):
            target = path + "/"
            if not here.startswith(ASSESSMENT) and target.startswith(CHECKS):
                violations.append(f"{here}:{line} (outside the assessment) imports {path}")
            if here.startswith(CHECKS) and target.startswith(PROVIDERS):
                violations.append(f"{here}:{line} (a check) imports {path}")
    return violations


def _unit(path: str) -> str:
    """The unit of the package graph: plugins/<type>/<first component> (a package, or a module file)."""
    parts = path.removesuffix(".py").removesuffix("/__init__").split("/")
    return "/".join(parts[:3])


def package_graph(root: Path) -> dict[str, set[str]]:
    """Which top-level package (plugins/module_utils/_readiness, ..._auth, plugins/modules/x) imports which."""
    graph: dict[str, set[str]] = {}
    for file in python_files(root):
        source = _unit(_relative(root, file))
        for _line, path, _name in imports(root, file):
            target = _unit(path)
            if target != source:
                graph.setdefault(source, set()).add(target)
    return graph


def package_cycles(root: Path) -> list[list[str]]:
    """Rule 1: the import graph between top-level packages has no cycle. Returns each strongly connected group of
    two or more packages."""
    graph = package_graph(root)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def _string_literal(node: ast.AST) -> tuple[str, ...] | None:
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and len(node.elts) >= 2 and all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
        return tuple(e.value for e in node.elts)
    return None


def _vocabulary_of(words) -> str | None:
    for name, vocabulary in VOCABULARIES.items():
        if set(words) <= vocabulary:
            return name
    return None


def _strings_written_together(node: ast.AST, tables: bool) -> list[str]:
    """The string constants a node writes as one collection: a tuple, list or set literal (``frozenset((...))``
    included), a condition testing words one by one (``"a" in x or "b" in x``, ``x == "a" or x == "b"``), and with
    ``tables`` the keys of a dict literal."""
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        elements = node.elts
    elif isinstance(node, ast.Dict) and tables:
        elements = [key for key in node.keys if key is not None]
    elif isinstance(node, ast.BoolOp):
        elements = []
        for test in node.values:
            if isinstance(test, ast.Compare) and len(test.ops) == 1:
                if isinstance(test.ops[0], (ast.In, ast.NotIn)):
                    elements.append(test.left)
                elif isinstance(test.ops[0], (ast.Eq, ast.NotEq)):
                    elements.extend((test.left, test.comparators[0]))
    else:
        return []
    return [e.value for e in elements if isinstance(e, ast.Constant) and isinstance(e.value, str)]


def vocabulary_copies(root: Path) -> list[str]:
    """Rule 2: one constant per vocabulary. Outside the vocabulary home, a literal collection whose words of one
    vocabulary (two or more) are the whole vocabulary or a part the home names as a constant (``SELF_MANAGED =
    ("kubeadm", "rke2", "k3s")``) is a copy, even the only one; for ANY_TWO_WORDS vocabularies any two words are. A
    part the home does not name (a check's ``required_for=("critical", "important")``) is that check's data. A dict
    keyed by a vocabulary's words is a table of per-word data (tier targets, provider domains, restart commands)
    that belongs with its user, not in the home; only ANY_TWO_WORDS vocabularies are counted in dict keys."""
    named = {name: [set(words)] + vocabulary_constants(root).get(name, []) for name, words in VOCABULARIES.items()}
    violations = []
    for file in python_files(root):
        place = _relative(root, file)
        if place.startswith(VOCABULARY_HOME + "/"):
            continue
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            for name, vocabulary in VOCABULARIES.items():
                words = set(_strings_written_together(node, tables=name in ANY_TWO_WORDS)) & vocabulary
                if len(words) >= 2 and (name in ANY_TWO_WORDS or words in named[name]):
                    violations.append(f"{place}:{node.lineno} writes {name} {sorted(words)} outside {VOCABULARY_HOME}"
                                      f": import its constant from there")
    return violations


def vocabulary_constants(root: Path) -> dict[str, list[set]]:
    """Vocabulary -> word sets of the module-level constants (``NAME = (...)`` or ``frozenset((...))``) of the
    vocabulary home."""
    constants: dict[str, list[set]] = {}
    for file in python_files(root, VOCABULARY_HOME):
        for node in ast.parse(file.read_text(), str(file)).body:
            if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
                continue
            value = node.value
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and len(value.args) == 1:
                value = value.args[0]
            words = _string_literal(value)
            name = words and _vocabulary_of(words)
            if name:
                constants.setdefault(name, []).append(set(words))
    return constants


def _documented_choices(root: Path) -> list[tuple[str, list]]:
    """(place, choices) of every documented option: module DOCUMENTATION, doc fragments, role argument_specs."""
    documents = []
    for file in python_files(root, "plugins/modules") + python_files(root, "plugins/doc_fragments"):
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "DOCUMENTATION"
                                                    for t in node.targets) and isinstance(node.value, ast.Constant):
                documents.append((_relative(root, file), yaml.safe_load(node.value.value)))
    for spec in sorted((root / "roles").glob("*/meta/argument_specs.yml")):
        documents.append((_relative(root, spec), yaml.safe_load(spec.read_text())))
    found = []

    def walk(place, value, trail):
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "choices" and isinstance(item, list):
                    found.append((f"{place} {'.'.join(trail)}", item))
                else:
                    walk(place, item, trail + [str(key)])
        elif isinstance(value, list):
            for item in value:
                walk(place, item, trail)

    for place, document in documents:
        walk(place, document, [])
    return found


def choices_off_vocabulary(root: Path) -> list[str]:
    """Rule 2: documented choices of a vocabulary equal one of that vocabulary's constants in the vocabulary home."""
    constants = vocabulary_constants(root)
    violations = []
    for place, choices in _documented_choices(root):
        words = [str(c) for c in choices]
        name = len(words) >= 2 and _vocabulary_of(words)
        if name and set(words) not in constants.get(name, []):
            violations.append(f"{place}: choices {words} equal no {name} constant of {VOCABULARY_HOME}")
    return violations


def stray_unit_tests(root: Path) -> list[str]:
    """Rule 5: tests/unit mirrors the tree. A unit test file lives in
    - tests/unit/plugins/<dir>/ where plugins/<dir>/ exists (the code it tests); in a plugin-type directory
      (modules, action, inventory, lookup, ...) its name is test_<plugin>.py or test_<plugin>_<aspect>.py;
    - tests/unit/roles/<role>/ where roles/<role>/ exists, or tests/unit/roles/ for what spans several roles;
    - tests/unit/repo/ for repository-level files (docs, example inventories, generated files, bad input end to end).
    """
    violations = []
    unit = root / "tests" / "unit"
    for test in sorted(unit.rglob("test_*.py")):
        where = test.parent.relative_to(unit)
        parts = where.parts
        name = test.stem.removeprefix("test_")
        place = _relative(root, test)
        if parts and parts[0] == "plugins":
            code = root.joinpath(*parts)
            if len(parts) < 2 or not code.is_dir():
                violations.append(f"{place}: plugins/{'/'.join(parts[1:])} does not exist")
            elif len(parts) == 2 and parts[1] != "module_utils" and not any(
                    name == p.stem or name.startswith(p.stem + "_") for p in code.glob("*.py")):
                violations.append(f"{place}: no plugin {parts[1]}/{name.split('_')[0]}... it tests")
        elif parts and parts[0] == "roles":
            if len(parts) > 2 or (len(parts) == 2 and not (root / "roles" / parts[1]).is_dir()):
                violations.append(f"{place}: roles/{'/'.join(parts[1:])} is not a role")
        elif parts != ("repo",):
            violations.append(f"{place}: not under tests/unit/plugins/, tests/unit/roles/ or tests/unit/repo/")
    return violations


def action_group_mismatches(root: Path) -> list[str]:
    """meta/runtime.yml: the action group holds exactly the modules documented with the connection options."""
    group = set(yaml.safe_load((root / "meta" / "runtime.yml").read_text())["action_groups"][ACTION_GROUP])
    with_auth = set()
    for file in python_files(root, "plugins/modules"):
        for node in ast.parse(file.read_text(), str(file)).body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "DOCUMENTATION"
                                                    for t in node.targets):
                fragments = yaml.safe_load(node.value.value).get("extends_documentation_fragment") or []
                fragments = [fragments] if isinstance(fragments, str) else fragments
                if AUTH_FRAGMENT in fragments:
                    with_auth.add(file.stem)
    return ([f"{m} takes the connection options but is not in action group {ACTION_GROUP}"
             for m in sorted(with_auth - group)]
            + [f"{m} is in action group {ACTION_GROUP} but takes no connection options" for m in sorted(group - with_auth)])


def _defines(root: Path, file: str, name: str) -> bool:
    path = root / file
    return path.is_file() and any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name
                                  for node in ast.parse(path.read_text(), str(path)).body)


def catalog_dead_ends(root: Path) -> list[str]:
    """Rule 5: docs/catalog.md leads from each check ID to the function that decides it and a test of it."""
    violations = []
    check = None
    for line in (root / "docs" / "catalog.md").read_text().splitlines():
        if line.startswith("### "):
            check = line[4:]
        if not line.startswith("- Code: "):
            continue
        code, tests = (line[len("- Code: "):].split("; tests: ", 1) + [""])[:2]
        file, function = (code.strip("`").split(":", 1) + [""])[:2]
        if not _defines(root, file, function):
            violations.append(f"{check}: {file} defines no function {function}")
        named = [t.split("::") for t in tests.split("`")[1::2]]
        if not named:
            violations.append(f"{check}: no test names it")
        violations += [f"{check}: {file} defines no test {name}" for file, name in named if not _defines(root, file, name)]
    return violations
