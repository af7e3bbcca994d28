"""Malformed and hostile manifests, tried as a namespace user would, against a real API server
with the operator running under an allow-list that holds the emulator alone.

Every manifest ends one of two ways: refused at admission with a message naming its field,
or accepted and reported Stalled with a clear reason within one reconcile. None of them may
make the operator connect anywhere outside the allow-list: a loopback listener that hostile
URLs point at counts connection attempts, and the emulator's counters must show no call for
any hostile instance id.
"""

from __future__ import annotations

import contextlib
import copy
import json
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from support.kube_helpers import (
    Instances,
    conditions_summary,
    create_namespace,
    delete_namespace,
    has_condition,
    put_secret,
    wait_for,
)
from tests.e2e.operator.harness import Emulator, OperatorProcess, module_operator
from whatsapp_operator import constants
from whatsapp_operator.devtools.cluster import KubeCluster

HOSTILE_ID = 7105_999_001
# A name of maximal length for the resource (a DNS subdomain): longer than any label value.
LONGEST_NAME = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])


class Canary:
    """A loopback listener that counts every connection attempt and answers none."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port: int = self.sock.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    listener = Canary()
    try:
        yield listener
    finally:
        listener.close()


@pytest.fixture(scope="module")
def operator(
    kube_cluster: KubeCluster,
    module_prefix: str,
    emulator: Emulator,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """The operator with an allow-list holding the emulator's exact origin and nothing else."""
    env = {"WAOP_ALLOWED_API_URLS": emulator.url}
    with module_operator(kube_cluster.kubeconfig, module_prefix, tmp_path_factory, env) as running:
        yield running


@pytest.fixture(scope="module")
def namespace(
    api: client.ApiClient, module_prefix: str, operator: OperatorProcess
) -> Iterator[str]:
    name = f"{module_prefix}-1"
    create_namespace(api, name)
    put_secret(api, name, "token", {"apiTokenInstance": "0123456789abcdef" * 3})
    # What an attacker would like to read: a Secret that is not the operator's business.
    put_secret(api, name, "db-creds", {"password": "hunter2-" + secrets.token_hex(8)})
    try:
        yield name
    finally:
        # While the operator still runs: it removes their finalizers, so the namespace
        # does not hang in Terminating for the rest of the session.
        Instances(api, name).delete_all_and_wait(timeout=60)
        delete_partners(api, name)
        delete_namespace(api, name)
        for case in ACCEPTED:
            if case.kind == "cluster-partner":
                with contextlib.suppress(ApiException):
                    client.CustomObjectsApi(api).delete_cluster_custom_object(
                        constants.GROUP,
                        constants.VERSION,
                        constants.CLUSTER_PARTNER_PLURAL,
                        case.name,
                    )


def delete_partners(api: client.ApiClient, namespace: str) -> None:
    """Delete the namespace's WhatsAppPartners and wait for the operator to release them."""
    objects = client.CustomObjectsApi(api)
    args = (constants.GROUP, constants.VERSION, namespace, constants.PARTNER_PLURAL)

    def names() -> list[str]:
        return [
            item["metadata"]["name"]
            for item in objects.list_namespaced_custom_object(*args)["items"]
        ]

    for partner in names():
        objects.delete_namespaced_custom_object(*args, partner)
    wait_for(lambda: not names(), f"{namespace}: partners deleted", timeout=60)


# ------------------------------------------------------------------ manifests


def instance_spec(api_url: str = "http://127.0.0.1:9", **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "instance": {
            "id": HOSTILE_ID,
            "apiUrl": api_url,
            "tokenSecretRef": {"name": "token"},
        },
        "intervals": {"stateSeconds": 10, "settingsSeconds": 60, "settleSeconds": 0},
    }
    spec.update(overrides)
    return spec


