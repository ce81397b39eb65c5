"""PostgreSQL roles without a server: password files, psql on stdin, role URLs, the CLI and the README."""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from certlife.services.cli import certctl
from certlife.services.infra import dbroles
from certlife.services.infra.stack import StackError, StackSettings, pgroles

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def _readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## PostgreSQL roles\n")
    return text[start : text.index("\n## ", start + 1)]


def test_the_readme_table_is_the_list_of_duties() -> None:
    assert dbroles.roles_table() in _readme_section(), "README's roles table differs; paste:\n" + (
        dbroles.roles_table()
    )
    assert [d.role for d in dbroles.DUTIES] == list(pgroles.ROLES)


def test_role_names_are_the_local_stacks() -> None:
    names = dbroles.RoleNames()
    assert names.owner == pgroles.OWNER
    assert names.services == pgroles.SERVICE_ROLES


def test_projection_relations_pattern() -> None:
    exact, generations = dbroles._projection_pattern()
    assert {"projection_live", "projection_parked", "certificates", "certificate_history"} <= set(exact)
    assert re.fullmatch(generations, "certificates_g12")
    assert re.fullmatch(generations, "certificate_history_g1")
    assert not re.fullmatch(generations, "certificates_gx")
    assert not re.fullmatch(generations, "relay_heads")


class _Ran:
    def __init__(self, returncode: int = 0, stderr: str = "") -> None:
        self.returncode, self.stdout, self.stderr = returncode, "", stderr


def test_psql_reads_the_script_on_stdin_never_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def run(command: list[str], **kwargs: Any) -> _Ran:
        seen["argv"], seen["input"] = command, kwargs.get("input")
        return _Ran()

    monkeypatch.setattr(subprocess, "run", run)
    pgroles.as_postgres(5432, "ALTER ROLE x PASSWORD 'secret-1';")
    assert "secret-1" in seen["input"]
    assert not any("secret-1" in arg for arg in seen["argv"])
    assert "-c" not in seen["argv"]


def test_a_psql_failure_is_one_line_without_the_statement_or_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stderr = (
        'psql:<stdin>:3: ERROR:  syntax error at or near "secret-1"\n'
        "LINE 1: ALTER ROLE x PASSWORD 'secret-1' oops;\n"
    )
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: _Ran(3, stderr))
    with pytest.raises(StackError) as raised:
        pgroles.as_postgres(5432, "ALTER ROLE x PASSWORD 'secret-1' oops;", hide=("secret-1",))
    message = str(raised.value)
    assert "\n" not in message and "secret-1" not in message and "LINE" not in message
    assert "syntax error" in message


def test_ensure_roles_keeps_each_password_in_a_private_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripts: list[str] = []

    def as_postgres(port: int, sql: str, *, hide: tuple[str, ...] = ()) -> str:
        scripts.append(sql)
        return ""

    monkeypatch.setattr(pgroles, "as_postgres", as_postgres)
    settings = StackSettings(home=tmp_path)
    assert pgroles.ensure_roles(settings) == list(pgroles.SERVICE_ROLES)
    folder = pgroles.secret_path(settings, pgroles.RELAY).parent
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
    first = {r: pgroles.secret_path(settings, r).read_text() for r in pgroles.SERVICE_ROLES}
    for role in pgroles.SERVICE_ROLES:
        assert stat.S_IMODE(pgroles.secret_path(settings, role).stat().st_mode) == 0o600
        assert first[role].strip() in scripts[0]
    assert len(set(first.values())) == len(first), "each role has its own password"
    assert "SET password_encryption = 'scram-sha-256'" in scripts[0]
    assert 'GRANT "certlife_projections" TO "certlife"' in scripts[0]
    assert scripts[0].count("LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE") == len(pgroles.SERVICE_ROLES)

    pgroles.secret_path(settings, pgroles.READER).unlink()  # a lost file: a new password is set
    pgroles.ensure_roles(settings)
    again = {r: pgroles.secret_path(settings, r).read_text() for r in pgroles.SERVICE_ROLES}
    assert {r: again[r] == first[r] for r in first} == {r: r != pgroles.READER for r in first}
    assert again[pgroles.READER].strip() in scripts[1]


def test_role_url_quotes_the_password_and_names_the_fix(tmp_path: Path) -> None:
    settings = StackSettings(home=tmp_path, postgres_port=15432)
    assert pgroles.role_url(settings, pgroles.OWNER) == settings.database_url
    with pytest.raises(StackError, match="run certctl stack up") as raised:
        pgroles.role_url(settings, pgroles.RELAY)
    assert "\n" not in str(raised.value)
    path = pgroles.secret_path(settings, pgroles.RELAY)
    path.parent.mkdir(parents=True)
    path.write_text("a/b@c:d\n")
    assert pgroles.role_url(settings, pgroles.RELAY) == (
        "postgresql://certlife_relay:a%2Fb%40c%3Ad@127.0.0.1:15432/certlife"
    )


def test_certctl_db_roles_lists_every_role_and_no_password(capsys: pytest.CaptureFixture[str]) -> None:
    args = certctl.build_parser().parse_args(["db", "roles"])
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == list(pgroles.ROLES)
    assert "password" not in out.lower()
    assert certctl.build_parser().parse_args(["db", "migrate"]).handler.__name__ == "_migrate"
