#!/usr/bin/env python3
"""Checks the shipped deploy files against the programs' own configuration.

deploy/k8s/*.yaml and deploy/docker-compose.yml are parsed (python3-yaml)
and every container of dispatchd or a runner is checked: every variable is
one the programs read (the README's configuration table, and the names the
programs pass to their config getters in cmd/*.c), the required ones are set,
registration tokens are 16+ characters, listen ports are exposed and the
runners' DISPATCH_URL reaches the runner port through a Service, the admin
URL dispatchctl (and the health check) dials is one of the admin listeners,
/healthz and /readyz probes are on the HTTP listener, job logs go to a
shared volume, and KEDA scales on queued + running work. No Kubernetes
schema validator is packaged for Debian 12 (kubeconform, kubeval: not in
apt), so only the structure this file relies on is checked.

Usage: check_deploy.py SRC            check the files, exit 1 naming problems
       check_deploy.py SRC --self-test  also break the files in memory, one
                                        fault at a time, and require each to be
                                        caught (the checks can fail)
"""
import copy
import glob
import os
import re
import sys
from urllib.parse import urlparse

import yaml

DISPATCHD = "dispatchd"
RUNNER = "runner"
IMAGE_ADMIN_URL = None  # from the Dockerfile's ENV


def config_table(src):
    """{VAR: {"users": text, "required": bool}} from README + cmd/*.c."""
    table = {}
    with open(os.path.join(src, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("## Configuration", 1)[1]
    for line in section.splitlines():
        if not line.startswith("| `"):
            if line.startswith("## "):
                break
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]):
            table[name] = {"users": cells[1], "required": cells[2] == "required"}
        # variables named in the meaning column (DISPATCH_LOG_STORE_KEY/_SECRET/...)
        for name in re.findall(r"`(DISPATCH_[A-Z0-9_]+)`", cells[3] if len(cells) > 3 else ""):
            table.setdefault(name, {"users": cells[1], "required": False})
    for path in glob.glob(os.path.join(src, "cmd", "*.c")) + glob.glob(
            os.path.join(src, "dispatch", "logstore", "*.c")) + glob.glob(
            os.path.join(src, "common", "*.c")):
        with open(path, encoding="utf-8") as f:
            code = f.read()
        for name in re.findall(r'(?:dp_config_\w+|getenv)\(\s*"([A-Z][A-Z0-9_]+)"', code):
            table.setdefault(name, {"users": "source", "required": False})
    return table


def image_env(src):
    env = {}
    with open(os.path.join(src, "Dockerfile"), encoding="utf-8") as f:
        text = f.read().replace("\\\n", " ")
    stage = text.split("AS runtime", 1)[1]
    for line in stage.splitlines():
        if line.startswith("ENV "):
            for k, v in re.findall(r"([A-Z_][A-Z0-9_]*)=(\S+)", line):
                env[k] = v
    return env


def measured_caps(src):
    """The runner container's capabilities the container suite measured."""
    with open(os.path.join(src, "tests", "container", "ct_image.sh"), encoding="utf-8") as f:
        m = re.search(r"^CT_CAPS=\(([^)]*)\)", f.read(), re.M)
    return set(m.group(1).split())


def role_of(command):
    words = " ".join(command or [])
    if "dispatch-runner" in words:
        return RUNNER
    if "dispatchd" in words:
        return DISPATCHD
    return None


def port_of(url):
    u = urlparse(url.replace("tls+tcp://", "tcp://"))
    return u.port


class Problems(list):
    def add(self, where, what):
        self.append(f"{where}: {what}")


def check_container(where, role, env, table, problems, image):
    """env: {name: value or None (from a secret/interpolation)}."""
    for name in env:
        if name not in table:
            problems.add(where, f"{name} is not a variable dispatchd or the runner reads")
    need = [n for n, t in table.items() if t["required"] and
            (t["users"] in ("both", role) or (role == RUNNER and t["users"] == "runner"))]
    for name in need:
        if name not in env:
            problems.add(where, f"{name} is required by {role} but not set")
    tok = env.get("DISPATCH_REGISTRATION_TOKEN")
    if tok is not None and len(tok) < 16:
        problems.add(where, f"DISPATCH_REGISTRATION_TOKEN '{tok}' is {len(tok)} characters; 16+ required")
    if role == DISPATCHD:
        listen = env.get("DISPATCH_ADMIN_LISTEN") or image.get("DISPATCH_ADMIN_LISTEN") or \
            "ipc:///run/dispatch/admin.sock"
        admin_url = env.get("DISPATCH_ADMIN_URL") or image.get("DISPATCH_ADMIN_URL")
        if admin_url not in listen.split(","):
            problems.add(where, f"DISPATCH_ADMIN_URL {admin_url} (what dispatchctl and the health "
                         f"check dial) is not one of DISPATCH_ADMIN_LISTEN {listen}")
        if not env.get("DISPATCH_HTTP_LISTEN"):
            problems.add(where, "DISPATCH_HTTP_LISTEN is not set: no /healthz, /readyz, /metrics")
        store = env.get("DISPATCH_LOG_STORE") or image.get("DISPATCH_LOG_STORE") or ""
        if store.startswith("file:///tmp") or store.startswith("file:///run"):
            problems.add(where, f"DISPATCH_LOG_STORE {store} is inside the container")
        uses_tls = "tls+tcp" in (env.get("DISPATCH_RUNNER_LISTEN") or "") + listen
        if uses_tls and "DISPATCH_TLS_CERT_KEY_FILE" not in env:
            problems.add(where, "tls+tcp listeners without DISPATCH_TLS_CERT_KEY_FILE")
    return env


