"""A small Kubernetes API-server stand-in for the Kubernetes runner tests.

No registry this machine reaches ships a Kubernetes API server, so CI has
no cluster. The status objects this server writes are replayed from a real
cluster: ``tests/fixtures/k8s_recorded/*.json`` holds Job and Pod objects
recorded from Kubernetes v1.36.2 (see the README there); :func:`replayed`
takes one, puts in the container's name, image and exit code, and the
server stores it as the object's ``status``. Only the Volcano job status
is still written by hand here (no Volcano controller ran).

The runner talks to this server through the official ``kubernetes`` client
exactly as it would to a cluster (kubeconfig, REST paths, label selectors,
delete options, pod log).

The rule: a threaded HTTP server on 127.0.0.1 keeps objects in memory and
serves these paths: create/get/list(labelSelector)/delete Jobs (batch/v1)
and Volcano jobs (also ``/status``), list pods, pod ``log``
(``tailLines``, served as ``text/plain`` as the real server does), create
Secrets. Creating a Job makes its pod as the Job controller would (labels,
ownerReferences). With ``run_pods=True`` it also plays the kubelet: it runs
the container's ``command`` + ``args`` as a local process (env values and
``secretKeyRef``s resolved from the stored Secrets; a missing Secret gives
the recorded ``CreateContainerConfigError``), moves the pod Pending ->
Running -> Succeeded/Failed with the exit code, and sets the Job's recorded
``Complete``/``Failed`` (``BackoffLimitExceeded``) status. Delete honours
``propagationPolicy``: ``Foreground`` marks the Job deleting, kills and
removes its pods, then removes the Job. :meth:`set_status` replays a status
object on any stored object.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
import re
import secrets as _rand
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

_NS = r"/namespaces/([^/]+)"
ROUTES = [
    ("jobs", re.compile(rf"^/apis/batch/v1{_NS}/jobs(?:/([^/]+))?(/status)?$")),
    (
        "vcjobs",
        re.compile(
            rf"^/apis/batch.volcano.sh/v1alpha1{_NS}/jobs(?:/([^/]+))?(/status)?$"
        ),
    ),
    ("pods", re.compile(rf"^/api/v1{_NS}/pods(?:/([^/]+))?(/log)?$")),
    ("secrets", re.compile(rf"^/api/v1{_NS}/secrets(?:/([^/]+))?()$")),
]
KINDS = {
    "jobs": ("batch/v1", "Job"),
    "vcjobs": ("batch.volcano.sh/v1alpha1", "Job"),
    "pods": ("v1", "Pod"),
    "secrets": ("v1", "Secret"),
}


RECORDED = Path(__file__).resolve().parent / "fixtures" / "k8s_recorded"
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def recorded(scenario: str) -> dict:
    """One recorded scenario: ``job``, ``pods``, ``log``, ``server_version``."""
    return json.loads((RECORDED / f"{scenario}.json").read_text())


def _fresh_times(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: _fresh_times(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_fresh_times(v) for v in obj]
    return now() if isinstance(obj, str) and _TIME.match(obj) else obj


def replayed(
    scenario: str,
    kind: str = "pod",
    container: str | None = None,
    image: str | None = None,
    exit_code: int | None = None,
    replace: dict[str, str] | None = None,
) -> dict:
    """The recorded ``status`` of the scenario's Job or Pod (``kind``), with
    times set to now, the container's ``name``/``image``, a terminated
    container's ``exitCode`` and ``replace`` (old -> new text in messages)."""
    rec = recorded(scenario)
    obj = rec["job"] if kind == "job" else rec["pods"][0]
    status = _fresh_times(copy.deepcopy(obj["status"]))
    for cs in status.get("containerStatuses") or []:
        if container:
            cs["name"] = container
        if image:
            cs["image"] = image
        term = (cs.get("state") or {}).get("terminated")
        if term and exit_code is not None:
            term["exitCode"] = exit_code
    text = json.dumps(status)
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    return json.loads(text)


