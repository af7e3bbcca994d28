"""Time to the first linking code: resource applied -> QR PNG in its `<name>-linking` Secret.

Run: `.venv/bin/python benchmarks/first_code.py [--runs 5]`

The GREEN-API emulator runs with its default timings (the documented ones: setSettings
restarts the instance, codes are served while settings apply). For each run it applies one
WhatsAppInstance in adopt mode (a fresh, unlinked instance with `settingsProfile:
Recommended`) and one in partner mode (createInstance included), and measures how long
until the operator has put a QR code into the linking Secret. Prints min / median / max
per mode; the demo prints the same figure for a single resource of each mode.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from rig import GROUP, VERSION, Rig

from whatsapp_operator.devtools.polling import wait_until

NAMESPACE = "bench-first-code"
FIRST_ID = 7105300000


def has_code(core: client.CoreV1Api, name: str) -> bool:
    try:
        secret = core.read_namespaced_secret(f"{name}-linking", NAMESPACE)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return bool((secret.data or {}).get("qr.png"))


def instance(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "WhatsAppInstance",
        "metadata": {"name": name},
        "spec": {**spec, "settingsProfile": "Recommended"},
    }


def main() -> int:
    """Run the benchmark and print min / median / max per mode."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    partner_token = "gac." + secrets.token_hex(20)
    times: dict[str, list[float]] = {"adopt": [], "partner": []}
    # The emulator's default timings: the documented ones.
    with Rig("waop-first-code-", ("--partner-token", partner_token)) as rig:
        url, core, custom = rig.url, rig.core, rig.custom
        rig.namespace(NAMESPACE)
        core.create_namespaced_secret(
            NAMESPACE,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name="partner"),
                string_data={"partnerToken": partner_token},
            ),
        )
        custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            NAMESPACE,
            "whatsapppartners",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "WhatsAppPartner",
                "metadata": {"name": "main"},
                "spec": {"apiUrl": url, "tokenSecretRef": {"name": "partner"}},
            },
        )
        rig.operator(NAMESPACE).start()
        for number in range(args.runs):
            token = secrets.token_hex(25)
            id_instance = FIRST_ID + number
            rig.seed_instance(id_instance, token, "notAuthorized")
            rig.token_secret(NAMESPACE, f"adopt-{number}", token)
            adopt = {
                "instance": {
                    "id": id_instance,
                    "apiUrl": url,
                    "tokenSecretRef": {"name": f"adopt-{number}"},
                }
            }
            partner = {"instance": {"apiUrl": url}, "partnerRef": {"name": "main"}}
            for mode, spec in (("adopt", adopt), ("partner", partner)):
                name = f"{mode}-{number}"
                applied = time.monotonic()
                custom.create_namespaced_custom_object(
                    GROUP, VERSION, NAMESPACE, "whatsappinstances", instance(name, spec)
                )
                wait_until(
                    lambda name=name: has_code(core, name), f"{name}'s code", 300, interval=0.05
                )
                times[mode].append(time.monotonic() - applied)
                print(f"{name}: first QR code after {times[mode][-1]:.1f} s", flush=True)
    print(f"\nresource applied -> first QR code in its linking Secret ({args.runs} runs each)")
    print("| mode | min | median | max |\n|---|---|---|---|")
    for mode, found in times.items():
        print(
            f"| {mode} | {min(found):.1f} s | {statistics.median(found):.1f} s "
            f"| {max(found):.1f} s |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
