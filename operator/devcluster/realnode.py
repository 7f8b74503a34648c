"""The local cluster's real node: a kubelet over containerd and runc, CNI networking, kube-proxy and CoreDNS.

Why here and not kind: this project's machines have no Docker and no registry, so the node runs directly on the
host, every file under one state folder, started and stopped by `devcluster.cluster.ControlPlane`.

What this machine kind allows (measured; see docs/real-node.md): cgroups are the v1 hierarchies plus an empty
unified one ("hybrid"), so the kubelet needs `failCgroupV1: false` and the cgroupfs driver; the session lacks
CAP_SYS_RESOURCE, so containerd must not lower oom_score_adj (`restrict_oom_score_adj`) and nothing may raise
an rlimit; crun refuses the hybrid layout, so runc (Debian's) runs the containers; no registry is reachable,
so the sandbox (pause) image is written here as an OCI archive around a tiny static binary, and the project's
image is built here (scripts/build-image.sh) and imported.

Network: the node's address is the gateway address of a bridge this module creates; the API server listens
there too. Pods get addresses on that bridge and one route, to the Service range through the node, where
kube-proxy's rules take them to the Service's endpoints. Neither IP forwarding nor masquerading is enabled:
pods reach the node, each other and Services, nothing beyond. CoreDNS on the node's address answers cluster
names only. kube-proxy owns the host's KUBE-* iptables chains, so one real node runs per machine at a time.

    python -m devcluster up|down --dir .devcluster          # the cluster, node included
    python -m devcluster.realnode import --dir .devcluster/node IMAGE.oci.tar
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import ipaddress
import json
import os
import platform
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devcluster import binaries
from devcluster.cluster import SERVICE_CIDR, free_port

NODE_NAME = "real-node"
BRIDGE = "dmnode0"
POD_SUBNET = ipaddress.IPv4Network("10.244.0.0/24")
#: The tag kubelet v1.36 and containerd v2.4 expect for the sandbox; the image itself is made here.
PAUSE_IMAGE = "registry.k8s.io/pause:3.10.1"
RUNC = "/usr/sbin/runc"
CNI_BIN_DIR = "/usr/lib/cni"
K8S_NAMESPACE = "k8s.io"  # containerd namespace the CRI plugin uses
CGROUP_ROOT = Path("/sys/fs/cgroup")
KUBEPODS = "kubepods"  # cgroupfs driver's parent of every pod cgroup (kubelet default cgroupRoot "/")
APISERVER_CLIENT = "apiserver-kubelet-client"
CLUSTER_DOMAIN = "cluster.local"
#: The project's image as build pods, executors and the chart's Deployments name it on this node.
IMAGE = "localhost/datamesh-operator:dev"


@dataclass(frozen=True)
class NodeSpec:
    """Where one node lives and how it is addressed; every path derives from `state_dir`."""

    state_dir: Path
    name: str = NODE_NAME
    bridge: str = BRIDGE
    subnet: ipaddress.IPv4Network = POD_SUBNET
    service_cidr: str = SERVICE_CIDR

    @property
    def node_ip(self) -> ipaddress.IPv4Address:
        return self.subnet.network_address + 1

    @property
    def socket(self) -> Path:
        return self.state_dir / "containerd.sock"

    @property
    def cni_conf_dir(self) -> Path:
        return self.state_dir / "cni" / "net.d"

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"


# ------------------------------------------------------------------------------------------ pure configuration
def containerd_config(spec: NodeSpec) -> str:
    """containerd 2.x configuration (version 3) confined to the state folder, for the CRI plugin on runc."""
    d = spec.state_dir
    runtime = 'plugins."io.containerd.cri.v1.runtime"'
    images = 'plugins."io.containerd.cri.v1.images"'
    return f"""version = 3
root = "{d / 'containerd' / 'root'}"
state = "{d / 'containerd' / 'state'}"

[grpc]
  address = "{spec.socket}"

[ttrpc]
  address = "{spec.socket}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{d / 'containerd' / 'opt'}"

[{runtime}]
  # Lowering a container's oom_score_adj below containerd's own needs CAP_SYS_RESOURCE, which this machine
  # withholds: without this every sandbox fails with runc's "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false

