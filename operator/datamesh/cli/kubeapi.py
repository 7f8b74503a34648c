"""Reading datamesh objects from the cluster for the CLI (`datamesh export`, `kubectl datamesh`).

Why not the operator's own client (controller/kube.py): that one is asynchronous and built for a long-running
process; a command that reads a few objects once is simpler with the official client's synchronous API and its
kubeconfig loader, which understands every kubeconfig kubectl does (contexts, exec plugins, in-cluster).
Objects come back as plain dicts, as kubectl would print them, so the decision code takes what tests can write.
"""

from __future__ import annotations

from typing import Any

GROUP = "datamesh.dev"
VERSION = "v1alpha1"


def api_client(kubeconfig: str | None = None, context: str | None = None) -> Any:
    """An ApiClient for the given kubeconfig and context (default: $KUBECONFIG or ~/.kube/config, its current
    context), or the pod's service account inside a cluster when there is no kubeconfig."""
    from kubernetes import client, config

    configuration = client.Configuration()
    try:
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        if kubeconfig or context:
            raise
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return client.ApiClient(configuration)


def current_namespace(kubeconfig: str | None = None, context: str | None = None) -> str:
    """The namespace of the kubeconfig's (current) context, as kubectl defaults to it; "default" without one."""
    from kubernetes import config

    try:
        contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError):
        return "default"
    chosen = next((c for c in contexts if c.get("name") == context), current) if context else current
    return str(((chosen or {}).get("context") or {}).get("namespace") or "default")


def get_product(api: Any, namespace: str, name: str) -> dict[str, Any]:
    from kubernetes import client

    objects: Any = client.CustomObjectsApi(api)
    body: dict[str, Any] = objects.get_namespaced_custom_object(GROUP, VERSION, namespace, "dataproducts", name)
    return body


def list_mesh(api: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every Domain and every DataProduct the caller may list (all namespaces)."""
    from kubernetes import client

    objects: Any = client.CustomObjectsApi(api)
    domains = objects.list_cluster_custom_object(GROUP, VERSION, "domains").get("items") or []
    products = objects.list_cluster_custom_object(GROUP, VERSION, "dataproducts").get("items") or []
    return list(domains), list(products)
