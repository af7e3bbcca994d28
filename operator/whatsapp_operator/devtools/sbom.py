"""A CycloneDX 1.6 SBOM (JSON) of a released image, from what `image_inventory` read in it.

The image is the BOM's subject (a container component named by its digest, so the SBOM
describes exactly the pushed bytes); its components are every Python distribution in the
image and every Debian package of its base, each with a package URL.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

SPEC_VERSION = "1.6"
MEDIA_TYPE = "application/vnd.cyclonedx+json"


def _purl_part(text: str) -> str:
    # The package-URL spec percent-encodes everything but unreserved characters.
    return quote(text, safe=".-_~")


def pypi_purl(name: str, version: str) -> str:
    """pkg:pypi/NAME@VERSION for a Python distribution."""
    # PyPI names are case-insensitive, and `_` and `.` mean `-` (PEP 503 normalisation).
    normalized = re.sub(r"[-_.]+", "-", name).lower()
    return f"pkg:pypi/{normalized}@{_purl_part(version)}"


def deb_purl(name: str, version: str, arch: str, distro: str = "debian") -> str:
    """pkg:deb/debian/NAME@VERSION?arch=ARCH for a Debian package."""
    qualifier = f"?arch={_purl_part(arch)}" if arch else ""
    return f"pkg:deb/{distro}/{_purl_part(name)}@{_purl_part(version)}{qualifier}"


def oci_purl(repository: str, digest: str) -> str:
    """pkg:oci/NAME@DIGEST?repository_url=REGISTRY/PATH, for `repository` without a tag."""
    name = repository.rsplit("/", 1)[-1]
    return f"pkg:oci/{name}@{_purl_part(digest)}?repository_url={_purl_part(repository)}"


def _licenses(dist: dict[str, Any]) -> list[dict[str, Any]]:
    expression = dist.get("license_expression")
    if expression:
        return [{"expression": expression}]
    text = (dist.get("license") or "").strip()
    # Some distributions put the whole license text in the field: that is no name.
    if text and "\n" not in text and len(text) <= 100 and text.upper() != "UNKNOWN":
        return [{"license": {"name": text}}]
    return []


def cyclonedx(
    inventory: dict[str, Any],
    *,
    repository: str,
    digest: str,
    version: str,
    timestamp: datetime | None = None,
) -> dict[str, Any]:
    """The SBOM of the image `repository@digest` whose contents `inventory` lists."""
    image_ref = oci_purl(repository, digest)
    components: list[dict[str, Any]] = []
    for dist in inventory["distributions"]:
        purl = pypi_purl(dist["name"], dist["version"])
        component: dict[str, Any] = {
            "type": "library",
            "bom-ref": purl,
            "name": dist["name"],
            "version": dist["version"],
            "purl": purl,
        }
        if licenses := _licenses(dist):
            component["licenses"] = licenses
        if dist.get("summary"):
            component["description"] = dist["summary"]
        components.append(component)
    for package in inventory["debian"]:
        purl = deb_purl(package["name"], package["version"], package["arch"])
        components.append(
            {
                "type": "library",
                "bom-ref": purl,
                "name": package["name"],
                "version": package["version"],
                "purl": purl,
            }
        )
    when = (timestamp or datetime.now(UTC)).replace(microsecond=0)
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": when.isoformat().replace("+00:00", "Z"),
            "tools": {
                "components": [{"type": "application", "name": "whatsapp-operator scripts/release"}]
            },
            "component": {
                "type": "container",
                "bom-ref": image_ref,
                "name": repository,
                "version": version,
                "purl": image_ref,
                "hashes": [{"alg": "SHA-256", "content": digest.removeprefix("sha256:")}],
                "properties": [{"name": "python:version", "value": inventory["python"]}],
            },
        },
        "components": components,
        "dependencies": [
            {"ref": image_ref, "dependsOn": [c["bom-ref"] for c in components]},
        ],
    }
