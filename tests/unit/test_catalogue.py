"""One product catalogue feeds both generators; what they generate passes the admission rule.

The scenario generator (Kafka commands) and the fixture generator (signed
exports) draw products, schemes, standards, models, numbers, companies and
factories from ``certlife.services.demo.catalogue``. Every string either
generator produces must pass ``certlife.contracts.admission`` (text rule, and
the number profile for certificate numbers), or the command service, relay or
readers would refuse it. And no runtime module may import the demo package.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from certlife.contracts.admission import (
    MAX_NAME,
    admit_command_object,
    check_number,
    check_text,
    record_content_problem,
)
from certlife.contracts.commands import parse_command
from certlife.services.demo import catalogue
from certlife.services.demo.catalogue import COUNTRIES, PRODUCTS
from certlife.services.demo.fixturegen import catalog
from certlife.services.demo.fixturegen.keys import run_key
from certlife.services.demo.fixtures import generate
from certlife.services.demo.scenario import EXPIRE_DUE_KEY, generate_commands
from certlife.services.partner.export import read_log_lines

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ISSUER = "cqc.example"
CERTIFICATES = 400
SCHEMES = {"CCC", "CQC", "CB", "E-mark"}
#: (product name, scheme) pairs the catalogue certifies.
OFFERED = {(p.name, scheme) for p in PRODUCTS for scheme, _ in p.schemes}


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a decoded JSON value (member names too), with where it was found."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{path} member name", key
            yield from _strings(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")


def _admit_all(obj: dict[str, Any], numbers: tuple[str, ...]) -> None:
    """Check every string of ``obj`` with the text rule, and members at ``numbers`` as numbers."""
    for path, text in _strings(obj):
        check_text(path, text)
        if path in numbers:
            check_number(text, path)
            assert len(text) <= MAX_NAME


@pytest.fixture(scope="module")
def commands() -> list[tuple[bytes, bytes]]:
    """Scenario traffic of ``CERTIFICATES`` certificates with duplicates and conflicts (no malformed)."""
    return generate_commands(CERTIFICATES, seed=17, issuer=ISSUER, now=NOW, duplicates=0.2, conflicts=0.2)


@pytest.fixture(scope="module")
def issues(commands: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    """The first issue command of each certificate, in publish order."""
    first: dict[str, dict[str, Any]] = {}
    for _, value in commands:
        obj = json.loads(value)
        if obj["type"] == "issue":
            first.setdefault(obj["number"], obj)
    return list(first.values())


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fixture export of ``CERTIFICATES`` certificates."""
    out = tmp_path_factory.mktemp("catalogue")
    generate(out, CERTIFICATES, seed=17, workers=0)
    return out


@pytest.fixture(scope="module")
def records(export: Path) -> list[dict[str, Any]]:
    """The decoded records of ``export``."""
    return [json.loads(line) for _, line in read_log_lines(export)]


def test_every_scenario_string_passes_the_admission_rule(commands: list[tuple[bytes, bytes]]) -> None:
    for key, value in commands:
        obj = json.loads(value)
        _admit_all(obj, ("number",))
        assert admit_command_object(obj) == obj  # already NFC: admission changes nothing
        assert parse_command(value).type == obj["type"]  # schema-valid as well
        if key != EXPIRE_DUE_KEY:
            check_number(key.decode("ascii"), "key")
            assert key.decode() == obj["number"]


def test_every_fixture_string_passes_the_admission_rule(records: list[dict[str, Any]]) -> None:
    numbers = set()
    for record in records:
        _admit_all(record, ("certificate.number",))
        assert record_content_problem(record) is None
        if record["kind"] == "certificate":
            numbers.add(record["certificate"]["number"])
    assert len(numbers) == CERTIFICATES


def test_heavily_amended_fixture_certificates_stay_admissible() -> None:
    """Many amendments (models, factories, scope clauses) on every product and scheme."""
    key = run_key(23)
    seen = set()
    for cert in range(CERTIFICATES):
        data, note = catalog.certificate(key, cert, cert % 9, cert, cert, cert + 1500)
        _admit_all(data, ("number",))
        if note is not None:
            check_text("reason", note)
        assert len(data["models"]) == len(set(data["models"]))
        assert len(data["factories"]) == len(set(data["factories"]))
        seen.add((data["product"], data["scheme"]))
    assert seen == OFFERED