def listen_ports(env):
    ports = {}
    for name in ("DISPATCH_RUNNER_LISTEN", "DISPATCH_HTTP_LISTEN"):
        if env.get(name):
            ports[name] = port_of(env[name])
    for u in (env.get("DISPATCH_ADMIN_LISTEN") or "").split(","):
        if u.startswith(("tcp://", "tls+tcp://")):
            ports["DISPATCH_ADMIN_LISTEN"] = port_of(u)
    if "DISPATCH_RUNNER_LISTEN" not in ports:
        ports["DISPATCH_RUNNER_LISTEN"] = 7400
    return ports


def k8s_env(c, secrets, where, problems):
    env = {}
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = str(e["value"])
        else:
            ref = e.get("valueFrom", {}).get("secretKeyRef", {})
            sec = secrets.get(ref.get("name"))
            if sec is None or ref.get("key") not in sec:
                problems.add(where, f"{e['name']}: secret {ref.get('name')}/{ref.get('key')} not defined")
                env[e["name"]] = None
            else:
                env[e["name"]] = str(sec[ref["key"]])
    return env


def check_k8s(docs, table, image, problems):
    secrets = {d["metadata"]["name"]: {**d.get("stringData", {}), **d.get("data", {})}
               for d in docs if d.get("kind") == "Secret"}
    services = [d for d in docs if d.get("kind") == "Service"]
    pvcs = {d["metadata"]["name"] for d in docs if d.get("kind") == "PersistentVolumeClaim"}
    dispatchd_env = None
    roles = set()
    for d in docs:
        for key in ("apiVersion", "kind", "metadata"):
            if key not in d:
                problems.add("k8s", f"a document without {key}")
        if d.get("kind") != "Deployment":
            continue
        spec = d["spec"]["template"]["spec"]
        labels = d["spec"]["template"]["metadata"].get("labels", {})
        if d["spec"]["selector"]["matchLabels"] != {k: labels.get(k) for k in d["spec"]["selector"]["matchLabels"]}:
            problems.add(d["metadata"]["name"], "selector does not match the pod labels")
        vols = {v["name"]: v for v in spec.get("volumes", [])}
        for c in spec["containers"]:
            where = f"k8s {d['metadata']['name']}/{c['name']}"
            role = role_of(c.get("command", []) + c.get("args", []))
            if role is None:
                continue
            roles.add(role)
            env = k8s_env(c, secrets, where, problems)
            check_container(where, role, env, table, problems, image)
            mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
            for m in c.get("volumeMounts", []):
                if m["name"] not in vols:
                    problems.add(where, f"volumeMount {m['name']} has no volume")
            if role == DISPATCHD:
                dispatchd_env = env
                cports = {p.get("name", str(p["containerPort"])): p["containerPort"]
                          for p in c.get("ports", [])}
                for name, port in listen_ports(env).items():
                    if port not in cports.values():
                        problems.add(where, f"{name} port {port} is not a containerPort")
                http = port_of(env.get("DISPATCH_HTTP_LISTEN") or "http://x:0")
                for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                    get = c.get(probe, {}).get("httpGet", {})
                    port = get.get("port")
                    port = cports.get(port, port)
                    if get.get("path") != path or port != http:
                        problems.add(where, f"{probe} is not GET {path} on the HTTP port {http}")
                store = env.get("DISPATCH_LOG_STORE") or image.get("DISPATCH_LOG_STORE") or ""
                if store.startswith("file://"):
                    d_path = os.path.dirname(urlparse(store).path)
                    m = mounts.get(d_path)
                    vol = vols.get(m["name"]) if m else None
                    if vol is None:
                        problems.add(where, f"job logs ({d_path}) are not on a volume")
                    elif "persistentVolumeClaim" not in vol or \
                            vol["persistentVolumeClaim"]["claimName"] not in pvcs:
                        problems.add(where, f"job logs ({d_path}) are not on a shared claim "
                                     f"defined here (replicas would split them)")
            if role == RUNNER:
                url = env.get("DISPATCH_URL") or ""
                for u in url.split(","):
                    host, port = urlparse(u.replace("tls+tcp://", "tcp://")).hostname, port_of(u)
                    svc = [s for s in services if s["metadata"]["name"] == host]
                    if not svc or port not in [p["port"] for p in svc[0]["spec"]["ports"]]:
                        problems.add(where, f"DISPATCH_URL {u}: no Service {host} with port {port}")
                if "tls+tcp" in url and "DISPATCH_TLS_CA_FILE" not in env:
                    problems.add(where, "tls+tcp DISPATCH_URL without DISPATCH_TLS_CA_FILE")
                sc = c.get("securityContext", {})
                caps = sc.get("capabilities", {})
                if "ALL" not in caps.get("drop", []) or set(caps.get("add", [])) != CAPS:
                    problems.add(where, f"capabilities are not drop [ALL] + the measured {sorted(CAPS)}")
                if sc.get("procMount") != "Unmasked":
                    problems.add(where, "procMount is not Unmasked (the sandbox mounts a fresh proc)")
    for r in (DISPATCHD, RUNNER):
        if r not in roles:
            problems.add("k8s", f"no {r} Deployment")
    # Services target the ports dispatchd exposes
    for s in services:
        for p in s["spec"]["ports"]:
            if dispatchd_env is not None and s["spec"]["selector"].get("app") == "dispatchd":
                if p["port"] not in listen_ports(dispatchd_env).values():
                    problems.add(f"k8s Service {s['metadata']['name']}", f"port {p['port']} is no listener")
    scaled = [d for d in docs if d.get("kind") == "ScaledObject"]
    if not scaled:
        problems.add("k8s", "no KEDA ScaledObject for the runners")
    for so in scaled:
        for t in so["spec"]["triggers"]:
            md = t.get("metadata", {})
            if t["type"] == "prometheus":
                q = md.get("query", "")
                if not ("pending" in q and "leased" in q):
                    problems.add("k8s ScaledObject", f"query '{q}' is not queued + running work")
            elif t["type"] == "redis":
                prefix = (dispatchd_env or {}).get("DISPATCH_REDIS_PREFIX") or "{dispatch}:"
                if not md.get("listName", "").startswith(prefix):
                    problems.add("k8s ScaledObject", "redis listName does not use DISPATCH_REDIS_PREFIX")
                if "passwordFromEnv" not in md and "authenticationRef" not in t:
                    problems.add("k8s ScaledObject", "redis trigger without the Redis password")
                problems.add("k8s ScaledObject", "a Redis list counts queued work only, not running")
            else:
                problems.add("k8s ScaledObject", f"unexpected trigger {t['type']}")


