# users-api container image: a multi-stage build whose build step is the README's release build.
# (No Docker engine runs on the machines this project is developed on: this file has not been built there.)

# The workspace's manifests with empty sources: the dependency build below depends on nothing else, so its layer is
# reused until Cargo.toml, Cargo.lock or a crate's manifest changes (editing code rebuilds only our crates).
FROM rust:1.95-bookworm AS manifests
WORKDIR /src
COPY . .
RUN mkdir /skeleton \
    && cp Cargo.toml Cargo.lock /skeleton/ \
    && for manifest in crates/*/Cargo.toml; do \
         crate="$(dirname "$manifest")"; \
         mkdir -p "/skeleton/$crate/src" && cp "$manifest" "/skeleton/$crate/" && touch "/skeleton/$crate/src/lib.rs"; \
         if [ -f "$crate/src/main.rs" ]; then echo 'fn main() {}' > "/skeleton/$crate/src/main.rs"; fi; \
       done

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY --from=manifests /skeleton ./
RUN cargo build --release --locked -p users-api
COPY . .
# COPY keeps the context's modification times, which may be older than the empty sources just built: touch them so
# cargo rebuilds our crates from the real ones.
RUN find crates -path "*/src/*.rs" -exec touch {} + && cargo build --release --locked -p users-api

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin users-api \
    && mkdir -p /app/data \
    && chown users-api /app/data
WORKDIR /app
COPY --from=build /src/target/release/users-api /usr/local/bin/users-api
COPY config /app/config
USER users-api
ENV APP_ENV=production \
    APP__SERVER__HOST=0.0.0.0 \
    APP__SERVER__PORT=8080
EXPOSE 8080
VOLUME ["/app/data"]
HEALTHCHECK --interval=10s --timeout=5s --retries=3 CMD ["users-api", "healthcheck"]
ENTRYPOINT ["users-api"]
CMD ["serve"]
