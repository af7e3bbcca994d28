"""Whether a Secret is the operator's to change: the checks before every write and delete.

Ownership is the controller ownerReference's uid plus the managed-by and role labels;
the instance-name label is informative only (it may be a shortened form of the name).
"""

from __future__ import annotations

from typing import Any

from whatsapp_operator import constants
from whatsapp_operator.ports import SecretNotOwned


def version_of(secret: Any | None) -> str:
    """A Secret's resourceVersion; "" for an absent Secret."""
    if secret is None or secret.metadata is None:
        return ""
    return str(secret.metadata.resource_version or "")


def ownership_problem(secret: Any, owner_uid: str, role: str) -> str:
    """Why this Secret is not the object's to write or delete; "" when it is."""
    metadata = secret.metadata
    labels: dict[str, str] = (metadata.labels if metadata is not None else None) or {}
    if labels.get(constants.LABEL_MANAGED_BY) != constants.MANAGED_BY:
        return f"it lacks the label {constants.LABEL_MANAGED_BY}={constants.MANAGED_BY}"
    references = (metadata.owner_references if metadata is not None else None) or []
    if not any(ref.controller is True and ref.uid == owner_uid for ref in references):
        return f"it has no controller ownerReference to this {constants.KIND} (uid {owner_uid})"
    found = labels.get(constants.LABEL_SECRET_ROLE, "")
    if found != role:
        return f"its label {constants.LABEL_SECRET_ROLE} is {found!r}, not {role!r}"
    return ""


def check_owned(secret: Any, what: str, owner_uid: str, role: str) -> None:
    """Raise `SecretNotOwned` unless the object with `owner_uid` owns `secret` in `role`."""
    problem = ownership_problem(secret, owner_uid, role)
    if problem:
        raise SecretNotOwned(
            f"{what} exists and is not the operator's to change: {problem}. "
            "Use another Secret name, or delete that Secret if nothing else needs it",
            retryable=False,
        )