def compose_env(svc):
    env = svc.get("environment", {})
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
    # ${VAR:?...} comes from the operator's environment: its value is unknown here
    return {k: (None if v is None or "${" in str(v) else str(v)) for k, v in env.items()}


def check_compose(doc, table, image, problems):
    services = doc.get("services", {})
    roles = {}
    for name, svc in services.items():
        role = role_of(svc.get("command") if isinstance(svc.get("command"), list)
                       else str(svc.get("command", "")).split())
        where = f"compose {name}"
        if svc.get("restart") not in ("always", "unless-stopped", "on-failure"):
            problems.add(where, "no restart policy")
        if "healthcheck" not in svc and role is None:
            problems.add(where, "no healthcheck (depends_on cannot wait for it)")
        deps = svc.get("depends_on", {})
        if isinstance(deps, list) or any(
                not isinstance(v, dict) or v.get("condition") != "service_healthy" for v in deps.values()):
            if deps:
                problems.add(where, "depends_on is not health-gated (condition: service_healthy)")
        if role is None:
            continue
        roles[role] = name
        env = compose_env(svc)
        check_container(where, role, env, table, problems, image)
        vols = [str(v).split(":") for v in svc.get("volumes", [])]
        if role == RUNNER:
            if svc.get("cap_drop") != ["ALL"] or set(svc.get("cap_add", [])) != CAPS:
                problems.add(where, f"capabilities are not cap_drop [ALL] + the measured {sorted(CAPS)}")
            if "systempaths=unconfined" not in svc.get("security_opt", []):
                problems.add(where, "security_opt lacks systempaths=unconfined (a fresh proc)")
        if role == DISPATCHD:
            store = env.get("DISPATCH_LOG_STORE") or image.get("DISPATCH_LOG_STORE") or ""
            d_path = os.path.dirname(urlparse(store).path)
            if store.startswith("file://") and not any(len(v) > 1 and v[1] == d_path for v in vols):
                problems.add(where, f"job logs ({d_path}) are not on a volume")
            published = [str(p).split(":")[-1] for p in svc.get("ports", [])]
            for var, port in listen_ports(env).items():
                if var != "DISPATCH_RUNNER_LISTEN" and str(port) not in published:
                    problems.add(where, f"{var} port {port} is not published")
    for r in (DISPATCHD, RUNNER):
        if r not in roles:
            problems.add("compose", f"no {r} service")


