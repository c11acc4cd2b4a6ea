# The lingxi binary in a small image. The web UI, the demo knowledge base and the language models are compiled into
# the binary: the image needs nothing else at run time.
#
#   docker build -t lingxi .
#   docker run -p 8080:8080 -v lingxi-data:/data lingxi                      # one node, embedded SQLite
#   docker run -p 8080:8080 -e LINGXI_DATABASE_URL=postgres://… -e LINGXI_NATS_URL=nats://… lingxi --no-demo
#
# Several nodes: see deploy/kubernetes/ and docs/deploy.md.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p lingxi && strip target/release/lingxi

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tini && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data lingxi && mkdir -p /data && chown lingxi /data
COPY --from=build /src/target/release/lingxi /usr/local/bin/lingxi
USER lingxi
WORKDIR /data
ENV LINGXI_BIND=0.0.0.0:8080 LINGXI_DATA_DIR=/data
EXPOSE 8080
VOLUME /data
# tini forwards SIGTERM, on which lingxi drains its WebSockets (1001 going away) before it exits.
ENTRYPOINT ["/usr/bin/tini", "--", "lingxi", "serve"]
