"""C2SP tlog-policy: parsing (the spec's example, every error with its line), text round trip, quorums."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certlife.contracts.cosignature import CosignatureSigner
from certlife.contracts.notes import Checkpoint, NoteSigner, sign_checkpoint
from certlife.contracts.policy import PolicyError, WitnessPolicy

pytestmark = pytest.mark.unit

ORIGIN = "certlife.example/log"


def _key(label: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


LOG = NoteSigner(ORIGIN, _key("log"))
W = {
    name: CosignatureSigner(f"{name.lower()}.witness.example", _key(name))
    for name in ("X1", "X2", "X3", "Y1", "Y2")
}
CHECKPOINT = Checkpoint(ORIGIN, 7, bytes(range(32)))
NOTE = sign_checkpoint(CHECKPOINT, LOG)

# The spec's example (two levels of groups), with real keys.
EXAMPLE = f"""log {LOG.verifier_key()}

witness X1 {W["X1"].vkey()}
witness X2 {W["X2"].vkey()}
witness X3 {W["X3"].vkey()}
group X-witnesses 2 X1 X2 X3

witness Y1 {W["Y1"].vkey()}
witness Y2 {W["Y2"].vkey()}
group Y-witnesses any Y1 Y2

group X-and-Y all X-witnesses Y-witnesses
quorum X-and-Y
"""


def _cosigned(*names: str, body: str | None = None) -> str:
    return NOTE + "".join(
        W[n].cosign(body or CHECKPOINT.body(), 1_700_000_000 + i) for i, n in enumerate(names)
    )


def test_spec_example_parses_and_round_trips() -> None:
    policy = WitnessPolicy.parse(EXAMPLE)
    assert policy.log_keys == (LOG.verifier_key(),)
    assert list(policy.witnesses) == ["X1", "X2", "X3", "Y1", "Y2"]
    assert policy.witnesses["X1"].verifier.key_id == W["X1"].verifier.key_id
    assert policy.witnesses["X1"].url is None
    assert policy.describe_quorum() == "all of (2 of (X1, X2, X3), any... )".replace(
        "any... ", "1 of (Y1, Y2)"
    )
    text = policy.to_text()
    assert WitnessPolicy.parse(text).to_text() == text
    assert "group X-witnesses 2 X1 X2 X3\n" in text and text.endswith("quorum X-and-Y\n")


@pytest.mark.parametrize(
    ("cosigners", "satisfied"),
    [
        ((), False),
        (("X1", "X2"), False),  # no Y witness
        (("X1", "Y1"), False),  # one X witness
        (("X1", "X3", "Y2"), True),
        (("X1", "X2", "X3", "Y1", "Y2"), True),
    ],
)
def test_nested_groups_decide_the_quorum(cosigners: tuple[str, ...], satisfied: bool) -> None:
    result = WitnessPolicy.parse(EXAMPLE).evaluate(_cosigned(*cosigners))
    assert result.satisfied is satisfied
    assert set(result.cosigned_by) == set(cosigners) and result.invalid == ()


def test_invalid_cosignature_by_a_known_witness_does_not_count() -> None:
    policy = WitnessPolicy.parse(EXAMPLE)
    other = Checkpoint(ORIGIN, 8, bytes(32)).body()
    note = _cosigned("X1", "Y1") + W["X2"].cosign(other, 5)  # X2 cosigned another checkpoint
    result = policy.evaluate(note)
    assert result.satisfied is False
    assert result.cosigned_by == ("X1", "Y1") and result.invalid == ("X2",)
    assert result.timestamps == (1_700_000_000, 1_700_000_001)


def test_unknown_cosigners_and_the_log_signature_are_ignored() -> None:
    stranger = CosignatureSigner("x1.witness.example", _key("stranger"))  # X1's name, another key
    note = NOTE + stranger.cosign(CHECKPOINT.body(), 1)
    result = WitnessPolicy.parse(EXAMPLE).evaluate(note)
    assert result.cosigned_by == () and result.invalid == ()


def test_quorum_none_and_single_witness() -> None:
    assert WitnessPolicy.parse("quorum none\n").evaluate(NOTE).satisfied
    single = WitnessPolicy.parse(f"witness A {W['X1'].vkey()} https://w.example/\nquorum A")
    assert single.witnesses["A"].url == "https://w.example/"
    assert not single.evaluate(NOTE).satisfied
    assert single.evaluate(_cosigned("X1")).satisfied
    assert single.describe_quorum() == "A"


def test_whitespace_comments_and_tabs() -> None:
    text = f"# witnesses\n  \t\nwitness\tA \t {W['X1'].vkey()}  \n   # indented comment\n\tquorum  A\t"
    assert WitnessPolicy.parse(text).to_text() == f"witness A {W['X1'].vkey()}\nquorum A\n"


VK = W["X1"].vkey()
VK2 = W["X2"].vkey()
ERRORS = [
    ("", "no quorum line"),
    ("witness A " + VK, "no quorum line"),
    ("quorum A", "line 1: quorum names 'A'"),
    ("quorum none\nquorum none", "line 2: a second quorum line"),
    ("quorum A B", "line 1: quorum takes exactly one name"),
    ("frobnicate x\nquorum none", "line 1: unknown keyword 'frobnicate'"),
    ("witness A\nquorum none", "line 1: expected: witness"),
    (f"witness A {VK} url extra\nquorum none", "line 1: expected: witness"),
    ("witness A not-a-vkey\nquorum none", "line 1: witness A: malformed cosigner key"),
    (f"witness A {LOG.verifier_key()}\nquorum none", "not an Ed25519 cosignature/v1 key"),
    (f"log {VK}\nquorum none", "line 1: log key: malformed verifier key"),
    (f"log {LOG.verifier_key()}\nlog {LOG.verifier_key()}\nquorum none", "line 2: duplicate log key"),
    (f"witness A {VK}\nwitness A {VK2}\nquorum none", "line 2: name 'A' is already defined"),
    (
        f"witness A {VK}\nwitness B {VK}\nquorum none",
        "line 2: witness B has the same public key as witness A",
    ),
    (f"witness none {VK}\nquorum none", "line 1: the name 'none' is reserved"),
    (f"# c\nwitness A {VK}\ngroup G 1 A B\nquorum G", "line 3: group G names 'B'"),
    (f"witness A {VK}\ngroup G 1 A none\nquorum none", "line 2: 'none' cannot be a group member"),
    (f"witness A {VK}\ngroup G 1 A A\nquorum none", "line 2: group G lists a member twice"),
    (f"witness A {VK}\ngroup G 2 A\nquorum none", "line 2: group G: threshold 2 is not between 1 and 1"),
    (f"witness A {VK}\ngroup G 0 A\nquorum none", "threshold 0 is not between"),
    (f"witness A {VK}\ngroup G most A\nquorum none", "threshold 'most' is not all, any"),
    (f"witness A {VK}\ngroup G any\nquorum none", "line 2: expected: group"),
    (f"witness A {VK}\ngroup A any A\nquorum none", "line 2: name 'A' is already defined"),
    ("quorum G\ngroup G any A", "line 1: quorum names 'G'"),
    ("quorum none\r\n", "line 1: control character '\\r'"),
    ("# ok\n\x00quorum none", "line 2: control character"),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_malformed_policies_name_the_line(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match="malformed witness policy") as caught:
        WitnessPolicy.parse(text)
    assert message in str(caught.value)
    assert caught.value.code == "malformed-policy"
    assert "\n" not in str(caught.value)


def test_group_members_must_be_defined_before_the_group() -> None:
    text = f"group G any A\nwitness A {VK}\nquorum G"
    with pytest.raises(PolicyError, match="line 1: group G names 'A'"):
        WitnessPolicy.parse(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), noise=st.text(max_size=40))
def test_parse_raises_only_policy_error(data: st.DataObject, noise: str) -> None:
    """Any edit of a valid policy either parses (and round-trips) or raises PolicyError."""
    start = data.draw(st.integers(0, len(EXAMPLE)), label="start")
    end = data.draw(st.integers(start, len(EXAMPLE)), label="end")
    text = EXAMPLE[:start] + noise + EXAMPLE[end:]
    try:
        policy = WitnessPolicy.parse(text)
    except PolicyError as exc:
        assert "\n" not in str(exc)
        return
    assert WitnessPolicy.parse(policy.to_text()).to_text() == policy.to_text()
    policy.evaluate(_cosigned("X1", "Y1"))
