# syntax=docker/dockerfile:1
# Multi-stage build of dispatchd and dispatch-runner. The build stage runs the
# same steps as ./dev (the same package list, the same meson options as
# `./dev build`), so what the test suite exercises is what ships.
FROM debian:12-slim AS build
WORKDIR /src
COPY . .
# ./dev build: apt-get installs the build dependencies, then meson + ninja (release).
RUN ./dev build

FROM debian:12-slim AS runtime
# Runtime libraries, the profiles' toolchains (pits/: gcc, g++, OpenJDK 17, Go, Rust,
# Node.js, Python 3, Bash; the same Debian packages ./dev installs) and an init.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      libnng1 libmsgpackc2 libhiredis0.14 libpq5 libzip4 libcurl4 libjansson4 libseccomp2 \
      gcc g++ libc6-dev default-jdk-headless golang-go rustc nodejs python3 bash \
      tini ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/cmd/dispatchd /src/build/cmd/dispatch-runner /src/build/cmd/dispatchctl /usr/local/bin/
COPY pits /etc/dispatch/pits
RUN useradd --system --uid 10001 --home /var/lib/dispatch --create-home dispatch \
    && mkdir -p /var/lib/dispatch/work /run/dispatch && chown dispatch: /var/lib/dispatch/work /run/dispatch
ENV RUNNER_PROFILES_DIR=/etc/dispatch/pits RUNNER_WORKDIR=/var/lib/dispatch/work \
    DISPATCH_ADMIN_LISTEN=ipc:///run/dispatch/admin.sock DISPATCH_ADMIN_URL=ipc:///run/dispatch/admin.sock
USER dispatch
ENTRYPOINT ["/usr/bin/tini", "--"]
# Select the program by command: `dispatchd` (default) or `dispatch-runner`.
CMD ["dispatchd"]
# dispatchd answers its admin socket; a runner is healthy while its process runs.
HEALTHCHECK --interval=10s --timeout=3s CMD ["sh", "-c", "if pidof dispatchd >/dev/null; then dispatchctl queue >/dev/null; else pidof dispatch-runner >/dev/null; fi"]
