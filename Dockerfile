# Airbyte image of source-pipedrive: a static-ish Rust binary on a slim Debian base.
# Build: docker build -t airbyte/source-pipedrive-rs:0.1.0 .

# Base images are pinned by digest (Airbyte's metadata validator requires it, and a rebuild
# must start from the same bytes); bump tag and digest together. They are build arguments so that
# a machine without a registry can build on local stand-ins (integration_tests/image/stand-ins.sh).
# BASE_IMAGE is the name airbyte-cdk's image build passes metadata.yaml's
# connectorBuildOptions.baseImage under: the two must name the same image.
ARG BUILD_IMAGE=docker.io/library/rust:1.95-slim-bookworm@sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251

FROM ${BUILD_IMAGE} AS build
WORKDIR /build
# Dependencies first, so code changes do not rebuild them.
# The workspace: the connector at the root and the sandbox crate (a dependency of the binary).
COPY Cargo.toml Cargo.lock ./
COPY sandbox/Cargo.toml ./sandbox/
# Every target the workspace's manifests declare must exist, so each gets a stub.
RUN mkdir -p src sandbox/src integration_tests/bench \
    && echo 'fn main() {}' > src/main.rs \
    && echo '' > src/lib.rs \
    && echo '' > sandbox/src/lib.rs \
    && echo '' > integration_tests/main.rs \
    && for b in main faults webhooks; do echo 'fn main() {}' > integration_tests/bench/$b.rs; done \
    && cargo build --release --locked \
    && rm -rf src sandbox/src integration_tests
COPY src ./src
COPY sandbox/src ./sandbox/src
COPY schemas ./schemas
COPY integration_tests ./integration_tests
# Newer than the stubs' build, so Cargo rebuilds both crates from the real sources.
RUN touch src/main.rs src/lib.rs sandbox/src/lib.rs && cargo build --release --locked --bin source-pipedrive

FROM ${BASE_IMAGE}
# Airbyte's platform runs the connector through a shell with $AIRBYTE_ENTRYPOINT, so keep one.
# Its connector images work in /airbyte, owned by the connector's user; USER is numeric so that
# a platform enforcing non-root can check it without reading /etc/passwd.
RUN useradd --uid 1000 --create-home airbyte \
    && mkdir -p /airbyte \
    && chown 1000:1000 /airbyte
COPY --from=build /build/target/release/source-pipedrive /usr/local/bin/source-pipedrive
USER 1000:1000
WORKDIR /airbyte
ENV AIRBYTE_ENTRYPOINT="/usr/local/bin/source-pipedrive"
ENTRYPOINT ["/usr/local/bin/source-pipedrive"]
LABEL io.airbyte.name="airbyte/source-pipedrive-rs"
LABEL io.airbyte.version="0.1.0"
