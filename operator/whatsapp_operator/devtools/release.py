"""`scripts/release REGISTRY`: build, describe, package and push one release.

    image   REGISTRY/whatsapp-operator:VERSION   (built by scripts/image, pushed by podman)
    SBOM    CycloneDX JSON of the pushed image, read inside it; attached to the image as an
            OCI referrer when `oras` is available, and always written to --out
    chart   oci://REGISTRY/charts/whatsapp-operator:VERSION, whose values pin the image
            by the digest just pushed
    signed  with cosign and a local key when --sign-key is given

VERSION is pyproject.toml's; the chart's version and appVersion are set to it. A loopback
registry (127.0.0.1, localhost, ::1) is spoken to over plain HTTP; any other over TLS, with
the credentials `podman login` / `helm registry login` stored. The last line of stdout is a
JSON summary (also written to OUT/release.json).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from whatsapp_operator.devtools import image_inventory, sbom
from whatsapp_operator.devtools.binaries import find_binaries

IMAGE_NAME = "whatsapp-operator"
CHART_NAME = "whatsapp-operator"
CHARTS_PATH = "charts"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# crun refuses hosts with the hybrid cgroup layout; runc runs everywhere (as scripts/image).
PODMAN_RUNTIME = ["--runtime", "runc"] if shutil.which("runc") else []


class ReleaseError(RuntimeError):
    """A step failed; the message names it and carries the tool's output."""


@dataclass(frozen=True)
class Released:
    """What one release pushed, with the digests to name it by."""

    version: str
    image: str  # repository@digest
    image_tag: str  # repository:version
    image_digest: str
    chart: str  # oci://.../whatsapp-operator
    chart_version: str
    chart_digest: str
    chart_package: str
    sbom: str
    sbom_attached: str | None  # the referrer's digest, when oras pushed it
    signed: bool


def registry_host(registry: str) -> str:
    """The host[:port] of `registry` (`host[:port]/path...`)."""
    return registry.split("/", 1)[0]


def is_loopback(registry: str) -> bool:
    """Whether `registry` is on this host (spoken to over plain HTTP)."""
    host = registry_host(registry)
    if host.startswith("["):  # [::1]:5000
        return host.split("]", 1)[0] + "]" in LOOPBACK_HOSTS
    return host.rsplit(":", 1)[0] in LOOPBACK_HOSTS


def project_version(root: Path) -> str:
    """pyproject.toml's version: the image tag, the chart's version and appVersion."""
    with (root / "pyproject.toml").open("rb") as handle:
        version: str = tomllib.load(handle)["project"]["version"]
    return version


def pin_image(values_yaml: str, repository: str, digest: str) -> str:
    """values.yaml with `image.repository` and `image.digest` set, its comments kept.

    Only the two lines of the top-level `image:` block change, so the packaged values stay
    the documented ones (the chart's README table is generated from their comments).
    """
    if not DIGEST.fullmatch(digest):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    lines = values_yaml.splitlines(keepends=True)
    try:
        start = lines.index("image:\n")
    except ValueError:
        raise ValueError("values.yaml has no top-level `image:` block") from None
    done = set()
    for index in range(start + 1, len(lines)):
        line = lines[index]
        if line.strip() and not line.startswith((" ", "#")):
            break  # the next top-level key
        for key, value in (("repository", repository), ("digest", digest)):
            if line.startswith(f"  {key}:"):
                lines[index] = f"  {key}: {json.dumps(value)}\n"
                done.add(key)
    if done != {"repository", "digest"}:
        missing = sorted({"repository", "digest"} - done)
        raise ValueError(f"values.yaml's image block lacks {missing}")
    return "".join(lines)


