# The flowhost image: the binary, libflowhost and the plugins, for `flowhost export`'s
# manifests (docs/deploy.md). Build from the repository's root:
#     docker build -t flowhost:latest .
# Your own executors: a folder plugins/NAME with a CMakeLists.txt (fh_add_plugin) is built
# and installed with the others; a .so built elsewhere goes in an image of your own:
#     FROM flowhost:latest
#     COPY my_executor.so /usr/local/lib/flowhost/plugins/
# The plugin folder is the one `flowhost export --plugin-dir` defaults to, and the one the
# installed binary searches for executor types.

# ---- build: the packages of scripts/setup that the build needs ----------------------------
FROM debian:12-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      gcc make cmake pkg-config libc6-dev \
      libzmq3-dev libprotobuf-c-dev protobuf-c-compiler libyaml-dev libjansson-dev \
      libcsv-dev libmicrohttpd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFH_TESTS=OFF -DFH_BENCH=OFF \
      -DCMAKE_INSTALL_PREFIX=/usr/local -DCMAKE_INSTALL_LIBDIR=lib \
 && cmake --build /build -j"$(nproc)" \
 && DESTDIR=/out cmake --install /build

# ---- runtime: only the shared libraries the binary links --------------------------------
# tests/e2e/test_dockerfile.sh checks this line against `readelf -d` of the built binary.
FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libzmq5 libprotobuf-c1 libyaml-0-2 libjansson4 libcsv3 libmicrohttpd12 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/usr/local/ /usr/local/
RUN ldconfig \
 && groupadd --gid 10001 flowhost \
 && useradd --uid 10001 --gid 10001 --home-dir /home/flowhost --create-home flowhost \
 && install -d -o 10001 -g 10001 /workspace
# Secrets are copied here by the manifests' init step (owner flowhost, mode 0600).
USER 10001:10001
WORKDIR /home/flowhost
ENV XDG_RUNTIME_DIR=/tmp
EXPOSE 8080 8081 8090
ENTRYPOINT ["flowhost"]
CMD ["--help"]
