"""What a container needs before it can run as a host process: volumes, environment, argv.

Images are ignored: the container's `command`/`args` run on the host, in a per-pod folder. Volumes become host
folders (emptyDir, configMap, secret, downwardAPI, projected) or the host path itself (hostPath). A host process
cannot see a volume at its `mountPath`, so each mount is also announced through environment variables.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes.utils import parse_quantity

from devcluster.kubeapi import JSON, Kube, KubeError

SERVICEACCOUNT_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
PYTHON_NAMES = {"python", "python3", "python3.11"}
PASSTHROUGH_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "JAVA_HOME")
POD_IP = "127.0.0.1"


class ConfigError(Exception):
    """The container cannot start yet (a referenced Secret/ConfigMap is missing, ...): retried."""


class Unsupported(Exception):
    """The pod asks for something a host process cannot do: the pod fails."""


@dataclass
class NodeFacts:
    """What the agent knows about its node and cluster, shared by every pod."""

    name: str
    api_host: str
    api_port: int
    ca_pem: bytes
    python: str
    allocatable: dict[str, str] = field(default_factory=dict)


@dataclass
class Launch:
    argv: list[str]
    env: dict[str, str]
    cwd: Path


def env_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


# --------------------------------------------------------------------------------------------------- volumes
def prepare_volumes(kube: Kube, facts: NodeFacts, pod: JSON, pod_dir: Path) -> dict[str, Path]:
    """Materialise the pod's volumes; returns volume name -> host path."""
    paths: dict[str, Path] = {}
    for volume in pod.get("spec", {}).get("volumes") or []:
        name = str(volume.get("name", ""))
        target = pod_dir / "volumes" / name
        if "emptyDir" in volume:
            target.mkdir(parents=True, exist_ok=True)
        elif "hostPath" in volume:
            target = _host_path(volume["hostPath"])
        elif "configMap" in volume:
            _write_items(target, _config_map_files(kube, facts, _ns(pod), volume["configMap"]))
        elif "secret" in volume:
            source = volume["secret"]
            _write_items(target, _secret_files(kube, _ns(pod), {**source, "name": source.get("secretName")}))
        elif "downwardAPI" in volume:
            _write_items(target, _downward_files(pod, volume["downwardAPI"]))
        elif "projected" in volume:
            _write_items(target, _projected_files(kube, facts, pod, volume["projected"]))
        else:
            kinds = sorted(set(volume) - {"name"})
            raise Unsupported(f"volume {name!r}: type {', '.join(kinds)} is not supported on the dev node")
        paths[name] = target
    return paths


def _ns(pod: JSON) -> str:
    return str(pod["metadata"]["namespace"])


def _host_path(source: JSON) -> Path:
    path = Path(str(source.get("path", "")))
    kind = source.get("type") or ""
    if kind == "DirectoryOrCreate":
        path.mkdir(parents=True, exist_ok=True)
    elif kind == "FileOrCreate" and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    elif kind in ("Directory", "File", "Socket") and not path.exists():
        raise ConfigError(f"hostPath {path} does not exist")
    return path


def _write_items(target: Path, files: dict[str, bytes]) -> None:
    # Written in place (no wipe) so that a re-adopted process never sees its volume vanish.
    target.mkdir(parents=True, exist_ok=True)
    for relative, content in files.items():
        destination = (target / relative).resolve()
        if not destination.is_relative_to(target.resolve()):
            raise Unsupported(f"volume item path {relative!r} escapes the volume")
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(content)


def _select(data: dict[str, bytes], items: list[JSON] | None, what: str, optional: bool) -> dict[str, bytes]:
    if not items:
        return data
    selected: dict[str, bytes] = {}
    for item in items:
        key = str(item.get("key"))
        if key not in data:
            if optional:
                continue
            raise ConfigError(f"{what}: key {key!r} not found")
        selected[str(item.get("path") or key)] = data[key]
    return selected


def _config_map_files(kube: Kube, facts: NodeFacts, namespace: str, source: JSON) -> dict[str, bytes]:
    name = str(source.get("name"))
    optional = bool(source.get("optional"))
    if name == "kube-root-ca.crt" and facts.ca_pem:
        # Published by the controller-manager a moment after the namespace appears; the CA is the same.
        data = {"ca.crt": facts.ca_pem}
    else:
        obj = _read(kube, f"/api/v1/namespaces/{namespace}/configmaps/{name}", f"configmap {name!r}", optional)
        data = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
        data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return _select(data, source.get("items"), f"configmap {name!r}", optional)


def _secret_files(kube: Kube, namespace: str, source: JSON) -> dict[str, bytes]:
    name = str(source.get("name"))
    optional = bool(source.get("optional"))
    obj = _read(kube, f"/api/v1/namespaces/{namespace}/secrets/{name}", f"secret {name!r}", optional)
    data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    return _select(data, source.get("items"), f"secret {name!r}", optional)


