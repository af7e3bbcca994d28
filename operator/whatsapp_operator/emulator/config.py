"""The emulator's configuration: timings, variant switches, rate limits, faults and seeds.

Loaded from command-line flags and/or a YAML or JSON file. Keys may be written in snake_case
or in camelCase (`creation_seconds` or `creationSeconds`), so the file can mirror GREEN-API's
own camelCase bodies (`idInstance`, `apiTokenInstance`) in the seed section.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

InstanceStateName = Literal[
    "creating", "notAuthorized", "authorized", "blocked", "sleepMode", "starting", "yellowCard"
]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", validate_assignment=True
    )


class Timings(_Model):
    """Lifecycle durations in (emulated) seconds; the real service needs up to 5 minutes each."""

    creation_seconds: float = Field(default=60.0, ge=0)
    starting_seconds: float = Field(default=15.0, ge=0)
    settings_apply_seconds: float = Field(default=30.0, ge=0)
    qr_rotate_seconds: float = Field(default=20.0, gt=0)
    ws_timeout_seconds: float = Field(default=100.0, gt=0)
    auth_code_valid_seconds: float = Field(default=150.0, gt=0)
    deleted_visible_days: float = Field(default=90.0, ge=0)
    # Forum post 397: instances deleted "a month or more" ago answer 401; used only with
    # `variants.deleted_long_ago_response = "unauthorized"`.
    deleted_long_ago_days: float = Field(default=30.0, ge=0)
    # Fault, off at 0: how long a partner-created instance stays missing from getInstances.
    # Fixed per instance at creation, like `creation_seconds`.
    listing_lag_seconds: float = Field(default=0.0, ge=0)


class Variants(_Model):
    """Switches between behaviours the sources disagree on; defaults follow the current docs."""

    # What an instance answers while it is being created: HTTP 200 `null` (current docs),
    # HTTP 401 (ISS#306) or 400 "Instance account is expired..." (ISS#197).
    creation_response: Literal["null", "unauthorized", "expired"] = "null"
    # A deleted instance answers 400 "Instance is deleted" (docs) or behaves as `starting`
    # (ISS#637).
    deleted_response: Literal["deleted", "starting"] = "deleted"
    link_preview_form: Literal["bool", "yesno"] = "bool"
    lid_mode_form: Literal["bool", "yesno"] = "bool"
    delay_max_ms: Literal[600000, 86400000] = 600000
    wid_in_set_settings: Literal["ignore", "reject"] = "ignore"
    ws_timeout_type: Literal["timeoutExpired", "timeout"] = "timeoutExpired"
    # Only the calls product documents a single scanqrcode session; assumed for WhatsApp too.
    ws_single_session: bool = True
    not_authorized_text: Literal["current", "old"] = "current"
    # Partner errors inside an HTTP 200 JSON body (docs) or as HTTP 400 text (ISS#619, FORK).
    partner_error_style: Literal["json200", "http400"] = "json200"
    # Forum RU 381: a wrong pairing code followed by another getAuthorizationCode leaves the
    # instance stuck in `starting` until logout.
    wrong_code_bug: bool = False
    # Which methods answer 400 "instance in starting process try later" while starting.
    starting_rejects: list[str] = Field(
        default_factory=lambda: ["getAuthorizationCode", "setSettings"]
    )
    logout_when_not_authorized: Literal["ok", "error"] = "ok"
    # The SetSettings scenario page: "Setting the settings may take up to 5 minutes. During
    # this time, you can request a QR code." `refused` is the emulator's older behaviour
    # (an `error` frame while starting).
    qr_while_starting: Literal["allowed", "refused"] = "allowed"
    # The QR page documents `alreadyLogged` for a linked instance and the `error` "Instance has
    # auth. You need to make log out" for unusable auth data; `hasAuth` gives linked instances
    # the latter (per-instance stale auth data is the admin `stale-auth` switch).
    qr_when_authorized: Literal["alreadyLogged", "hasAuth"] = "alreadyLogged"
    # Forum post 397: long-deleted instances answer 401 instead of 400 "Instance is deleted".
    deleted_long_ago_response: Literal["deleted", "unauthorized"] = "deleted"
    # The body of a refused getAuthorizationCode (only `status: false` is documented).
    auth_code_refused_body: Literal["emptyCode", "statusOnly"] = "emptyCode"
    # New instances' delay: 500 per the current createInstance page; 3000 is the older
    # "recommended"/FORK value; 0 is seen in third-party getSettings captures.
    default_delay_ms: Literal[500, 3000, 0] = 500
    # getSettings captures show "system proxy"; older emulator versions reported "".
    default_proxy_instance: str = "system proxy"


class RateLimits(_Model):
    """Per instance and method token buckets (real values from the rate-limiter page)."""

    enabled: bool = True
    # Multiplies every rate, so a load benchmark can keep the limiter's cost but not its 429s.
    scale: float = Field(default=1.0, gt=0)
    overrides: dict[str, float] = Field(default_factory=dict)
    # No partner limit is documented; None keeps it off.
    partner_rps: float | None = Field(default=None, gt=0)


class FaultRule(_Model):
    """Inject failures into one method (or `*`), optionally for one instance only.

    `latency_ms` delays the processing (after the body is read), `drop_rate` closes the
    connection before any effect, `error_rate` answers `status` without any effect, and
    `lose_answer_rate` performs the call and then withholds the answer for `lose_answer_ms`
    (or until the client hangs up), so the client times out although the call took effect.
    """

    method: str = "*"
    instance_id: int | None = None
    error_rate: float = Field(default=0.0, ge=0, le=1)
    status: int = Field(default=500, ge=400, le=599)
    latency_ms: float = Field(default=0.0, ge=0)
    drop_rate: float = Field(default=0.0, ge=0, le=1)
    lose_answer_rate: float = Field(default=0.0, ge=0, le=1)
    # Longer than any sane client read timeout; the hold ends early when the client leaves.
    lose_answer_ms: float = Field(default=300_000.0, gt=0)


class SeedInstance(_Model):
    """An instance that exists when the emulator starts (or is seeded later), in a given state."""

    id_instance: int | None = None
    api_token_instance: str | None = None
    state: InstanceStateName = "notAuthorized"
    settings: dict[str, Any] = Field(default_factory=dict)
    name: str = ""
    phone: str | None = None
    # Unusable auth data: qr answers "Instance has auth. You need to make log out" until logout.
    stale_auth: bool = False


class EmulatorConfig(_Model):
    """Everything an emulator can be told: timings, variants, limits, faults, seeds, tokens."""

    timings: Timings = Field(default_factory=Timings)
    variants: Variants = Field(default_factory=Variants)
    rate_limits: RateLimits = Field(default_factory=RateLimits)
    faults: list[FaultRule] = Field(default_factory=list)
    # Probability that a setSettings answers saveSettings=true but is never applied (ISS#33).
    drop_settings_probability: float = Field(default=0.0, ge=0, le=1)
    # Probability that getAuthorizationCode answers `status: false` (documented; retry).
    auth_code_refused_probability: float = Field(default=0.0, ge=0, le=1)
    # Seeds ids, tokens, QR secrets and fault dice, so a failing run can be replayed.
    random_seed: int | None = None
    id_prefix: str = Field(default="7105", pattern=r"^[1-9][0-9]{0,6}$")
    instances: list[SeedInstance] = Field(default_factory=list)
    partner_tokens: list[str] = Field(default_factory=list)


def load_config_file(path: str | Path) -> EmulatorConfig:
    """Read a YAML or JSON file (JSON is valid YAML, but a `.json` file skips PyYAML)."""
    text = Path(path).read_text(encoding="utf-8")
    data: Any
    if str(path).endswith(".json"):
        data = json.loads(text)
    else:
        import yaml  # noqa: PLC0415 - only needed for YAML files

        data = yaml.safe_load(text) or {}
    return EmulatorConfig.model_validate(data)


def merge_patch(config: EmulatorConfig, patch: dict[str, Any]) -> EmulatorConfig:
    """Apply a (possibly nested, camelCase or snake_case) partial update and revalidate."""
    current = config.model_dump(by_alias=True)
    normalized = EmulatorConfig.model_validate(_deep_merge(current, _camelize(patch))).model_dump(
        by_alias=True
    )
    return EmulatorConfig.model_validate(normalized)


def _camelize(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            (to_camel(k) if isinstance(k, str) and "_" in k else k): _camelize(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_camelize(v) for v in value]
    return value


def _deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "overrides":
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
