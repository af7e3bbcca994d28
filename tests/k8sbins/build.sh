#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, etcd and helm from Go modules
# into a cache outside the repository, keyed by versions and platform.
# Prints the binary directory on its last line. A second run with the cache
# present returns at once (the .complete stamp is written last).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
K8S_VERSION=v1.37.2
HELM_MODULE=helm.sh/helm/v3
HELM_VERSION=v3.19.0
cache_root=${WAOP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/whatsapp-operator}
go_version=$(go env GOVERSION)
platform="$(go env GOOS)-$(go env GOARCH)"
out="$cache_root/k8s/${K8S_VERSION}-helm${HELM_VERSION}-${go_version}-${platform}"

if [[ -f "$out/.complete" ]]; then
  echo "$out"
  exit 0
fi

export GOCACHE="$cache_root/go/build" GOMODCACHE="$cache_root/go/mod"
export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"
mkdir -p "$out"
start=$(date +%s)

minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
done
ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"

cd "$here"
for cmd in kube-apiserver kube-controller-manager; do
  echo "building $cmd $K8S_VERSION" >&2
  go build -ldflags "$ldflags" -o "$out/$cmd" "./cmd/$cmd"
done
echo "building etcd" >&2
go build -ldflags "-s -w" -o "$out/etcd" ./cmd/etcd

# helm lives in its own module graph (its k8s.io pins differ from the
# control plane's), and its go.mod has no replace directives, so go install works.
echo "building helm $HELM_VERSION" >&2
GOBIN="$out" go install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
  "$HELM_MODULE/cmd/helm@$HELM_VERSION"

echo "built in $(( $(date +%s) - start )) s, $(du -sh "$out" | cut -f1) of binaries" >&2
touch "$out/.complete"
echo "$out"
