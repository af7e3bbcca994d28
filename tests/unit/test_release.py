"""scripts/release's pure parts: the chart's pinned values, the SBOM, the registry's scheme,
and the command line without the emulator and developer tools (as in the released image)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from whatsapp_operator import cli
from whatsapp_operator.devtools import image_inventory, release, sbom

ROOT = Path(__file__).resolve().parents[2]
VALUES = ROOT / "helm" / "whatsapp-operator" / "values.yaml"
DIGEST = "sha256:" + "ab" * 32


def test_pinning_sets_repository_and_digest_and_keeps_everything_else() -> None:
    text = VALUES.read_text(encoding="utf-8")
    pinned = release.pin_image(text, "127.0.0.1:5000/x/whatsapp-operator", DIGEST)
    before, after = yaml.safe_load(text), yaml.safe_load(pinned)
    assert after["image"] == {**before["image"], "repository": "127.0.0.1:5000/x/whatsapp-operator",
                              "digest": DIGEST}  # fmt: skip
    assert {k: v for k, v in after.items() if k != "image"} == {
        k: v for k, v in before.items() if k != "image"
    }
    # Two lines changed, comments (the chart README's table) untouched.
    changed = [
        (a, b) for a, b in zip(text.splitlines(), pinned.splitlines(), strict=True) if a != b
    ]
    assert len(changed) == 2


def test_pinning_refuses_what_is_not_a_digest() -> None:
    with pytest.raises(ValueError, match="digest"):
        release.pin_image(VALUES.read_text(encoding="utf-8"), "r/x", "latest")
    with pytest.raises(ValueError, match="image"):
        release.pin_image("replicas: 1\n", "r/x", DIGEST)


@pytest.mark.parametrize(
    ("registry", "loopback"),
    [
        ("127.0.0.1:5000/test", True),
        ("localhost:43123", True),
        ("[::1]:5000/a/b", True),
        ("ghcr.io/owner", False),
        ("127.0.0.1.example.com/x", False),
        ("registry.local:5000/x", False),
    ],
)
def test_only_loopback_registries_are_spoken_to_in_plain_http(
    registry: str, loopback: bool
) -> None:
    assert release.is_loopback(registry) is loopback


def test_base_must_be_pinned_by_digest(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        release.parse_args(["ghcr.io/o", "--base", "python:3.11-slim"])
    assert "pinned by digest" in capsys.readouterr().err
    args = release.parse_args(["ghcr.io/o", "--base", f"python:3.11-slim@{DIGEST}"])
    assert args.base.endswith(DIGEST)


DPKG_STATUS = """\
Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.36-9+deb12u14
Description: GNU C Library
 continuation line: Version: 9

Package: removed-one
Status: deinstall ok config-files
Version: 1.0

Package: tzdata
Status: install ok installed
Architecture: all
Version: 1:2025b-0+deb12u1
"""


def test_inventory_lists_installed_debian_packages_only(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text(DPKG_STATUS, encoding="utf-8")
    assert image_inventory.debian_packages(status) == [
        {"name": "libc6", "version": "2.36-9+deb12u14", "arch": "amd64"},
        {"name": "tzdata", "version": "1:2025b-0+deb12u1", "arch": "all"},
    ]
    assert image_inventory.debian_packages(tmp_path / "absent") == []


def test_inventory_runs_with_the_standard_library_alone() -> None:
    # As in the image: python3 reading the module's text on stdin, no package on the path.
    script = Path(image_inventory.__file__).read_text(encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-I", "-"], input=script, capture_output=True, text=True, check=True
    ).stdout
    found = json.loads(out)
    assert {"python", "distributions", "debian"} <= set(found)
    assert all({"name", "version"} <= set(d) for d in found["distributions"])


def inventory() -> dict[str, Any]:
    return {
        "python": "3.11.2",
        "distributions": [
            {
                "name": "Typing_Extensions",
                "version": "4.16.0",
                "license_expression": "PSF-2.0",
                "license": None,
                "summary": "Backported types",
            },
            {
                "name": "kopf",
                "version": "1.45.2",
                "license_expression": None,
                "license": "MIT",
                "summary": None,
            },
            {
                "name": "certifi",
                "version": "2026.10.19.post1",
                "license_expression": None,
                "license": "long\ntext of a license",
                "summary": None,
            },
        ],
        "debian": [{"name": "tzdata", "version": "1:2025b-0+deb12u1", "arch": "all"}],
    }


def test_sbom_names_the_image_by_digest_and_every_component_by_purl() -> None:
    document = sbom.cyclonedx(
        inventory(), repository="ghcr.io/o/whatsapp-operator", digest=DIGEST, version="0.1.0"
    )
    assert document["bomFormat"] == "CycloneDX"
    assert document["specVersion"] == "1.6"
    subject = document["metadata"]["component"]
    assert subject["type"] == "container"
    assert subject["purl"] == (
        f"pkg:oci/whatsapp-operator@sha256%3A{'ab' * 32}"
        "?repository_url=ghcr.io%2Fo%2Fwhatsapp-operator"
    )
    by_name = {c["name"]: c for c in document["components"]}
    assert by_name["Typing_Extensions"]["purl"] == "pkg:pypi/typing-extensions@4.16.0"
    assert by_name["Typing_Extensions"]["licenses"] == [{"expression": "PSF-2.0"}]
    assert by_name["kopf"]["licenses"] == [{"license": {"name": "MIT"}}]
    assert "licenses" not in by_name["certifi"]  # a license text is no license name
    assert by_name["tzdata"]["purl"] == "pkg:deb/debian/tzdata@1%3A2025b-0%2Bdeb12u1?arch=all"
    refs = [c["bom-ref"] for c in document["components"]]
    assert len(set(refs)) == len(refs)
    (dependency,) = document["dependencies"]
    assert dependency == {"ref": subject["bom-ref"], "dependsOn": refs}


def test_the_command_works_without_the_emulator_and_devtools(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.import_module

    def absent(name: str, package: str | None = None) -> Any:
        if name in cli.OPTIONAL_COMMANDS:
            raise ModuleNotFoundError(name.rsplit(".", 1)[0], name=name.rsplit(".", 1)[0])
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", absent)
    parser = cli.build_parser()
    assert parser.parse_args(["run"]).command == "run"
    for missing in ("emulator", "dev"):
        with pytest.raises(SystemExit):
            parser.parse_args([missing])


def test_a_missing_dependency_of_the_emulator_is_not_hidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.import_module

    def broken(name: str, package: str | None = None) -> Any:
        if name == cli.OPTIONAL_COMMANDS[0]:
            raise ModuleNotFoundError("No module named 'segno'", name="segno")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.raises(ModuleNotFoundError, match="segno"):
        cli.build_parser()


def test_the_operators_command_line_loads_no_emulator_server() -> None:
    # A fresh interpreter: this test process has long imported everything.
    probe = (
        "import sys\n"
        "from whatsapp_operator import cli\n"
        "cli.build_parser().parse_args(['run'])\n"
        "print(sorted(m for m in sys.modules if m.startswith("
        "('whatsapp_operator.emulator.', 'aiohttp.web'))))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert loaded == "['whatsapp_operator.emulator.command']"
