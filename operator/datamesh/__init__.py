"""datamesh-operator: data-product contracts turned into governed, running data products on Kubernetes."""

__version__ = "0.1.0"
