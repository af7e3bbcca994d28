"""Where the operator writes to Kubernetes: `run/writer.py`, the Lease, kopf's Event posting.

A step that calls a Kubernetes write itself is hard to find when a write misbehaves (a
status that flaps, a Secret rewritten each cycle) and easy to get wrong (unfenced, before
the intent). So every write call of the operator's loops is in one module, and the checker
below reads the source for any other; each shape it knows is proved on a planted snippet.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "operator" / "whatsapp_operator" / "run"

# The Kubernetes write calls of the ports (`ports/`) and of the Lease store.
WRITE_METHODS = {
    "apply_secret",
    "delete_secret",
    "patch_status",
    "patch_cluster_status",
    "patch_annotations",
    "annotate_at",
    "set_finalizers",
}
# The modules allowed to make them, and why.
ALLOWED = {
    "writer.py": "every write of the loops, the reconcile and the gate",
    "leadership.py": "the Lease, before kopf starts and while it runs",
    "handlers.py": "Events, posted through kopf (kopf is imported nowhere else)",
}


def writes_in(source: str) -> list[str]:
    """The Kubernetes write calls in `source`, as `name` (or `kopf.event`, `lease.write`)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        attr = node.func.attr
        owner = node.func.value
        owner_name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
        if attr in WRITE_METHODS:
            found.append(attr)
        elif attr in {"event", "info", "warn", "exception"} and owner_name == "kopf":
            found.append(f"kopf.{attr}")
        elif attr == "write" and owner_name == "lease":
            found.append("lease.write")
    return found


def test_only_the_writer_the_lease_and_kopf_events_write_to_kubernetes() -> None:
    writers = {
        path.name: calls
        for path in sorted(RUN.glob("*.py"))
        if (calls := writes_in(path.read_text()))
    }
    assert set(writers) <= set(ALLOWED), {k: v for k, v in writers.items() if k not in ALLOWED}
    assert len(ALLOWED) <= 4
    # Each allowed module still writes (a stale entry would hide a new writer).
    assert set(writers) == set(ALLOWED)


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("await self.store.apply_secret(ns, name, data={})", ["apply_secret"]),
        ("await kube.delete_secret(ns, name, owner_uid=u, role=r)", ["delete_secret"]),
        ("await runtime.kube.patch_status(ns, name, patch)", ["patch_status"]),
        ("await kube.patch_cluster_status(name, patch, plural)", ["patch_cluster_status"]),
        ("await self.store.patch_annotations(ns, name, {})", ["patch_annotations"]),
        ("await kube.annotate_at(ns, name, {}, v)", ["annotate_at"]),
        ("await kube.set_finalizers(ns, name, [], v)", ["set_finalizers"]),
        ("kopf.event(body, type='Normal', reason='X', message='m')", ["kopf.event"]),
        ("kopf.warn(body, reason='X', message='m')", ["kopf.warn"]),
        ("self.lease.write(record, None, 15, now)", ["lease.write"]),
        ("await writer.put_secret(store, request)", []),
        ("await kube.read_secret_key(ns, name, key)", []),
    ],
)
def test_the_checker_finds_each_shape_of_write(snippet: str, expected: list[str]) -> None:
    assert writes_in(snippet) == expected
