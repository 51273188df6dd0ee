# Builds one Tether function into a small image, for those who prefer Docker
# to `tether build` (which needs no daemon):
#
#   docker build --build-arg FUNCTION=./examples/hello/cmd/greet -t hello .
#   docker run -v "$PWD/examples/hello/components:/components:ro" hello
#
# A function with a webhook serves it on 8080 ($PORT, TETHER_HTTP_PORT):
# publish that port (-p 8080:8080). The control API stays on loopback; see
# docs/security.md.
#
# FUNCTION is the package of the function's generated main. The image holds
# the static binary only; components (and the secrets they reference) are
# mounted at run time, never baked in.
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG FUNCTION
RUN test -n "$FUNCTION" || { echo "pass --build-arg FUNCTION=./path/to/cmd/<function>"; exit 1; }
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/function "$FUNCTION"

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/function /function
ENV TETHER_COMPONENTS=/components
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["/function"]
