"""Generate the CustomResourceDefinition from the pydantic models in `resource`.

pydantic emits JSON Schema with `$ref`s, `anyOf [T, null]` for optional fields and
titles; Kubernetes wants a structural OpenAPI v3 schema: everything inlined, one
type per node, no `additionalProperties: false` next to `properties`. This module
does that translation and nothing else, so `crds/` can never drift from the code.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

from whatsapp_operator import constants
from whatsapp_operator.api.resource import (
    ClusterWhatsAppPartnerSpec,
    WhatsAppInstanceSpec,
    WhatsAppInstanceStatus,
    WhatsAppPartnerSpec,
    WhatsAppPartnerStatus,
    WhatsAppSettingsProfileSpec,
    WhatsAppSettingsProfileStatus,
)

CRD_FILE_NAME = f"{constants.GROUP}_{constants.PLURAL}.yaml"
PARTNER_CRD_FILE_NAME = f"{constants.GROUP}_{constants.PARTNER_PLURAL}.yaml"
PROFILE_CRD_FILE_NAME = f"{constants.GROUP}_{constants.PROFILE_PLURAL}.yaml"
CLUSTER_PARTNER_CRD_FILE_NAME = f"{constants.GROUP}_{constants.CLUSTER_PARTNER_PLURAL}.yaml"

_DROP_KEYS = frozenset({"title", "additionalProperties_false"})


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        merged = {**_resolve(target, defs), **{k: _resolve(v, defs) for k, v in node.items()}}
        return _structural(merged)
    any_of = node.pop("anyOf", None)
    if any_of is not None:
        options = [option for option in any_of if option.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot express anyOf {any_of!r} structurally")
        node = {**_resolve(options[0], defs), **node}
        if node.get("default", ...) is None:
            node.pop("default")
    resolved = {key: _resolve(value, defs) for key, value in node.items()}
    return _structural(resolved)


def _structural(node: dict[str, Any]) -> dict[str, Any]:
    node.pop("title", None)
    if node.get("additionalProperties") is False:
        node.pop("additionalProperties")
    if (
        node.get("type") == "object"
        and "properties" not in node
        and "additionalProperties" not in node
    ):
        # Free-form objects (metadata-like) must say so, or the API server prunes them empty.
        node["x-kubernetes-preserve-unknown-fields"] = True
    if "enum" in node and "type" not in node:
        node["type"] = "string"
    return node


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of `model`; ValueError for a union it cannot express."""
    raw = model.model_json_schema(by_alias=True)
    defs = raw.pop("$defs", {})
    schema: dict[str, Any] = _resolve(raw, defs)
    return schema


def _condition(kind: str) -> str:
    return f'.status.conditions[?(@.type=="{kind}")].status'


def instance_printer_columns() -> list[dict[str, Any]]:
    """The columns `kubectl get whatsappinstances` shows."""
    return [
        {
            "name": "State",
            "type": "string",
            "jsonPath": ".status.state",
            "description": "GREEN-API stateInstance",
        },
        {
            "name": "Phone",
            "type": "string",
            "jsonPath": ".status.account.phone",
            "description": "Linked phone number",
        },
        {"name": "Ready", "type": "string", "jsonPath": _condition("Ready")},
        {"name": "Synced", "type": "string", "jsonPath": _condition("Synced")},
        {
            "name": "Authorized",
            "type": "string",
            "jsonPath": _condition("Authorized"),
            "priority": 1,
        },
        {"name": "Instance", "type": "integer", "jsonPath": ".status.instanceId", "priority": 1},
        {
            "name": "Message",
            "type": "string",
            "priority": 1,
            "jsonPath": '.status.conditions[?(@.type=="Ready")].message',
        },
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]


def partner_printer_columns() -> list[dict[str, Any]]:
    """The columns `kubectl get whatsapppartners` shows."""
    return [
        {"name": "API", "type": "string", "jsonPath": ".spec.apiUrl"},
        {"name": "Ready", "type": "string", "jsonPath": _condition("Ready")},
        {"name": "Instances", "type": "integer", "jsonPath": ".status.instances"},
        {
            "name": "Message",
            "type": "string",
            "priority": 1,
            "jsonPath": '.status.conditions[?(@.type=="Ready")].message',
        },
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]


def profile_printer_columns() -> list[dict[str, Any]]:
    """The columns `kubectl get whatsappsettingsprofiles` shows."""
    return [
        {"name": "Ready", "type": "string", "jsonPath": _condition("Ready")},
        {"name": "Updated", "type": "integer", "jsonPath": ".status.updated"},
        {"name": "Total", "type": "integer", "jsonPath": ".status.total"},
        {"name": "Failed", "type": "string", "jsonPath": ".status.failed"},
        {
            "name": "Message",
            "type": "string",
            "priority": 1,
            "jsonPath": '.status.conditions[?(@.type=="Ready")].message',
        },
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]