[{runtime}.containerd]
  default_runtime_name = "runc"

[{runtime}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{runtime}.containerd.runtimes.runc.options]
  BinaryName = "{RUNC}"
  Root = "{d / 'runc'}"
  SystemdCgroup = false

[{runtime}.cni]
  bin_dirs = ["{CNI_BIN_DIR}"]
  conf_dir = "{spec.cni_conf_dir}"
  max_conf_num = 1

[{images}]
  snapshotter = "overlayfs"

[{images}.pinned_images]
  sandbox = "{PAUSE_IMAGE}"

[plugins."io.containerd.grpc.v1.cri"]
  # exec/attach/port-forward streams: the kubelet proxies them from loopback.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
"""


def cni_conflist(spec: NodeSpec) -> dict[str, Any]:
    """Pods on the node's bridge with host-local addresses, a route to Services, and no route or NAT beyond.

    `isGateway` would make the bridge plugin switch on the host's IP forwarding and `ipMasq` would add NAT
    rules: both would let pods reach other networks, so the node creates the bridge's address itself."""
    gateway = str(spec.node_ip)
    return {
        "cniVersion": "1.0.0",
        "name": "datamesh-realnode",
        "plugins": [
            {
                "type": "bridge",
                "bridge": spec.bridge,
                "isGateway": False,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(spec.state_dir / "cni" / "ipam"),
                    "ranges": [[{"subnet": str(spec.subnet), "gateway": gateway,
                                 "rangeStart": str(spec.subnet.network_address + 10)}]],
                    # Services only: kube-proxy's rules on the node send them on to their endpoints.
                    "routes": [{"dst": spec.service_cidr, "gw": gateway}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }  # fmt: skip


def kubelet_config(spec: NodeSpec, *, ca_file: Path, port: int, healthz_port: int) -> dict[str, Any]:
    """KubeletConfiguration for this machine kind: cgroup v1 hybrid, no swap check, cgroupfs, and every path
    the kubelet would otherwise put under /var confined to the state folder."""
    d = spec.state_dir
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": str(spec.node_ip),
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        # kubelet >= 1.35 refuses cgroup v1 unless told otherwise; this machine has no pure cgroup2 mount.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{spec.socket}",
        "podLogsDir": str(d / "pod-logs"),
        "volumePluginDir": str(d / "volume-plugins"),
        # Only the API server (a client certificate from the cluster CA) may use the kubelet API, and what it
        # may do is decided by the API server's own authorization (SubjectAccessReview).
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca_file)},
        },
        "authorization": {"mode": "Webhook"},
        "registerNode": True,
        "maxPods": 32,
        "resolvConf": "/etc/resolv.conf",
        # CoreDNS, run by the node on its own address: Service and pod names, nothing beyond the cluster.
        "clusterDNS": [str(spec.node_ip)],
        "clusterDomain": CLUSTER_DOMAIN,
        # The disk is shared with other work: evict on near-exhaustion only, not at the 10-15 % defaults.
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "2%", "imagefs.available": "2%"},
        "imageGCHighThresholdPercent": 98,
        "imageGCLowThresholdPercent": 95,
        "serializeImagePulls": False,
    }


def kubeconfig(server: str, ca_file: Path, cert: Path, key: Path, user: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "devcluster", "cluster": {"server": server, "certificate-authority": str(ca_file)}}],
        "users": [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": "node", "context": {"cluster": "devcluster", "user": user}}],
        "current-context": "node",
    }


def apiserver_kubelet_flags(pki_dir: Path) -> list[str]:
    """What kube-apiserver needs for `kubectl logs/exec` on this node: reach it by its InternalIP (the
    node's name resolves nowhere) and present a client certificate the kubelet accepts."""
    return [
        "--kubelet-preferred-address-types=InternalIP",
        f"--kubelet-client-certificate={pki_dir / f'{APISERVER_CLIENT}.crt'}",
        f"--kubelet-client-key={pki_dir / f'{APISERVER_CLIENT}.key'}",
    ]


