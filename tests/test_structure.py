"""The package's structure: imports form no cycle, and no module uses
another module's private names."""

import ast
import pathlib

import ttrnn

ROOT = pathlib.Path(ttrnn.__file__).parent


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(name, path, all_names):
    """ttrnn modules imported by `name`, at module level or in functions,
    with the names it takes from each: `from m import a` and `m.a` where
    `m` is bound to a module by an import."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found, bound = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name in all_names:
                    found.append((a.name, []))
                    if a.asname:
                        bound[a.asname] = a.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in all_names:  # `from pkg import module`
                    found.append((sub, []))
                    bound[alias.asname or alias.name] = sub
                elif base in all_names:
                    found.append((base, [alias.name]))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in bound
        ):
            found.append((bound[node.value.id], [node.attr]))
    return found


def _graph():
    modules = dict(_modules())
    return modules, {
        name: _imports(name, path, modules) for name, path in modules.items()
    }


def test_no_import_cycles():
    modules, graph = _graph()
    # A package imports its submodules to re-export them; the edges that
    # can loop are those between modules (and into other packages).
    edges = {
        name: {
            target for target, _ in imports if not target.startswith(name + ".")
        }
        for name, imports in graph.items()
    }
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target) :] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles: " + "; ".join(
        " -> ".join(c) for c in cycles
    )


def test_no_private_names_across_modules():
    _, graph = _graph()
    used = sorted(
        f"{name} uses {target}.{item}"
        for name, imports in graph.items()
        for target, items in imports
        for item in items
        if item.startswith("_") and not item.startswith("__")
    )
    assert not used, "\n".join(used)


def test_modules_stay_small():
    # A module past ~400 lines wants splitting (issue "Structure").
    sizes = {
        name: len(path.read_text(encoding="utf-8").splitlines())
        for name, path in _modules()
    }
    big = {name: n for name, n in sizes.items() if n > 450}
    assert not big, big


def test_public_namespaces_export_what_they_list():
    import ttrnn.data
    import ttrnn.tt

    for module in (ttrnn.tt, ttrnn.data):
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert not missing, (module.__name__, missing)
    assert "useful_ranks" in ttrnn.tt.__all__
    assert "TruncatedVideoWarning" in ttrnn.data.__all__
