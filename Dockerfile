# Multi-stage build: compile and test on Debian bookworm, ship a slim runtime.
#   docker build -t sluice .   (or: podman build -t sluice .)
FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/install-deps scripts/install-deps
RUN scripts/install-deps
COPY . .
# The image is only made from a tree whose tests pass.
RUN make test && strip build/sluice

FROM debian:bookworm-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libyaml-cpp0.7 libspdlog1.10 libfmt9 libssl3 libhiredis0.14 libjemalloc2 ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && useradd --system --no-create-home --shell /usr/sbin/nologin sluice
COPY --from=build /src/build/sluice /usr/local/bin/sluice
COPY docker/sluice.yaml /etc/sluice/sluice.yaml
USER sluice
EXPOSE 8080
# No curl in the slim image: bash's /dev/tcp asks the admin listener.
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9901 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q '^HTTP/1.1 200' <&3"]
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["-c", "/etc/sluice/sluice.yaml"]
