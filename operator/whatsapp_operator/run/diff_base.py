"""kopf's diff base, built without copying what it throws away.

For every watch event kopf builds the object's "essence" (what its change handlers
compare) by deep-copying the whole body and then deleting `metadata` and `status`. A
WhatsAppInstance's status (conditions, queues, plan, token rotation, linking) and its
managedFields are most of its size, so at start, when the whole fleet arrives at once,
those copies were 17 MiB of the heap's high-water mark for 1,000 objects (memray, see
docs/performance.md). The essence built here is the same value; only the copy is
smaller: the body is trimmed to what kopf keeps before kopf copies it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import kopf

# kopf deletes this annotation from the essence after copying it; it holds a whole
# copy of the object as last applied with kubectl.
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _names_dropped_fields(fields: Iterable[Any]) -> bool:
    """Whether a handler's extra fields name any part of status or metadata (but labels and
    annotations), which the trimmed body leaves out."""
    for field in fields:
        path = field.split(".") if isinstance(field, str) else list(field)
        if path and path[0] == "status":
            return True
        if path and path[0] == "metadata" and path[1:2] not in (["labels"], ["annotations"]):
            return True
    return False


class LeanDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """`kopf.AnnotationsDiffBaseStorage` whose `build` copies only the fields it keeps."""

    def build(
        self,
        *,
        body: kopf.Body,
        extra_fields: Iterable[Any] | None = None,
    ) -> kopf.BodyEssence:
        """kopf's essence of `body`, from a copy of only the fields it keeps."""
        fields = list(extra_fields or ())
        if _names_dropped_fields(fields):
            # A handler asked for fields kopf otherwise drops: kopf's own way, whole copy.
            return super().build(body=body, extra_fields=fields)
        metadata = body.get("metadata") or {}
        kept: dict[str, Any] = {k: v for k, v in body.items() if k not in ("metadata", "status")}
        trimmed: dict[str, Any] = {}
        # Labels and annotations are kept; owners name the storage's key (kopf's mark_key).
        for key in ("labels", "ownerReferences"):
            if key in metadata:
                trimmed[key] = metadata[key]
        if "annotations" in metadata:
            annotations = metadata["annotations"]
            if isinstance(annotations, dict) and _LAST_APPLIED in annotations:
                annotations = {k: v for k, v in annotations.items() if k != _LAST_APPLIED}
            trimmed["annotations"] = annotations
        kept["metadata"] = trimmed
        return super().build(body=kopf.Body(cast(kopf.RawBody, kept)), extra_fields=fields)
