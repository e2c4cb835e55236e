# syntax=docker/dockerfile:1
# The functions binary (./functions/cmd/functions): multi-stage, a static binary (CGO off) in a
# distroless image, non-root. Build context: the repository root (the binary embeds hasura/
# and needs go.mod):
#
#   docker build -t loyalty-functions:dev .
#
# It listens on $PORT (default 8080) and needs DATABASE_URL and ACTION_SECRET (README.md).

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY functions ./functions
COPY hasura ./hasura
COPY deploy/probe ./deploy/probe
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/functions ./functions/cmd/functions && \
    CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/probe ./deploy/probe

# static-debian12 has CA certificates and tzdata; :nonroot runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/functions /functions
# docker compose's health check (no shell or curl in distroless).
COPY --from=build /out/probe /probe
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/functions"]
