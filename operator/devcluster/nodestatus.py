"""Node registration and heartbeats for the dev node agent.

Like the kubelet, the agent registers its Node with status Ready=True, renews a Lease in `kube-node-lease` every
10 seconds (the node-lifecycle controller's primary heartbeat) and refreshes the Ready condition's heartbeat, so
that the controller never marks the node NotReady/Unknown, taints it, or evicts its pods.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from devcluster.kubeapi import JSON, MERGE_PATCH, STRATEGIC_MERGE, Kube, KubeError, now, now_micro

log = logging.getLogger("devcluster.node")

LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION = 40
LEASE_PERIOD = 10.0
STATUS_PERIOD = 30.0
AGENT_VERSION = "v1.36.3-devnode"

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def node_arch() -> str:
    return _ARCH.get(platform.machine().lower(), platform.machine().lower())


class NodeStatus:
    """Registers the Node and keeps it Ready while `run` loops."""

    def __init__(self, kube: Kube, name: str, work_dir: Path, *, cpu: str, memory: str, max_pods: int) -> None:
        self.kube = kube
        self.name = name
        self.work_dir = work_dir
        self.cpu = cpu
        self.memory = memory
        self.max_pods = max_pods
        self.node_uid = ""
        self.since = now()  # lastTransitionTime of the conditions: they hold since the agent started

    # ----------------------------------------------------------------- objects
    def labels(self) -> dict[str, str]:
        return {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": node_arch(),
            "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": node_arch(),
            "datamesh.dev/dev-node": "true",
        }

    def resources(self) -> dict[str, str]:
        disk = shutil.disk_usage(self.work_dir)
        # "pods" is what the scheduler packs against; the agent itself only runs `max_pods` at once and queues
        # the rest, so advertise the kubelet's usual 110.
        return {"cpu": self.cpu, "memory": self.memory, "pods": "110", "ephemeral-storage": str(disk.total)}

    def conditions(self) -> list[JSON]:
        stamp = now()
        quiet = [
            ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ]
        conditions: list[JSON] = [
            {
                "type": kind,
                "status": "False",
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": stamp,
                "lastTransitionTime": self.since,
            }
            for kind, reason, message in quiet
        ]
        conditions.append(
            {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "dev node agent is posting ready status",
                "lastHeartbeatTime": stamp,
                "lastTransitionTime": self.since,
            }
        )
        return conditions

    def status(self) -> JSON:
        resources = self.resources()
        return {
            "capacity": resources,
            "allocatable": resources,
            "conditions": self.conditions(),
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": self.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
            "nodeInfo": {
                "machineID": _machine_id(),
                "systemUUID": _machine_id(),
                "bootID": _boot_id(),
                "kernelVersion": platform.release(),
                "osImage": f"dev node on {socket.gethostname()}",
                "containerRuntimeVersion": "devnode://host-processes",
                "kubeletVersion": AGENT_VERSION,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": node_arch(),
            },
        }

    # ----------------------------------------------------------------- API calls
    def register(self) -> None:
        """Create the Node, or adopt an existing one (agent restart) and refresh its labels and status."""
        path = f"/api/v1/nodes/{self.name}"
        try:
            node = self.kube.request("GET", path)
        except KubeError as error:
            if error.status != 404:
                raise
            body = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": self.name, "labels": self.labels()},
                "spec": {},
                "status": self.status(),
            }
            node = self.kube.request("POST", "/api/v1/nodes", body=body)
            log.info("registered node %s", self.name)
        else:
            node = self.kube.request(
                "PATCH", path, body={"metadata": {"labels": self.labels()}}, content_type=STRATEGIC_MERGE
            )
            log.info("re-registered existing node %s", self.name)
        self.node_uid = str(node.get("metadata", {}).get("uid", ""))
        self.post_status()
        self.renew_lease()

    def post_status(self) -> None:
        try:
            self.kube.request(
                "PATCH",
                f"/api/v1/nodes/{self.name}/status",
                body={"status": self.status()},
                content_type=STRATEGIC_MERGE,
            )
        except KubeError as error:
            if error.status == 404:
                self.register()
            else:
                raise

    def renew_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases/{self.name}"
        spec = {"holderIdentity": self.name, "leaseDurationSeconds": LEASE_DURATION, "renewTime": now_micro()}
        try:
            self.kube.request("PATCH", path, body={"spec": spec}, content_type=MERGE_PATCH)
        except KubeError as error:
            if error.status != 404:
                raise
            metadata: JSON = {"name": self.name, "namespace": LEASE_NAMESPACE}
            if self.node_uid:
                metadata["ownerReferences"] = [
                    {"apiVersion": "v1", "kind": "Node", "name": self.name, "uid": self.node_uid}
                ]
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}
            self.kube.request("POST", f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases", body=body)

    def run(self, stop: threading.Event, on_error: Callable[[Exception], None] | None = None) -> None:
        """Heartbeat loop: lease every 10 s, Ready condition every 30 s; survives API server restarts."""
        last_status = 0.0
        clock = 0.0
        while not stop.wait(LEASE_PERIOD if clock else 0):
            clock += LEASE_PERIOD
            try:
                self.renew_lease()
                if clock - last_status >= STATUS_PERIOD:
                    self.post_status()
                    last_status = clock
            except Exception as error:  # never let the heartbeat die
                log.warning("node heartbeat failed: %s", error)
                last_status = -STATUS_PERIOD  # post the status on the next successful round
                if on_error is not None:
                    on_error(error)


def _machine_id() -> str:
    for candidate in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            return Path(candidate).read_text().strip()
        except OSError:
            continue
    return socket.gethostname()


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return str(os.getpid())
