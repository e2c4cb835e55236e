# syntax=docker/dockerfile:1
# The functions binary (./functions/cmd/functions) in a distroless image. Build context: the
# repository root (the binary embeds hasura/ and needs go.mod):
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
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/functions ./functions/cmd/functions

# static-debian12 has CA certificates and tzdata; :nonroot runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/functions /functions
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/functions"]
