# Build stage: compile the release binary.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev pkg-config && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# Dependencies first, in a layer of their own: manifests and stub sources only, so a change
# to the code does not rebuild every crate.
COPY Cargo.toml Cargo.lock ./
COPY crates/portfolio-domain/Cargo.toml crates/portfolio-domain/
COPY crates/portfolio-api/Cargo.toml crates/portfolio-api/
RUN mkdir -p crates/portfolio-domain/src crates/portfolio-api/src tests/api \
 && echo '' > crates/portfolio-domain/src/lib.rs \
 && echo '' > crates/portfolio-api/src/lib.rs \
 && echo 'fn main() {}' > crates/portfolio-api/src/main.rs \
 && echo '' > tests/api/main.rs \
 && cargo build --release --locked -p portfolio-api \
 && rm -rf crates/portfolio-domain/src crates/portfolio-api/src

# The code: only the workspace's own crates are compiled again.
COPY . .
ARG GIT_COMMIT=unknown
ENV PORTFOLIO_GIT_COMMIT=${GIT_COMMIT}
RUN touch crates/portfolio-domain/src/lib.rs crates/portfolio-api/src/lib.rs crates/portfolio-api/src/main.rs \
 && cargo build --release --locked -p portfolio-api

# Runtime stage: only libpq is needed.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates curl && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/portfolio-api /usr/local/bin/portfolio-api
USER nobody
ENV PORTFOLIO_BIND=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD curl -fsS http://127.0.0.1:8080/health/ready || exit 1
ENTRYPOINT ["portfolio-api"]
CMD ["serve"]
