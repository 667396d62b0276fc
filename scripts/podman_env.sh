# shellcheck shell=bash
# Podman as these hosts need it; sourced by scripts/image.sh and the
# container tests. Sets PODMAN_ULIMITS (for `podman build/run`) and exports
# CONTAINERS_CONF (so podman-compose's podman calls get the same):
# - runtime runc: crun refuses the hybrid (v1 + unified) cgroup layout here;
# - default rlimits given explicitly, at most this shell's hard limits and
#   at most nofile 65536 / nproc 32768: podman's own default (nofile
#   1048576) is above what a root without CAP_SYS_RESOURCE may set, and runc
#   then fails with "error setting rlimit type 7: operation not permitted";
#   on these hosts nproc above 32768 fails the same way (type 6; measured).
: "${root:?set root (the source tree) before sourcing podman_env.sh}"
podman_limit() { # podman_limit ULIMIT_FLAG CAP
  local v
  v=$(ulimit -H "$1")
  if [ "$v" = unlimited ] || [ "$v" -gt "$2" ]; then v=$2; fi
  echo "$v"
}
PODMAN_NOFILE=$(podman_limit -n 65536)
PODMAN_NPROC=$(podman_limit -u 32768)
PODMAN_ULIMITS=(--ulimit "nofile=$PODMAN_NOFILE:$PODMAN_NOFILE" --ulimit "nproc=$PODMAN_NPROC:$PODMAN_NPROC")
mkdir -p "$root/.dev"
podman_conf_tmp=$(mktemp "$root/.dev/containers.conf.XXXXXX")
cat >"$podman_conf_tmp" <<CONF
# written by scripts/podman_env.sh
[containers]
default_ulimits = ["nofile=$PODMAN_NOFILE:$PODMAN_NOFILE", "nproc=$PODMAN_NPROC:$PODMAN_NPROC"]

[engine]
runtime = "runc"
CONF
mv -f "$podman_conf_tmp" "$root/.dev/containers.conf"
export CONTAINERS_CONF="$root/.dev/containers.conf"
