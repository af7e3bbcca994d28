"""Kubernetes label selectors, evaluated: which namespaces a partner serves. Pure.

The semantics are metav1.LabelSelector's: every matchLabels pair and every
matchExpressions requirement must hold, and an empty selector selects
everything. NotIn and DoesNotExist hold for a label that is absent.
"""

from __future__ import annotations

from collections.abc import Mapping

from whatsapp_operator.api.partner import (
    LabelSelector,
    LabelSelectorRequirement,
    SelectorOperator,
)

__all__ = ["describe", "requirement_holds", "selects"]


def requirement_holds(requirement: LabelSelectorRequirement, labels: Mapping[str, str]) -> bool:
    """Whether one matchExpressions entry holds for `labels`."""
    present = requirement.key in labels
    values = set(requirement.values or ())
    operator = requirement.operator
    if operator is SelectorOperator.EXISTS:
        return present
    if operator is SelectorOperator.DOES_NOT_EXIST:
        return not present
    if operator is SelectorOperator.IN:
        return present and labels[requirement.key] in values
    return not present or labels[requirement.key] not in values


def selects(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Whether `selector` selects an object carrying `labels`."""
    for key, value in (selector.match_labels or {}).items():
        if labels.get(key) != value:
            return False
    return all(requirement_holds(r, labels) for r in selector.match_expressions or ())


def describe(selector: LabelSelector) -> str:
    """The selector in kubectl's `-l` syntax, for messages (`everything` when empty)."""
    parts = [f"{key}={value}" for key, value in sorted((selector.match_labels or {}).items())]
    for requirement in selector.match_expressions or ():
        values = ",".join(requirement.values or ())
        match requirement.operator:
            case SelectorOperator.EXISTS:
                parts.append(requirement.key)
            case SelectorOperator.DOES_NOT_EXIST:
                parts.append(f"!{requirement.key}")
            case SelectorOperator.IN:
                parts.append(f"{requirement.key} in ({values})")
            case SelectorOperator.NOT_IN:
                parts.append(f"{requirement.key} notin ({values})")
    return ",".join(parts) or "everything"
