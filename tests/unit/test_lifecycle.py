"""The transition table: every (status, event) pair, allowed or forbidden."""

from __future__ import annotations

import itertools

import pytest

from certlife.domain.errors import CertificateError, InvalidTransition
from certlife.domain.lifecycle import FINAL_STATUSES, LifecycleEvent, Status, next_status

pytestmark = pytest.mark.unit

V, S, R, W, E = (Status.VALID, Status.SUSPENDED, Status.REVOKED, Status.WITHDRAWN, Status.EXPIRED)
I_, SU, RE, RN, AM, RV, WD, EX = list(LifecycleEvent)

# Written out by hand (not derived from TRANSITIONS) so the table is checked, not echoed.
ALLOWED: dict[tuple[Status | None, LifecycleEvent], Status] = {
    (None, I_): V,
    (V, SU): S,
    (V, RN): V,
    (V, AM): V,
    (V, RV): R,
    (V, WD): W,
    (V, EX): E,
    (S, RE): V,
    (S, RN): S,
    (S, AM): S,
    (S, RV): R,
    (S, WD): W,
    (S, EX): E,
    (E, RN): V,
}

MATRIX = list(itertools.product([None, *Status], LifecycleEvent))


@pytest.mark.parametrize(("current", "event"), MATRIX, ids=lambda x: str(x))
def test_every_pair_of_the_matrix(current: Status | None, event: LifecycleEvent) -> None:
    if (current, event) in ALLOWED:
        assert next_status(current, event) == ALLOWED[(current, event)]
    else:
        with pytest.raises(InvalidTransition) as info:
            next_status(current, event)
        assert info.value.attempted == event.value
        assert info.value.current == (None if current is None else current.value)
        assert event.value in str(info.value)
        assert (current.value if current else "does not exist") in str(info.value)


def test_matrix_covers_all_pairs_and_allowed_are_a_subset() -> None:
    assert len(MATRIX) == 6 * 8
    assert set(ALLOWED) <= set(MATRIX)


@pytest.mark.parametrize("final", sorted(FINAL_STATUSES))
def test_final_statuses_allow_nothing(final: Status) -> None:
    for event in LifecycleEvent:
        with pytest.raises(InvalidTransition):
            next_status(final, event)


def test_invalid_transition_is_a_certificate_error_with_stable_code() -> None:
    with pytest.raises(CertificateError) as info:
        next_status(Status.REVOKED, LifecycleEvent.REINSTATED)
    assert info.value.code == "invalid-transition"
    assert str(info.value) == "cannot apply 'reinstated': certificate is revoked"
