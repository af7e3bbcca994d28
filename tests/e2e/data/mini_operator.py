"""A minimal kopf operator for the control-plane proof test.

Create and update write status through the status subresource; delete leaves a
ConfigMap behind as evidence, because the object itself is gone afterwards.
"""

from __future__ import annotations

from typing import Any

import kopf
import kubernetes

GROUP, VERSION, PLURAL = "e2e.whatsapp-operator.test", "v1", "gadgets"


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # The test CRD's status schema is strict; kopf's default progress storage
    # would also write status.kopf, which the apiserver prunes.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage()
    kubernetes.config.load_kube_config()


@kopf.on.create(GROUP, VERSION, PLURAL)
def created(spec: Any, meta: Any, patch: kopf.Patch, **_: Any) -> None:
    patch.status["phase"] = "Ready"
    patch.status["observedGeneration"] = meta["generation"]
    patch.status["observedSize"] = spec["size"]


@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
def updated(spec: Any, meta: Any, patch: kopf.Patch, **_: Any) -> None:
    patch.status["phase"] = "Updated"
    patch.status["observedGeneration"] = meta["generation"]
    patch.status["observedSize"] = spec["size"]


@kopf.on.delete(GROUP, VERSION, PLURAL)
def deleted(name: str, namespace: str, **_: Any) -> None:
    body = kubernetes.client.V1ConfigMap(
        metadata=kubernetes.client.V1ObjectMeta(name=f"{name}-deleted"),
        data={"gadget": name},
    )
    kubernetes.client.CoreV1Api().create_namespaced_config_map(namespace, body)
