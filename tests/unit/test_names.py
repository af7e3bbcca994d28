"""Label values and derived Secret names for every valid resource name (up to 253)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from whatsapp_operator import constants
from whatsapp_operator.decide.linking import secret_name
from whatsapp_operator.names import (
    derived_name,
    instance_selector,
    is_label_value,
    label_value,
    owned_secret_labels,
)
from whatsapp_operator.run.identity import owned_token_secret

# Kubernetes' own rules (apimachinery validation), written out independently here.
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def valid_label_value(text: str) -> bool:
    return len(text) <= 63 and LABEL_VALUE.match(text) is not None


def valid_name(text: str) -> bool:
    return len(text) <= 253 and DNS_SUBDOMAIN.match(text) is not None


_CHUNK = st.text(alphabet="abyz0189", min_size=1, max_size=30)
_LABEL = st.lists(_CHUNK, min_size=1, max_size=3).map("-".join)
# Resource names: DNS subdomains, joined from labels, cut to at most 253 at a label end.
resource_names = (
    st.lists(_LABEL, min_size=1, max_size=12)
    .map(".".join)
    .map(lambda name: name[:253].rstrip("-."))
    .filter(valid_name)
)


@given(st.text(max_size=300))
def test_any_text_becomes_a_valid_label_value(text: str) -> None:
    assert valid_label_value(label_value(text))


@given(resource_names)
def test_a_name_that_is_a_label_value_stays_as_it_is(name: str) -> None:
    if len(name) <= 63:
        assert label_value(name) == name
    else:
        shortened = label_value(name)
        assert len(shortened) <= 63
        assert shortened.startswith(name[:40].rstrip("-."))


@given(resource_names, resource_names)
def test_different_names_get_different_label_values(first: str, second: str) -> None:
    if first != second:
        assert label_value(first) != label_value(second)


def test_long_names_with_a_common_prefix_do_not_collide() -> None:
    base = "a" * 70
    assert len({label_value(base + tail) for tail in ("", "b", "c", "-d", ".e")}) == 5
    assert len({secret_name("a" * 250 + tail) for tail in ("", "b", "c")}) == 3


@given(resource_names, st.sampled_from(["-linking", "-greenapi-token", "-x"]))
def test_derived_names_are_valid_secret_names(name: str, suffix: str) -> None:
    derived = derived_name(name, suffix)
    assert valid_name(derived), derived
    assert derived.endswith(suffix)
    if len(name) + len(suffix) <= 253:
        assert derived == name + suffix


def test_derived_names_at_the_limit() -> None:
    longest = "a" * 253
    assert len(secret_name(longest)) == 253
    assert len(owned_token_secret(longest)) == 253
    # A cut that would end in '.' or '-' is moved back, so the name stays valid.
    dotted = "a" * 233 + "." + "b" * 19
    assert valid_name(secret_name(dotted))
    assert valid_name(owned_token_secret("x" * 237 + "-" + "y" * 15))


def test_texts_that_are_not_label_values_are_hashed() -> None:
    assert not is_label_value("-starts-with-dash")
    assert valid_label_value(label_value("-starts-with-dash"))
    assert valid_label_value(label_value("k8s:ns/name#1234"))
    assert valid_label_value(label_value("..."))
    assert label_value("") == ""


def test_owned_secret_labels_and_selector_use_the_same_value() -> None:
    name = "n" * 100
    labels = owned_secret_labels(name, constants.ROLE_LINKING)
    assert all(valid_label_value(value) for value in labels.values())
    assert labels[constants.LABEL_MANAGED_BY] == constants.MANAGED_BY
    assert labels[constants.LABEL_SECRET_ROLE] == constants.ROLE_LINKING
    selector = instance_selector(name)
    assert f"{constants.LABEL_INSTANCE_NAME}={labels[constants.LABEL_INSTANCE_NAME]}" in selector
