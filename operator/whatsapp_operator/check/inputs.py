"""What the check checks: an apiUrl, an idInstance and credentials, from flags or from a
WhatsAppInstance (its spec, Secrets, settings profile and partner), read the way the
operator reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import yaml
from pydantic import ValidationError

from whatsapp_operator import constants
from whatsapp_operator.api.resource import (
    ClusterWhatsAppPartner,
    PartnerKind,
    SettingsProfileName,
    SettingsSpec,
    WhatsAppInstance,
    WhatsAppPartner,
    WhatsAppPartnerSpec,
    WhatsAppSettingsProfile,
)
from whatsapp_operator.check.kube import InputError, KubeReader
from whatsapp_operator.check.managed import Desired
from whatsapp_operator.decide.plan import DesiredSettings
from whatsapp_operator.decide.profiles import effective_settings
from whatsapp_operator.redaction import register_secret
from whatsapp_operator.run.cycle import default_api_url
from whatsapp_operator.run.identity import TOKEN_KEY, owned_token_secret

PARTNER_TOKEN_KEY = "partnerToken"  # noqa: S105 - a Secret key name, not a credential
DEFAULT_PARTNER_API_URL = "https://api.green-api.com"


class UsageError(ValueError):
    """A command line that cannot be run as given (exit code 2)."""


@dataclass(frozen=True)
class SecretRef:
    """namespace/name[:key] of a Secret key."""

    namespace: str
    name: str
    key: str

    def __str__(self) -> str:
        return f"Secret {self.namespace}/{self.name} key {self.key}"


def parse_secret_ref(text: str, default_key: str, flag: str) -> SecretRef:
    """`ns/name[:key]`; UsageError when it is not that shape."""
    where, _colon, key = text.partition(":")
    namespace, slash, name = where.partition("/")
    if not (namespace and slash and name) or "/" in name:
        raise UsageError(f"{flag} must be NAMESPACE/NAME[:KEY], not {text!r}")
    return SecretRef(namespace, name, key or default_key)


def parse_object_ref(text: str, flag: str) -> tuple[str, str]:
    """`ns/name`; UsageError when it is not that shape."""
    namespace, slash, name = text.partition("/")
    if not (namespace and slash and name) or "/" in name:
        raise UsageError(f"{flag} must be NAMESPACE/NAME, not {text!r}")
    return namespace, name


def read_token_file(path: str, stdin: IO[str]) -> str:
    """The token in a file (`-`: standard input), surrounding whitespace removed."""
    try:
        text = stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read the token file {path}: {exc.strerror}") from None
    token = text.strip()
    if not token:
        raise UsageError(f"the token file {path} is empty")
    return token


@dataclass(frozen=True)
class PartnerInputs:
    """The partner API to ask, its token, and where the token came from."""

    api_url: str
    token: str
    source: str


@dataclass
class Inputs:
    """Everything the steps need; `problems` are inputs that could not be read."""

    source: str
    api_url: str
    id_instance: int | None
    token: str | None = None
    token_source: str = ""
    desired: Desired | None = None
    partner: PartnerInputs | None = None
    problems: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)

    def keep_secret(self, value: str) -> str:
        """Remember `value` for scrubbing this run's output, and the process's logs."""
        self.secrets.append(value)
        register_secret(value)
        return value


def _read(inputs: Inputs, reader: KubeReader, ref: SecretRef) -> tuple[str, str] | None:
    try:
        value, version = reader.secret_key(ref.namespace, ref.name, ref.key)
    except InputError as exc:
        inputs.problems.append(str(exc))
        return None
    inputs.keep_secret(value)
    return value, version


def with_token(
    inputs: Inputs, reader: KubeReader | None, ref: SecretRef | None, token: str | None
) -> None:
    """The instance token from a file's text or a Secret."""
    if token is not None:
        inputs.token = inputs.keep_secret(token)
        inputs.token_source = "token from a file"  # noqa: S105 - a description
    elif ref is not None and reader is not None:
        found = _read(inputs, reader, ref)
        inputs.token = found[0] if found else None
        inputs.token_source = f"token from {ref}"


def with_partner(
    inputs: Inputs,
    reader: KubeReader | None,
    api_url: str,
    ref: SecretRef | None,
    token: str | None,
) -> None:
    """The partner credentials given on the command line, if any."""
    if token is not None:
        inputs.partner = PartnerInputs(api_url, inputs.keep_secret(token), "a file")
    elif ref is not None and reader is not None:
        found = _read(inputs, reader, ref)
        if found:
            inputs.partner = PartnerInputs(api_url, found[0], str(ref))


def settings_from(profile: str | None, path: str | None) -> SettingsSpec:
    """Desired settings for the flag form: a built-in profile under a spec.settings file."""
    own = SettingsSpec()
    if path is not None:
        try:
            loaded: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
            own = SettingsSpec.model_validate(loaded)
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise UsageError(
                f"--settings-file {path}: not a valid spec.settings ({type(exc).__name__})"
            ) from None
    name = SettingsProfileName(profile) if profile is not None else None
    return effective_settings(own, name)


