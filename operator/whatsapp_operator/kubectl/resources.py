"""The kinds the plugin shows, and how a user names one on the command line (`partner/x`)."""

from __future__ import annotations

from dataclasses import dataclass

from whatsapp_operator import constants
from whatsapp_operator.kubectl.view import PluginError


@dataclass(frozen=True)
class Kind:
    """One of the operator's kinds, as the plugin addresses it."""

    kind: str
    plural: str
    namespaced: bool
    # What a user may write before the slash; the first is what the plugin suggests.
    aliases: tuple[str, ...]


INSTANCE = Kind(
    constants.KIND,
    constants.PLURAL,
    namespaced=True,
    aliases=("instance", constants.SINGULAR, constants.PLURAL, *constants.SHORT_NAMES),
)
PARTNER = Kind(
    constants.PARTNER_KIND,
    constants.PARTNER_PLURAL,
    namespaced=True,
    aliases=(
        "partner",
        constants.PARTNER_SINGULAR,
        constants.PARTNER_PLURAL,
        *constants.PARTNER_SHORT_NAMES,
    ),
)
CLUSTER_PARTNER = Kind(
    constants.CLUSTER_PARTNER_KIND,
    constants.CLUSTER_PARTNER_PLURAL,
    namespaced=False,
    aliases=(
        "clusterpartner",
        constants.CLUSTER_PARTNER_SINGULAR,
        constants.CLUSTER_PARTNER_PLURAL,
        *constants.CLUSTER_PARTNER_SHORT_NAMES,
    ),
)
PROFILE = Kind(
    constants.PROFILE_KIND,
    constants.PROFILE_PLURAL,
    namespaced=True,
    aliases=(
        "profile",
        constants.PROFILE_SINGULAR,
        constants.PROFILE_PLURAL,
        *constants.PROFILE_SHORT_NAMES,
    ),
)
KINDS = (INSTANCE, PARTNER, CLUSTER_PARTNER, PROFILE)


def parse_target(text: str) -> tuple[Kind, str]:
    """`NAME` (a WhatsAppInstance) or `KIND/NAME`, KIND as in `Kind.aliases` or the kind itself.

    PluginError for an unknown kind or an empty name.
    """
    if "/" not in text:
        kind, name = INSTANCE, text
    else:
        prefix, name = text.split("/", 1)
        wanted = prefix.lower().split(".", 1)[0]  # `whatsapppartner.whatsapp-operator.io`
        found = next(
            (k for k in KINDS if wanted in k.aliases or wanted == k.kind.lower()),
            None,
        )
        if found is None:
            choices = ", ".join(k.aliases[0] for k in KINDS)
            raise PluginError(f"unknown kind {prefix!r} in {text!r}; use one of: {choices}")
        kind = found
    if not name or "/" in name:
        raise PluginError(f"{text!r} does not name one resource (NAME or KIND/NAME)")
    return kind, name
