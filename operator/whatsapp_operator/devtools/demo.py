"""`whatsapp-operator dev demo`: the whole product on one machine, in one command.

Starts the local control plane, the GREEN-API emulator with a seeded instance and
a partner token, the operator as a separate process (as in a cluster), applies
the sample WhatsAppInstance, and walks through linking a phone. Ctrl-C stops
everything in dependency order.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, cast

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from whatsapp_operator.devtools.binaries import repo_root
from whatsapp_operator.devtools.controlplane import ControlPlane
from whatsapp_operator.devtools.polling import wait_until
from whatsapp_operator.devtools.process import ManagedProcess
from whatsapp_operator.kubectl.qrterminal import render

NAMESPACE = "whatsapp-demo"
INSTANCE_ID = 7105000001
PARTNER_TOKEN = "gac.demo" + "0" * 40
DEMO_PHONE = "79001234567"


def _say(text: str) -> None:
    print(text, flush=True)


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in obj.get("status", {}).get("conditions", []):
        if condition.get("type") == kind:
            return dict(condition)
    return None


class Demo:
    """The demo's processes (control plane, emulator, operator) and what it shows."""

    def __init__(self, port: int, auto_scan: bool, exit_when_linked: bool) -> None:
        self.port = port
        self.auto_scan = auto_scan
        # Unattended runs (CI, recordings) end once the phone is linked.
        self.exit_when_linked = exit_when_linked
        self.token = secrets.token_hex(25)
        self.logs = Path(tempfile.mkdtemp(prefix="waop-demo-"))
        self.emulator_url = f"http://127.0.0.1:{port}"
        root = repo_root()
        self.root = root if root is not None else Path.cwd()
        self.cluster = ControlPlane(
            crds=sorted((self.root / "crds").glob("*.yaml")), log_dir=self.logs
        )
        self.emulator: ManagedProcess | None = None
        self.operator: ManagedProcess | None = None

    def run(self, stop: threading.Event) -> int:
        """Start everything, apply the sample and walk through linking a phone; 0 when done.

        Runs until `stop` is set, or ends once linked with `exit_when_linked`; TimeoutError
        when a step does not happen in time.
        """
        _say(
            "Starting the local Kubernetes control plane (etcd, kube-apiserver, "
            "kube-controller-manager)..."
        )
        self.cluster.start()
        kubeconfig = str(self.cluster.kubeconfig)
        _say(f"  ready. In another terminal:  export KUBECONFIG={kubeconfig}")
        self._start_emulator()
        self._start_operator(kubeconfig)
        api = self._api(kubeconfig)
        applied_at = time.monotonic()
        self._apply_sample(api)
        custom = client.CustomObjectsApi(api)
        core = client.CoreV1Api(api)

        def get() -> dict[str, Any]:
            obj = custom.get_namespaced_custom_object(
                "whatsapp-operator.io", "v1alpha1", NAMESPACE, "whatsappinstances", "sales"
            )
            return cast(dict[str, Any], obj)

        secret = wait_until(
            lambda: self._linking_secret(core, "sales"), "the QR Secret", timeout=120
        )
        _say(
            f"\nFirst QR code in Secret sales-linking {time.monotonic() - applied_at:.1f} s "
            "after the resource was applied (adopt mode; GREEN-API hands out codes while "
            "the settings apply)."
        )
        _say("Waiting for the operator to apply the settings (GREEN-API takes a while)...")
        wait_until(
            lambda: (_condition(get(), "Synced") or {}).get("status") == "True",
            "Synced=True",
            timeout=180,
        )
        _say(f"Synced {time.monotonic() - applied_at:.1f} s after the resource was applied.")
        self._kubectl_get(kubeconfig)
        secret = self._linking_secret(core, "sales") or secret
        png = base64.b64decode(secret.data["qr.png"])
        _say(
            "\nThe operator keeps the current QR code in Secret sales-linking "
            "(it changes every 20 s). Scan it with WhatsApp > Linked devices:\n"
        )
        _say(render(png))
        scan = (
            f"curl -X POST {self.emulator_url}/admin/instances/{INSTANCE_ID}/scan "
            f'-d \'{{"phone": "{DEMO_PHONE}"}}\''
        )
        if self.auto_scan:
            _say(f"\nSimulating the phone scan:  {scan}")
            self._post(f"/admin/instances/{INSTANCE_ID}/scan", {"phone": DEMO_PHONE})
        else:
            _say(f"\nThis is the emulator: simulate the phone scan with\n  {scan}")
        wait_until(
            lambda: (
                stop.is_set() or (_condition(get(), "Authorized") or {}).get("status") == "True"
            ),
            "Authorized=True",
            timeout=3600,
        )
        if stop.is_set():
            return 0
        _say("\nLinked. The QR Secret is gone and the account is in status:")
        self._kubectl_get(kubeconfig)
        self._partner_mode(api, custom, kubeconfig)
        _say(
            "\nEverything keeps running: edit the resource, e.g.\n"
            f"  kubectl -n {NAMESPACE} patch wai sales --type merge "
            '-p \'{"spec":{"settings":{"keepOnlineStatus":true}}}\'\n'
            f"  kubectl -n {NAMESPACE} describe wai sales\n"
            f"Logs: {self.logs}. Press Ctrl-C to stop."
        )
        if not self.exit_when_linked:
            stop.wait()
        return 0

    def _partner_mode(
        self, api: client.ApiClient, custom: client.CustomObjectsApi, kubeconfig: str
    ) -> None:
        _say(
            "\nPartner mode: a WhatsAppInstance without an id, referring to partner "
            "credentials, gets a new GREEN-API instance (createInstance)."
        )
        client.CoreV1Api(api).create_namespaced_secret(
            NAMESPACE,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name="greenapi-partner"),
                string_data={"partnerToken": PARTNER_TOKEN},
            ),
        )
        custom.create_namespaced_custom_object(
            "whatsapp-operator.io",
            "v1alpha1",
            NAMESPACE,
            "whatsapppartners",
            {
                "apiVersion": "whatsapp-operator.io/v1alpha1",
                "kind": "WhatsAppPartner",
                "metadata": {"name": "main"},
                "spec": {
                    "apiUrl": self.emulator_url,
                    "tokenSecretRef": {"name": "greenapi-partner"},
                },
            },
        )
        applied_at = time.monotonic()
        custom.create_namespaced_custom_object(
            "whatsapp-operator.io",
            "v1alpha1",
            NAMESPACE,
            "whatsappinstances",
            {
                "apiVersion": "whatsapp-operator.io/v1alpha1",
                "kind": "WhatsAppInstance",
                "metadata": {"name": "support"},
                "spec": {
                    "instance": {"apiUrl": self.emulator_url},
                    "partnerRef": {"name": "main"},
                    "deletionPolicy": "Delete",
                    "settingsProfile": "Recommended",
                    "intervals": {"stateSeconds": 10, "settleSeconds": 20},
                },
            },
        )

        def synced() -> bool:
            obj = custom.get_namespaced_custom_object(
                "whatsapp-operator.io", "v1alpha1", NAMESPACE, "whatsappinstances", "support"
            )
            return (_condition(cast(dict[str, Any], obj), "Synced") or {}).get("status") == "True"

        core = client.CoreV1Api(api)
        wait_until(lambda: self._linking_secret(core, "support"), "its QR Secret", timeout=180)
        _say(
            f"First QR code in Secret support-linking {time.monotonic() - applied_at:.1f} s "
            "after the resource was applied (partner mode: createInstance included)."
        )
        wait_until(synced, "the partner-created instance", timeout=180)
        _say("Created (GREEN-API took ~10 s to set it up), configured, and waiting for a phone:")
        self._kubectl_get(kubeconfig)

    def _start_emulator(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "whatsapp_operator.cli",
            "emulator",
            "--port",
            str(self.port),
            "--instance",
            f"{INSTANCE_ID}:{self.token}",
            "--partner-token",
            PARTNER_TOKEN,
            "--creation-seconds",
            "10",
            "--starting-seconds",
            "5",
            "--settings-apply-seconds",
            "15",
        ]
        self.emulator = ManagedProcess("emulator", argv, self.logs / "emulator.log")
        self.emulator.start()
        wait_until(self._emulator_up, "the GREEN-API emulator", timeout=30)
        _say(
            f"GREEN-API emulator on {self.emulator_url} with instance {INSTANCE_ID} "
            f"and a partner token"
        )

    def _emulator_up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.emulator_url}/admin/health", timeout=2):  # noqa: S310
                return True
        except OSError:
            return False

    def _post(self, path: str, body: dict[str, Any]) -> None:
        request = urllib.request.Request(  # noqa: S310 - loopback emulator URL
            f"{self.emulator_url}{path}",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass

    def _start_operator(self, kubeconfig: str) -> None:
        env = {**os.environ, "KUBECONFIG": kubeconfig}
        # The emulator is the only GREEN-API endpoint the demo's operator may reach.
        argv = [
            sys.executable,
            "-m",
            "whatsapp_operator.cli",
            "run",
            "--namespace",
            NAMESPACE,
            "--liveness",
            "",
            "--allowed-api-url",
            self.emulator_url,
        ]
        self.operator = ManagedProcess("operator", argv, self.logs / "operator.log", env=env)
        self.operator.start()
        _say(f"Operator running (logs: {self.logs / 'operator.log'})")

    def _api(self, kubeconfig: str) -> client.ApiClient:
        configuration = client.Configuration()
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        return client.ApiClient(configuration)

    def _apply_sample(self, api: client.ApiClient) -> None:
        core = client.CoreV1Api(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
        core.create_namespaced_secret(
            NAMESPACE,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name="sales-whatsapp-token"),
                string_data={
                    "apiTokenInstance": self.token,
                    "webhookUrlToken": secrets.token_urlsafe(24),
                },
            ),
        )
        sample = yaml.safe_load((self.root / "manifests/samples/whatsappinstance.yaml").read_text())
        sample["spec"]["instance"]["apiUrl"] = self.emulator_url
        sample["spec"]["instance"]["id"] = INSTANCE_ID
        sample["spec"]["intervals"] = {
            "stateSeconds": 10,
            "settingsSeconds": 60,
            "settleSeconds": 20,
        }
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            "whatsapp-operator.io", "v1alpha1", NAMESPACE, "whatsappinstances", sample
        )
        _say(
            f"Applied manifests/samples/whatsappinstance.yaml to namespace {NAMESPACE} "
            "(apiUrl pointed at the emulator)"
        )

    def _linking_secret(self, core: client.CoreV1Api, name: str) -> Any:
        try:
            return core.read_namespaced_secret(f"{name}-linking", NAMESPACE)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _kubectl_get(self, kubeconfig: str) -> None:
        command = [
            "kubectl",
            "--kubeconfig",
            kubeconfig,
            "-n",
            NAMESPACE,
            "get",
            "whatsappinstances",
            "-o",
            "wide",
        ]
        _say("\n$ kubectl get whatsappinstances -o wide")
        try:
            subprocess.run(command, check=False, timeout=30)  # noqa: S603
        except FileNotFoundError:
            _say("(kubectl is not installed; skipping)")

    def stop(self) -> None:
        """Stop the operator, the emulator and the control plane, in that order."""
        for process in (self.operator, self.emulator):
            if process is not None:
                process.stop(timeout=15)
        self.cluster.stop()


def run_demo(port: int, auto_scan: bool, exit_when_linked: bool = False) -> int:
    """Run the demo until SIGINT or SIGTERM, then stop everything; its exit code."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        _say("\nStopping: operator, emulator, control plane...")
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    demo = Demo(port, auto_scan, exit_when_linked)
    try:
        code = demo.run(stop)
    finally:
        demo.stop()
    _say("Stopped.")
    return code
