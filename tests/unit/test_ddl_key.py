"""Every process takes the same DDL lock for a schema, however it spells the name."""

from __future__ import annotations

import pytest

from certlife.projections.ddl import ddl_lock_key

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", ["public", "t_abc", 'odd"name', "Mixed Case"])
def test_quoted_and_plain_names_share_a_key(name: str) -> None:
    quoted = '"' + name.replace('"', '""') + '"'
    assert ddl_lock_key(quoted) == ddl_lock_key(name) == f"certlife-ddl:{name}"
