"""The operator process behind an egress proxy: every GREEN-API call goes through it.

The operator runs with HTTP_PROXY/HTTPS_PROXY (credentials in the URL) pointing at a
counting forward proxy on loopback, and NO_PROXY naming the API server: the `kubernetes`
client honours the proxy variables too, so without that entry its calls would be
tunnelled as well. The emulator is plain http, so its calls arrive at the proxy as
absolute-URI requests and the QR WebSocket as a CONNECT tunnel. What the emulator counted
for the instance must equal what went through the proxy, call for call.
"""

from __future__ import annotations

import base64
import collections
import urllib.parse
from collections.abc import Iterator

import pytest
from kubernetes import client

from support.forward_proxy import ForwardProxy, Passage, forward_proxy_in_thread
from support.kube_helpers import read_secret, wait_for
from tests.e2e.operator.harness import (
    Emulator,
    OperatorProcess,
    Scenario,
    assert_no_leaks,
    module_operator,
)
from whatsapp_operator.devtools.cluster import KubeCluster

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SETTINGS = {"stateWebhook": True, "delaySendMessagesMilliseconds": 2500}
PROXY_USER = "egress-e2e"
PROXY_PASSWORD = "Pr0xy-E2e-Passw0rd-not-for-logs"
BASIC = base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode()


def host_port(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


@pytest.fixture(scope="module")
def proxy() -> Iterator[ForwardProxy]:
    with forward_proxy_in_thread() as running:
        yield running


@pytest.fixture(scope="module")
def operator(
    kube_cluster: KubeCluster,
    api: client.ApiClient,
    module_prefix: str,
    proxy: ForwardProxy,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """The operator with both proxy variables set and only the API server exempt."""
    with_credentials = proxy.url.replace("http://", f"http://{PROXY_USER}:{PROXY_PASSWORD}@")
    api_server = host_port(api.configuration.host)
    env = {}
    # Both spellings: a lower-case variable in the runner's environment would win otherwise.
    for name, value in {
        "http_proxy": with_credentials,
        "https_proxy": with_credentials,
        "all_proxy": "",
        "no_proxy": api_server,
    }.items():
        env[name] = env[name.upper()] = value
    with module_operator(kube_cluster.kubeconfig, module_prefix, tmp_path_factory, env) as running:
        yield running


def method_of(passage: Passage) -> str:
    """`getSettings` for `/waInstance<id>/getSettings/<token>`; the CONNECTs are the WebSocket."""
    if passage.kind == "CONNECT":
        return "scanqrcode"
    return passage.path.split("/")[2].lower()


def test_every_greenapi_call_goes_through_the_proxy(
    scenario: Scenario,
    emulator: Emulator,
    proxy: ForwardProxy,
    operator: OperatorProcess,
    api: client.ApiClient,
) -> None:
    name = "proxied"
    id_instance = scenario.seed(name)
    scenario.create(name, settings=SETTINGS)

    # Ready and Synced: the settings change was written and confirmed, all via the proxy.
    scenario.ready(name)
    applied = emulator.instance(id_instance)["settings"]
    assert (applied["stateWebhook"], applied["delaySendMessagesMilliseconds"]) == ("yes", 2500)
    assert len(emulator.set_settings_log(id_instance)) == 1

    # A linking window: the QR code came over the WebSocket, tunnelled through the proxy.
    secret_name = f"{name}-linking"
    linking = wait_for(
        lambda: read_secret(scenario.api, scenario.namespace, secret_name),
        f"linking Secret {secret_name}",
        45,
    )
    assert linking["qr.png"].startswith(PNG_SIGNATURE)
    scenario.leaks.add("QR code", base64.b64encode(linking["qr.png"]).decode())
    wait_for(lambda: proxy.connects, "a CONNECT tunnel for the QR WebSocket", 10)

    # Deleting the resource ends the linking session: the emulator counts a WebSocket
    # call when it closes, and the operator makes no more calls for the instance.
    assert scenario.instances.delete_all_and_wait(timeout=30) == []

    target = host_port(emulator.url)

    def through_proxy() -> collections.Counter[str]:
        return collections.Counter(method_of(p) for p in list(proxy.passages) if p.target == target)

    def at_emulator() -> collections.Counter[str]:
        counted = emulator.counters().get(str(id_instance), {})
        return collections.Counter({m: int(o["total"]) for m, o in counted.items()})

    wait_for(
        lambda: at_emulator() == through_proxy(),
        "the emulator's count of calls equal to the proxy's",
        20,
        describe=lambda: f"emulator {dict(at_emulator())}, proxy {dict(through_proxy())}",
    )
    seen = at_emulator()
    assert {"getstateinstance", "getsettings", "setsettings", "scanqrcode"} <= set(seen), seen
    # Nothing reached the emulator directly, for this instance or any other scope.
    everything = sum(int(o["total"]) for m in emulator.counters().values() for o in m.values())
    passages = list(proxy.passages)
    assert everything == len([p for p in passages if p.target == target])
    # The proxy saw GREEN-API only: the API server was reached directly (NO_PROXY).
    assert {p.target for p in passages} == {target}
    # Credentials went to the proxy on every passage, and into no log line.
    assert {p.authorization for p in passages} == {f"Basic {BASIC}"}
    log = operator.log_text()
    for secret in (PROXY_PASSWORD, BASIC, f"{PROXY_USER}:"):
        assert secret not in log
    assert operator.process.poll() is None
    assert_no_leaks(scenario.leaks, operator, emulator, api, scenario.namespace)
