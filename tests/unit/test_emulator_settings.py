"""Settings validation: valid values always accepted, invalid values always rejected."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp_operator.emulator.settings import (
    ALL_FIELDS,
    BOOL_OR_YES_NO_FIELDS,
    STRING_FIELDS,
    YES_NO_FIELDS,
    SettingsValidationError,
    default_settings,
    render_settings,
    validate_settings,
)

DELAY_MAX = 600000


def check(body: dict[str, Any], delay_max: int = DELAY_MAX) -> dict[str, Any]:
    return validate_settings(body, delay_max_ms=delay_max, reject_wid=False)


valid_values = st.fixed_dictionaries(
    {},
    optional={
        **{name: st.sampled_from(["yes", "no"]) for name in YES_NO_FIELDS},
        **{name: st.text(max_size=30) for name in STRING_FIELDS},
        **{name: st.sampled_from([True, False, "yes", "no"]) for name in BOOL_OR_YES_NO_FIELDS},
        "delaySendMessagesMilliseconds": st.integers(500, DELAY_MAX),
        "autoTyping": st.integers(0, 4),
    },
)


@given(valid_values)
def test_valid_settings_are_accepted(body: dict[str, Any]) -> None:
    result = check(body)
    assert set(result) == set(body)
    for name in BOOL_OR_YES_NO_FIELDS:
        if name in body:
            assert result[name] is (body[name] in (True, "yes"))


not_yes_no = st.one_of(
    st.text().filter(lambda v: v not in ("yes", "no")),
    st.booleans(),
    st.integers(),
    st.none(),
)


@given(st.sampled_from(YES_NO_FIELDS), not_yes_no)
def test_yes_no_fields_reject_anything_else(name: str, value: object) -> None:
    with pytest.raises(SettingsValidationError) as caught:
        check({name: value})
    assert caught.value.field == name


@given(
    st.one_of(
        st.integers(max_value=499),
        st.integers(min_value=DELAY_MAX + 1),
        st.booleans(),
        st.floats(),
        st.text(),
    )
)
def test_delay_out_of_range_rejected(value: object) -> None:
    with pytest.raises(SettingsValidationError):
        check({"delaySendMessagesMilliseconds": value})


@given(st.one_of(st.integers(max_value=-1), st.integers(min_value=5), st.booleans(), st.text()))
def test_auto_typing_out_of_range_rejected(value: object) -> None:
    with pytest.raises(SettingsValidationError):
        check({"autoTyping": value})


@given(st.sampled_from(STRING_FIELDS), st.one_of(st.integers(), st.booleans(), st.none()))
def test_string_fields_reject_non_strings(name: str, value: object) -> None:
    with pytest.raises(SettingsValidationError):
        check({name: value})


def test_long_delay_variant() -> None:
    assert check({"delaySendMessagesMilliseconds": 86400000}, delay_max=86400000)
    with pytest.raises(SettingsValidationError):
        check({"delaySendMessagesMilliseconds": 86400000})


def test_wid_and_unknown_keys() -> None:
    assert check({"wid": "1@c.us", "catalogWebhook": "yes"}) == {}
    with pytest.raises(SettingsValidationError):
        validate_settings({"wid": "1@c.us"}, delay_max_ms=DELAY_MAX, reject_wid=True)


def test_defaults_and_rendering() -> None:
    stored = default_settings()
    body = render_settings(stored, wid="", forms={"linkPreview": "yesno"})
    assert list(body) == list(ALL_FIELDS)
    # The current createInstance page: "default is 500 msec"; captures show "system proxy".
    assert body["delaySendMessagesMilliseconds"] == 500
    assert body["proxyInstance"] == "system proxy"
    assert all(body[name] == "no" for name in YES_NO_FIELDS)
    assert body["linkPreview"] == "no"
    assert body["enableLidMode"] is False
    assert body["autoTyping"] == 0
