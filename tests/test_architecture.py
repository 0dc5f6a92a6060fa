"""The house's structure, read from the source: no import circle, no private name imported across modules,
the analysis importing nothing of the training side but the contract, the contract nothing but the standard
library, and no module longer than a newcomer can hold in mind."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("alternating_freeze", "analysis", "hydra_plugins")
MAX_LINES = 330  # a module is split along its seams before it grows past this (the aim: about 300)
CONTRACT = "alternating_freeze.contract"  # the package and its modules (contract.files, contract.identity, ...)


def in_contract(module: str) -> bool:
    return module == CONTRACT or module.startswith(CONTRACT + ".")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: dict) -> list[tuple[str, list[str]]]:
    """(module, names) of every import outside a function body (what runs when the module is imported)."""
    tree, package = ast.parse(path.read_text()), name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.Import):
                found.extend((a.name, []) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                names = [a.name for a in child.names]
                if not all(f"{base}.{n}" in known for n in names):  # not only submodules of a package
                    found.append((base, names))
                found.extend((f"{base}.{n}", []) for n in names if f"{base}.{n}" in known)  # a submodule
            visit(child)

    visit(tree)
    return [(m, n) for m, n in found if m in known]


def test_no_import_circle():
    known = modules()
    graph = {m: {dep for dep, _ in imports(m, p, known) if dep != m} for m, p in known.items()}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                if nxt == goal:
                    return True
                seen.add(nxt)
                todo.append(nxt)
        return False

    circles = sorted(
        f"{a} -> {b} -> ... -> {a}"
        for a in graph
        for b in graph[a]
        if not b.startswith(a + ".") and not a.startswith(b + ".") and reaches(b, a)
    )
    assert circles == []


def test_no_private_name_is_imported_across_modules():
    known = modules()
    private = [
        f"{m}: from {dep} import {n}"
        for m, p in known.items()
        for dep, names in imports(m, p, known)
        for n in names
        if n.startswith("_") and not n.startswith("__")
    ]
    assert private == []


def test_the_analysis_reads_the_training_side_through_the_contract_only():
    known = modules()
    training = [
        f"{m}: {dep}"
        for m, p in known.items()
        if m.startswith("analysis")
        for dep, _ in imports(m, p, known)
        if dep.startswith("alternating_freeze") and not in_contract(dep)
    ]
    assert training == []


def test_the_contract_imports_the_standard_library_only():
    """Every import in the contract, function bodies included: what the analysis pulls in through it."""
    outside = []
    for name, path in modules().items():
        if not in_contract(name):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                found = [node.module or ""]
            else:
                continue
            top = [f for f in found if f.split(".")[0] not in {*sys.stdlib_module_names, "__future__"}]
            outside += [f"{name}: {f}" for f in top]
    assert outside == []


def test_no_module_is_longer_than_the_limit():
    long = [
        f"{p.relative_to(ROOT)}: {n} lines"
        for p in [*modules().values(), *sorted((ROOT / "benchmarks").glob("*.py"))]
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    ]
    assert long == [], f"split these along their seams (at most {MAX_LINES} lines, about 300): {long}"


@pytest.mark.slow
def test_the_training_path_imports_no_analysis_package():
    """af-train's entrypoint, a job's task, the batched runner and the two plugins import neither the analysis'
    packages (pandas, matplotlib, seaborn, scipy) nor torch's compiler: a sweep pays for them only in the
    analysis callback, or when trainer.compile asks (benchmarks.startup measures what each would cost)."""
    modules = [
        "alternating_freeze.cli",
        "alternating_freeze.task",
        "alternating_freeze.batched.runner",
        "hydra_plugins.af_arms_sweeper.arms_sweeper",
        "hydra_plugins.af_batched_launcher.batched_launcher",
    ]
    heavy = ["pandas", "matplotlib", "seaborn", "scipy", "torch._dynamo", "torch._inductor"]
    code = f"import importlib, sys; [importlib.import_module(m) for m in {modules}]; print([m for m in {heavy} if m in sys.modules])"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
    )
    assert out.stdout.strip() == "[]", out.stderr
