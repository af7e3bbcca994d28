# syntax=docker/dockerfile:1
# The whatsapp-operator image: `whatsapp-operator run` as UID 65532 on a read-only root.
#
#   docker build -t whatsapp-operator:0.1.0 .
#
# Base: the official Python image, Debian 12 (bookworm) slim, pinned by its full version tag.
# For a release build, pin the digest too (same image for both stages, so the venv's
# python symlink resolves in the runtime stage):
#   docker buildx imagetools inspect python:3.11.13-slim-bookworm --format '{{.Manifest.Digest}}'
#   docker build --build-arg PYTHON_IMAGE=python:3.11.13-slim-bookworm@sha256:<digest> .
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
WORKDIR /src
# Only what the wheel needs (pyproject.toml names README.md as the readme).
COPY pyproject.toml README.md ./
COPY operator/ ./operator/
# A regular (non-editable) install; pip compiles the bytecode here, at build time,
# because the runtime root filesystem is read-only.
RUN /opt/venv/bin/pip install --upgrade pip setuptools wheel \
    && /opt/venv/bin/pip install /src \
    && /opt/venv/bin/whatsapp-operator --version

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="whatsapp-operator" \
      org.opencontainers.image.description="Kubernetes operator for WhatsApp accounts on GREEN-API" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0"
# The venv only: no compiler, no pip cache, no sources.
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
