# Build stage: the release binary, with the locked dependency versions.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# Declared bench targets must exist for cargo to read the manifest.
COPY benches ./benches
RUN cargo build --release --locked --bin grantsync \
    && strip target/release/grantsync

# Runtime stage: glibc and CA roots only, running as an unprivileged user.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/grantsync /usr/local/bin/grantsync
USER nonroot:nonroot
WORKDIR /var/lib/grantsync
ENTRYPOINT ["/usr/local/bin/grantsync"]
# The daemon; mount the config (a ConfigMap directory) at /etc/grantsync and
# a writable volume at /var/lib/grantsync for reports and state.
CMD ["run", "--config", "/etc/grantsync/grantsync.yaml", "--state-dir", "/var/lib/grantsync"]
