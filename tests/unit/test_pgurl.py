"""CERTLIFE_DATABASE_URL: single- and multi-host URLs accepted, unusable ones refused in one line."""

from __future__ import annotations

import pytest

from certlife.services.infra.pgurl import DatabaseUrlError, parse
from certlife.services.infra.settings import Settings, SettingsError
from certlife.services.infra.stack.settings import StackSettings

pytestmark = pytest.mark.unit

MULTI = "postgresql://u:s3cret@127.0.0.1:5432,127.0.0.1:5433/db?target_session_attrs=read-write"


def test_a_single_host_url_keeps_its_parts() -> None:
    url = parse("postgresql://certlife:p%40ss@db.example:6543/certlife")
    assert url.hosts == (("db.example", 6543),)
    assert (url.user, url.password, url.dbname) == ("certlife", "p@ss", "certlife")
    assert url.target_session_attrs is None
    assert parse("postgres://u:p@h/d").hosts == (("h", 5432),)


def test_a_host_list_with_read_write_is_accepted_and_split_for_eventsourcing() -> None:
    url = parse(MULTI)
    assert url.hosts == (("127.0.0.1", 5432), ("127.0.0.1", 5433))
    env = Settings.from_env({"CERTLIFE_DATABASE_URL": MULTI}).eventsourcing_env()
    assert env["POSTGRES_HOST"] == "127.0.0.1,127.0.0.1"
    assert env["POSTGRES_PORT"] == "5432,5433"
    assert env["POSTGRES_TARGET_SESSION_ATTRS"] == "read-write"
    assert env["POSTGRES_PRE_PING"] == "y"
    assert (
        "POSTGRES_PRE_PING"
        not in Settings.from_env({"CERTLIFE_DATABASE_URL": "postgresql://u:p@h/d"}).eventsourcing_env()
    )
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DBNAME"]) == ("u", "s3cret", "db")
    ipv6 = parse("postgresql://u:p@[::1]:5432,[::1]:5433/d?target_session_attrs=primary")
    assert ipv6.hosts == (("::1", 5432), ("::1", 5433))


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://u:s3cret@h/d", "must be a postgresql://"),
        ("postgresql://u:s3cret@h1:5432,h2:5433/d", "lists 2 hosts but not ?target_session_attrs=read-write"),
        ("postgresql://u:s3cret@h1,h2/d?target_session_attrs=any", "lists 2 hosts"),
        ("postgresql://u:s3cret@h1:5432,:5433/d?target_session_attrs=read-write", "host 2 of 2 is empty"),
        (
            "postgresql://u:s3cret@h1:5432,h2:99999/d?target_session_attrs=read-write",
            "host 2 of 2 has no valid port",
        ),
        ("postgresql://u:s3cret/d", "the host has no valid port"),
        ("postgresql://u:s3cret@h/d?target_session_attrs=writable", "target_session_attrs must be one of"),
    ],
)
def test_an_unusable_url_is_one_line_naming_the_variable_and_never_the_password(url: str, says: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"CERTLIFE_DATABASE_URL": url})
    message = str(caught.value)
    assert message.startswith("CERTLIFE_DATABASE_URL ")
    assert says in message
    assert "\n" not in message
    assert "s3cret" not in message
    with pytest.raises(DatabaseUrlError):
        parse(url)


def test_the_local_stack_url_lists_the_replica_once_it_exists(tmp_path: object) -> None:
    from pathlib import Path

    from certlife.services.infra.stack import pgstate

    home = Path(str(tmp_path))
    env = {"CERTLIFE_HOME": str(home), "CERTLIFE_POSTGRES_PORT": "55432"}
    assert (
        StackSettings.from_env(env).database_url == "postgresql://certlife:certlife@127.0.0.1:55432/certlife"
    )
    state = pgstate.ReplicaState("15", "certlife-55432-replica", 55433, "certlife-55432", 55432)
    pgstate.save(home / "stack", state)
    both = "postgresql://certlife:certlife@127.0.0.1:55432,127.0.0.1:55433/certlife?target_session_attrs=read-write"
    assert StackSettings.from_env(env).database_url == both
    assert Settings.from_env(env).database_url == both
    from certlife.services.infra.stack import pgroles, secrets

    password = secrets.ensure_secret(home / "stack", "postgres", pgroles.RELAY)
    assert pgroles.role_url(StackSettings.from_env(env), pgroles.RELAY) == both.replace(
        "certlife:certlife@", f"{pgroles.RELAY}:{password}@"
    )
    other = {**env, "CERTLIFE_POSTGRES_PORT": "5432"}  # another primary: its URL is its own
    assert (
        StackSettings.from_env(other).database_url == "postgresql://certlife:certlife@127.0.0.1:5432/certlife"
    )
