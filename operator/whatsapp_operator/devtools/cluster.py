"""A handle on the cluster an end-to-end test session runs against.

Either a local `ControlPlane` or an existing cluster given by kubeconfig; the
tests only see the kubeconfig, an API client factory, helm and the log tails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from whatsapp_operator.devtools.controlplane import ControlPlane, load_crd_documents
from whatsapp_operator.devtools.polling import wait_until

TEST_CONTEXT_HINTS = ("kind-", "k3d-", "minikube", "test", "local", "dev")


@dataclass
class KubeCluster:
    """The cluster a test session runs against: its kubeconfig, helm, and the CRDs it installed."""

    kubeconfig: Path
    helm: Path
    control_plane: ControlPlane | None = None
    crd_names: list[str] = field(default_factory=list)

    def api_client(self) -> client.ApiClient:
        """A fresh admin client; close it (or use it as a context manager)."""
        api: client.ApiClient = config.new_client_from_config(config_file=str(self.kubeconfig))
        return api

    def log_tails(self, lines: int = 40) -> str:
        """The last `lines` lines of each component's log (a local control plane only)."""
        if self.control_plane is None:
            return "(an external cluster: its component logs are not available here)"
        return self.control_plane.format_log_tails(lines)


def current_context(kubeconfig: Path) -> str:
    """The current-context named in the kubeconfig file, "" when none is."""
    loaded: Any = yaml.safe_load(kubeconfig.read_text(encoding="utf-8")) or {}
    return str(loaded.get("current-context") or "")


def is_test_context(context: str, allowed: str | None) -> bool:
    """Whether a context is disposable enough for tests that delete namespaces and CRDs."""
    return context == allowed or any(hint in context.lower() for hint in TEST_CONTEXT_HINTS)


def apply_crds(api: client.ApiClient, paths: Sequence[Path], timeout: float = 30.0) -> list[str]:
    """Create or replace the CRDs in `paths` and wait until each is Established."""
    crds = client.ApiextensionsV1Api(api)
    names: list[str] = []
    for doc in load_crd_documents(paths):
        name = doc["metadata"]["name"]
        # The client sends plain dicts as they are; its models would only add
        # a lossy round trip through Python attribute names.
        body: Any = doc
        try:
            crds.create_custom_resource_definition(body)
        except ApiException as error:
            if error.status != 409:
                raise
            current: Any = crds.read_custom_resource_definition(name)
            doc["metadata"]["resourceVersion"] = current.metadata.resource_version
            crds.replace_custom_resource_definition(name, body)
        names.append(name)

    def established(name: str) -> bool:
        crd: Any = crds.read_custom_resource_definition(name)
        conditions = (crd.status and crd.status.conditions) or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    for name in names:
        wait_until(lambda n=name: established(n), f"CRD {name} to be Established", timeout)  # type: ignore[misc]
    return names
