"""``certverify`` can run from ``certlife[verify]``: no module it may import needs the services' stack.

Every certlife module ``certverify`` can reach (its subcommands, also imports
inside functions, and the packages they sit in) is followed from source; none
may import eventsourcing, faststream, psycopg or pydantic, which only the
``service`` extra installs (pyproject.toml). tests/integration/test_install.py
checks the same on a real installation.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from certlife.services.partner.certverify import EXTRA_COMMAND_MODULES

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("domain", "contracts", "projections", "services")
SERVICE_ONLY = {"eventsourcing", "faststream", "psycopg", "pydantic"}
ENTRY = "certlife.services.partner.certverify"


def _source(module: str) -> tuple[Path, bool] | None:
    """The file of a certlife module and whether it is a package, or None when it is no module."""
    parts = module.split(".")[1:]
    if not parts or parts[0] not in LAYERS:
        return None
    base = ROOT.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py", True
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py"), False
    return None


def _imports(module: str) -> set[str]:
    """Every name ``module`` imports, at any depth, except under ``if TYPE_CHECKING:``."""
    found = _source(module)
    assert found is not None, module
    path, is_package = found
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and getattr(child.test, "id", getattr(child.test, "attr", "")) == (
                "TYPE_CHECKING"
            ):
                continue
            if isinstance(child, ast.Import):
                names.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".")
                    base = base[: len(base) - child.level + (1 if is_package else 0)]
                    target = ".".join([*base, *([child.module] if child.module else [])])
                else:
                    target = child.module or ""
                names.add(target)
                names.update(f"{target}.{alias.name}" for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return names


def _reachable() -> dict[str, str]:
    """Every certlife module ``certverify`` can import, mapped to the module that imports it."""
    seen = {ENTRY: "", **{name: ENTRY for name in EXTRA_COMMAND_MODULES}}
    todo = list(seen)
    while todo:
        module = todo.pop()
        parts = module.split(".")
        wanted = {".".join(parts[:i]) for i in range(2, len(parts))}
        wanted |= {name for name in _imports(module) if name.startswith("certlife.")}
        for name in sorted(wanted):
            if name not in seen and _source(name) is not None:
                seen[name] = module
                todo.append(name)
    return seen


def test_no_module_certverify_reaches_imports_a_service_only_dependency() -> None:
    reachable = _reachable()
    assert "certlife.services.partner.commands" in reachable
    assert "certlife.contracts.verification" in reachable
    offenders = {
        module: sorted({name.split(".")[0] for name in _imports(module)} & SERVICE_ONLY)
        for module in reachable
    }

    def chain(module: str) -> str:
        path = [module]
        while reachable[path[-1]]:
            path.append(reachable[path[-1]])
        return " <- ".join(path)

    assert {chain(m): bad for m, bad in offenders.items() if bad} == {}


def test_the_walk_follows_imports_inside_functions() -> None:
    """``certverify mirror`` imports its PostgreSQL client and store only when it runs."""
    mirror_cmd = "certlife.services.partner.mirror_cmd"
    assert "asyncpg" in {name.split(".")[0] for name in _imports(mirror_cmd)}
    assert "certlife.projections.mirror_store" in _reachable()
    assert "eventsourcing" in {name.split(".")[0] for name in _imports("certlife.domain.certificate")}