def test_both_generators_draw_from_the_one_catalogue(
    issues: list[dict[str, Any]], records: list[dict[str, Any]]
) -> None:
    certificates = [
        r["certificate"] for r in records if r["kind"] == "certificate" and r["event"] == "issued"
    ]
    legal_forms = tuple(country.legal_form for country in COUNTRIES)
    by_name = {product.name: product for product in PRODUCTS}
    for name, generated in (("scenario", issues), ("fixtures", certificates)):
        assert {(c["product"], c["scheme"]) for c in generated} == OFFERED, name
        for c in generated:
            product = by_name[c["product"]]
            assert c["standards"] == catalogue.standards(product, c["scheme"], c["validFrom"]), name
            assert c["holder"].endswith(legal_forms) and c["manufacturer"].endswith(legal_forms), name
            assert c["factories"][0].endswith(tuple(country.name for country in COUNTRIES)), name
            assert product.industry in c["manufacturer"], name
    assert len({c["holder"] for c in issues}) < len(issues) / 4  # holders hold several certificates


def test_scenario_numbers_are_unique_and_of_each_scheme(issues: list[dict[str, Any]]) -> None:
    assert len(issues) == CERTIFICATES
    assert {c["scheme"] for c in issues} == SCHEMES
    ccc = [c["number"] for c in issues if c["scheme"] == "CCC"]
    assert all(n.isdigit() and n.startswith("2026") for n in ccc)
    assert all(c["number"].startswith("E") and " " in c["number"] for c in issues if c["scheme"] == "E-mark")


def test_scenario_is_deterministic_in_its_arguments(commands: list[tuple[bytes, bytes]]) -> None:
    again = generate_commands(CERTIFICATES, seed=17, issuer=ISSUER, now=NOW, duplicates=0.2, conflicts=0.2)
    assert again == commands
    other = generate_commands(CERTIFICATES, seed=18, issuer=ISSUER, now=NOW, duplicates=0.2, conflicts=0.2)
    assert other != commands


# --- no runtime module imports the demo package -------------------------------------------------

DEMO = "certlife.services.demo"
#: Folders of runtime code (services/cli may import the demo: ``certctl fixtures``), and the
#: modules directly in services/ (the composition root).
RUNTIME = (
    "services/commands",
    "services/relay",
    "services/partner",
    "services/infra",
    "projections",
    "contracts",
    "domain",
)
RUNTIME_TOP = "services"


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(["certlife", *parts]), is_package


def _imported(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Every module name ``tree`` imports, anywhere (functions, ``TYPE_CHECKING`` and
    ``importlib.import_module("...")`` / ``__import__("...")`` with a literal name included)."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            yield target
            yield from (f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                yield node.args[0].value


def _imports_demo(source: str, module: str, is_package: bool = False) -> list[str]:
    tree = ast.parse(source)
    return [t for t in _imported(tree, module, is_package) if t == DEMO or t.startswith(DEMO + ".")]


def test_the_import_check_sees_every_kind_of_import() -> None:
    source = """
import certlife.services.demo.scenario
from ..demo import catalogue
def later():
    from certlife.services import demo
    importlib.import_module("certlife.services.demo.fixtures")
"""
    found = set(_imports_demo(source, "certlife.services.relay.example"))
    assert found == {
        "certlife.services.demo",
        "certlife.services.demo.scenario",
        "certlife.services.demo.catalogue",
        "certlife.services.demo.fixtures",
    }
    assert _imports_demo("from certlife.services.demonstration import x", "certlife.domain.x") == []


def test_no_runtime_module_imports_the_demo_package() -> None:
    folders = [sorted((ROOT / folder).rglob("*.py")) for folder in RUNTIME]
    assert all(folders), "a runtime folder without modules: is RUNTIME out of date?"
    top = sorted((ROOT / RUNTIME_TOP).glob("*.py"))
    offenders = []
    for paths in [*folders, top]:
        for path in paths:
            module, is_package = _module_name(path)
            for target in _imports_demo(path.read_text(encoding="utf-8"), module, is_package):
                offenders.append(f"{path.relative_to(ROOT)} imports {target}")
    assert offenders == [], "runtime modules import the demo package:\n" + "\n".join(offenders)
