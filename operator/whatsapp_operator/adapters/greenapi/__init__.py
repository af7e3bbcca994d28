"""GREEN-API: the client, its wire models and its error taxonomy."""

from whatsapp_operator.adapters.greenapi.client import ClientOptions, GreenApi, InstanceClient
from whatsapp_operator.adapters.greenapi.partner import PartnerClient
from whatsapp_operator.wire.errors import GreenApiError
from whatsapp_operator.wire.models import InstanceState, QrFrame, QrKind, Settings, StateReport

__all__ = [
    "ClientOptions",
    "GreenApi",
    "GreenApiError",
    "InstanceClient",
    "InstanceState",
    "PartnerClient",
    "QrFrame",
    "QrKind",
    "Settings",
    "StateReport",
]
