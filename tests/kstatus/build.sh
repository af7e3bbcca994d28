#!/usr/bin/env bash
# Builds the kstatus probe (sigs.k8s.io/cli-utils status.Compute, the library Flux
# uses for health checks) into a cache outside the repository, keyed by the module
# files, Go version and platform. Prints the binary's path on its last line. A second
# run with the cache present returns at once.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache_root=${WAOP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/whatsapp-operator}
go_version=$(go env GOVERSION)
platform="$(go env GOOS)-$(go env GOARCH)"
key=$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" | sha256sum | cut -c1-12)
out="$cache_root/kstatus/${key}-${go_version}-${platform}"

if [[ -x "$out/kstatus" && -f "$out/.complete" ]]; then
  echo "$out/kstatus"
  exit 0
fi

export GOCACHE="$cache_root/go/build" GOMODCACHE="$cache_root/go/mod"
export CGO_ENABLED=0 GOFLAGS="-mod=mod -trimpath -buildvcs=false"
mkdir -p "$out"
echo "building kstatus probe (cli-utils $(grep -o 'sigs.k8s.io/cli-utils v[^ ]*' "$here/go.mod" | cut -d' ' -f2))" >&2
cd "$here"
go build -ldflags "-s -w" -o "$out/kstatus.tmp" .
mv "$out/kstatus.tmp" "$out/kstatus"
touch "$out/.complete"
echo "$out/kstatus"