def _run(argv: Sequence[str], what: str, *, input_text: str | None = None,
         timeout: float = 1800) -> str:  # fmt: skip
    result = subprocess.run(  # noqa: S603 - argv is built here from fixed tools
        list(argv),
        input=input_text,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise ReleaseError(f"{what} failed:\n$ {' '.join(argv)}\n{result.stdout}{result.stderr}")
    return result.stdout + result.stderr


def _step(message: str) -> None:
    print(f"== {message}", file=sys.stderr, flush=True)


def _tool(name: str) -> str | None:
    return os.environ.get(f"WAOP_{name.upper()}") or shutil.which(name)


def build_image(root: Path, local: str, version: str, base: str | None) -> None:
    """scripts/image, labelled with the version and the commit."""
    revision = _git_revision(root)
    argv = [str(root / "scripts" / "image"), "--tag", local,
            "--build-arg", f"VERSION={version}", "--build-arg", f"REVISION={revision}"]  # fmt: skip
    if source := os.environ.get("WAOP_RELEASE_SOURCE"):
        argv += ["--build-arg", f"SOURCE={source}"]
    if base:
        argv += ["--base", base]
    _run(argv, "building the image")


def _git_revision(root: Path) -> str:
    found = subprocess.run(  # noqa: S603 - fixed argv
        ["git", "-C", str(root), "rev-parse", "HEAD"],  # noqa: S607 - git from PATH
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() if found.returncode == 0 else ""


def push_image(local: str, target: str, work: Path, loopback: bool) -> str:
    """Push `local` as `target` (repository:tag); the pushed manifest's digest."""
    digest_file = work / "image.digest"
    argv = ["podman", *PODMAN_RUNTIME, "push", "--quiet", "--digestfile", str(digest_file)]
    if loopback:
        argv.append("--tls-verify=false")
    _run([*argv, local, f"docker://{target}"], "pushing the image")
    digest = digest_file.read_text(encoding="utf-8").strip()
    if not DIGEST.fullmatch(digest):
        raise ReleaseError(f"podman push wrote no digest ({digest!r})")
    return digest


def read_inventory(local: str) -> dict[str, Any]:
    """What is installed in the image, read by its own python3 (no network, read-only)."""
    script = Path(image_inventory.__file__).read_text(encoding="utf-8")
    podman = ["podman", *PODMAN_RUNTIME, "run", "--rm", "-i", "--network", "none"]
    limits = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
    out = _run(
        [*podman, "--read-only", *limits, "--entrypoint", "python3", local, "-"],
        "reading the image's contents",
        input_text=script,
        timeout=300,
    )
    inventory: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return inventory


def package_chart(
    root: Path, helm: str, out: Path, work: Path, version: str, repository: str, digest: str
) -> Path:
    """The chart, pinned to `repository@digest`, linted and packaged into `out`."""
    chart = work / CHART_NAME
    shutil.copytree(root / "helm" / CHART_NAME, chart)
    values = chart / "values.yaml"
    values.write_text(
        pin_image(values.read_text(encoding="utf-8"), repository, digest), encoding="utf-8"
    )
    _run([helm, "lint", str(chart)], "linting the chart")
    _run([helm, "package", str(chart), "--version", version, "--app-version", version,
          "--destination", str(out)], "packaging the chart")  # fmt: skip
    return out / f"{CHART_NAME}-{version}.tgz"


def push_chart(helm: str, package: Path, registry: str, loopback: bool) -> str:
    """helm push to oci://REGISTRY/charts; the pushed chart's digest."""
    argv = [helm, "push", str(package), f"oci://{registry}/{CHARTS_PATH}"]
    if loopback:
        argv.append("--plain-http")
    output = _run(argv, "pushing the chart")
    found = re.search(r"Digest:\s*(sha256:[0-9a-f]{64})", output)
    if found is None:
        raise ReleaseError(f"helm push printed no digest:\n{output}")
    return found[1]


def attach_sbom(oras: str, image: str, path: Path, loopback: bool) -> str:
    """Push the SBOM as an OCI referrer of `image` (repository@digest); the referrer's digest."""
    argv = [oras, "attach", "--artifact-type", sbom.MEDIA_TYPE, "--format", "json"]
    if loopback:
        argv.append("--plain-http")
    # oras names the layer after the path it is given: the bare file name, from its folder.
    result = subprocess.run(  # noqa: S603 - argv is built here from fixed tools
        [*argv, image, f"{path.name}:{sbom.MEDIA_TYPE}"],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise ReleaseError(f"attaching the SBOM failed:\n{result.stdout}{result.stderr}")
    found = DIGEST.search(result.stdout)
    if found is None:
        raise ReleaseError(f"oras attach printed no digest:\n{result.stdout}")
    return found[0]


def sign_image(cosign: str, image: str, key: Path, loopback: bool) -> None:
    """cosign sign with a local key."""
    # No transparency-log upload: a local key, verified with its public half
    # (`cosign verify --key cosign.pub --insecure-ignore-tlog`).
    argv = [cosign, "sign", "--yes", "--key", str(key), "--tlog-upload=false"]
    if loopback:
        argv += ["--allow-insecure-registry", "--allow-http-registry"]
    _run([*argv, image], "signing the image", timeout=300)


def release(
    root: Path,
    registry: str,
    out: Path,
    *,
    local_image: str | None = None,
    base: str | None = None,
    sign_key: Path | None = None,
) -> Released:
    """Build (unless `local_image`), push, describe, sign and package one release."""
    registry = registry.removeprefix("oci://").rstrip("/")
    loopback = is_loopback(registry)
    version = project_version(root)
    repository = f"{registry}/{IMAGE_NAME}"
    helm = _tool("helm") or str(find_binaries().helm)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="waop-release-") as scratch:
        work = Path(scratch)
        if local_image is None:
            local_image = f"localhost/{IMAGE_NAME}:{version}"
            _step(f"building {local_image}" + (f" on {base}" if base else ""))
            build_image(root, local_image, version, base)
        tag = f"{repository}:{version}"
        _step(f"pushing {local_image} as {tag}")
        digest = push_image(local_image, tag, work, loopback)
        image = f"{repository}@{digest}"

        _step("writing the SBOM (CycloneDX)")
        document = sbom.cyclonedx(
            read_inventory(local_image), repository=repository, digest=digest, version=version
        )
        sbom_path = out / f"{IMAGE_NAME}-{version}.cdx.json"
        sbom_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        attached = None
        if oras := _tool("oras"):
            _step(f"attaching the SBOM to {image}")
            attached = attach_sbom(oras, image, sbom_path, loopback)
        else:
            _step(f"no oras (PATH or WAOP_ORAS): the SBOM stays at {sbom_path} only")

        signed = False
        if sign_key is not None:
            cosign = _tool("cosign")
            if cosign is None:
                raise ReleaseError("--sign-key needs cosign (on PATH or in WAOP_COSIGN)")
            _step(f"signing {image}")
            sign_image(cosign, image, sign_key, loopback)
            signed = True

        _step(f"packaging the chart {version} for {image}")
        package = package_chart(root, helm, out, work, version, repository, digest)
        _step(f"pushing the chart to oci://{registry}/{CHARTS_PATH}")
        chart_digest = push_chart(helm, package, registry, loopback)
    return Released(
        version=version,
        image=image,
        image_tag=tag,
        image_digest=digest,
        chart=f"oci://{registry}/{CHARTS_PATH}/{CHART_NAME}",
        chart_version=version,
        chart_digest=chart_digest,
        chart_package=str(package),
        sbom=str(sbom_path),
        sbom_attached=attached,
        signed=signed,
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; a --base must be pinned by digest."""
    parser = argparse.ArgumentParser(
        prog="scripts/release",
        description="Build the image, write its SBOM, package the chart with the image's "
        "digest, and push both to an OCI registry.",
    )
    parser.add_argument("registry", help="e.g. ghcr.io/OWNER, or 127.0.0.1:5000/test")
    parser.add_argument(
        "--base", help="base image pinned by digest (IMAGE@sha256:...); default: scripts/image's"
    )
    parser.add_argument("--image", help="release this local image instead of building one")
    parser.add_argument(
        "--out", type=Path, default=Path("dist"), help="chart package, SBOM, release.json"
    )
    parser.add_argument("--sign-key", type=Path, help="cosign private key (COSIGN_PASSWORD)")
    args = parser.parse_args(argv)
    if args.base and not re.search(r"@sha256:[0-9a-f]{64}$", args.base):
        parser.error("--base must be pinned by digest (IMAGE@sha256:<64 hex digits>)")
    if args.base and args.image:
        parser.error("--base builds an image; --image releases an existing one")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """scripts/release; 0 once everything is pushed."""
    args = parse_args(argv)
    root = Path(__file__).resolve().parents[3]
    began = time.monotonic()
    try:
        released = release(
            root,
            args.registry,
            args.out.resolve(),
            local_image=args.image,
            base=args.base,
            sign_key=args.sign_key,
        )
    except ReleaseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    summary = {**asdict(released), "seconds": round(time.monotonic() - began, 1)}
    (args.out / "release.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"image: {released.image} (tag {released.image_tag})")
    print(f"chart: {released.chart}:{released.chart_version}@{released.chart_digest}")
    where = f", attached as {released.sbom_attached}" if released.sbom_attached else ""
    print(f"sbom:  {released.sbom}{where}")
    print(f"signed: {'yes' if released.signed else 'no'}")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
