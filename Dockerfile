# Airbyte image of source-pipedrive: a static-ish Rust binary on a slim Debian base.
# Build: docker build -t airbyte/source-pipedrive-rs:0.1.0 .

FROM rust:1.95-slim-bookworm AS build
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

FROM debian:bookworm-slim
# Airbyte's platform runs the connector through a shell with $AIRBYTE_ENTRYPOINT, so keep one.
RUN useradd --uid 1000 --create-home airbyte
COPY --from=build /build/target/release/source-pipedrive /usr/local/bin/source-pipedrive
USER airbyte
WORKDIR /home/airbyte
ENV AIRBYTE_ENTRYPOINT="/usr/local/bin/source-pipedrive"
ENTRYPOINT ["/usr/local/bin/source-pipedrive"]
LABEL io.airbyte.name="airbyte/source-pipedrive-rs"
LABEL io.airbyte.version="0.1.0"
