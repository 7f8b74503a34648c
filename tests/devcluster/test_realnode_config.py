"""The real node's configuration, as pure data: the settings this machine kind needs (measured in
docs/real-node.md) and the ones that keep pods confined to the node's own bridge."""

from __future__ import annotations

import io
import json
import tarfile
import tomllib
from pathlib import Path
from typing import Any

from devcluster.realnode import NodeSpec, cni_conflist, containerd_config, kubelet_config, pause_archive


def test_containerd_stays_in_its_state_folder_and_never_raises_privileges_it_lacks(tmp_path: Path) -> None:
    spec = NodeSpec(tmp_path)
    config = tomllib.loads(containerd_config(spec))
    assert config["version"] == 3 and config["root"].startswith(str(tmp_path))
    runtime = config["plugins"]["io.containerd.cri.v1.runtime"]
    assert runtime["restrict_oom_score_adj"] is True  # no CAP_SYS_RESOURCE here
    assert runtime["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False
    assert config["grpc"]["address"] == str(spec.socket)


def test_pods_get_the_bridge_a_route_to_services_and_nothing_beyond(tmp_path: Path) -> None:
    spec = NodeSpec(tmp_path)
    bridge = cni_conflist(spec)["plugins"][0]
    assert bridge["type"] == "bridge" and bridge["isGateway"] is False and bridge["ipMasq"] is False
    # One route, to the Service range through the node (kube-proxy's rules there): no default route.
    assert bridge["ipam"]["routes"] == [{"dst": spec.service_cidr, "gw": str(spec.node_ip)}]


def test_kubelet_accepts_only_the_cluster_ca_and_runs_on_cgroup_v1(tmp_path: Path) -> None:
    config = kubelet_config(NodeSpec(tmp_path), ca_file=tmp_path / "ca.crt", port=10250, healthz_port=10248)
    assert config["failCgroupV1"] is False and config["cgroupDriver"] == "cgroupfs"
    assert config["authentication"]["anonymous"] == {"enabled": False}
    assert config["authorization"] == {"mode": "Webhook"} and config["readOnlyPort"] == 0
    assert config["containerRuntimeEndpoint"].endswith("containerd.sock")


def test_the_pause_image_is_an_oci_archive_with_one_entry_point() -> None:
    with tarfile.open(fileobj=io.BytesIO(pause_archive(b"\x7fELF-pause", arch="amd64"))) as archive:

        def blob(name: str) -> dict[str, Any]:
            member = archive.extractfile(name)
            assert member is not None
            loaded: dict[str, Any] = json.load(member)
            return loaded

        assert {"index.json", "oci-layout"} <= set(archive.getnames())
        manifest = blob(f"blobs/sha256/{blob('index.json')['manifests'][0]['digest'].split(':')[1]}")
        config = blob(f"blobs/sha256/{manifest['config']['digest'].split(':')[1]}")
    assert config["config"]["Entrypoint"] == ["/pause"] and config["architecture"] == "amd64"
