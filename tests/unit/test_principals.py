"""The grants table: what each principal may do, the README's table, and the broker's properties."""

from __future__ import annotations

from pathlib import Path

import pytest

from certlife.contracts import topics
from certlife.services.infra import principals
from certlife.services.infra.kafka_admin import Operation, Pattern, ResourceType
from certlife.services.infra.stack.kafka import _properties
from certlife.services.infra.stack.settings import StackSettings

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def _ops(who: principals.Principal) -> set[tuple[str, str, str]]:
    return {(a.operation.name, a.resource.name, a.name) for a in principals.grants(who)}


def test_the_readme_table_is_rendered_from_the_grants() -> None:
    assert principals.who_may_do_what() in (ROOT / "README.md").read_text()


def test_a_partner_reads_the_public_topics_and_its_own_groups_only() -> None:
    lab = principals.member("partner", "lab-1", "p.")
    grants = principals.grants(lab)
    assert _ops(lab) == {
        ("READ", "TOPIC", "p." + topics.LOG),
        ("READ", "TOPIC", "p." + topics.CHECKPOINTS),
        ("READ", "GROUP", "p.partner.lab-1."),
    }
    assert all(a.operation != Operation.WRITE for a in grants)
    group = next(a for a in grants if a.resource == ResourceType.GROUP)
    assert group.pattern == Pattern.PREFIXED
    assert all(a.pattern == Pattern.LITERAL for a in grants if a.resource == ResourceType.TOPIC)


def test_no_principal_writes_another_lane_or_creates_anything() -> None:
    everyone = [principals.service(r) for r in principals.SERVICES]
    everyone += [principals.member("client", "erp"), principals.member("partner", "lab")]
    writers = {
        who.kind: {
            a.name
            for a in principals.grants(who)
            if a.operation == Operation.WRITE and a.resource.name == "TOPIC"
        }
        for who in everyone
    }
    assert writers["client"] == {topics.COMMANDS}
    assert (
        topics.COMMANDS not in writers["relay"] and topics.LOG not in writers["commands"] | writers["client"]
    )
    assert writers["projections"] == writers["partner"] == set()
    for who in everyone:
        assert not {Operation.CREATE, Operation.ALL, Operation.ALTER, Operation.DELETE} & {
            a.operation for a in principals.grants(who)
        }


@pytest.mark.parametrize("name", ["", "Lab", "-lab", "lab_1", "lab.1", "x" * 64, "lab\n"])
def test_bad_principal_names_are_refused(name: str) -> None:
    with pytest.raises(principals.PrincipalError):
        principals.member("partner", name)


def test_the_broker_is_secure_unless_plaintext_is_asked_for(tmp_path: Path) -> None:
    secure = _properties(StackSettings(home=tmp_path), tmp_path / "data", "pw")
    assert "PLAINTEXT" not in secure.replace("SASL_SSL", "")
    assert "allow.everyone.if.no.acl.found=false" in secure and "super.users=User:admin\n" in secure
    assert "auto.create.topics.enable=false" in secure and "connections.max.reauth.ms=" in secure
    unsafe = _properties(StackSettings(home=tmp_path, plaintext_port=9094), tmp_path / "data", "pw")
    assert "UNSAFE_PLAINTEXT://127.0.0.1:9094" in unsafe and "UNSAFE_PLAINTEXT:PLAINTEXT" in unsafe
