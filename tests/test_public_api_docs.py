"""Every callable of the public API (`fourier_circuits.__all__`) is documented in Google style, as the API page
(docs/api.md, rendered by mkdocstrings) shows it: an `Args:` block naming every parameter when it takes any, and
a `Returns:` block when it returns something. Classes name their constructor's parameters (a config dataclass:
every field) in `Args:` or `Attributes:`; their public methods (those defined in this package, not torch's) follow
the function rule. Error types are raised, not called, and properties are read as attributes: both are exempt.
"""
from __future__ import annotations

import ast
import inspect
import re
import textwrap

import pytest

import fourier_circuits as fc

SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Attributes|Returns|Yields|Raises|Examples?|Notes?):\s*$")


def _sections(doc: str) -> dict[str, str]:
    """Section name -> its text, for the Google-style sections of a docstring. As for mkdocstrings (griffe), the
    first line is the summary: a docstring that opens with "Returns:" has no Returns section on the API page."""
    out: dict[str, list[str]] = {}
    current = None
    for line in doc.splitlines()[1:]:
        match = SECTION.match(line)
        if match:
            current = match.group(1)
            out.setdefault(current, [])
        elif current is not None:
            out[current].append(line)
    return {name: "\n".join(lines) for name, lines in out.items()}


def _parameters(func) -> list[str]:
    """The names a caller passes: every parameter but self / cls, `*args` / `**kwargs` spelled with their stars."""
    names = []
    for i, param in enumerate(inspect.signature(func).parameters.values()):
        if i == 0 and param.name in ("self", "cls"):
            continue
        stars = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}.get(param.kind, "")
        names.append(stars + param.name)
    return names


def _returns_value(func) -> bool:
    """Whether the function gives its caller something: a return annotation other than None, or (unannotated) a
    `return <value>` / `yield` in its own body (nested functions and classes do not count)."""
    annotation = inspect.signature(func).return_annotation
    if annotation is not inspect.Signature.empty:
        return annotation not in (None, "None")
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError):
        return False
    body = tree.body[0]
    stack = list(body.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return True
        if isinstance(node, ast.Return) and node.value is not None and not (
                isinstance(node.value, ast.Constant) and node.value.value is None):
            return True
        stack.extend(ast.iter_child_nodes(node))
    return False


def _named(section: str, name: str) -> bool:
    return re.search(rf"^\s*{re.escape(name)}( \(.*?\))?:", section, re.MULTILINE) is not None


def missing_sections(func, what: str) -> list[str]:
    """What a function's or method's docstring lacks: `Args:` naming each parameter, `Returns:` if it returns."""
    doc = inspect.getdoc(func) or ""
    sections = _sections(doc)
    problems = []
    if not doc.strip():
        return [f"{what}: no docstring"]
    params = _parameters(func)
    if params and "Args" not in sections:
        problems.append(f"{what}: takes {', '.join(params)} but has no Args: block")
    elif params:
        problems += [f"{what}: Args: does not name {p}" for p in params if not _named(sections["Args"], p)]
    if _returns_value(func) and "Returns" not in sections and "Yields" not in sections:
        problems.append(f"{what}: returns a value but has no Returns: block")
    return problems


def missing_class_sections(cls, what: str) -> list[str]:
    """A class's docstring names every constructor parameter in `Args:` or `Attributes:`."""
    doc = cls.__doc__ or ""
    if not doc.strip() or doc.startswith(f"{cls.__name__}("):   # a dataclass's generated signature is no docstring
        return [f"{what}: no docstring"]
    sections = _sections(inspect.cleandoc(doc))
    params = _parameters(cls.__init__) if "__init__" in _own_members(cls) or hasattr(cls, "__dataclass_fields__") \
        else []
    block = sections.get("Args", "") + "\n" + sections.get("Attributes", "")
    if params and not block.strip():
        return [f"{what}: its constructor takes {', '.join(params)} but it has no Args:/Attributes: block"]
    return [f"{what}: Args:/Attributes: does not name {p}" for p in params if not _named(block, p)]


def _own_members(cls) -> dict:
    """name -> raw attribute, for the attributes defined in this package's classes of cls's MRO (nearest first)."""
    out: dict = {}
    for klass in cls.__mro__:
        if klass.__module__.startswith("fourier_circuits") or klass.__module__ == cls.__module__:
            for name, value in vars(klass).items():
                out.setdefault(name, value)
    return out


def public_methods(cls):
    """(name, function) of the public methods a user calls: defined in this package, not properties."""
    for name, raw in sorted(_own_members(cls).items()):
        if name.startswith("_") or isinstance(raw, property):
            continue
        func = raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw
        if inspect.isfunction(func):
            yield name, func


def exported_callables():
    for name in sorted(fc._EXPORTS):
        obj = getattr(fc, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            continue
        if inspect.isclass(obj) or inspect.isfunction(obj):
            yield name, obj


def problems_of(name: str, obj) -> list[str]:
    if inspect.isfunction(obj):
        return missing_sections(obj, name)
    found = missing_class_sections(obj, name)
    for method_name, method in public_methods(obj):
        found += missing_sections(method, f"{name}.{method_name}")
    return found


EXPORTED = list(exported_callables())


def test_the_public_api_is_found():
    names = [name for name, _ in EXPORTED]
    assert len(names) >= 30 and {"train", "TrainConfig", "PolyNet", "normalized_margin", "Trainer"} <= set(names)
    assert sum(1 for _ in public_methods(fc.PolyNet)) >= 8   # its own methods and HiddenLayerBudget's


@pytest.mark.parametrize("name,obj", EXPORTED, ids=[name for name, _ in EXPORTED])
def test_public_callable_has_args_and_returns(name, obj):
    problems = problems_of(name, obj)
    assert not problems, "\n".join(problems)


# --- the check itself can fail ----------------------------------------------------------------------------------

def _undocumented(p: int, k: int = 2) -> float:
    """γ* of something."""
    return p / k


def _documented(p: int, k: int = 2) -> float:
    """γ* of something.

    Args:
        p: The modulus.
        k: The number of inputs.

    Returns:
        A number.
    """
    return p / k


def _half_documented(p, k=2):
    """Returns:
        A number (not a section: the first line is the summary).

    Args:
        p: The modulus.
    """
    return p / k


class _Config:
    """A config without its fields.

    Args:
        a: Documented.
    """

    def __init__(self, a: int, b: int) -> None:
        self.a, self.b = a, b

    def value(self):
        """The value."""
        return self.a


def test_the_check_flags_what_is_missing():
    assert missing_sections(_documented, "f") == []
    assert missing_sections(_undocumented, "f") == ["f: takes p, k but has no Args: block",
                                                    "f: returns a value but has no Returns: block"]
    assert missing_sections(_half_documented, "f") == ["f: Args: does not name k",
                                                       "f: returns a value but has no Returns: block"]
    assert problems_of("C", _Config) == ["C: Args:/Attributes: does not name b",
                                         "C.value: returns a value but has no Returns: block"]