def go_arch(machine: str | None = None) -> str:
    machine = (machine or platform.machine()).lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def pause_archive(pause_binary: bytes, *, ref: str = PAUSE_IMAGE, arch: str | None = None) -> bytes:
    """An OCI image archive (what `ctr images import` reads) holding only `/pause` as its entry point.

    Written by hand rather than with buildah so that the node needs no image tooling at all."""
    blobs: dict[str, bytes] = {}

    def add(data: bytes) -> dict[str, Any]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"digest": digest, "size": len(data)}

    layer = _tar({"pause": (pause_binary, 0o755)})
    layer_desc = add(layer)
    config = {
        "architecture": arch or go_arch(),
        "os": "linux",
        "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
        "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
    }
    config_desc = add(_json(config))
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_desc},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer_desc}],
    }
    manifest_desc = add(_json(manifest))
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", **manifest_desc,
            "annotations": {"io.containerd.image.name": ref,
                            "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1]},
        }],
    }  # fmt: skip
    files: dict[str, tuple[bytes, int]] = {
        "oci-layout": (_json({"imageLayoutVersion": "1.0.0"}), 0o644),
        "index.json": (_json(index), 0o644),
    }
    for digest, data in blobs.items():
        files[f"blobs/sha256/{digest.split(':', 1)[1]}"] = (data, 0o644)
    return _tar(files)


def _json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _tar(files: dict[str, tuple[bytes, int]]) -> bytes:
    """A reproducible tar: fixed owner and mtime, so the same binary gives the same image digest."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------------ I/O helpers
def node_binaries() -> Path:
    """Build (cached) and return the folder holding kubelet, containerd, its shim, ctr, crictl and pause."""
    result = subprocess.run(
        ["bash", str(binaries.REPO / "scripts" / "build-node.sh")],
        check=True, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "K8S_VERSION": binaries.K8S_VERSION, "DATAMESH_CACHE": str(binaries.cache_dir())},
    )  # fmt: skip
    return Path(result.stdout.strip().splitlines()[-1])


def project_image() -> Path:
    """Build (cached by content) the project's image and return its OCI archive."""
    result = subprocess.run(
        ["bash", str(binaries.REPO / "scripts" / "build-image.sh")],
        check=True, stdout=subprocess.PIPE, text=True, env={**os.environ, "DATAMESH_CACHE": str(binaries.cache_dir())},
    )  # fmt: skip
    return Path(result.stdout.strip().splitlines()[-1])


def kube_proxy_argv(spec: NodeSpec, binary: Path, kubeconfig_path: Path) -> list[str]:
    """kube-proxy in iptables mode that leaves the host's sysctls alone and opens NodePorts on the bridge only."""
    return [
        str(binary), f"--kubeconfig={kubeconfig_path}", f"--hostname-override={spec.name}",
        f"--cluster-cidr={spec.subnet}", "--proxy-mode=iptables",
        # Each of these would otherwise rewrite a machine-wide sysctl (conntrack table size and timeouts,
        # route_localnet for NodePorts on 127.0.0.1).
        "--conntrack-max-per-core=0", "--conntrack-tcp-timeout-established=0", "--conntrack-tcp-timeout-close-wait=0",
        "--iptables-localhost-nodeports=false", f"--nodeport-addresses={spec.subnet}",
        f"--metrics-bind-address=127.0.0.1:{free_port()}", f"--healthz-bind-address=127.0.0.1:{free_port()}",
        "--v=1",
    ]  # fmt: skip


def corefile(spec: NodeSpec, kubeconfig_path: Path, health_port: int) -> str:
    """CoreDNS answering cluster names only, on the node's address: no `forward`, so a pod cannot use DNS to
    reach (or leak to) anything beyond the cluster."""
    return f"""{CLUSTER_DOMAIN}:53 in-addr.arpa:53 ip6.arpa:53 {{
    bind {spec.node_ip}
    errors
    health 127.0.0.1:{health_port}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig_path}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 30
}}
.:53 {{
    bind {spec.node_ip}
    errors
}}
"""


