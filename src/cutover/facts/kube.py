"""Kubernetes API groups and annotation prefixes the suite reads: each defined here once."""

from __future__ import annotations

__all__ = [
    "APIEXTENSIONS_GROUP",
    "CILIUM_GROUP",
    "CUTOVER_PREFIX",
    "GATEWAY_GROUP",
    "NETWORKING_GROUP",
    "NGINX_PREFIX",
]

NETWORKING_GROUP = "networking.k8s.io"
GATEWAY_GROUP = "gateway.networking.k8s.io"
APIEXTENSIONS_GROUP = "apiextensions.k8s.io"
CILIUM_GROUP = "cilium.io"

# Annotation prefixes: ingress-nginx's own, and the suite's (cutover.dev/wave, ...).
NGINX_PREFIX = "nginx.ingress.kubernetes.io/"
CUTOVER_PREFIX = "cutover.dev/"