def status_obj(code: int, reason: str, message: str) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure" if code >= 400 else "Success",
        "message": message,
        "reason": reason,
        "code": code,
    }


def matches(labels: dict, selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "=" in term:
            k, v = term.split("=", 1)
            if labels.get(k.rstrip("=")) != v:
                return False
        elif term not in labels:
            return False
    return True


class StandIn:
    """The server (see module doc). Use as a context manager."""

    def __init__(self, run_pods: bool = False) -> None:
        self.run_pods = run_pods
        self.objects: dict[tuple[str, str, str], dict] = {}
        self.logs: dict[tuple[str, str], str] = {}  # (ns, pod) -> log file
        self.procs: dict[tuple[str, str], subprocess.Popen] = {}
        self.requests: list[tuple[str, str, dict | None]] = []
        self.deletes: list[tuple[str, str, str, str | None]] = []
        self.lock = threading.RLock()
        self.folder = tempfile.mkdtemp(prefix="k8s-standin-")
        self._rv = 0
        handler = type("Handler", (_Handler,), {"standin": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def kubeconfig(self, path: str) -> str:
        """Write a kubeconfig that points at this server; its path."""
        conf = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "standin", "cluster": {"server": self.url}}],
            "users": [{"name": "standin", "user": {"token": "not-a-secret"}}],
            "contexts": [
                {
                    "name": "standin",
                    "context": {"cluster": "standin", "user": "standin"},
                }
            ],
            "current-context": "standin",
        }
        with open(path, "w") as fh:
            json.dump(conf, fh)  # JSON is YAML
        return path

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        for proc in list(self.procs.values()):
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    # -- store -------------------------------------------------------------------

    def _meta(self, obj: dict, ns: str) -> None:
        self._rv += 1
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", ns)
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now())
        meta["resourceVersion"] = str(self._rv)

    def get(self, kind: str, ns: str, name: str) -> dict | None:
        with self.lock:
            obj = self.objects.get((kind, ns, name))
            return copy.deepcopy(obj) if obj else None

    def set_status(self, kind: str, ns: str, name: str, status: dict) -> None:
        """Replace the ``status`` of a stored object (a replayed status)."""
        with self.lock:
            self.objects[(kind, ns, name)]["status"] = copy.deepcopy(status)
            self._meta(self.objects[(kind, ns, name)], ns)

    def pods_of(self, ns: str, owner: str) -> list[str]:
        with self.lock:
            return [
                n
                for (k, s, n), o in self.objects.items()
                if k == "pods"
                and s == ns
                and any(
                    r["name"] == owner for r in o["metadata"].get("ownerReferences", [])
                )
            ]

    def create(self, kind: str, ns: str, body: dict) -> tuple[int, dict]:
        name = body.get("metadata", {}).get("name")
        with self.lock:
            if not name:
                return 422, status_obj(422, "Invalid", "metadata.name: Required value")
            if (kind, ns, name) in self.objects:
                return 409, status_obj(
                    409, "AlreadyExists", f'{KINDS[kind][1]} "{name}" already exists'
                )
            obj = copy.deepcopy(body)
            self._meta(obj, ns)
            if kind == "jobs":
                obj.setdefault("status", {})
                self._make_pod(ns, obj, obj["spec"]["template"], f"{name}-{_suffix()}")
            elif kind == "vcjobs":
                obj["status"] = {"state": {"phase": "Pending"}}
                for task in obj["spec"]["tasks"]:
                    self._make_pod(
                        ns, obj, task["template"], f"{name}-{task['name']}-0"
                    )
            self.objects[(kind, ns, name)] = obj
            return 201, copy.deepcopy(obj)

    def _make_pod(self, ns: str, owner: dict, template: dict, pod_name: str) -> None:
        labels = dict(template.get("metadata", {}).get("labels") or {})
        job_name = owner["metadata"]["name"]
        if owner["apiVersion"] == "batch/v1":
            labels.update(
                {
                    "batch.kubernetes.io/job-name": job_name,
                    "job-name": job_name,
                    "batch.kubernetes.io/controller-uid": owner["metadata"]["uid"],
                    "controller-uid": owner["metadata"]["uid"],
                }
            )
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": pod_name,
                "labels": labels,
                "ownerReferences": [
                    {
                        "apiVersion": owner["apiVersion"],
                        "kind": owner["kind"],
                        "name": job_name,
                        "uid": owner["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": copy.deepcopy(template["spec"]),
            "status": {"phase": "Pending", "qosClass": "Guaranteed"},
        }
        self._meta(pod, ns)
        self.objects[("pods", ns, pod_name)] = pod
        if self.run_pods:
            threading.Thread(
                target=self._kubelet, args=(ns, pod_name), daemon=True
            ).start()

    # -- the kubelet part ----------------------------------------------------------

    def _secret_value(self, ns: str, ref: dict) -> str | None:
        secret = self.get("secrets", ns, ref["name"])
        if secret is None:
            return None
        if ref["key"] in (secret.get("stringData") or {}):
            return secret["stringData"][ref["key"]]
        data = (secret.get("data") or {}).get(ref["key"])
        return None if data is None else base64.b64decode(data).decode()

    def _kubelet(self, ns: str, pod_name: str) -> None:
        pod = self.get("pods", ns, pod_name)
        if pod is None:
            return
        container = pod["spec"]["containers"][0]
        cname = container["name"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for entry in container.get("env") or []:
            if "value" in entry:
                env[entry["name"]] = entry["value"]
                continue
            ref = entry["valueFrom"]["secretKeyRef"]
            value = self._secret_value(ns, ref)
            if value is None:
                self.set_status(
                    "pods",
                    ns,
                    pod_name,
                    replayed(
                        "missing_secret",
                        container=cname,
                        image=container["image"],
                        replace={"ax-nas-absent": ref["name"]},
                    ),
                )
                return
            env[entry["name"]] = value
        for key in ("PYTHONPATH", "HOME"):
            if key in os.environ:
                env.setdefault(key, os.environ[key])
        log_path = os.path.join(self.folder, f"{ns}-{pod_name}.log")
        self.logs[(ns, pod_name)] = log_path
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [*(container.get("command") or []), *(container.get("args") or [])],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.folder,
                start_new_session=True,
            )
        self.procs[(ns, pod_name)] = proc
        # the recorded pod of "stopped" was read while it ran
        status = replayed("stopped", container=cname, image=container["image"])
        self.set_status("pods", ns, pod_name, status)
        code = proc.wait()
        if self.get("pods", ns, pod_name) is None:
            return  # deleted meanwhile
        self.set_status(
            "pods",
            ns,
            pod_name,
            replayed(
                "succeeded" if code == 0 else "failed_exit_3",
                container=cname,
                image=container["image"],
                exit_code=code if code >= 0 else 128 - code,
            ),
        )
        owner = pod["metadata"]["ownerReferences"][0]
        if owner["apiVersion"] == "batch/v1":
            self._finish_job(ns, owner["name"], code)
        else:
            self._finish_vcjob(ns, owner["name"], code)

    def _finish_job(self, ns: str, name: str, code: int) -> None:
        if self.get("jobs", ns, name) is None:
            return
        status = replayed("succeeded" if code == 0 else "failed_exit_3", kind="job")
        self.set_status("jobs", ns, name, status)

    def _finish_vcjob(self, ns: str, name: str, code: int) -> None:
        if self.get("vcjobs", ns, name) is None:
            return
        phase = "Completed" if code == 0 else "Failed"
        self.set_status("vcjobs", ns, name, {"state": {"phase": phase}})

    def start_vcjob(self, ns: str, name: str) -> None:
        """What the Volcano controller would write once the pods run."""
        self.set_status("vcjobs", ns, name, {"state": {"phase": "Running"}})

    # -- delete ------------------------------------------------------------------------

    def delete(
        self, kind: str, ns: str, name: str, policy: str | None
    ) -> tuple[int, dict]:
        with self.lock:
            obj = self.objects.get((kind, ns, name))
            if obj is None:
                return 404, status_obj(404, "NotFound", f'{kind} "{name}" not found')
            self.deletes.append((kind, ns, name, policy))
            if kind in ("pods", "secrets"):
                self._remove_pod(ns, name) if kind == "pods" else self.objects.pop(
                    (kind, ns, name)
                )
                return 200, status_obj(200, "", "")
            obj["metadata"]["deletionTimestamp"] = now()
            if policy == "Foreground":
                obj["metadata"]["finalizers"] = ["foregroundDeletion"]
            answer = copy.deepcopy(obj)
        threading.Thread(
            target=self._garbage_collect, args=(kind, ns, name, policy), daemon=True
        ).start()
        return 200, answer

    def _remove_pod(self, ns: str, pod: str) -> None:
        proc = self.procs.get((ns, pod))
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        with self.lock:
            self.objects.pop(("pods", ns, pod), None)

    def _garbage_collect(
        self, kind: str, ns: str, name: str, policy: str | None
    ) -> None:
        time.sleep(0.1)
        pods = self.pods_of(ns, name)
        if policy == "Orphan":
            pods = []
        if policy == "Foreground":
            for pod in pods:
                self._remove_pod(ns, pod)
            with self.lock:
                self.objects.pop((kind, ns, name), None)
        else:  # Background: owner first, dependents after
            with self.lock:
                self.objects.pop((kind, ns, name), None)
            for pod in pods:
                self._remove_pod(ns, pod)


def _suffix() -> str:
    return "".join(_rand.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))


class _Handler(BaseHTTPRequestHandler):
    standin: StandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _send(
        self, code: int, body: object, content_type: str = "application/json"
    ) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict | None:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else None

    def _route(self) -> tuple[str, str, str | None, str | None, dict] | None:
        url = urlparse(self.path)
        for kind, pattern in ROUTES:
            m = pattern.match(url.path)
            if m:
                return kind, m.group(1), m.group(2), m.group(3), parse_qs(url.query)
        return None

    def _dispatch(self, method: str) -> None:
        s = self.standin
        body = self._body() if method in ("POST", "DELETE", "PUT") else None
        s.requests.append((method, self.path, body))
        route = self._route()
        if route is None:
            self._send(404, status_obj(404, "NotFound", f"no route {self.path}"))
            return
        kind, ns, name, sub, query = route
        api_version, kind_name = KINDS[kind]
        if method == "POST" and name is None:
            self._send(*s.create(kind, ns, body or {}))
        elif method == "GET" and name is None:
            selector = (query.get("labelSelector") or [""])[0]
            with s.lock:
                items = [
                    copy.deepcopy(o)
                    for (k, n2, _), o in sorted(s.objects.items())
                    if k == kind
                    and n2 == ns
                    and matches(o["metadata"].get("labels") or {}, selector)
                ]
            self._send(
                200,
                {
                    "apiVersion": api_version,
                    "kind": f"{kind_name}List",
                    "metadata": {"resourceVersion": str(s._rv)},
                    "items": items,
                },
            )
        elif method == "GET" and sub == "/log":
            obj = s.get("pods", ns, name)
            if obj is None:
                self._send(404, status_obj(404, "NotFound", f'pods "{name}" not found'))
                return
            path = s.logs.get((ns, name))
            text = open(path, errors="replace").read() if path else ""  # noqa: SIM115
            tail = query.get("tailLines")
            if tail:
                lines = text.splitlines(keepends=True)
                text = "".join(lines[-int(tail[0]) :])
            self._send(200, text, "text/plain")
        elif method == "GET":
            obj = s.get(kind, ns, name)
            if obj is None:
                self._send(
                    404, status_obj(404, "NotFound", f'{kind_name} "{name}" not found')
                )
            else:
                self._send(200, obj)
        elif method == "DELETE":
            policy = (body or {}).get("propagationPolicy") or (
                query.get("propagationPolicy") or [None]
            )[0]
            self._send(*s.delete(kind, ns, name, policy))
        else:
            self._send(405, status_obj(405, "MethodNotAllowed", method))

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")
