"""The package's structure as tests: no import cycles, small classes, no branching on kind names outside the
task registry, and the quick CLI answers importable without torch. (The layer order itself is the
import-linter contract in pyproject.toml, run by `.ci/run` as `lint-imports`.)"""
import ast
import re
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "fourier_circuits"
KIND_NAMES = ("modadd", "group", "parity", "transformer", "polynet")


def _import_cycles() -> list[list[str]]:
    """Strongly connected components (of more than one module) of the package's import graph."""
    graph = grimp.build_graph("fourier_circuits", exclude_type_checking_imports=True)  # annotations only
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def test_no_import_cycles():
    assert _import_cycles() == []


def test_at_least_five_subpackages():
    subpackages = [d for d in PACKAGE.iterdir() if (d / "__init__.py").exists()]
    assert len(subpackages) >= 5


def _docstring_lines(node: ast.AST) -> int:
    """Lines taken by the docstrings of a class and of everything defined in it."""
    total = 0
    for inner in ast.walk(node):
        if isinstance(inner, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and ast.get_docstring(inner):
            doc = inner.body[0]
            total += doc.end_lineno - doc.lineno + 1
    return total


def test_no_class_over_200_lines():
    """200 lines of code: docstrings (the API reference's Args:/Returns: blocks) do not count."""
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                lines = node.end_lineno - node.lineno + 1 - _docstring_lines(node)
                if lines > 200:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.name} ({lines} lines without docstrings)")
    assert long == []


def kind_comparisons() -> list[str]:
    """Comparisons (==, !=, in, not in) against a task or model kind name, outside tasks/."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        if "tasks" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                for operand in [node.left, *node.comparators]:
                    if isinstance(operand, ast.Constant) and operand.value in KIND_NAMES:
                        found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    return found


def test_at_most_five_kind_comparisons_outside_tasks():
    assert len(kind_comparisons()) <= 5, kind_comparisons()


@pytest.mark.parametrize("args", [
    ["--help"], ["theory", "--task", "modadd", "--p", "71", "--k", "2", "--json"],
    ["theory", "--task", "parity", "--n", "10", "--k", "4"], ["theory", "--task", "group", "--group", "S4"],
    ["groups", "S4"], ["presets"], ["train", "--p", "9"], ["construct", "--p", "9"],
    ["train", "--task", "group", "--group", "Z9"], ["train", "--device", "cuda", "--p", "5"],
])
def test_quick_answers_do_not_import_torch(args, tmp_path):
    """With torch made unimportable, the quick commands answer and bad input is refused with exit 2."""
    code = ("import sys; sys.modules['torch'] = None\n"
            "from fourier_circuits.cli import main\n"
            f"main({args!r})")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    bad_input = args[0] in ("train", "construct")
    if bad_input and "cuda" in args:
        # no torch at all: cuda cannot be checked without it, but the answer must still be a clean exit 2
        assert out.returncode == 2, out.stderr
    else:
        assert out.returncode == (2 if bad_input else 0), out.stderr
    assert "Traceback" not in out.stderr
    if bad_input:
        assert re.fullmatch(r"error: [^\n]+\n", out.stderr), out.stderr
    assert not (tmp_path / "runs").exists()


def test_public_api_exports_every_layer_and_the_version():
    import importlib.metadata

    import fourier_circuits as fc
    assert fc.__version__ == importlib.metadata.version("fourier-circuits")
    for name in ("Group", "Representation", "ModularAddition", "GroupComposition", "SparseParity", "PolyNet",
                 "ParityNet", "Transformer", "construct_modadd", "construct_group", "construct_parity",
                 "analyze_polynet", "analyze_group_net", "TrainConfig", "train", "load_run", "analyze_run"):
        assert name in fc.__all__ and getattr(fc, name) is not None
    with pytest.raises(AttributeError):
        fc.no_such_name  # noqa: B018
