# The worker as a container: `docker build -t thumbnail-worker .`, then run it with the THUMBNAIL_*
# and AWS_* variables (deploy/worker.yaml runs it on ECS Fargate). Two stages: the build, with the
# toolchain and the C build tools, and a slim runtime with the release binary only, run as a user
# without privileges.

FROM rust:1.95-bookworm AS build
# nasm: libjpeg-turbo's SIMD; cmake: libaom, for AVIF input.
RUN apt-get update \
    && apt-get install -y --no-install-recommends nasm=2.16.01-1 cmake=3.25.1-1 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p thumbnail-worker --features avif-input \
    && cp target/release/thumbnail-worker /thumbnail-worker

FROM debian:bookworm-slim
# CA certificates for HTTPS to AWS; nothing else is installed.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates=20250419~deb12u2 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /thumbnail-worker /usr/local/bin/thumbnail-worker
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/thumbnail-worker"]
CMD ["run"]
