"""Names and label values the operator derives from a resource's name.

A resource name may be 253 characters long, a label value only 63, and a name with a
suffix appended can exceed 253. Anything derived from a name goes through these
helpers: what fits is kept as it is, what does not is cut and made unique again with a
hash of the whole input, so two long names that share a prefix never collide.
Standard library only: decide/, run/ and the kubectl plugin all use it.
"""

from __future__ import annotations

import hashlib
import re

from whatsapp_operator import constants

LABEL_VALUE_MAX = 63
NAME_MAX = 253
HASH_CHARS = 10
# A label value: empty, or alphanumerics with '-', '_' or '.' inside (Kubernetes' rule).
_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_NOT_LABEL_CHARACTER = re.compile(r"[^-A-Za-z0-9_.]")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_CHARS]


def is_label_value(text: str) -> bool:
    """Whether Kubernetes accepts `text` as a label value as it is."""
    return len(text) <= LABEL_VALUE_MAX and _LABEL_VALUE.fullmatch(text) is not None


def label_value(text: str) -> str:
    """`text` as a label value: unchanged when valid, else `<prefix>-<10 hex of sha256>`.

    The prefix is the start of `text` (characters a label cannot hold become '-'), at
    most 52 characters, so the result is at most 63 and ends with a hex digit.
    """
    if is_label_value(text):
        return text
    keep = LABEL_VALUE_MAX - HASH_CHARS - 1
    prefix = _NOT_LABEL_CHARACTER.sub("-", text[:keep])
    # A label value starts with an alphanumeric; the hash already ends with one.
    prefix = prefix.lstrip("-_.").rstrip("-_.")
    return f"{prefix}-{_digest(text)}" if prefix else _digest(text)


def derived_name(base: str, suffix: str) -> str:
    """`base + suffix` as a Secret name, shortened with a hash of `base` to fit 253.

    `base` is a valid object name (a DNS subdomain) and `suffix` starts with '-' and is
    lowercase alphanumeric; the result is then a DNS subdomain too.
    """
    if len(base) + len(suffix) <= NAME_MAX:
        return base + suffix
    keep = NAME_MAX - len(suffix) - HASH_CHARS - 1
    # Cut at '.' or '-' and the next part would start or end without an alphanumeric.
    prefix = base[:keep].rstrip(".-")
    return f"{prefix}-{_digest(base)}{suffix}"


def owned_secret_labels(resource: str, role: str) -> dict[str, str]:
    """The labels of a Secret the operator owns for the WhatsAppInstance `resource` in `role`.

    The instance label is informative (selectors, `kubectl get -l`); ownership is decided
    by the controller ownerReference's uid, never by this value.
    """
    return {
        constants.LABEL_MANAGED_BY: constants.MANAGED_BY,
        constants.LABEL_INSTANCE_NAME: label_value(resource),
        constants.LABEL_SECRET_ROLE: role,
    }


def instance_selector(resource: str) -> str:
    """A label selector for the Secrets the operator owns for the instance `resource`."""
    return (
        f"{constants.LABEL_MANAGED_BY}={constants.MANAGED_BY},"
        f"{constants.LABEL_INSTANCE_NAME}={label_value(resource)}"
    )
