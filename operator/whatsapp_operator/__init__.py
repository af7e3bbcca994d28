"""Kubernetes operator for WhatsApp accounts hosted on GREEN-API."""

__version__ = "0.1.0"
