#!/usr/bin/env bash
# Builds the consul agent that the consul registry plugin's tests run
# (go-plugins/registry/consul), from the Go module proxy, at the version that
# tools/consul/go.mod pins. Debian ships no consul package, so `make
# test-deps` calls this script.
#
# The binary goes to a cache folder outside the work tree:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/micro/consul-$VERSION/consul
# which is where the tests look for it (MICRO_TEST_CONSUL_BIN overrides the
# path for the tests). When the binary is already there and reports the
# right version, nothing is built. Building takes a few minutes on a new
# machine (module download and compile), and is cached after.
#
# The tools module has its own go.mod and go.sum (checked in, so the build
# is reproducible) and is not part of go.work: it is built with GOWORK=off.
#
# Exit status: 0 when the binary is in place, non-zero on failure.
set -euo pipefail

VERSION=v1.13.9
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$root/tools/consul"
dir="${XDG_CACHE_HOME:-$HOME/.cache}/micro/consul-$VERSION"
bin="$dir/consul"

log() { printf 'consul.sh: %s\n' "$*"; }

# version_of BINARY prints the first line of `BINARY version` ("Consul v1.13.9").
version_of() {
	local out
	out=$("$1" version 2>/dev/null) || true
	printf '%s' "${out%%$'\n'*}"
}

if [ -x "$bin" ] && [ "$(version_of "$bin")" = "Consul $VERSION" ]; then
	log "consul $VERSION present at $bin"
	exit 0
fi

if ! grep -Eq "github.com/hashicorp/consul $VERSION( |$)" "$tools/go.mod"; then
	log "ERROR: $tools/go.mod does not require github.com/hashicorp/consul $VERSION"
	exit 1
fi

mkdir -p "$dir"
tmp=$(mktemp "$dir/consul.XXXXXX")
trap 'rm -f "$tmp"' EXIT
log "building consul $VERSION into $bin (GOWORK=off in $tools; a few minutes on a new machine)"
start=$SECONDS
# -mod=readonly: the checked-in go.mod and go.sum (complete, `go mod tidy`)
# decide every module version, so the build is reproducible; -trimpath and
# no VCS stamping keep it independent of the work tree.
if ! (cd "$tools" && GOWORK=off GOFLAGS='-mod=readonly -buildvcs=false' CGO_ENABLED=0 \
	go build -trimpath -o "$tmp" github.com/hashicorp/consul); then
	log "ERROR: building consul $VERSION failed"
	exit 1
fi
if [ "$(version_of "$tmp")" != "Consul $VERSION" ]; then
	log "ERROR: the built binary does not report consul $VERSION: $(version_of "$tmp")"
	exit 1
fi
mv -f "$tmp" "$bin"
trap - EXIT
log "built consul $VERSION in $((SECONDS - start))s: $bin"
