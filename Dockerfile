# Builds one Tether function into a small image with Docker, for those who
# prefer it to `tether build` (which needs no daemon and makes an equivalent
# image, reproducibly). The function is compiled on the host, where the Go
# module and build caches are; the build context holds only the binary and
# the CA roots, so docker build pulls nothing and needs no network:
#
#   mkdir -p out && cp /etc/ssl/certs/ca-certificates.crt out/
#   CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags='-s -w' -o out/function ./examples/hello/cmd/greet
#   docker build -f Dockerfile -t hello out
#   docker run -v "$PWD/examples/hello/components:/components:ro" hello
#
# A function with a webhook serves it on 8080 ($PORT, TETHER_HTTP_PORT):
# publish that port (-p 8080:8080). The control API stays on loopback; see
# docs/security.md.
#
# The image holds the static binary and the CA roots only: components (and
# the secrets they reference) are mounted at run time, never baked in.
FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY function /function
ENV TETHER_COMPONENTS=/components
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["/function"]
