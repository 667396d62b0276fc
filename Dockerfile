# syntax=docker/dockerfile:1
# Multi-stage build of dispatchd, dispatch-runner and dispatchctl. The build
# stage runs the same steps as ./dev (its package list, the meson options of
# `./dev build`), so what the test suite exercises is what ships.
# Built and tested by `./dev image` and the `container` test suite (podman,
# runc, a debian:12 base made by debootstrap; docs/deploy.md).
FROM debian:12 AS build
WORKDIR /src
# The build dependencies first, from ./dev alone: this layer is reused until
# ./dev's package list changes.
COPY dev ./dev
COPY scripts/services.sh ./scripts/services.sh
RUN ./dev deps build && apt-get install -y -qq --no-install-recommends ccache >/dev/null
COPY . .
# ./dev build's meson options (release, -O3), the three programs only; the
# ccache directory persists between builds of the image.
RUN --mount=type=cache,target=/root/.cache/ccache \
    meson setup build -Dbuildtype=release -Db_ndebug=if-release >/dev/null \
    && ninja -C build cmd/dispatchd cmd/dispatch-runner cmd/dispatchctl

FROM debian:12 AS runtime
# Runtime libraries, the profiles' toolchains (pits/: gcc, g++, OpenJDK 17, Go, Rust,
# Node.js, Python 3, Bash; the same Debian packages ./dev installs), an init
# and curl (the health check).
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      libnng1 libmsgpackc2 libhiredis0.14 libpq5 libzip4 libcurl4 libjansson4 libseccomp2 \
      libmicrohttpd12 \
      gcc g++ libc6-dev default-jdk-headless golang-go rustc nodejs python3 bash \
      tini ca-certificates curl procps \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
COPY --from=build /src/build/cmd/dispatchd /src/build/cmd/dispatch-runner /src/build/cmd/dispatchctl /usr/local/bin/
COPY deploy/healthcheck.sh /usr/local/bin/dispatch-healthcheck
COPY deploy/runner-entry.sh /usr/local/bin/dispatch-runner-entry
COPY pits /etc/dispatch/pits
RUN useradd --system --uid 10001 --home /var/lib/dispatch --create-home dispatch \
    && mkdir -p /var/lib/dispatch/work /var/lib/dispatch/logs /run/dispatch \
    && chown dispatch: /var/lib/dispatch/work /var/lib/dispatch/logs /run/dispatch \
    && chmod 0700 /run/dispatch
# The admin URL matches the listener: the ipc socket in the container
# (dispatchctl needs no key there; `podman exec dispatchd dispatchctl ...`).
# Job logs go to /var/lib/dispatch/logs: mount a volume there.
ENV RUNNER_PROFILES_DIR=/etc/dispatch/pits RUNNER_WORKDIR=/var/lib/dispatch/work \
    DISPATCH_ADMIN_LISTEN=ipc:///run/dispatch/admin.sock DISPATCH_ADMIN_URL=ipc:///run/dispatch/admin.sock \
    DISPATCH_LOG_STORE=file:///var/lib/dispatch/logs/{job_id}.log
USER dispatch
ENTRYPOINT ["/usr/bin/tini", "--"]
# Select the program by command: `dispatchd` (default) or, for a runner,
# `dispatch-runner-entry` (deploy/runner-entry.sh: makes the container's
# cgroup writable for the sandbox, then runs dispatch-runner; docs/deploy.md
# lists the capabilities and options the runner container needs).
CMD ["dispatchd"]
# deploy/healthcheck.sh: dispatchd's /healthz (when DISPATCH_HTTP_LISTEN is
# set) and its admin socket; a runner's registration with dispatchd.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["/usr/local/bin/dispatch-healthcheck"]
