# syntax=docker/dockerfile:1
# The whatsapp-operator image: `whatsapp-operator run` as UID 65532 on a read-only root.
#
#   docker build -t whatsapp-operator:0.1.0 .      (or scripts/image, with podman)
#
# Every Python package in the image comes from requirements/runtime.txt, pinned with hashes
# (scripts/lock regenerates it from pyproject.toml); our own wheel is built with the
# backend pinned in requirements/build.txt.
#
# Base: the official Python image, Debian 12 (bookworm) slim, pinned by its full version tag.
# Any Debian-like image with python3 and its venv module works (scripts/image builds one
# with mmdebstrap where no registry is reachable). For a release build, pin the digest too
# (same image for both stages, so the venv's python symlink resolves in the runtime stage):
#   docker buildx imagetools inspect python:3.11.13-slim-bookworm --format '{{.Manifest.Digest}}'
#   docker build --build-arg PYTHON_IMAGE=python:3.11.13-slim-bookworm@sha256:<digest> .
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PYTHONDONTWRITEBYTECODE=1
# /opt/build holds pip and the build backend and stays here; /opt/venv is what ships, and
# gets no pip at all (the base image's pip drives it through --python).
RUN python3 -m venv /opt/build \
    && python3 -m venv --without-pip /opt/venv
# The dependencies before the sources: this layer is rebuilt only when a lock file changes.
# --require-hashes also refuses any package, direct or transitive, that the lock lacks;
# --only-binary keeps build scripts of dependencies out of the image build.
COPY requirements/ /src/requirements/
RUN /opt/build/bin/pip install --require-hashes --only-binary=:all: \
        --requirement /src/requirements/build.txt \
    && /opt/build/bin/pip --python /opt/venv/bin/python install --require-hashes \
        --only-binary=:all: --requirement /src/requirements/runtime.txt
WORKDIR /src
# Only what the wheel needs (pyproject.toml names README.md as the readme). .dockerignore
# leaves the emulator and the developer tools out: the wheel built here has neither.
COPY pyproject.toml README.md ./
COPY operator/ ./operator/
# Our wheel without build isolation (which would fetch an unpinned setuptools) and without
# dependencies (all installed above); pip compiles the bytecode here, at build time,
# because the runtime root filesystem is read-only.
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheels /src \
    && /opt/build/bin/pip --python /opt/venv/bin/python install --no-deps --no-index \
        /tmp/wheels/whatsapp_operator-*.whl \
    && /opt/build/bin/pip --python /opt/venv/bin/python check \
    && /opt/venv/bin/whatsapp-operator --version \
    && /opt/venv/bin/whatsapp-operator run --help >/dev/null

FROM ${PYTHON_IMAGE}
# scripts/release sets these from pyproject.toml and the commit it releases.
ARG VERSION=0.1.0
ARG REVISION=""
ARG SOURCE=""
LABEL org.opencontainers.image.title="whatsapp-operator" \
      org.opencontainers.image.description="Kubernetes operator for WhatsApp accounts on GREEN-API" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"
# The venv only: no compiler, no pip, no build backend, no sources.
COPY --from=builder /opt/venv /opt/venv
# No writes outside /tmp (an emptyDir in the Deployment): no .pyc files, HOME in /tmp.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp
WORKDIR /tmp
# A numeric user, so runAsNonRoot can verify it without an /etc/passwd entry.
USER 65532:65532
# kopf's liveness endpoint: GET /healthz (--liveness, default http://0.0.0.0:8080/healthz).
EXPOSE 8080
ENTRYPOINT ["whatsapp-operator", "run"]