def issue_client_cert(pki_dir: Path, name: str, common_name: str, organization: str) -> tuple[Path, Path]:
    """A client certificate `name.crt`/`name.key` signed by the cluster CA in `pki_dir` (made once)."""
    crt, key = pki_dir / f"{name}.crt", pki_dir / f"{name}.key"
    if crt.exists() and key.exists():
        return crt, key
    ext = pki_dir / f"{name}.ext"
    ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=pki_dir, check=True, capture_output=True)

    openssl("genrsa", "-out", key.name, "2048")
    openssl("req", "-new", "-key", key.name, "-subj", f"/O={organization}/CN={common_name}", "-out", f"{name}.csr")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", crt.name, "-days", "3650", "-sha256", "-extfile", ext.name)  # fmt: skip
    key.chmod(0o600)
    return crt, key


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def ensure_bridge(spec: NodeSpec) -> None:
    """The node's own bridge with the node IP as its address (the CNI bridge plugin then attaches pods)."""
    if _ip("link", "show", spec.bridge, check=False).returncode != 0:
        _ip("link", "add", "name", spec.bridge, "type", "bridge")
    address = f"{spec.node_ip}/{spec.subnet.prefixlen}"
    if address not in _ip("-o", "addr", "show", "dev", spec.bridge).stdout:
        _ip("addr", "add", address, "dev", spec.bridge)
    _ip("link", "set", spec.bridge, "up")


def delete_bridge(spec: NodeSpec) -> None:
    if _ip("link", "show", spec.bridge, check=False).returncode == 0:
        _ip("link", "delete", spec.bridge, check=False)


#: Chains kubelet v1.36 adds to the host's iptables (canaries for kube-proxy, and a rule dropping packets to
#: 127.0.0.0/8 from other sources); removed again by `down`, after the kubelet has stopped.
KUBELET_CHAINS = {"filter": ["KUBE-FIREWALL", "KUBE-KUBELET-CANARY"], "nat": ["KUBE-KUBELET-CANARY"],
                  "mangle": ["KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY"]}  # fmt: skip


def remove_kubelet_iptables() -> None:
    for tool in ("iptables", "ip6tables"):
        for chain_from in ("INPUT", "OUTPUT"):
            subprocess.run([tool, "-t", "filter", "-D", chain_from, "-j", "KUBE-FIREWALL"], capture_output=True)
        for table, chains in KUBELET_CHAINS.items():
            for chain in chains:
                subprocess.run([tool, "-t", table, "-F", chain], capture_output=True)
                subprocess.run([tool, "-t", table, "-X", chain], capture_output=True)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _stop(pid: int, grace: float = 15.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _alive(pid):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
        if not _alive(pid):
            return


def _wait(probe: Any, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-4000:] if log.exists() else "(no log)"
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}; last lines of {log}:\n{tail}")


def kubepods_cgroups() -> list[Path]:
    """Every cgroup folder of the kubelet's pods, deepest first, across the v1 hierarchies."""
    found: list[Path] = []
    for hierarchy in CGROUP_ROOT.iterdir() if CGROUP_ROOT.is_dir() else []:
        top = hierarchy / KUBEPODS
        if top.is_dir():
            found.extend(p for p in top.rglob("*") if p.is_dir())
            found.append(top)
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


# ------------------------------------------------------------------------------------------------ the node
@dataclass
class NodeState:
    pids: dict[str, int] = field(default_factory=dict)
    bin_dir: str = ""

    @classmethod
    def load(cls, path: Path) -> NodeState:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return cls()

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))


