"""Label selectors as the shard key (decide/shards.py): Kubernetes' syntax and meaning."""

from __future__ import annotations

import pytest

from whatsapp_operator.decide.shards import SelectorInvalid, owns, parse_selector, selects


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("", {}, True),
        ("shard=a", {"shard": "a"}, True),
        ("shard=a", {"shard": "b"}, False),
        ("shard=a", {}, False),
        ("shard==a", {"shard": "a"}, True),
        ("shard!=a", {}, True),
        ("shard!=a", {"shard": "a"}, False),
        ("shard in (a, b)", {"shard": "b"}, True),
        ("shard in (a,b)", {"shard": "c"}, False),
        ("shard notin (a,b)", {"shard": "c"}, True),
        ("shard notin (a,b)", {}, True),
        ("shard", {"shard": ""}, True),
        ("!shard", {"shard": "a"}, False),
        ("!shard", {}, True),
        ("shard in (a,b),tier=gold", {"shard": "a", "tier": "gold"}, True),
        ("shard in (a,b), tier=gold", {"shard": "a", "tier": "silver"}, False),
        ("example.com/shard=a", {"example.com/shard": "a"}, True),
    ],
)
def test_selects(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert selects(parse_selector(selector), labels) is expected
    assert owns(selector, labels) is expected


@pytest.mark.parametrize("bad", ["shard in (a", "a=b=c", "=a", "shard in ((a))", "a b"])
def test_invalid_selectors_are_refused(bad: str) -> None:
    with pytest.raises(SelectorInvalid):
        parse_selector(bad)
