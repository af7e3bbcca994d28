"""Generate the CustomResourceDefinition from the pydantic models in `resource`.

pydantic emits JSON Schema with `$ref`s, `anyOf [T, null]` for optional fields and
titles; Kubernetes wants a structural OpenAPI v3 schema: everything inlined, one
type per node, no `additionalProperties: false` next to `properties`. This module
does that translation and nothing else, so `crds/` can never drift from the code.
"""

from __future__ import annotations

from typing import Any

import yaml

from whatsapp_operator import constants
from whatsapp_operator.resource import WhatsAppInstanceSpec, WhatsAppInstanceStatus

CRD_FILE_NAME = f"{constants.GROUP}_{constants.PLURAL}.yaml"

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


def model_schema(
    model: type[WhatsAppInstanceSpec] | type[WhatsAppInstanceStatus],
) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True)
    defs = raw.pop("$defs", {})
    schema: dict[str, Any] = _resolve(raw, defs)
    return schema


def printer_columns() -> list[dict[str, Any]]:
    def condition(kind: str) -> str:
        return f'.status.conditions[?(@.type=="{kind}")].status'

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
        {"name": "Ready", "type": "string", "jsonPath": condition("Ready")},
        {"name": "Synced", "type": "string", "jsonPath": condition("Synced")},
        {
            "name": "Authorized",
            "type": "string",
            "jsonPath": condition("Authorized"),
            "priority": 1,
        },
        {"name": "Instance", "type": "integer", "jsonPath": ".spec.instance.id", "priority": 1},
        {
            "name": "Message",
            "type": "string",
            "priority": 1,
            "jsonPath": '.status.conditions[?(@.type=="Ready")].message',
        },
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]


def build_crd() -> dict[str, Any]:
    spec_schema = model_schema(WhatsAppInstanceSpec)
    status_schema = model_schema(WhatsAppInstanceStatus)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{constants.PLURAL}.{constants.GROUP}",
            "labels": {"app.kubernetes.io/name": "whatsapp-operator"},
        },
        "spec": {
            "group": constants.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": constants.KIND,
                "listKind": f"{constants.KIND}List",
                "plural": constants.PLURAL,
                "singular": constants.SINGULAR,
                "shortNames": list(constants.SHORT_NAMES),
                "categories": list(constants.CATEGORIES),
            },
            "versions": [
                {
                    "name": constants.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": printer_columns(),
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": (
                                "A WhatsApp account hosted on GREEN-API, with the settings it "
                                "must have."
                            ),
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                        }
                    },
                }
            ],
        },
    }


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str_presenter)


def render_crd_yaml() -> str:
    header = (
        "# Generated by `whatsapp-operator crd` from whatsapp_operator/resource.py.\n"
        "# Do not edit by hand: a test fails when this file differs from the models.\n"
    )
    body = yaml.dump(
        build_crd(), Dumper=_Dumper, sort_keys=False, width=100, default_flow_style=False
    )
    return header + body
