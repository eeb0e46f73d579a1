# Airbyte image of source-pipedrive: a static-ish Rust binary on a slim Debian base.
# Build: docker build -t airbyte/source-pipedrive-rs:0.1.0 .

FROM rust:1.95-slim-bookworm AS build
WORKDIR /build
# Dependencies first, so code changes do not rebuild them.
COPY Cargo.toml Cargo.lock ./
# Every target Cargo.toml declares must exist, so each gets a stub.
RUN mkdir -p src integration_tests/bench \
    && echo 'fn main() {}' > src/main.rs \
    && echo '' > src/lib.rs \
    && echo '' > integration_tests/main.rs \
    && for b in main faults webhooks; do echo 'fn main() {}' > integration_tests/bench/$b.rs; done \
    && cargo build --release --locked \
    && rm -rf src integration_tests
COPY src ./src
COPY schemas ./schemas
COPY integration_tests ./integration_tests
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin source-pipedrive

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