def _downward_files(pod: JSON, source: JSON) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for item in source.get("items") or []:
        if "fieldRef" in item:
            files[str(item["path"])] = field_value(pod, str(item["fieldRef"].get("fieldPath", ""))).encode()
        else:
            raise Unsupported("downwardAPI volume: only fieldRef items are supported")
    return files


def _projected_files(kube: Kube, facts: NodeFacts, pod: JSON, projected: JSON) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for source in projected.get("sources") or []:
        if "serviceAccountToken" in source:
            token_source = source["serviceAccountToken"]
            files[str(token_source.get("path", "token"))] = service_account_token(kube, pod, token_source).encode()
        elif "configMap" in source:
            files.update(_config_map_files(kube, facts, _ns(pod), source["configMap"]))
        elif "secret" in source:
            files.update(_secret_files(kube, _ns(pod), source["secret"]))
        elif "downwardAPI" in source:
            files.update(_downward_files(pod, source["downwardAPI"]))
        else:
            raise Unsupported(f"projected volume source {sorted(source)} is not supported on the dev node")
    return files


def service_account_token(kube: Kube, pod: JSON, source: JSON) -> str:
    """A token bound to the pod, from the TokenRequest API, as the kubelet requests it."""
    metadata = pod["metadata"]
    account = pod.get("spec", {}).get("serviceAccountName") or "default"
    spec: JSON = {
        "expirationSeconds": int(source.get("expirationSeconds") or 3607),
        "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": metadata["name"], "uid": metadata["uid"]},
    }
    if source.get("audience"):
        spec["audiences"] = [source["audience"]]
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
    try:
        response = kube.request(
            "POST", f"/api/v1/namespaces/{metadata['namespace']}/serviceaccounts/{account}/token", body=body
        )
    except KubeError as error:
        raise ConfigError(f"token request for serviceaccount {account!r} failed: {error}") from error
    return str(response.get("status", {}).get("token", ""))


def _read(kube: Kube, path: str, what: str, optional: bool) -> JSON:
    try:
        return kube.request("GET", path)
    except KubeError as error:
        if error.status == 404:
            if optional:
                return {}
            raise ConfigError(f"{what} not found") from error
        raise ConfigError(f"reading {what}: {error}") from error