def cluster_partner_printer_columns() -> list[dict[str, Any]]:
    """The columns `kubectl get clusterwhatsapppartners` shows."""
    columns = partner_printer_columns()
    selector = {
        "name": "Namespaces",
        "type": "string",
        "priority": 1,
        "jsonPath": ".spec.namespaceSelector",
        "description": "Which namespaces may use these credentials",
    }
    return [*columns[:3], selector, *columns[3:]]


def _crd(
    *,
    kind: str,
    plural: str,
    singular: str,
    short_names: tuple[str, ...],
    description: str,
    spec: type[BaseModel],
    status: type[BaseModel],
    columns: list[dict[str, Any]],
    scope: str = "Namespaced",
) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{constants.GROUP}",
            "labels": {"app.kubernetes.io/name": "whatsapp-operator"},
        },
        "spec": {
            "group": constants.GROUP,
            "scope": scope,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": singular,
                "shortNames": list(short_names),
                "categories": list(constants.CATEGORIES),
            },
            "versions": [
                {
                    "name": constants.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": description,
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": model_schema(spec),
                                "status": model_schema(status),
                            },
                        }
                    },
                }
            ],
        },
    }


def build_crd() -> dict[str, Any]:
    """The WhatsAppInstance CustomResourceDefinition."""
    return _crd(
        kind=constants.KIND,
        plural=constants.PLURAL,
        singular=constants.SINGULAR,
        short_names=constants.SHORT_NAMES,
        description="A WhatsApp account hosted on GREEN-API, with the settings it must have.",
        spec=WhatsAppInstanceSpec,
        status=WhatsAppInstanceStatus,
        columns=instance_printer_columns(),
    )


def build_partner_crd() -> dict[str, Any]:
    """The WhatsAppPartner CustomResourceDefinition."""
    return _crd(
        kind=constants.PARTNER_KIND,
        plural=constants.PARTNER_PLURAL,
        singular=constants.PARTNER_SINGULAR,
        short_names=constants.PARTNER_SHORT_NAMES,
        description="GREEN-API partner credentials for creating and deleting instances.",
        spec=WhatsAppPartnerSpec,
        status=WhatsAppPartnerStatus,
        columns=partner_printer_columns(),
    )


def build_profile_crd() -> dict[str, Any]:
    """The WhatsAppSettingsProfile CustomResourceDefinition."""
    return _crd(
        kind=constants.PROFILE_KIND,
        plural=constants.PROFILE_PLURAL,
        singular=constants.PROFILE_SINGULAR,
        short_names=constants.PROFILE_SHORT_NAMES,
        description=(
            "Settings shared by WhatsAppInstances (settingsProfileRef), rolled out a few "
            "instances at a time."
        ),
        spec=WhatsAppSettingsProfileSpec,
        status=WhatsAppSettingsProfileStatus,
        columns=profile_printer_columns(),
    )


def build_cluster_partner_crd() -> dict[str, Any]:
    """The ClusterWhatsAppPartner CustomResourceDefinition (cluster-scoped)."""
    return _crd(
        kind=constants.CLUSTER_PARTNER_KIND,
        plural=constants.CLUSTER_PARTNER_PLURAL,
        singular=constants.CLUSTER_PARTNER_SINGULAR,
        short_names=constants.CLUSTER_PARTNER_SHORT_NAMES,
        description=(
            "GREEN-API partner credentials for creating and deleting instances, usable from "
            "the namespaces its namespaceSelector selects."
        ),
        spec=ClusterWhatsAppPartnerSpec,
        status=WhatsAppPartnerStatus,
        columns=cluster_partner_printer_columns(),
        scope="Cluster",
    )


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str_presenter)


_HEADER = (
    "# Generated by `whatsapp-operator crd` from whatsapp_operator/api/resource.py.\n"
    "# Do not edit by hand: a test fails when this file differs from the models.\n"
)


def _render(document: dict[str, Any]) -> str:
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=100, default_flow_style=False)
    return _HEADER + body


def render_crd_yaml() -> str:
    """The WhatsAppInstance CRD as the YAML committed in `crds/`."""
    return _render(build_crd())


def render_partner_crd_yaml() -> str:
    """The WhatsAppPartner CRD as the YAML committed in `crds/`."""
    return _render(build_partner_crd())


def render_profile_crd_yaml() -> str:
    """The WhatsAppSettingsProfile CRD as the YAML committed in `crds/`."""
    return _render(build_profile_crd())


def render_cluster_partner_crd_yaml() -> str:
    """The ClusterWhatsAppPartner CRD as the YAML committed in `crds/`."""
    return _render(build_cluster_partner_crd())


def crd_files() -> dict[str, str]:
    """File name in `crds/` -> content, for every CRD of the project."""
    return {
        CRD_FILE_NAME: render_crd_yaml(),
        PARTNER_CRD_FILE_NAME: render_partner_crd_yaml(),
        PROFILE_CRD_FILE_NAME: render_profile_crd_yaml(),
        CLUSTER_PARTNER_CRD_FILE_NAME: render_cluster_partner_crd_yaml(),
    }