def setting(path: str, value: Any, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """`spec` with the dotted `path` set to `value` (None: removed)."""
    result = copy.deepcopy(spec if spec is not None else instance_spec())
    *parents, last = path.split(".")
    node = result
    for part in parents:
        node = node.setdefault(part, {})
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value
    return result


def partner_spec(api_url: str = "https://api.green-api.com", **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"apiUrl": api_url, "tokenSecretRef": {"name": "partner"}}
    spec.update(overrides)
    return spec


@dataclass(frozen=True)
class Refused:
    """A manifest the API server must refuse; `expect`: substrings of its message."""

    name: str
    kind: str
    spec: dict[str, Any] | None
    expect: tuple[str, ...]
    metadata_name: str | None = None


BAD_URLS: dict[str, tuple[str, str]] = {
    "userinfo": ("http://user:pw@api.green-api.com", "user info"),
    "userinfo-no-password": ("http://user@127.0.0.1:9", "user info"),
    "ftp": ("ftp://api.green-api.com", "http:// or https://"),
    "file": ("file:///etc/passwd", "http:// or https://"),
    "gopher": ("gopher://127.0.0.1:6379/_INFO", "http:// or https://"),
    "javascript": ("javascript:alert(1)", "http:// or https://"),
    "query": ("https://api.green-api.com/?token=x", "query string"),
    "fragment": ("https://api.green-api.com/#x", "query string or a fragment"),
    "port-too-big": ("http://127.0.0.1:99999", "should match"),
    "port-zero": ("http://127.0.0.1:0", "should match"),
    "port-twice": ("http://127.0.0.1:80:80", "should match"),
    "port-signed": ("http://api.green-api.com:+80", "should match"),
    "no-host": ("http://:8080", "should match"),
    "open-bracket": ("http://[::1", "should match"),
    "vertical-tab": ("http://a\x0b.example", "should match"),
    "no-break-space": ("http://a\u00a0b.example", "should match"),
    "space": ("http://a b.example", "should match"),
    "tab": ("http://a.example\t", "should match"),
    "newline": ("http://a.example\n", "should match"),
    "scheme-only": ("http://", "should match"),
    "empty": ("", "http:// or https://"),
    "unicode-host": ("http://пример.рф", "should match"),
    "upper-scheme": ("HTTP://API.GREEN-API.COM", "http:// or https://"),
    "trailing-dot": ("https://api.green-api.com.", "should match"),
    "percent-host": ("http://%31%32%37.0.0.1", "should match"),
    "leading-hyphen": ("http://-x.example", "should match"),
    "backslash": ("http://a.example\\@evil.example", "user info"),
    "too-long": ("https://a.example/" + "p" * 3000, "2048"),
}

REFUSED: list[Refused] = [
    *(
        Refused(f"api-url-{key}", "instance", instance_spec(url), ("spec.instance.apiUrl", why))
        for key, (url, why) in BAD_URLS.items()
    ),
    *(
        Refused(
            f"media-url-{key}",
            "instance",
            setting("instance.mediaUrl", BAD_URLS[key][0]),
            ("spec.instance.mediaUrl", BAD_URLS[key][1]),
        )
        for key in ("userinfo", "ftp", "query", "vertical-tab", "port-too-big")
    ),
    *(
        Refused(
            f"partner-url-{key}",
            "partner",
            partner_spec(BAD_URLS[key][0]),
            ("spec.apiUrl", BAD_URLS[key][1]),
        )
        for key in ("userinfo", "ftp", "query", "no-break-space", "port-too-big", "open-bracket")
    ),
    Refused("id-string", "instance", setting("instance.id", "abc"), ("spec.instance.id",)),
    Refused("id-zero", "instance", setting("instance.id", 0), ("spec.instance.id",)),
    Refused("id-negative", "instance", setting("instance.id", -5), ("spec.instance.id",)),
    Refused("id-11-digits", "instance", setting("instance.id", 10**10), ("spec.instance.id",)),
    Refused("id-fraction", "instance", setting("instance.id", 1.5), ("spec.instance.id",)),
    Refused(
        "state-too-often",
        "instance",
        setting("intervals.stateSeconds", 5),
        ("spec.intervals.stateSeconds",),
    ),
    Refused(
        "state-too-rare",
        "instance",
        setting("intervals.stateSeconds", 100000),
        ("spec.intervals.stateSeconds",),
    ),
    Refused(
        "state-string",
        "instance",
        setting("intervals.stateSeconds", "60"),
        ("spec.intervals.stateSeconds",),
    ),
    Refused(
        "settings-too-often",
        "instance",
        setting("intervals.settingsSeconds", 10),
        ("spec.intervals.settingsSeconds",),
    ),
    Refused(
        "settle-negative",
        "instance",
        setting("intervals.settleSeconds", -1),
        ("spec.intervals.settleSeconds",),
    ),
    Refused(
        "delay-too-small",
        "instance",
        setting("settings.delaySendMessagesMilliseconds", 100),
        ("spec.settings.delaySendMessagesMilliseconds",),
    ),
    Refused(
        "delay-too-big",
        "instance",
        setting("settings.delaySendMessagesMilliseconds", 10**9),
        ("spec.settings.delaySendMessagesMilliseconds",),
    ),
    Refused(
        "toggle-as-yes",
        "instance",
        setting("settings.stateWebhook", "yes"),
        ("spec.settings.stateWebhook",),
    ),
    Refused(
        "webhook-ftp",
        "instance",
        setting("settings.webhookUrl", "ftp://hooks.example"),
        ("spec.settings.webhookUrl",),
    ),
    Refused(
        "webhook-huge",
        "instance",
        setting("settings.webhookUrl", "https://h.example/" + "x" * 5000),
        ("spec.settings.webhookUrl",),
    ),
    Refused(
        "method-unknown",
        "instance",
        setting("authorization", {"method": "Telepathy"}),
        ("spec.authorization.method",),
    ),
    Refused(
        "phone-method-without-number",
        "instance",
        setting("authorization", {"method": "PhoneNumber"}),
        ("phoneNumber is required",),
    ),
    Refused(
        "phone-with-plus",
        "instance",
        setting("authorization", {"method": "PhoneNumber", "phoneNumber": "+79001234567"}),
        ("spec.authorization.phoneNumber",),
    ),
    Refused(
        "phone-too-short",
        "instance",
        setting("authorization", {"method": "PhoneNumber", "phoneNumber": "123"}),
        ("spec.authorization.phoneNumber",),
    ),
    Refused(
        "window-zero",
        "instance",
        setting("authorization", {"windowMinutes": 0}),
        ("spec.authorization.windowMinutes",),
    ),
    Refused(
        "window-too-long",
        "instance",
        setting("authorization", {"windowMinutes": 121}),
        ("spec.authorization.windowMinutes",),
    ),
    Refused(
        "deletion-unknown",
        "instance",
        setting("deletionPolicy", "Destroy"),
        ("spec.deletionPolicy",),
    ),
    Refused(
        "delete-without-partner",
        "instance",
        setting("deletionPolicy", "Delete"),
        ("deletionPolicy Delete needs partnerRef",),
    ),
    Refused(
        "management-unknown",
        "instance",
        setting("managementPolicy", "Everything"),
        ("spec.managementPolicy",),
    ),
    Refused(
        "autoheal-too-soon",
        "instance",
        setting("autoHeal", {"enabled": True, "startingMinutes": 1}),
        ("spec.autoHeal.startingMinutes",),
    ),
    Refused(
        "autoheal-cooldown-huge",
        "instance",
        setting("autoHeal", {"enabled": True, "cooldownMinutes": 100000}),
        ("spec.autoHeal.cooldownMinutes",),
    ),
    Refused(
        "autoheal-string",
        "instance",
        setting("autoHeal", {"enabled": "true"}),
        ("spec.autoHeal.enabled",),
    ),
    Refused("unknown-top", "instance", setting("foo", "bar"), ('unknown field "spec.foo"',)),
    Refused(
        "inline-token",
        "instance",
        setting("instance.token", "plain"),
        ('unknown field "spec.instance.token"',),
    ),
    Refused(
        "unknown-setting",
        "instance",
        setting("settings.noSuchSetting", True),
        ('unknown field "spec.settings.noSuchSetting"',),
    ),
    Refused(
        "token-other-namespace",
        "instance",
        setting("instance.tokenSecretRef.namespace", "kube-system"),
        ('unknown field "spec.instance.tokenSecretRef.namespace"',),
    ),
    Refused(
        "partner-other-namespace",
        "instance",
        setting("partnerRef", {"name": "p", "namespace": "other"}),
        ('unknown field "spec.partnerRef.namespace"',),
    ),
    Refused(
        "hook-other-namespace",
        "instance",
        setting(
            "settings.webhookUrlTokenSecretRef",
            {"name": "h", "key": "k", "namespace": "kube-system"},
        ),
        ('unknown field "spec.settings.webhookUrlTokenSecretRef.namespace"',),
    ),
    Refused(
        "connection-other-namespace",
        "instance",
        setting("connectionSecret", {"name": "c", "namespace": "kube-system"}),
        ('unknown field "spec.connectionSecret.namespace"',),
    ),
    Refused("no-spec", "instance", None, ("spec",)),
    Refused(
        "neither-id-nor-partner",
        "instance",
        setting("instance.id", None),
        ("set instance.id to adopt",),
    ),
    Refused(
        "no-token-no-partner",
        "instance",
        setting("instance.tokenSecretRef", None),
        ("instance.tokenSecretRef is required",),
    ),
    Refused(
        "token-ref-without-name",
        "instance",
        setting("instance.tokenSecretRef", {"key": "k"}),
        ("spec.instance.tokenSecretRef.name",),
    ),
    Refused(
        "partner-ref-without-name",
        "instance",
        setting("partnerRef", {}),
        ("spec.partnerRef.name",),
    ),
    Refused(
        "connection-without-name",
        "instance",
        setting("connectionSecret", {}),
        ("spec.connectionSecret.name",),
    ),
    *(
        Refused(
            f"secret-name-{key}",
            "instance",
            setting("instance.tokenSecretRef.name", value),
            ("spec.instance.tokenSecretRef.name",),
        )
        for key, value in {
            "double-dot": "a..b",
            "upper": "UPPER",
            "leading-hyphen": "-x",
            "underscore": "a_b",
            "too-long": "a" * 254,
            "slash": "a/b",
        }.items()
    ),
    *(
        Refused(
            f"secret-key-{key}",
            "instance",
            setting("instance.tokenSecretRef.key", value),
            ("spec.instance.tokenSecretRef.key",),
        )
        for key, value in {
            "dot": ".",
            "dot-dot": "..",
            "dot-dot-prefix": "..data",
            "slash": "a/b",
            "empty": "",
            "space": "a b",
        }.items()
    ),
    Refused(
        "hook-key-dot-dot",
        "instance",
        setting("settings.webhookUrlTokenSecretRef", {"name": "hook", "key": ".."}),
        ("spec.settings.webhookUrlTokenSecretRef.key",),
    ),
    Refused(
        "connection-name-invalid",
        "instance",
        setting("connectionSecret", {"name": "a_b"}),
        ("spec.connectionSecret.name",),
    ),
    Refused(
        "connection-overwrites-token",
        "instance",
        setting("connectionSecret", {"name": "token"}),
        ("connectionSecret.name must differ",),
    ),
    Refused("name-too-long", "instance", instance_spec(), ("metadata.name",), "x" * 254),
    Refused("name-upper", "instance", instance_spec(), ("metadata.name",), "Sales"),
    Refused(
        "partner-check-too-often",
        "partner",
        partner_spec(checkSeconds=5),
        ("spec.checkSeconds",),
    ),
    Refused(
        "partner-without-token-ref",
        "partner",
        {"apiUrl": "https://api.green-api.com"},
        ("spec.tokenSecretRef",),
    ),
    Refused(
        "partner-token-key-dot-dot",
        "partner",
        partner_spec(tokenSecretRef={"name": "p", "key": ".."}),
        ("spec.tokenSecretRef.key",),
    ),
    Refused(
        "partner-inline-token",
        "partner",
        partner_spec(token="gac.123"),
        ('unknown field "spec.token"',),
    ),
    Refused(
        "cluster-partner-userinfo",
        "cluster-partner",
        {**partner_spec(BAD_URLS["userinfo"][0]), "namespaceSelector": {}},
        ("spec.apiUrl", "user info"),
    ),
    Refused(
        "cluster-partner-no-selector",
        "cluster-partner",
        partner_spec(),
        ("spec.namespaceSelector",),
    ),
    Refused(
        "cluster-partner-bad-secret-namespace",
        "cluster-partner",
        partner_spec(
            tokenSecretRef={"name": "p", "namespace": "Kube_System"}, namespaceSelector={}
        ),
        ("spec.tokenSecretRef.namespace",),
    ),
    Refused(
        "partner-token-other-namespace",
        "partner",
        partner_spec(tokenSecretRef={"name": "p", "namespace": "kube-system"}),
        ('unknown field "spec.tokenSecretRef.namespace"',),
    ),
]


KINDS = {
    "instance": (constants.KIND, constants.PLURAL),
    "partner": (constants.PARTNER_KIND, constants.PARTNER_PLURAL),
    "cluster-partner": (constants.CLUSTER_PARTNER_KIND, constants.CLUSTER_PARTNER_PLURAL),
}


def create(api: client.ApiClient, namespace: str, kind: str, name: str, spec: Any) -> Any:
    kind_name, plural = KINDS[kind]
    body: dict[str, Any] = {
        "apiVersion": constants.API_VERSION,
        "kind": kind_name,
        "metadata": {"name": name},
    }
    if spec is not None:
        body["spec"] = spec
    objects = client.CustomObjectsApi(api)
    # Strict field validation, as kubectl sends by default.
    if kind == "cluster-partner":
        return objects.create_cluster_custom_object(
            constants.GROUP, constants.VERSION, plural, body, field_validation="Strict"
        )
    body["metadata"]["namespace"] = namespace
    return objects.create_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, plural, body, field_validation="Strict"
    )


