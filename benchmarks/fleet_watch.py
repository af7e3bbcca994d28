"""The benchmark's view of the fleet: one LIST, then one WATCH, in a thread.

It answers "is every object Ready and Synced for its generation?" and "when did this
object's status first show generation g?" without polling the apiserver with LISTs (at
10,000 objects a LIST every half second would be load of its own), and it counts the
MODIFIED events, that is the writes that changed an object. Its one WATCH is counted
here when it ends, as the apiserver counts it (see `apimetrics`).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from rig import GROUP, PLURAL, VERSION, CountingApiClient
from urllib3.exceptions import ProtocolError

# The apiserver ends a watch after this long; the thread then watches on from where it was.
WATCH_SECONDS = 1800
_GONE = 410


def _ready(item: dict[str, Any]) -> bool:
    status = item.get("status") or {}
    if status.get("observedGeneration") != item["metadata"].get("generation"):
        return False
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    return conditions.get("Ready") == "True" and conditions.get("Synced") == "True"


class FleetWatch:
    """Status of every WhatsAppInstance in a namespace, kept current by a watch thread."""

    def __init__(self, api: CountingApiClient, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(api)
        self.converged: set[str] = set()
        # name -> (observedGeneration, when this process first saw it)
        self.observed: dict[str, tuple[int, float]] = {}
        self.modified: Counter[str] = Counter()
        self._stop = threading.Event()
        self._watch: watch.Watch | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="fleet watch")
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (the thread ends with the next event or the watch's end)."""
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()

    def all_converged(self, n: int) -> bool:
        """Whether `n` objects are Ready and Synced for their generation."""
        return len(self.converged) >= n

    def observed_since(self, name: str, generation: int) -> float | None:
        """When the object's status first showed `generation` or later; None if not yet."""
        seen = self.observed.get(name)
        return seen[1] if seen is not None and seen[0] >= generation else None

    def _list(self) -> str:
        listing = self.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL)
        for item in listing["items"]:
            self._take(item, counted=False)
        return str(listing["metadata"]["resourceVersion"])

    def _run(self) -> None:
        resource_version = self._list()
        while not self._stop.is_set():
            self._watch = watch.Watch()
            try:
                for event in self._watch.stream(
                    self.custom.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    self.namespace,
                    PLURAL,
                    resource_version=resource_version,
                    timeout_seconds=WATCH_SECONDS,
                ):
                    obj = event["object"]
                    resource_version = obj["metadata"]["resourceVersion"]
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._take(obj, counted=event["type"] == "MODIFIED")
            except ApiException as exc:
                if exc.status != _GONE:
                    raise
                resource_version = self._list()
            except ProtocolError:
                # The apiserver cut the stream: watch on from the last version seen
                # (or stop, when the control plane is going away with the benchmark).
                time.sleep(0.5)
            finally:
                self.api.sent["WATCH", PLURAL, ""] += 1

    def _take(self, item: dict[str, Any], counted: bool) -> None:
        name = item["metadata"]["name"]
        if counted:
            self.modified[name] += 1
        if _ready(item):
            self.converged.add(name)
        else:
            self.converged.discard(name)
        generation = (item.get("status") or {}).get("observedGeneration")
        if isinstance(generation, int):
            seen = self.observed.get(name)
            if seen is None or generation > seen[0]:
                self.observed[name] = (generation, time.time())
