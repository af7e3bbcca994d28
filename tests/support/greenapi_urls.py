"""GREEN-API URL shapes, written from the public docs (independent of the project's client)."""

from __future__ import annotations


def instance_url(base: str, id_instance: int, method: str, token: str) -> str:
    return f"{base}/waInstance{id_instance}/{method}/{token}"


def partner_url(base: str, method: str, token: str) -> str:
    return f"{base}/partner/{method}/{token}"


def ws_url(base: str, id_instance: int, token: str) -> str:
    return instance_url(base.replace("http://", "ws://", 1), id_instance, "scanqrcode", token)