def read(api: client.ApiClient, namespace: str, kind: str, name: str) -> dict[str, Any]:
    _kind, plural = KINDS[kind]
    objects = client.CustomObjectsApi(api)
    if kind == "cluster-partner":
        found = objects.get_cluster_custom_object(constants.GROUP, constants.VERSION, plural, name)
    else:
        found = objects.get_namespaced_custom_object(
            constants.GROUP, constants.VERSION, namespace, plural, name
        )
    return cast(dict[str, Any], found)


@pytest.mark.parametrize("case", REFUSED, ids=[case.name for case in REFUSED])
def test_admission_refuses_naming_the_field(
    api: client.ApiClient, namespace: str, case: Refused
) -> None:
    with pytest.raises(ApiException) as caught:
        create(api, namespace, case.kind, case.metadata_name or case.name, case.spec)
    # 422 for the schema and CEL; 400 for strict decoding (an unknown field).
    assert caught.value.status in (400, 422), caught.value.body
    message = json.loads(caught.value.body)["message"]
    for expected in case.expect:
        assert expected in message, message


def test_an_id_cannot_be_changed_or_removed_once_set(api: client.ApiClient, namespace: str) -> None:
    name = "immutable-id"
    create(api, namespace, "instance", name, instance_spec("http://169.254.169.254"))
    objects = client.CustomObjectsApi(api)
    # Merge patches (no resourceVersion): the operator writes status meanwhile.
    for change in ({"id": HOSTILE_ID + 1}, {"id": None}):
        with pytest.raises(ApiException) as caught:
            objects.patch_namespaced_custom_object(
                constants.GROUP,
                constants.VERSION,
                namespace,
                constants.PLURAL,
                name,
                {"spec": {"instance": change}},
            )
        assert caught.value.status == 422
        assert "instance.id is immutable once set" in json.loads(caught.value.body)["message"]