class RealNode:
    """containerd, kubelet and kube-proxy with every file under `spec.state_dir`."""

    def __init__(self, spec: NodeSpec) -> None:
        self.spec = NodeSpec(spec.state_dir.resolve(), spec.name, spec.bridge, spec.subnet, spec.service_cidr)
        self.state_file = self.spec.state_dir / "node.json"
        self.bin_dir: Path | None = None

    # ------------------------------------------------------------------ lifecycle
    def prepare_network(self) -> None:
        """The node's bridge and address, before anything listens on it; refused while another folder's node
        runs (both would rewrite the same KUBE-* chains)."""
        self.refuse_if_another_runs()
        ensure_bridge(self.spec)

    def refuse_if_another_runs(self) -> None:
        other = _other_kubelet(self.spec.state_dir)
        if other:
            raise RuntimeError(f"another real node runs on this machine ({other}); stop it first (make cluster-down)")

    def up(self, *, server: str, cluster_pki: Path, admin_kubeconfig: Path, timeout: float = 180.0) -> None:
        spec, d = self.spec, self.spec.state_dir
        bin_dir = self.bin_dir or node_binaries()
        for sub in ("logs", "cni/net.d", "cni/ipam", "kubelet", "pod-logs", "volume-plugins", "pki"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        state = NodeState(bin_dir=str(bin_dir))
        state.save(self.state_file)
        self.prepare_network()
        (spec.cni_conf_dir / "10-datamesh.conflist").write_text(json.dumps(cni_conflist(spec), indent=2))
        (d / "containerd.toml").write_text(containerd_config(spec))
        env = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"}
        self._spawn(state, "containerd", [str(bin_dir / "containerd"), "--config", str(d / "containerd.toml")], env)
        _wait(lambda: self._ctr("version", check=False).returncode == 0, 60, "containerd", spec.logs / "containerd.log")
        if PAUSE_IMAGE not in self._images():
            self.import_archive_bytes(pause_archive((bin_dir / "pause").read_bytes()))

        ca = cluster_pki / "ca.crt"
        _link_ca(cluster_pki, d / "pki")
        crt, key = issue_client_cert(d / "pki", "kubelet-client", f"system:node:{spec.name}", "system:nodes")
        kubelet_kubeconfig = d / "kubelet.kubeconfig"
        kubelet_kubeconfig.write_text(yaml.safe_dump(kubeconfig(server, ca, crt, key, f"system:node:{spec.name}")))
        config = kubelet_config(spec, ca_file=ca, port=free_port(), healthz_port=free_port())
        (d / "kubelet.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        self._spawn(state, "kubelet", [
            str(bin_dir / "kubelet"), f"--config={d / 'kubelet.yaml'}", f"--kubeconfig={kubelet_kubeconfig}",
            f"--root-dir={d / 'kubelet'}", f"--cert-dir={d / 'kubelet' / 'pki'}",
            f"--hostname-override={spec.name}", f"--node-ip={spec.node_ip}", "--v=1",
        ], env)  # fmt: skip
        # kube-proxy's identity: the default ClusterRoleBinding system:node-proxier binds user system:kube-proxy.
        crt, key = issue_client_cert(d / "pki", "kube-proxy", "system:kube-proxy", "system:node-proxier")
        proxy_kubeconfig = d / "kube-proxy.kubeconfig"
        proxy_kubeconfig.write_text(yaml.safe_dump(kubeconfig(server, ca, crt, key, "system:kube-proxy")))
        self._spawn(state, "kube-proxy", kube_proxy_argv(spec, bin_dir / "kube-proxy", proxy_kubeconfig), env)
        # CoreDNS reads Services, EndpointSlices and Namespaces cluster-wide; the admin identity of this dev
        # cluster stands in for the ClusterRole a real installation gives it.
        health = free_port()
        (d / "Corefile").write_text(corefile(spec, admin_kubeconfig, health))
        self._spawn(state, "coredns", [str(bin_dir / "coredns"), "-conf", str(d / "Corefile")], env)
        _wait(lambda: _http_ok(f"http://127.0.0.1:{health}/health"), 60, "CoreDNS", spec.logs / "coredns.log")
        _wait(lambda: self._ready(admin_kubeconfig), timeout, f"node {spec.name} Ready", spec.logs / "kubelet.log")

    def down(self, *, quiet: bool = False) -> None:
        """Pods first (through CRI, so CNI frees their addresses), then kubelet and containerd, then whatever
        a crash could leave: container processes, mounts, pod cgroups, the bridge."""
        state = NodeState.load(self.state_file)
        for name in ("coredns", "kube-proxy", "kubelet"):
            if state.pids.get(name):
                _stop(state.pids[name])
        # The bridge, the KUBE-* chains and the kubepods cgroups are the machine's, not this folder's: while
        # another folder's node runs they are its own, and tearing them down would cut that cluster off.
        machine_is_ours = self.state_file.exists() and not _other_kubelet(self.spec.state_dir)
        proxy = Path(state.bin_dir) / "kube-proxy" if state.bin_dir else None
        if machine_is_ours and proxy is not None and proxy.exists():
            # Removes every KUBE-* chain and rule kube-proxy wrote into the host's tables.
            subprocess.run([str(proxy), "--cleanup", "--proxy-mode=iptables"], capture_output=True, timeout=60)
        containerd = state.pids.get("containerd")
        if containerd and _alive(containerd) and state.bin_dir:
            endpoint = f"unix://{self.spec.socket}"
            crictl = [str(Path(state.bin_dir) / "crictl"), "--runtime-endpoint", endpoint, "--timeout", "30s"]
            pods = subprocess.run([*crictl, "pods", "-q"], capture_output=True, text=True).stdout.split()
            for pod in pods:
                subprocess.run([*crictl, "stopp", pod], capture_output=True)
                subprocess.run([*crictl, "rmp", "-f", pod], capture_output=True)
            _stop(containerd)
        self._kill_leftovers(pod_cgroups=machine_is_ours)
        self._unmount_state()
        if machine_is_ours:
            for group in kubepods_cgroups():
                with contextlib.suppress(OSError):
                    group.rmdir()
            delete_bridge(self.spec)
            remove_kubelet_iptables()
        # The kubelet links every container's log from /var/log/containers (a fixed path) into our pod-logs;
        # links left by pods it had no time to collect go, then the folders it and the shims create outside
        # the state folder, when nothing else uses them.
        links = Path("/var/log/containers")
        for link in links.iterdir() if links.is_dir() else []:
            with contextlib.suppress(OSError):
                if link.is_symlink() and os.readlink(link).startswith(str(self.spec.state_dir) + "/"):
                    link.unlink()
        for folder in ("/var/log/containers", "/run/containerd/s", "/run/containerd"):
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        if state.pids:
            state.pids = {}
            state.save(self.state_file)
        if not quiet:
            print(f"==> real node {self.spec.name} stopped", file=sys.stderr)

    # ------------------------------------------------------------------ images
    def import_archive(self, archive: Path, name: str | None = None) -> str:
        """Load an OCI archive (`podman save --format oci-archive`, `buildah push oci-archive:`) into the
        node's containerd; returns the image name the CRI sees (pods use imagePullPolicy Never/IfNotPresent)."""
        before = set(self._images())
        # Unpacked into the snapshotter the CRI plugin uses: the CRI calls an image present only then.
        self._ctr("images", "import", "--snapshotter", "overlayfs", "--platform", f"linux/{go_arch()}", str(archive))
        names = [n for n in self._images() if n not in before] or list(self._images())
        imported = _archive_names(archive)
        chosen = name or (imported[0] if imported else names[0])
        if chosen not in self._images():
            source = imported[0] if imported and imported[0] in self._images() else names[0]
            self._ctr("images", "tag", "--force", source, chosen)
        return chosen

    def load_image(self, archive: Path, name: str) -> str:
        """Import `archive` as `name` unless this very archive (path, size, time) was imported already and the
        image is still there: containerd's content store outlives the cluster, a 2 GB import need not repeat."""
        marker = self.spec.state_dir / "containerd" / "imported.json"
        stat = archive.stat()
        key = f"{archive}:{stat.st_size}:{stat.st_mtime_ns}"
        try:
            done = json.loads(marker.read_text())
        except (OSError, ValueError):
            done = {}
        if done.get(name) == key and name in self._images():
            return name
        started = time.monotonic()
        imported = self.import_archive(archive, name)
        marker.write_text(json.dumps({**done, name: key}))
        print(f"==> image {name} imported into the node in {time.monotonic() - started:.0f}s", file=sys.stderr)
        return imported

    def import_archive_bytes(self, data: bytes) -> None:
        path = self.spec.state_dir / "pause.oci.tar"
        path.write_bytes(data)
        self.import_archive(path, PAUSE_IMAGE)

    def _images(self) -> list[str]:
        return self._ctr("images", "ls", "-q").stdout.split()

    # ------------------------------------------------------------------ internals
    def _ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        state = NodeState.load(self.state_file)
        ctr = str(Path(state.bin_dir) / "ctr")
        return subprocess.run(
            [ctr, "--address", str(self.spec.socket), "--namespace", K8S_NAMESPACE, *args],
            check=check, capture_output=True, text=True,
        )  # fmt: skip

    def _spawn(self, state: NodeState, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.spec.logs.mkdir(parents=True, exist_ok=True)
        with (self.spec.logs / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env={**os.environ, **env}, cwd=self.spec.state_dir,
            )  # fmt: skip
        state.pids[name] = process.pid
        state.save(self.state_file)

    def _ready(self, admin_kubeconfig: Path) -> bool:
        kubectl = str(binaries.binary("kubectl"))
        result = subprocess.run(
            [kubectl, "--kubeconfig", str(admin_kubeconfig), "get", "node", self.spec.name, "-o", "json"],
            capture_output=True,
        )
        if result.returncode != 0:
            return False
        node = json.loads(result.stdout)
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in node.get("status", {}).get("conditions", [])
        )
        taints = [t.get("key", "") for t in node.get("spec", {}).get("taints") or []]
        return ready and not any(key.startswith("node.kubernetes.io/") for key in taints)

    def _kill_leftovers(self, *, pod_cgroups: bool = True) -> None:
        """Processes still in pod cgroups (unless another node owns them now), and shims still serving our socket
        (a killed containerd leaves them)."""
        pids: set[int] = set()
        for group in kubepods_cgroups() if pod_cgroups else []:
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in (group / "cgroup.procs").read_text().split())
        marker = str(self.spec.socket).encode()
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                with contextlib.suppress(OSError):
                    if marker in (proc / "cmdline").read_bytes():
                        pids.add(int(proc.name))
        pids.discard(os.getpid())
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.1)

    def _unmount_state(self) -> None:
        prefix = str(self.spec.state_dir) + "/"
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for target in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
            subprocess.run(["umount", "-l", target], capture_output=True)


