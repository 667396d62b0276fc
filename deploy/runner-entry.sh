#!/bin/sh
# The runner container's command (/usr/local/bin/dispatch-runner-entry):
# makes the container's own cgroup writable for the sandbox's per-slot
# cgroups (DISPATCH_SANDBOX_REQUIRE=...,cgroup), then execs dispatch-runner.
# The engine mounts the container's cgroup read-only at /sys/fs/cgroup. With
# CAP_SYS_ADMIN the runner enters a cgroup namespace of its own (when the
# engine gave it the host's: podman and Docker on cgroup v1), rooted at the
# container's cgroup, and remounts that cgroup read-write: the slots it
# creates stay below the container's cgroup, inside its limits, and the
# host's other cgroups stay out of reach (docs/deploy.md).
# Skipped when not root (the sandbox then reports cgroup unavailable, and
# refuses if it is required).
set -eu
own=$(sed -n 's/^0::\(.*\)$/\1/p; s/^[0-9]*:memory:\(.*\)$/\1/p' /proc/self/cgroup | head -n 1)
if [ "$(id -u)" = 0 ] && [ "$own" != / ]; then
  # the host's cgroup namespace: a new one, rooted at our cgroup (which is
  # what the engine mounted at /sys/fs/cgroup), then this script again
  if unshare --cgroup true 2>/dev/null; then
    exec unshare --cgroup "$0" "$@"
  fi
  echo "runner-entry: cannot enter a cgroup namespace of its own (CAP_SYS_ADMIN?)" >&2
fi
if [ "$(id -u)" = 0 ] && [ "$own" = / ]; then
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    # v2: remount, then leave the namespace's root for a leaf of our own, so
    # that the root may enable controllers for the slots ("no internal
    # processes" rule); the sandbox puts slots beside its own cgroup.
    mount -o remount,rw /sys/fs/cgroup 2>/dev/null || echo "runner-entry: cannot remount /sys/fs/cgroup rw" >&2
    if mkdir -p /sys/fs/cgroup/runner 2>/dev/null; then
      while read -r pid; do echo "$pid" >/sys/fs/cgroup/runner/cgroup.procs 2>/dev/null || true; done </sys/fs/cgroup/cgroup.procs
    fi
  else
    # v1: one mount per controller; slots go inside the runner's cgroup.
    for d in /sys/fs/cgroup/*/; do
      mount -o remount,rw,bind "$d" 2>/dev/null || echo "runner-entry: cannot remount $d rw" >&2
    done
  fi
fi
exec dispatch-runner "$@"
