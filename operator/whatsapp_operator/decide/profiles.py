"""Pure: the settings an instance wants once its profiles are layered under its own.

Precedence, lowest first: the built-in profile (the instance's `settingsProfile`, else
the referenced profile's), the referenced WhatsAppSettingsProfile's `settings`, the
instance's own `spec.settings`. Each layer is sparse: a key a layer does not set
leaves the key of the layer below alone.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from whatsapp_operator.api.profile import (
    BUILT_IN_PROFILES,
    SettingsProfileName,
    WhatsAppSettingsProfileSpec,
)
from whatsapp_operator.api.settings import SettingsSpec


def _layer(spec: SettingsSpec) -> dict[str, Any]:
    """The keys a layer sets (Python names), the webhook token reference included."""
    return {
        name: getattr(spec, name)
        for name in spec.model_fields_set
        if getattr(spec, name) is not None
    }


def layered_settings(*layers: SettingsSpec) -> SettingsSpec:
    """One sparse SettingsSpec from `layers`, later layers overriding earlier ones per key."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(_layer(layer))
    return SettingsSpec.model_validate(merged)


def built_in(name: SettingsProfileName | None) -> SettingsSpec:
    """The built-in profile `name`, or an empty layer."""
    return BUILT_IN_PROFILES[name] if name is not None else SettingsSpec()


def effective_settings(
    own: SettingsSpec,
    builtin: SettingsProfileName | None = None,
    shared: WhatsAppSettingsProfileSpec | None = None,
) -> SettingsSpec:
    """What an instance manages: built-in < referenced profile < its own settings."""
    base = builtin if builtin is not None else (shared.settings_profile if shared else None)
    layers = [built_in(base)]
    if shared is not None:
        layers.append(shared.settings)
    layers.append(own)
    return layered_settings(*layers)


def profile_revision(spec: WhatsAppSettingsProfileSpec) -> str:
    """A digest of what the profile contributes (its built-in and its settings).

    Secret references count by name and key: a new token in the same Secret is not a
    new revision (a Secret change reaches each instance directly).
    """
    content = layered_settings(built_in(spec.settings_profile), spec.settings)
    material = json.dumps(
        content.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=True
    )
    return "sha256:" + hashlib.sha256(material.encode()).hexdigest()[:16]
