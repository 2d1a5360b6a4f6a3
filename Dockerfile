# The scan-bridge image: a static bridge binary on an empty (scratch) base,
# run as an unprivileged user, with its embedded JetStream store on /data.
#
#   docker build -t scan-bridge .                     # where images can be pulled
#   scripts/build-image.sh                            # offline: local base, vendored modules
#
# With the builder without BuildKit every step costs seconds (the engine
# commits a container per step), hence few steps in the build stage.
#
# Written for both builders: BuildKit (buildx) and the legacy builder of an
# engine without buildx, so no RUN --mount and no COPY --chmod.

# GO_IMAGE is the build stage's base. The default is the official Go image;
# scripts/build-image.sh passes scan-bridge/golang:deps, made from the Go
# toolchain of the machine (scripts/local-base-images.sh) plus the vendored
# modules and their compiled packages.
ARG GO_IMAGE=golang:1.26-bookworm

FROM ${GO_IMAGE} AS build
# GOFLAGS=-mod=vendor builds from vendored modules: vendor/ in the context,
# or in the base image's /src, where scripts/build-image.sh puts it together
# with a build cache of the compiled dependencies. Empty for a plain
# `docker build .`, which downloads the modules in a layer of their own so
# that a source change does not download them again.
ARG GOFLAGS=
WORKDIR /src
COPY go.mod go.sum ./
RUN case " ${GOFLAGS} " in \
      *" -mod=vendor "*) echo "modules come from vendor/: nothing to download" ;; \
      *) go mod download ;; \
    esac
COPY . .
# VERSION and COMMIT are what `bridge version` prints and
# scanbridge_build_info shows. The context has no .git (.dockerignore), so
# the commit cannot come from the go command's VCS stamp: it is passed in.
ARG VERSION=dev
ARG COMMIT=unknown
# scratch has no shell and no tools: everything the runtime stage needs is
# prepared here. /data is owned by the runtime user so that a named volume
# mounted there (initialised from the image) is writable by it. (One RUN for
# all: each step of the builder without BuildKit costs seconds.)
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/bridge ./cmd/bridge \
 && mkdir -p /out/etc /out/data \
 && echo 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin' >/out/etc/passwd \
 && echo 'nonroot:x:65532:' >/out/etc/group

FROM scratch
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title=scan-bridge \
      org.opencontainers.image.description="Registry push webhooks to Huawei Cloud HSS image scans" \
      org.opencontainers.image.version=${VERSION} \
      org.opencontainers.image.revision=${COMMIT}
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/etc/passwd /out/etc/group /etc/
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build /out/bridge /bridge
USER 65532:65532
# The embedded NATS server (used when no NATS URL is configured) keeps its
# JetStream store in the volume, so queued jobs survive a new container.
ENV BRIDGE_NATS__DATA_DIR=/data/nats
VOLUME ["/data"]
# 8080: webhooks, /healthz, /readyz. 9090: the admin listener (/metrics,
# the admin API), on the container's loopback only until
# BRIDGE_ADMIN__LISTEN=:9090 opens it. 4222: the embedded NATS server,
# which opens no port until BRIDGE_NATS__LISTEN=0.0.0.0:4222 asks for one,
# and then requires the password it keeps in /data/nats/client.password
# (natsconn/doc.go).
EXPOSE 8080 9090 4222
# No shell or curl in the image: the binary probes its own /healthz.
# Kubernetes ignores HEALTHCHECK; use an httpGet probe on /healthz there.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["/bridge", "healthcheck"]
ENTRYPOINT ["/bridge"]
CMD ["serve"]
