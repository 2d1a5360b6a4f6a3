#!/usr/bin/env bash
# build-image.sh builds the bridge image from the repository's Dockerfile
# without pulling anything and without network access inside the build:
#
#   1. scripts/local-base-images.sh makes sure the Go base
#      (scan-bridge/golang:local) exists; it is assembled from this machine.
#   2. `go mod vendor` runs on the host, in a temporary copy of the work tree
#      (through the host's module cache and proxy settings; the work tree gets
#      no vendor/ folder).
#   3. The dependency base scan-bridge/golang:deps is the Go base plus, in
#      /src, go.mod, go.sum and vendor/, and a Go build cache holding every
#      non-standard package ./cmd/bridge imports, compiled the way the
#      Dockerfile compiles. It is rebuilt only when go.mod, go.sum, the
#      vendored modules or the import graph change (a label holds their
#      hash). The builder without BuildKit has no cache mounts: without this
#      base every source change would recompile all dependencies inside the
#      build (about 90 s on two cores instead of about 30 s).
#   4. docker build --build-arg GO_IMAGE=scan-bridge/golang:deps
#      --build-arg GOFLAGS=-mod=vendor, with the work tree as the context.
#
# Then it removes the untagged images older builds left behind (about
# 500 MB each) and prints the image's size and how long the build took.
#
# Environment:
#   IMAGE       tag to build             (default scan-bridge/bridge:local)
#   GO_IMAGE    Go base                  (default scan-bridge/golang:local; set it
#                                         to golang:1.26-bookworm where it can be pulled)
#   DEPS_IMAGE  dependency base to make  (default scan-bridge/golang:deps)
#   VERSION     what `bridge version` prints (default: git describe, else "dev")
#   COMMIT      the commit it names (default: git rev-parse HEAD, "-dirty" with
#               uncommitted changes, else "unknown")
#   NO_CACHE    1 builds every layer anew (docker build --no-cache)
set -euo pipefail
start=$SECONDS

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
image="${IMAGE:-scan-bridge/bridge:local}"
go_image="${GO_IMAGE:-scan-bridge/golang:local}"
deps_image="${DEPS_IMAGE:-scan-bridge/golang:deps}"
version="${VERSION:-$(git -C "$root" describe --always --dirty 2>/dev/null || echo dev)}"
if [[ -z "${COMMIT:-}" ]]; then
	COMMIT="$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)"
	if [[ "$COMMIT" != unknown ]] && ! git -C "$root" diff --quiet HEAD 2>/dev/null; then
		COMMIT+=-dirty
	fi
fi
nocache=()
[[ "${NO_CACHE:-}" == 1 ]] && nocache=(--no-cache)

if [[ "$go_image" == "${GO_LOCAL_IMAGE:-scan-bridge/golang:local}" ]]; then
	"$root/scripts/local-base-images.sh"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
ctx="$work/context" deps="$work/deps"
mkdir -p "$ctx" "$deps"
# The work tree as it is (committed or not), without what is never built
# from; .dockerignore then trims the context further.
tar -C "$root" \
	--exclude=./.git --exclude=./vendor --exclude=./dist --exclude=./data --exclude=./bridge \
	-cf - . | tar -C "$ctx" -xf -
(cd "$ctx" && GOFLAGS='' GOWORK=off go mod vendor -o "$deps/vendor")
cp "$ctx/go.mod" "$ctx/go.sum" "$deps/"

# The packages `go build ./cmd/bridge` compiles for the engine's platform,
# less the standard library and this module.
arch="$(docker version -f '{{.Server.Arch}}')"
(cd "$ctx" && GOFLAGS='' GOWORK=off CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go list -deps \
	-f '{{if and (not .Standard) .Module}}{{if not .Module.Main}}{{.ImportPath}}{{end}}{{end}}' ./cmd/bridge) |
	sed '/^$/d' >"$deps/deps.txt"
# Same folder, flags and environment as the Dockerfile's go build, so that
# its compile actions find these in the build cache (-trimpath keeps folders
# out of the cache keys; -ldflags only touches the link).
cat >"$deps/Dockerfile" <<-'DOCKERFILE'
	ARG GO_IMAGE
	FROM ${GO_IMAGE}
	ARG DEPS_HASH
	LABEL dev.scan-bridge.deps=${DEPS_HASH}
	WORKDIR /src
	COPY . .
	RUN CGO_ENABLED=0 go build -mod=vendor -trimpath $(cat deps.txt) && rm deps.txt Dockerfile
DOCKERFILE
deps_hash="$(
	{
		docker image inspect -f '{{.Id}}' "$go_image"
		cat "$deps/Dockerfile" "$deps/go.mod" "$deps/go.sum" "$deps/vendor/modules.txt" "$deps/deps.txt"
	} | sha256sum | cut -c1-16
)"
have="$(docker image inspect -f '{{index .Config.Labels "dev.scan-bridge.deps"}}' "$deps_image" 2>/dev/null || true)"
if [[ "$have" != "$deps_hash" || "${NO_CACHE:-}" == 1 ]]; then
	docker build ${nocache[@]+"${nocache[@]}"} --force-rm \
		--build-arg "GO_IMAGE=$go_image" --build-arg "DEPS_HASH=$deps_hash" \
		-t "$deps_image" "$deps"
	echo "build-image: $deps_image rebuilt ($(wc -l <"$deps/deps.txt") packages, hash $deps_hash)"
fi

docker build ${nocache[@]+"${nocache[@]}"} --force-rm \
	--build-arg "GO_IMAGE=$deps_image" \
	--build-arg "GOFLAGS=-mod=vendor" \
	--build-arg "VERSION=$version" \
	--build-arg "COMMIT=$COMMIT" \
	-t "$image" "$ctx"

# Untagged leftovers. Every build stage inherits the dependency base's
# label; the newest one is the layer cache of the next build of the same
# tree and stays. Older ones, and dependency bases of an older go.mod, go.
docker images --filter dangling=true --filter label=dev.scan-bridge.deps --format '{{.ID}}' |
	tail -n +2 | xargs -r docker rmi >/dev/null 2>&1 || true
docker image prune -f --filter label=org.opencontainers.image.title=scan-bridge >/dev/null

size="$(docker image inspect -f '{{.Size}}' "$image")"
echo "build-image: $image is $((size / 1000000)) MB ($size bytes), built in $((SECONDS - start))s"
