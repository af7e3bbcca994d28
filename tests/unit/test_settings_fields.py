"""The settings fields, one list: the resource, the wire model and the emulator agree.

Adding a managed setting touches `api/resource.py` (SettingsSpec) and `wire/models.py`
(Settings); the emulator must know the field too, or GREEN-API as emulated would drop it
and the e2e suite would show endless drift. These tests say which file is missing it.
"""

from __future__ import annotations

from whatsapp_operator.api.resource import SettingsSpec
from whatsapp_operator.emulator.settings import ALL_FIELDS, YES_NO_FIELDS
from whatsapp_operator.wire.models import Settings

# Spec-only: a reference to the Secret that holds the webhook token (webhookUrlToken on the wire).
SPEC_ONLY = {"webhook_url_token_secret_ref"}


def wire_aliases() -> dict[str, str]:
    return {name: info.alias or name for name, info in Settings.model_fields.items()}


def test_every_managed_field_exists_on_the_wire_model_under_the_same_name() -> None:
    wire = wire_aliases()
    for name, info in SettingsSpec.model_fields.items():
        if name in SPEC_ONLY:
            continue
        assert name in wire, f"wire/models.py Settings lacks {name} (spec alias {info.alias})"
        assert wire[name] == info.alias, f"{name}: spec says {info.alias}, wire says {wire[name]}"


def test_the_emulator_knows_every_managed_field() -> None:
    # The wire model may read more (catalogWebhook is seen only in third-party code); what
    # the operator can send, the emulator must take.
    managed = {info.alias for name, info in SettingsSpec.model_fields.items()} - {
        SettingsSpec.model_fields[name].alias for name in SPEC_ONLY
    }
    missing = sorted(managed - set(ALL_FIELDS))
    assert missing == [], f"emulator/settings.py ALL_FIELDS lacks {missing}"


def test_managed_toggles_are_yes_no_on_the_emulator_too() -> None:
    spec_booleans = {
        info.alias
        for name, info in SettingsSpec.model_fields.items()
        if name not in SPEC_ONLY and info.annotation in (bool | None, "bool | None")
    }
    lenient = {"linkPreview", "enableLidMode"}  # bool or yes/no on the wire (see wire/models.py)
    assert spec_booleans
    assert spec_booleans - lenient <= set(YES_NO_FIELDS)
