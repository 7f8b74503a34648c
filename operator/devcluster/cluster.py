"""Start and stop a real local Kubernetes cluster: etcd, kube-apiserver, kube-controller-manager and
kube-scheduler the way controller-runtime's envtest runs them, plus one real node (`devcluster.realnode`: a
kubelet over containerd and runc, CNI networking and kube-proxy) running the project's image.

With the node, the API server listens on the node's bridge address (pods reach it through the `kubernetes`
Service); without it (`with_node=False`, the scale benchmark) on loopback. State lives in one folder (default
`.devcluster/`): certificates, etcd data, the node's state, logs, `state.json` with the process ids and ports,
and the admin `kubeconfig`. `up` is idempotent; `down` leaves no process, mount or network rule behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devcluster import binaries, pki

SERVICE_CIDR = "10.0.0.0/24"
ADMIN_USER = "admin"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); read its state to be sure.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@dataclass
class State:
    """What `up` started: enough for `down` and for clients to find the API server."""

    api_port: int = 0
    etcd_port: int = 0
    #: The API server's address: the node's bridge address with a node, loopback without.
    host: str = "127.0.0.1"
    #: The project's image as the node's containerd knows it ("" without a node).
    image: str = ""
    token: str = ""
    pids: dict[str, int] = field(default_factory=dict)
    argv: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> State | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))


class ControlPlane:
    """A local control plane rooted at `state_dir`."""

    def __init__(self, state_dir: Path, *, with_node: bool = True) -> None:
        self.dir = state_dir.resolve()
        self.with_node = with_node
        self.node_dir = self.dir / "node"
        self.pki = self.dir / "pki"
        self.logs = self.dir / "logs"
        self.state_file = self.dir / "state.json"
        self.kubeconfig = self.dir / "kubeconfig"

    # ----------------------------------------------------------------- public API
    @property
    def state(self) -> State | None:
        return State.load(self.state_file)

    def is_running(self) -> bool:
        state = self.state
        if state is None or not state.pids:
            return False
        if not all(_alive(pid) for pid in state.pids.values()):
            return False
        return self._ready(state)

    def up(self, *, timeout: float = 180.0) -> Path:
        """Start everything (building binaries and the image first when missing) and return the kubeconfig."""
        if self.is_running():
            _say(f"cluster already running: KUBECONFIG={self.kubeconfig}")
            return self.kubeconfig
        if self.with_node:
            # Before anything is cleaned up: `down` of a refused start must not touch the running node's network.
            self.node().refuse_if_another_runs()
        self.down(quiet=True)
        # A stopped cluster starts empty: leftovers of an earlier run (objects, pods of a dead node) would make
        # tests and the demo depend on history. containerd's content store stays: it holds the imported image.
        shutil.rmtree(self.dir / "etcd", ignore_errors=True)
        if self.node_dir.is_dir():
            for child in self.node_dir.iterdir():
                if child.name != "containerd":
                    shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink()
        binaries.ensure_built()
        node = self.node() if self.with_node else None
        image_archive = None
        if node is not None:
            from devcluster import realnode

            node.bin_dir = realnode.node_binaries()
            image_archive = realnode.project_image()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        host = str(node.spec.node_ip) if node is not None else "127.0.0.1"
        state = State(api_port=free_port(), etcd_port=free_port(), token=secrets.token_hex(16), host=host)
        try:
            if node is not None:
                node.prepare_network()  # the API server listens on the node's bridge
            self._start_etcd(state)
            self._start_apiserver(state, timeout)
            self._write_kubeconfig(state)
            self._start_controller_manager(state)
            self._start_scheduler(state)
            self._wait_for_default_namespace(timeout)
            if node is not None and image_archive is not None:
                started = time.monotonic()
                node.up(server=self.server(state), cluster_pki=self.pki, admin_kubeconfig=self.kubeconfig,
                        timeout=timeout)  # fmt: skip
                _say(f"node {node.spec.name} Ready in {time.monotonic() - started:.0f}s")
                state.image = node.load_image(image_archive, realnode.IMAGE)
                state.save(self.state_file)
        except BaseException:
            self.down(quiet=True)
            raise
        _say(f"cluster ready on {self.server(state)}  KUBECONFIG={self.kubeconfig}")
        return self.kubeconfig

    def node(self) -> Any:
        """The real node of this cluster (a `devcluster.realnode.RealNode`)."""
        from devcluster import realnode

        return realnode.RealNode(realnode.NodeSpec(self.node_dir))

    @staticmethod
    def server(state: State) -> str:
        return f"https://{state.host}:{state.api_port}"

    def down(self, *, quiet: bool = False) -> None:
        """Stop the node (its pods first), then every process `up` started (TERM, then KILL), newest first."""
        # A folder that never ran a node has none to stop, and must not touch the machine's bridge.
        if self.node_dir.is_dir():
            self.node().down(quiet=quiet)
        state = self.state
        if state is None:
            return
        for name, pid in reversed(list(state.pids.items())):
            _stop(pid)
            if not quiet:
                _say(f"stopped {name} (pid {pid})")
        state.pids = {}
        state.save(self.state_file)

    # ----------------------------------------------------------------- components
    def _spawn(self, state: State, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=self.dir,
        )
        log.close()
        state.pids[name] = process.pid
        state.argv[name] = argv
        state.save(self.state_file)

    def restart(self, *components: str, timeout: float = 120.0) -> None:
        """Stop the named components (e.g. etcd, kube-apiserver) and start them again with the same
        arguments, for reliability tests; waits until the API server is ready again."""
        state = self.state
        if state is None:
            raise RuntimeError("the control plane is not running")
        for name in components:
            _stop(state.pids[name])
        order = sorted(components, key=lambda c: c != "etcd")  # etcd first: the API server needs it
        for name in order:
            self._spawn(state, name, state.argv[name])
            if name == "etcd":
                url = f"http://127.0.0.1:{state.etcd_port}/health"
                _wait_until(lambda u=url: _http_ok(u), 60, "etcd health after restart", self.logs / "etcd.log")
        deadline = time.monotonic() + timeout
        while not self._ready(state):
            apiserver = state.pids.get("kube-apiserver")
            if apiserver and not _alive(apiserver) and "kube-apiserver" in components:
                # It can lose the race for its port to the dying old process: start it once more.
                time.sleep(1)
                self._spawn(state, "kube-apiserver", state.argv["kube-apiserver"])
            if time.monotonic() > deadline:
                raise TimeoutError(f"kube-apiserver not ready {timeout:.0f}s after restart; see {self.logs}")
            time.sleep(0.25)

    def _start_etcd(self, state: State) -> None:
        url = f"http://127.0.0.1:{state.etcd_port}"
        data = self.dir / "etcd"
        self._spawn(state, "etcd", [
            str(binaries.binary("etcd")), "--data-dir", str(data), "--name", "devcluster",
            "--listen-client-urls", url, "--advertise-client-urls", url,
            "--listen-peer-urls", f"http://127.0.0.1:{free_port()}",
            "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
            "--initial-cluster", "devcluster=http://127.0.0.1:2380",
            "--unsafe-no-fsync",  # test data: durability against power loss is not worth the fsyncs
            "--log-level", "warn",
        ])  # fmt: skip
        _wait_until(lambda: _http_ok(f"{url}/health"), 60, "etcd health", self.logs / "etcd.log")

    def _start_apiserver(self, state: State, timeout: float) -> None:
        ca, _ = pki.ensure_ca(self.pki)
        crt, key = pki.issue_serving_cert(
            self.pki,
            "apiserver",
            ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
             "kubernetes.default.svc.cluster.local"],
            sorted({"127.0.0.1", "10.0.0.1", state.host}),
        )  # fmt: skip
        sa_key, sa_pub = pki.ensure_service_account_key(self.pki)
        tokens = self.pki / "tokens.csv"
        tokens.write_text(f'{state.token},{ADMIN_USER},1,"system:masters"\n')
        tokens.chmod(0o600)
        if state.host == "127.0.0.1":
            # The kubernetes Service's endpoint cannot be a loopback address; without a node nothing needs it.
            node_flags = ["--endpoint-reconciler-type=none"]
        else:
            from devcluster import realnode

            realnode.issue_client_cert(self.pki, realnode.APISERVER_CLIENT, "kube-apiserver-kubelet-client",
                                       "system:masters")  # fmt: skip
            node_flags = realnode.apiserver_kubelet_flags(self.pki)
        self._spawn(state, "kube-apiserver", [
            str(binaries.binary("kube-apiserver")),
            f"--etcd-servers=http://127.0.0.1:{state.etcd_port}",
            f"--bind-address={state.host}", f"--advertise-address={state.host}",
            f"--secure-port={state.api_port}",
            f"--tls-cert-file={crt}", f"--tls-private-key-file={key}", f"--client-ca-file={ca}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            f"--token-auth-file={tokens}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={sa_pub}", f"--service-account-signing-key-file={sa_key}",
            "--allow-privileged=true",
            *node_flags,
            "--enable-priority-and-fairness=false",
            f"--cert-dir={self.pki}",
            "--v=1",
        ])  # fmt: skip
        _wait_until(lambda: self._ready(state), timeout, "kube-apiserver /readyz", self.logs / "kube-apiserver.log")

    def _write_kubeconfig(self, state: State) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "devcluster", "cluster": {
                "server": self.server(state),
                "certificate-authority": str(self.pki / "ca.crt")}}],
            "users": [{"name": ADMIN_USER, "user": {"token": state.token}}],
            "contexts": [{"name": "devcluster", "context": {"cluster": "devcluster", "user": ADMIN_USER}}],
            "current-context": "devcluster",
        }  # fmt: skip
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))
        self.kubeconfig.chmod(0o600)

    def _start_controller_manager(self, state: State) -> None:
        kubeconfig = str(self.kubeconfig)
        self._spawn(state, "kube-controller-manager", [
            str(binaries.binary("kube-controller-manager")),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
            f"--service-account-private-key-file={self.pki / 'sa.key'}",
            f"--root-ca-file={self.pki / 'ca.crt'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
            "--controllers=*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle",
            "--v=1",
        ])  # fmt: skip

    def _start_scheduler(self, state: State) -> None:
        config = self.dir / "scheduler.yaml"
        config.write_text(yaml.safe_dump({
            "apiVersion": "kubescheduler.config.k8s.io/v1",
            "kind": "KubeSchedulerConfiguration",
            "clientConnection": {"kubeconfig": str(self.kubeconfig)},
            "leaderElection": {"leaderElect": False},
        }))  # fmt: skip
        kubeconfig = str(self.kubeconfig)
        self._spawn(state, "kube-scheduler", [
            str(binaries.binary("kube-scheduler")), f"--config={config}",
            f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1", f"--secure-port={free_port()}", "--v=1",
        ])  # fmt: skip

    # ----------------------------------------------------------------- probes
    def _ssl(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.pki / "ca.crt"))

    def _ready(self, state: State) -> bool:
        request = urllib.request.Request(
            f"{self.server(state)}/readyz", headers={"Authorization": f"Bearer {state.token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=3, context=self._ssl()) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError, ssl.SSLError):
            return False

    def _wait_for_default_namespace(self, timeout: float) -> None:
        """The default ServiceAccount appears once the controller-manager works: pods can then be created."""
        kubectl = str(binaries.binary("kubectl"))

        def has_default_sa() -> bool:
            result = subprocess.run(
                [kubectl, "--kubeconfig", str(self.kubeconfig), "get", "serviceaccount", "default", "-n", "default"],
                capture_output=True,
            )
            return result.returncode == 0

        _wait_until(has_default_sa, timeout, "default ServiceAccount", self.logs / "kube-controller-manager.log")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _wait_until(probe: object, timeout: float, what: str, log: Path) -> None:
    assert callable(probe)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.25)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}; last log lines of {log}:\n{tail}")


def _stop(pid: int, grace: float = 10.0) -> None:
    if not _alive(pid):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(pid):
        _reap(pid)
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    # Gone for real before returning: a restart must not race the old process for its listening port.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pid):
        _reap(pid)
        time.sleep(0.05)
    _reap(pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)
