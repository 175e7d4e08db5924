# syntax=docker/dockerfile:1
# kura's images (README, "Install on Kubernetes"):
#   docker build -t REGISTRY/kura:0.1.0 .                          kura server (distroless, uid 65532)
#   docker build --target agent -t REGISTRY/kura-agent:0.1.0 .     kura agent (debian-slim + iproute2)
# Both hold the same single binary, /kura.

# --- build: the release binary, from the locked dependency graph -------------------------------------
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p kura \
    && install -D -m 0755 target/release/kura /out/kura \
    && mkdir -p /out/data

# --- agent: `kura agent` puts EKS's link-local address on a dummy interface with iproute2's `ip`, so
# its image needs `ip`. It runs as root with NET_ADMIN (deploy/overlays/workload-identity/agent.yaml).
FROM debian:bookworm-slim AS agent
RUN apt-get update \
    && apt-get install -y --no-install-recommends iproute2 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=builder /out/kura /kura
ENTRYPOINT ["/kura"]
# Needs --kura-url and --ca-file (or KURA_URL, KURA_CA_FILE): `kura agent --help`.
CMD ["agent"]

# --- server (the default target): the binary alone on distroless, as uid/gid 65532 ------------------
FROM gcr.io/distroless/cc-debian12:nonroot AS server
COPY --from=builder /out/kura /kura
# The data directory, owned by the user kura runs as (a mounted volume: fsGroup 65532 in Kubernetes).
COPY --from=builder --chown=65532:65532 /out/data /data
USER 65532:65532
VOLUME /data
EXPOSE 9000
ENTRYPOINT ["/kura"]
# `docker run -p 9000:9000 IMAGE` serves /data on port 9000; arguments replace these.
CMD ["server", "--address", "0.0.0.0:9000", "--data", "/data"]