# --------------------------------------------------------------------------------------------------- env
def field_value(pod: JSON, path: str) -> str:
    metadata = pod.get("metadata", {})
    spec = pod.get("spec", {})
    simple = {
        "metadata.name": metadata.get("name"),
        "metadata.namespace": metadata.get("namespace"),
        "metadata.uid": metadata.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName") or "default",
        "status.podIP": POD_IP,
        "status.podIPs": POD_IP,
        "status.hostIP": POD_IP,
        "status.hostIPs": POD_IP,
    }
    if path in simple:
        return str(simple[path] or "")
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return str((metadata.get(match.group(1)) or {}).get(match.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        values = metadata.get(path.split(".")[1]) or {}
        return "\n".join(f"{k}={json.dumps(str(v))}" for k, v in sorted(values.items()))
    raise Unsupported(f"fieldRef {path!r} is not supported on the dev node")


def _resource_value(container: JSON, facts: NodeFacts, ref: JSON) -> str:
    resource = str(ref.get("resource", ""))
    kind, _, name = resource.partition(".")
    resources = container.get("resources") or {}
    raw = (resources.get(kind) or {}).get(name) or (resources.get("limits") or {}).get(name)
    raw = raw or facts.allocatable.get(name, "0")
    divisor = _quantity(ref.get("divisor") or "1")
    return str(math.ceil(_quantity(raw) / divisor)) if divisor else "0"


def _quantity(value: object) -> float:
    return float(parse_quantity(value))  # type: ignore[no-untyped-call]


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion: defined variables are replaced, `$$` escapes, the rest stays as written."""
    out: list[str] = []
    i = 0
    while i < len(value):
        if value.startswith("$$", i):
            out.append("$")
            i += 2
        elif value.startswith("$(", i) and (end := value.find(")", i + 2)) != -1:
            name = value[i + 2 : end]
            out.append(env.get(name, value[i : end + 1]))
            i = end + 1
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def container_env(kube: Kube, facts: NodeFacts, pod: JSON, container: JSON) -> dict[str, str]:
    """The environment the container declares (envFrom, then env), resolved through the API."""
    namespace = _ns(pod)
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix") or "")
        if "configMapRef" in source:
            files = _config_map_files(kube, facts, namespace, {**source["configMapRef"], "items": None})
        elif "secretRef" in source:
            files = _secret_files(kube, namespace, {**source["secretRef"], "items": None})
        else:
            continue
        env.update({prefix + key: value.decode(errors="replace") for key, value in files.items()})
    for item in container.get("env") or []:
        name = str(item.get("name"))
        if "valueFrom" not in item:
            env[name] = expand(str(item.get("value") or ""), env)
            continue
        source = item["valueFrom"] or {}
        if "fieldRef" in source:
            env[name] = field_value(pod, str(source["fieldRef"].get("fieldPath", "")))
        elif "resourceFieldRef" in source:
            env[name] = _resource_value(container, facts, source["resourceFieldRef"])
        elif "configMapKeyRef" in source or "secretKeyRef" in source:
            is_cm = "configMapKeyRef" in source
            ref = source["configMapKeyRef" if is_cm else "secretKeyRef"]
            key = str(ref.get("key"))
            request = {"name": ref.get("name"), "optional": ref.get("optional"), "items": [{"key": key}]}
            files = (
                _config_map_files(kube, facts, namespace, request) if is_cm else _secret_files(kube, namespace, request)
            )
            if key in files:
                env[name] = files[key].decode(errors="replace")
        else:
            raise Unsupported(f"env {name!r}: valueFrom {sorted(source)} is not supported on the dev node")
    return env


# --------------------------------------------------------------------------------------------------- launch
def build_launch(
    kube: Kube,
    facts: NodeFacts,
    pod: JSON,
    container: JSON,
    pod_dir: Path,
    volumes: dict[str, Path],
    termination_log: Path,
) -> Launch:
    """argv, environment and working directory for one run of `container`."""
    name = str(container.get("name"))
    command = [str(a) for a in container.get("command") or []]
    args = [str(a) for a in container.get("args") or []]
    if not command and not args:
        raise Unsupported(
            f"container {name!r} has neither command nor args; the dev node ignores images, so it has nothing to run"
        )
    env: dict[str, str] = {key: os.environ[key] for key in PASSTHROUGH_ENV if key in os.environ}
    python_bin = str(Path(facts.python).parent)
    env["PATH"] = os.pathsep.join([python_bin, env.get("PATH", os.defpath)])
    metadata = pod["metadata"]
    env.update(
        {
            "HOSTNAME": str(pod.get("spec", {}).get("hostname") or metadata["name"]),
            "KUBERNETES_SERVICE_HOST": facts.api_host,
            "KUBERNETES_SERVICE_PORT": str(facts.api_port),
            "KUBERNETES_SERVICE_PORT_HTTPS": str(facts.api_port),
            "KUBERNETES_PORT": f"tcp://{facts.api_host}:{facts.api_port}",
            "DATAMESH_DEV_NODE": facts.name,
            "DATAMESH_POD_DIR": str(pod_dir),
            "DATAMESH_TERMINATION_LOG": str(termination_log),
        }
    )
    mounts: dict[str, str] = {}
    for mount in container.get("volumeMounts") or []:
        source = volumes.get(str(mount.get("name")))
        if source is None:
            raise Unsupported(f"volumeMount {mount.get('name')!r} refers to no volume")
        host = source / str(mount["subPath"]) if mount.get("subPath") else source
        if mount.get("subPath") and not host.exists():
            host.mkdir(parents=True, exist_ok=True)
        mount_path = str(mount.get("mountPath"))
        mounts[mount_path] = str(host)
        if mount_path != str(host):
            env[f"DATAMESH_MOUNT_{env_name(str(mount.get('name')))}"] = str(host)
        if mount_path.rstrip("/") == SERVICEACCOUNT_MOUNT:
            env["DATAMESH_SERVICEACCOUNT_DIR"] = str(host)
    env["DATAMESH_MOUNTS"] = json.dumps(mounts, sort_keys=True)
    env.update(container_env(kube, facts, pod, container))
    argv = [expand(a, env) for a in (command + args if command else args)]
    if argv[0] in PYTHON_NAMES:
        argv[0] = facts.python
    elif "/" not in argv[0]:
        found = shutil.which(argv[0], path=env.get("PATH"))
        if found is None:
            raise StartError(f'exec: "{argv[0]}": executable file not found in $PATH')
        argv[0] = found
    cwd = Path(str(container["workingDir"])) if container.get("workingDir") else pod_dir
    try:
        cwd.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StartError(f"cannot create working directory {cwd}: {error}") from error
    executable = Path(argv[0]) if Path(argv[0]).is_absolute() else cwd / argv[0]
    if not executable.exists():
        raise StartError(f'exec: "{argv[0]}": no such file or directory')
    return Launch(argv=argv, env=env, cwd=cwd)


class StartError(Exception):
    """The process could not be started (exit code 128, reason StartError, like a failed exec)."""
