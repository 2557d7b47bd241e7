# syntax=docker/dockerfile:1
# gatehouse's container image: `docker build --build-arg VERSION=0.1.0 --build-arg GIT_REV=$(git rev-parse HEAD) .`
# .github/workflows/release.yml builds it for linux/amd64 and linux/arm64 on a version tag.
#
# A glibc build on distroless `cc`, not a static musl build on scratch: the binary is built with
# exactly the toolchain, target and C dependencies (ring, mimalloc, zlib-ng through cmake) that
# the test suite builds and runs, so what CI tests is what ships (deploy/test runs this file's
# cargo command with the same lockfile; only the profile differs). A musl target would be a
# second, untested build (musl's allocator and resolver behave differently; mimalloc hides the
# first, not the second, which ExternalName resolution uses). distroless/cc adds glibc, libgcc_s
# (which the binary links) and CA certificates to a ~2 MB static base — no shell, no package
# manager — and runs as the unprivileged `nonroot` user (65532).

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS build
# Bookworm, as the runtime image (distroless cc-debian12): the binary needs no newer glibc than
# it finds there. cmake, make and g++ build zlib-ng (libz-ng-sys). Versions come from the
# distribution's stable pocket.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
ARG GIT_REV=unknown
# The revision goes into `gatehouse --version` and the gatehouse_build_info metric. The release
# profile's line tables (debug = 1, for profiling) are left out of the image.
ENV GATEHOUSE_GIT_REV=${GIT_REV} \
    CARGO_PROFILE_RELEASE_DEBUG=0 \
    CARGO_PROFILE_RELEASE_STRIP=symbols
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin gatehouse \
 && install -D -m 0755 target/release/gatehouse /out/gatehouse \
 && /out/gatehouse --version

FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.0.0-dev
ARG GIT_REV=unknown
LABEL org.opencontainers.image.title="gatehouse" \
      org.opencontainers.image.description="Kubernetes ingress controller on Pingora" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_REV}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/gatehouse-dev/gatehouse"
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
USER 65532:65532
# internal http/https, external http/https, admin (/metrics, /healthz, /readyz): deploy/'s ports.
EXPOSE 8080 8443 9080 9443 10254
ENTRYPOINT ["/usr/local/bin/gatehouse"]
