"""The operator's own Prometheus registry (not the process-global default), shared by every module that counts."""

from prometheus_client import CollectorRegistry

REGISTRY = CollectorRegistry(auto_describe=True)