# ------------------------------------------------------------------ accepted, then Stalled


@dataclass(frozen=True)
class Stalls:
    """A manifest the schema admits; the operator must report it Stalled with `reason`."""

    name: str
    kind: str
    spec: Callable[[Canary], dict[str, Any]]
    reasons: tuple[str, ...]


def hostile(url: str) -> Callable[[Canary], dict[str, Any]]:
    return lambda canary: instance_spec(url.format(canary=canary.port))


NOT_ALLOWED = ("ApiUrlNotAllowed",)
ACCEPTED: list[Stalls] = [
    Stalls("imds", "instance", hostile("http://169.254.169.254"), NOT_ALLOWED),
    Stalls(
        "imds-path", "instance", hostile("http://169.254.169.254/latest/meta-data"), NOT_ALLOWED
    ),
    Stalls("kube-service", "instance", hostile("http://kubernetes.default.svc"), NOT_ALLOWED),
    Stalls(
        "kube-service-fqdn",
        "instance",
        hostile("https://kubernetes.default.svc.cluster.local"),
        NOT_ALLOWED,
    ),
    Stalls("private-ip", "instance", hostile("http://10.0.0.1:8080"), NOT_ALLOWED),
    Stalls("loopback-canary", "instance", hostile("http://127.0.0.1:{canary}"), NOT_ALLOWED),
    Stalls("localhost-canary", "instance", hostile("http://localhost:{canary}"), NOT_ALLOWED),
    Stalls("https-canary", "instance", hostile("https://127.0.0.1:{canary}"), NOT_ALLOWED),
    Stalls("ipv6-loopback", "instance", hostile("http://[::1]:{canary}"), NOT_ALLOWED),
    Stalls("decimal-ip", "instance", hostile("http://2130706433:{canary}"), NOT_ALLOWED),
    Stalls("hex-ip", "instance", hostile("http://0x7f000001:{canary}"), NOT_ALLOWED),
    Stalls("bad-ipv6", "instance", hostile("http://[1:2:3:4:5:6:7:8:9]"), NOT_ALLOWED),
    Stalls("plain-http-green-api", "instance", hostile("http://api.green-api.com"), NOT_ALLOWED),
    Stalls(
        "lookalike-host",
        "instance",
        hostile("https://api.green-api.com.evil.example"),
        NOT_ALLOWED,
    ),
    Stalls("odd-port", "instance", hostile("https://7105.api.greenapi.com:8443"), NOT_ALLOWED),
    Stalls(
        "exfiltrate-password",
        "instance",
        lambda canary: setting(
            "instance.tokenSecretRef",
            {"name": "db-creds", "key": "password"},
            instance_spec(f"http://127.0.0.1:{canary.port}"),
        ),
        NOT_ALLOWED,
    ),
    Stalls(
        "exfiltrate-as-webhook-token",
        "instance",
        lambda canary: setting(
            "settings.webhookUrlTokenSecretRef",
            {"name": "db-creds", "key": "password"},
            instance_spec(f"http://127.0.0.1:{canary.port}"),
        ),
        NOT_ALLOWED,
    ),
    Stalls(
        "missing-secret-hostile-url",
        "instance",
        lambda canary: setting(
            "instance.tokenSecretRef.name",
            "nowhere",
            instance_spec(f"http://127.0.0.1:{canary.port}"),
        ),
        NOT_ALLOWED,
    ),
    Stalls(
        "media-canary",
        "instance",
        lambda canary: setting("instance.mediaUrl", f"http://127.0.0.1:{canary.port}"),
        NOT_ALLOWED,
    ),
    Stalls(
        "media-imds",
        "instance",
        lambda canary: setting("instance.mediaUrl", "http://169.254.169.254"),
        NOT_ALLOWED,
    ),
    Stalls(
        "phone-linking-hostile",
        "instance",
        lambda canary: setting(
            "authorization",
            {"method": "PhoneNumber", "phoneNumber": "79001234567"},
            instance_spec(f"http://127.0.0.1:{canary.port}"),
        ),
        NOT_ALLOWED,
    ),
    Stalls(
        "longest-webhook",
        "instance",
        lambda canary: setting(
            "settings.webhookUrl",
            "https://h.example/" + "w" * 2000,
            instance_spec(f"http://127.0.0.1:{canary.port}"),
        ),
        NOT_ALLOWED,
    ),
    Stalls(LONGEST_NAME, "instance", hostile("http://127.0.0.1:{canary}"), NOT_ALLOWED),
    Stalls(
        "partner-imds",
        "partner",
        lambda canary: partner_spec("http://169.254.169.254"),
        NOT_ALLOWED,
    ),
    Stalls(
        "partner-canary",
        "partner",
        lambda canary: partner_spec(f"http://127.0.0.1:{canary.port}"),
        NOT_ALLOWED,
    ),
    Stalls(
        "via-hostile-partner",
        "instance",
        lambda canary: {"partnerRef": {"name": "partner-canary"}},
        NOT_ALLOWED,
    ),
    Stalls(
        "hostile-cluster-partner",
        "cluster-partner",
        lambda canary: {
            **partner_spec(f"http://127.0.0.1:{canary.port}"),
            "namespaceSelector": {},
        },
        NOT_ALLOWED,
    ),
    Stalls(
        "via-hostile-cluster-partner",
        "instance",
        lambda canary: {
            "partnerRef": {"kind": "ClusterWhatsAppPartner", "name": "hostile-cluster-partner"}
        },
        NOT_ALLOWED,
    ),
    Stalls(
        "missing-partner",
        "instance",
        lambda canary: {"partnerRef": {"name": "nobody"}},
        ("PartnerNotFound",),
    ),
]


