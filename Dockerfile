# syntax=docker/dockerfile:1
#
# url-shortener container image.
#
#   docker build -t url-shortener .
#   docker run --rm -p 8080:8080 -v url-shortener-data:/data url-shortener
#
# The builder is Debian 12 (bookworm) so the binary links against the same glibc as the
# distroless runtime image. The rust slim image already has gcc and libc6-dev, which is all the
# C code needs: SQLite is compiled in (rusqlite "bundled"), and mimalloc and aws-lc-sys / ring
# build with the cc crate (no cmake, no OpenSSL, no pkg-config). BuildKit cache mounts keep the cargo registry
# and the target directory between builds, so a source change recompiles only this crate.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /src
# sqlx checks its queries against the committed offline data (.sqlx/): no database at build.
ENV SQLX_OFFLINE=true
COPY . .
# The target dir lives in a cache mount (not in the image layer), so the binary is copied out
# in the same step. /data is created here because the runtime image has no shell.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked \
    && install -D -m 0755 target/release/url-shortener /out/url-shortener \
    && install -d -m 0750 /out/data

# Distroless "cc" = glibc + libgcc + CA certificates, nothing else (no shell, no package
# manager). The :nonroot tag runs as uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=builder /out/url-shortener /usr/local/bin/url-shortener
COPY --from=builder --chown=65532:65532 /out/data /data
ENV URL_SHORTENER__SERVER__LISTEN=0.0.0.0:8080 \
    URL_SHORTENER__STORAGE__SQLITE__PATH=/data/url-shortener.db
# SQLite database (default backend). A named volume mounted here starts owned by 65532.
VOLUME ["/data"]
WORKDIR /data
USER 65532:65532
EXPOSE 8080
# `url-shortener healthcheck` exits 0 when GET /health/live on server.listen answers 200.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/url-shortener", "healthcheck"]
# SIGTERM drains in-flight requests and exits 0 (server.shutdown_timeout_seconds, default 30 s;
# keep `docker stop -t` / the orchestrator's grace period above it).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/url-shortener"]
CMD ["serve"]
