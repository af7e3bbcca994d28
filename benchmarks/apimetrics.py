"""API-server requests per phase, from kube-apiserver's own `apiserver_request_total`.

The benchmark reads `/metrics` (the admin user is in system:masters) before and after a
phase. The difference counts every client, so two things are taken out:

* the control plane's own traffic: only the resources an operator of WhatsAppInstances
  touches are kept (below); the controller manager's informers touch some of them too,
  but only at start and when one of their watches ends (every 30-60 min), so that noise
  is a handful of requests per phase, not per object;
* the benchmark's own requests, which it counts itself (`rig.CountingApiClient`, and the
  fleet watch for its WATCH) and subtracts.

A WATCH is counted by the apiserver when it ends, not when it starts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping

from rig import RequestKey

from whatsapp_operator.devtools.controlplane import ControlPlane

OPERATOR_RESOURCES = frozenset(
    {
        "whatsappinstances",
        "whatsapppartners",
        "clusterwhatsapppartners",
        "whatsappsettingsprofiles",
        "events",
        "secrets",
        "kopfpeerings",
        "clusterkopfpeerings",
        "customresourcedefinitions",
    }
)
_SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> Counter[RequestKey]:
    """`apiserver_request_total` summed over codes and scopes, per (verb, resource, subresource),
    for the operator's resources only."""
    totals: Counter[RequestKey] = Counter()
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        resource = labels.get("resource", "")
        if resource not in OPERATOR_RESOURCES:
            continue
        key = (labels.get("verb", ""), resource, labels.get("subresource", ""))
        totals[key] += int(float(match["value"]))
    return totals


def scrape(cluster: ControlPlane) -> Counter[RequestKey]:
    """The apiserver's request counts now (see `parse`)."""
    status, text = cluster.request("GET", "/metrics")
    if status != 200 or not isinstance(text, str):
        raise RuntimeError(f"kube-apiserver /metrics answered {status}")
    return parse(text)


def phase_requests(
    before: Counter[RequestKey],
    after: Counter[RequestKey],
    own_before: Mapping[RequestKey, int],
    own_after: Mapping[RequestKey, int],
) -> Counter[RequestKey]:
    """Requests made by others than the benchmark between two scrapes."""
    made: Counter[RequestKey] = Counter()
    for key in set(after) | set(before):
        own = own_after.get(key, 0) - own_before.get(key, 0)
        count = after.get(key, 0) - before.get(key, 0) - own
        if count > 0:
            made[key] = count
    return made


def describe(requests: Mapping[RequestKey, int], n: int) -> str:
    """Requests per object by kind, largest first: `PATCH whatsappinstances/status 1.02, ...`."""
    parts = []
    for (verb, resource, subresource), count in sorted(requests.items(), key=lambda kv: -kv[1]):
        name = f"{resource}/{subresource}" if subresource else resource
        parts.append(f"{verb} {name} {count / n:.3g}")
    return ", ".join(parts) or "none"