def stalled_with(reasons: tuple[str, ...]) -> Callable[[dict[str, Any]], bool]:
    def check(obj: dict[str, Any]) -> bool:
        return any(has_condition(obj, "Stalled", "True", reason) for reason in reasons)

    return check


def test_accepted_hostile_manifests_are_stalled_and_reach_nothing(
    api: client.ApiClient,
    namespace: str,
    canary: Canary,
    emulator: Emulator,
    operator: OperatorProcess,
) -> None:
    objects = client.CustomObjectsApi(api)
    log_start = operator.log_size()
    for case in ACCEPTED:
        create(api, namespace, case.kind, case.name, case.spec(canary))
    for case in ACCEPTED:

        def current(case: Stalls = case) -> dict[str, Any]:
            return read(api, namespace, case.kind, case.name)

        def settled(case: Stalls = case, current: Callable[[], dict[str, Any]] = current) -> bool:
            obj = current()
            return (
                stalled_with(case.reasons)(obj)
                and obj.get("status", {}).get("observedGeneration") == obj["metadata"]["generation"]
            )

        wait_for(
            settled,
            f"{case.name[:40]} Stalled with {'/'.join(case.reasons)}",
            timeout=60,
            describe=lambda current=current: conditions_summary(current()),
        )
        status = current()["status"]
        assert status.get("lastError"), f"{case.name}: no message says why"
    log = operator.log_tail(log_start, limit=10_000_000)
    assert "failed unexpectedly" not in log
    assert "Traceback" not in log
    assert canary.connections == 0
    # Not a single call reached the emulator (the only listed host) for these ids either.
    assert str(HOSTILE_ID) not in emulator.counters()
    # The Secret an attacker aimed at was never read into anything the attacker can see.
    password = client.CoreV1Api(api).read_namespaced_secret("db-creds", namespace).data
    assert password is not None
    dump = json.dumps(
        [
            objects.list_namespaced_custom_object(
                constants.GROUP, constants.VERSION, namespace, plural
            )
            for plural in (constants.PLURAL, constants.PARTNER_PLURAL)
        ]
    )
    assert "hunter2" not in dump
