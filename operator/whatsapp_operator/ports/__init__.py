"""What the operator's core needs from the outside world, without importing it.

One module per outside system: `errors` (the failures the core tells apart),
`secrets` (Secret values, owners and the Secret store), `kubernetes` (the other
objects, annotations and the Lease), `greenapi` (side effects and API calls). No
client library at run time: `decide/` and `run/` depend on these, never on the
`kubernetes` client or httpx. The names most callers need are re-exported here.
"""

from whatsapp_operator.ports.errors import (
    IntentNotRecorded,
    KubeError,
    ProvisioningFailure,
    SecretKeyMissing,
    SecretNotFound,
    SecretNotOwned,
)
from whatsapp_operator.ports.greenapi import Effect
from whatsapp_operator.ports.secrets import Owner, SecretReader, SecretStore, SecretValue

__all__ = [
    "Effect",
    "IntentNotRecorded",
    "KubeError",
    "Owner",
    "ProvisioningFailure",
    "SecretKeyMissing",
    "SecretNotFound",
    "SecretNotOwned",
    "SecretReader",
    "SecretStore",
    "SecretValue",
]