CAPS = set()


def check(src, k8s_docs=None, compose_doc=None):
    CAPS.clear()
    CAPS.update(measured_caps(src))
    table = config_table(src)
    image = image_env(src)
    problems = Problems()
    if k8s_docs is None:
        k8s_docs = []
        for path in sorted(glob.glob(os.path.join(src, "deploy", "k8s", "*.yaml"))):
            with open(path, encoding="utf-8") as f:
                k8s_docs += [d for d in yaml.safe_load_all(f) if d]
    if compose_doc is None:
        with open(os.path.join(src, "deploy", "docker-compose.yml"), encoding="utf-8") as f:
            compose_doc = yaml.safe_load(f)
    check_k8s(k8s_docs, table, image, problems)
    check_compose(compose_doc, table, image, problems)
    return problems, k8s_docs, compose_doc


def find(docs, kind, name):
    return next(d for d in docs if d.get("kind") == kind and d["metadata"]["name"] == name)


def env_list(docs, deployment):
    return find(docs, "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]["env"]


def self_test(src, docs, compose):
    """Each fault the issue found, put back in memory, must be caught."""
    def set_env(d, dep, name, value):
        for e in env_list(d, dep):
            if e["name"] == name:
                e.clear()
                e.update({"name": name, "value": value})

    faults = {
        "short token": lambda d, c: find(d, "Secret", "dispatch")["stringData"].update(
            {"registration-token": "change-me"}),
        "admin URL not a listener": lambda d, c: set_env(d, "dispatchd", "DISPATCH_ADMIN_LISTEN",
                                                         "tcp://0.0.0.0:7401"),
        "no HTTP listener": lambda d, c: [env_list(d, "dispatchd").remove(e) for e in list(
            env_list(d, "dispatchd")) if e["name"] == "DISPATCH_HTTP_LISTEN"],
        "unknown variable": lambda d, c: env_list(d, "dispatch-runner").append(
            {"name": "DISPATCH_NO_SUCH", "value": "1"}),
        "logs in /tmp": lambda d, c: set_env(d, "dispatchd", "DISPATCH_LOG_STORE",
                                             "file:///tmp/{job_id}.log"),
        "KEDA on the pending list": lambda d, c: find(d, "ScaledObject", "dispatch-runner")[
            "spec"].update({"triggers": [{"type": "redis", "metadata": {
                "address": "redis:6379", "listName": "{dispatch}:jobs:pending"}}]}),
        "no readiness probe": lambda d, c: find(d, "Deployment", "dispatchd")["spec"]["template"][
            "spec"]["containers"][0].pop("readinessProbe"),
        "compose: no restart": lambda d, c: c["services"]["dispatchd"].pop("restart"),
        "compose: ungated depends_on": lambda d, c: c["services"]["dispatchd"].update(
            {"depends_on": ["redis", "postgres"]}),
        "compose: HTTP port unpublished": lambda d, c: c["services"]["dispatchd"].update(
            {"ports": []}),
        "compose: a capability more": lambda d, c: c["services"]["runner"]["cap_add"].append("KILL"),
        "k8s: privileged caps": lambda d, c: find(d, "Deployment", "dispatch-runner")["spec"][
            "template"]["spec"]["containers"][0]["securityContext"]["capabilities"].update(
                {"drop": []}),
        "compose: logs without a volume": lambda d, c: c["services"]["dispatchd"].update(
            {"volumes": []}),
    }
    missed = []
    for name, fault in faults.items():
        d, c = copy.deepcopy(docs), copy.deepcopy(compose)
        fault(d, c)
        problems, _, _ = check(src, d, c)
        if not problems:
            missed.append(name)
        else:
            print(f"self-test: {name}: caught ({problems[0]})")
    return missed


def main():
    src = sys.argv[1]
    problems, docs, compose = check(src)
    for p in problems:
        print(f"deploy: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"deploy: {len(docs)} Kubernetes documents and the compose file agree with the "
          f"configuration ({len(config_table(src))} variables)")
    if "--self-test" in sys.argv:
        missed = self_test(src, docs, compose)
        if missed:
            print(f"deploy: self-test: not caught: {', '.join(missed)}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