def _archive_names(archive: Path) -> list[str]:
    """Image names recorded in an OCI archive's index (containerd's or the OCI ref-name annotation)."""
    with tarfile.open(archive) as tar:
        member = tar.extractfile("index.json")
        index = json.load(member) if member else {}
    names = []
    for manifest in index.get("manifests", []):
        notes = manifest.get("annotations") or {}
        name = notes.get("io.containerd.image.name") or notes.get("org.opencontainers.image.ref.name")
        if name and ("/" in name or ":" in name):
            names.append(name)
    return names


def _link_ca(cluster_pki: Path, node_pki: Path) -> None:
    """openssl signs the kubelet's client certificate with the cluster CA: a copy sits next to it."""
    for name in ("ca.crt", "ca.key"):
        target = node_pki / name
        if not target.exists():
            target.write_bytes((cluster_pki / name).read_bytes())
            target.chmod(0o600)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _other_kubelet(state_dir: Path) -> str:
    """The command line of a kubelet of another node folder running on this machine, or ""."""
    mine = f"--root-dir={state_dir / 'kubelet'}"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            roots = [a for a in argv if a.startswith(b"--root-dir=")]
            if argv and argv[0].endswith(b"/kubelet") and roots and mine.encode() not in roots:
                return " ".join(a.decode(errors="replace") for a in argv if a.startswith(b"--root-dir="))
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devcluster.realnode", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("action", choices=["import", "down"])
    parser.add_argument("archive", nargs="?", type=Path, help="OCI archive for `import`")
    parser.add_argument("--dir", type=Path, default=Path(".devcluster/node"), help="node state folder")
    parser.add_argument("--image-name", help="name to give the imported image (default: the archive's)")
    args = parser.parse_intermixed_args(argv)
    node = RealNode(NodeSpec(args.dir))
    if args.action == "down":
        node.down()
        return 0
    if args.archive is None:
        parser.error("import needs an OCI archive")
    print(node.import_archive(args.archive, args.image_name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