def flag_desired(spec: SettingsSpec | None) -> Desired | None:
    """The flag form's desired settings; a webhook token reference is not followed there."""
    if spec is None:
        return None
    uncompared = ("webhookUrlToken",) if spec.webhook_url_token_secret_ref is not None else ()
    return Desired(DesiredSettings(spec.managed()), uncompared=uncompared)


def from_instance(reader: KubeReader, namespace: str, name: str) -> Inputs:
    """Everything the operator would read for WhatsAppInstance namespace/name."""
    source = f"WhatsAppInstance {namespace}/{name}"
    body = reader.custom(constants.PLURAL, namespace, name)
    try:
        obj = WhatsAppInstance.model_validate(body)
    except ValidationError:
        raise InputError(f"{source} is not valid for this version of the operator") from None
    spec = obj.spec
    annotations = obj.metadata.get("annotations") or {}
    noted = str(annotations.get(constants.ANNOTATION_INSTANCE_ID, ""))
    id_instance = (
        spec.instance.id or obj.status.instance_id or (int(noted) if noted.isdigit() else None)
    )
    api_url = (
        spec.instance.api_url
        or obj.status.api_url
        or (default_api_url(id_instance) if id_instance else "")
    )
    inputs = Inputs(source, api_url, id_instance)
    if id_instance is None:
        inputs.problems.append(f"{source} has no instance yet (the operator has not created it)")
    token_ref = spec.instance.token_secret_ref
    ref = (
        SecretRef(namespace, token_ref.name, token_ref.key)
        if token_ref is not None
        else SecretRef(namespace, owned_token_secret(name), TOKEN_KEY)
    )
    with_token(inputs, reader, ref, None)
    inputs.desired = _instance_desired(inputs, reader, obj, namespace)
    if spec.partner_ref is not None:
        _instance_partner(inputs, reader, spec.partner_ref.kind, spec.partner_ref.name, namespace)
    return inputs


def _instance_desired(
    inputs: Inputs, reader: KubeReader, obj: WhatsAppInstance, namespace: str
) -> Desired:
    spec = obj.spec
    shared = None
    if spec.settings_profile_ref is not None:
        what = f"WhatsAppSettingsProfile {namespace}/{spec.settings_profile_ref.name}"
        try:
            body = reader.custom(
                constants.PROFILE_PLURAL, namespace, spec.settings_profile_ref.name
            )
            shared = WhatsAppSettingsProfile.model_validate(body).spec
        except InputError as exc:
            inputs.problems.append(
                f"{exc} (settingsProfileRef); the operator writes no settings until it can read it"
            )
        except ValidationError:
            inputs.problems.append(f"{what} is not valid")
    layered = effective_settings(spec.settings, spec.settings_profile, shared)
    values = layered.managed()
    version = ""
    uncompared: tuple[str, ...] = ()
    hook = layered.webhook_url_token_secret_ref
    if hook is not None:
        found = _read(inputs, reader, SecretRef(namespace, hook.name, hook.key))
        if found:
            values["webhook_url_token"], version = found
        else:
            uncompared = ("webhookUrlToken",)
    annotations = obj.metadata.get("annotations") or {}
    return Desired(
        DesiredSettings(values, version),
        policy=spec.management_policy,
        paused=constants.is_paused(annotations),
        last_applied=obj.status.last_applied,
        settle=timedelta(seconds=spec.intervals.settle_seconds),
        uncompared=uncompared,
    )


def _instance_partner(
    inputs: Inputs, reader: KubeReader, kind: PartnerKind, name: str, namespace: str
) -> None:
    partner: WhatsAppPartnerSpec
    try:
        if kind is PartnerKind.CLUSTER_WHATSAPP_PARTNER:
            cluster_spec = ClusterWhatsAppPartner.model_validate(
                reader.custom(constants.CLUSTER_PARTNER_PLURAL, None, name)
            ).spec
            partner, where = cluster_spec, cluster_spec.token_secret_ref.namespace
        else:
            partner = WhatsAppPartner.model_validate(
                reader.custom(constants.PARTNER_PLURAL, namespace, name)
            ).spec
            where = namespace
    except InputError as exc:
        inputs.problems.append(f"{exc} (partnerRef)")
        return
    except ValidationError:
        inputs.problems.append(f"{kind.value} {name} is not valid")
        return
    if where is None:
        inputs.problems.append(
            f"ClusterWhatsAppPartner {name} keeps its token in the operator's namespace: "
            "give it with --partner-token-secret NAMESPACE/NAME[:KEY]"
        )
        return
    ref = SecretRef(where, partner.token_secret_ref.name, partner.token_secret_ref.key)
    with_partner(inputs, reader, partner.api_url, ref, None)
