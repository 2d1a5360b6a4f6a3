#!/usr/bin/env bash
# local-base-images.sh assembles the build-stage base image of the Dockerfile
# from what this machine already has, for engines that cannot pull images
# (no registry reachable). `docker build` then runs FROM it with no pull.
#
# The image (default tag scan-bridge/golang:local) holds:
#   /usr/local/go                       the Go toolchain the repository builds
#                                       with (`go env GOROOT` in the repo, so a
#                                       GOTOOLCHAIN switch is honoured), without
#                                       its test/ and api/ folders
#   /bin/busybox + applet links         a static shell and core utilities, from
#                                       Debian's busybox-static package
#   /etc/ssl/certs/ca-certificates.crt  the host's CA bundle, copied into the
#                                       bridge image by the Dockerfile
# and sets GOPROXY=off and GOTOOLCHAIN=local, so a build that would need the
# network fails at once and says so, instead of waiting on a time-out.
#
# Idempotent: does nothing when the tag exists with the same Go version
# (its GOLANG_VERSION, as the official golang images set it). FORCE=1 rebuilds.
#
# Environment: GO_LOCAL_IMAGE (tag), FORCE.
# Needs: go, docker, tar; apt-get when busybox-static is not installed
# (the .deb is downloaded and unpacked, not installed: nothing on the host
# changes).
set -euo pipefail
start=$SECONDS

image="${GO_LOCAL_IMAGE:-scan-bridge/golang:local}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

goroot="$(cd "$root" && go env GOROOT)"
goversion="$(cd "$root" && go env GOVERSION)" # e.g. go1.26.8
goversion="${goversion#go}"

if [[ "${FORCE:-}" != 1 ]] && docker image inspect "$image" >/dev/null 2>&1; then
	have="$(docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$image" |
		sed -n 's/^GOLANG_VERSION=//p')"
	if [[ "$have" == "$goversion" ]]; then
		echo "local-base-images: $image (Go $have) present, skipping"
		exit 0
	fi
	echo "local-base-images: $image has Go '${have}', want $goversion: rebuilding"
fi

cabundle=/etc/ssl/certs/ca-certificates.crt
if [[ ! -s "$cabundle" ]]; then
	echo "local-base-images: $cabundle missing (Debian: apt-get install ca-certificates)" >&2
	exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
mkdir -p "$rootfs"/{bin,etc/ssl/certs,root,tmp,go,usr/local}
chmod 1777 "$rootfs/tmp"

# A static busybox: the installed one if busybox-static is installed, else
# the package downloaded and unpacked here.
if dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'; then
	busybox="$(dpkg-query -L busybox-static | grep -m1 '/bin/busybox$')"
else
	echo "local-base-images: fetching Debian's busybox-static package"
	(cd "$work" && { apt-get download busybox-static >/dev/null 2>&1 ||
		{ apt-get update >/dev/null && apt-get download busybox-static >/dev/null; }; })
	dpkg-deb -x "$work"/busybox-static_*.deb "$work/deb"
	busybox="$(find "$work/deb" -path '*bin/busybox' -type f | head -n1)"
fi
if [[ -z "$busybox" ]] || ldd "$busybox" >/dev/null 2>&1; then
	echo "local-base-images: no static busybox found (${busybox:-none})" >&2
	exit 1
fi
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
	[[ "$applet" == busybox ]] || ln -sf busybox "$rootfs/bin/$applet"
done

cp "$cabundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"

# The toolchain without what a build never reads (its own test suite and
# API compatibility lists).
tar -C "$goroot" --exclude=./test --exclude=./api -cf - . | (mkdir -p "$rootfs/usr/local/go" && tar -C "$rootfs/usr/local/go" -xf -)


tar -C "$rootfs" --numeric-owner --owner=0 --group=0 -cf - . |
	docker import \
		--change "ENV PATH=/go/bin:/usr/local/go/bin:/bin" \
		--change "ENV GOLANG_VERSION=$goversion" \
		--change "ENV GOPATH=/go" \
		--change "ENV HOME=/root" \
		--change "ENV GOTOOLCHAIN=local" \
		--change "ENV GOPROXY=off" \
		--change "WORKDIR /go" \
		--change 'CMD ["/bin/sh"]' \
		- "$image" >/dev/null
size="$(docker image inspect -f '{{.Size}}' "$image")"
echo "local-base-images: built $image (Go $goversion, $((size / 1000000)) MB) in $((SECONDS - start))s"
