"""Annotation handling that the lab and the inventory share: waves, checks, unmodelled notes."""

from __future__ import annotations

from pathlib import Path

from cutover import annotations as ann
from cutover.lab.model import LabLayout
from cutover.lab.nginx_render import render_nginx
from cutover.manifests import load_manifests

INGRESS = """
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop
  namespace: web
  annotations:
    nginx.ingress.kubernetes.io/limit-rps: "10"
    nginx.ingress.kubernetes.io/proxy-buffering: "off"
    cutover.dev/wave: "4"
spec:
  ingressClassName: nginx
  tls: [{hosts: [shop.example], secretName: shop-tls}]
  rules:
    - host: shop.example
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: shop, port: {number: 80}}}}]
"""


def test_wave_annotation_overrides_the_complexity_rule(tmp_path: Path) -> None:
    (tmp_path / "shop.yaml").write_text(INGRESS)
    ingress = load_manifests(tmp_path).ingresses[0]
    assert ann.complexity(ingress) == "MEDIUM"
    assert ann.proposed_wave(ingress) == 4
    assert ann.checks_for(ingress) == ["paths", "headers", "timeouts", "redirects", "sse"]


def test_unmodelled_annotations_are_listed(tmp_path: Path) -> None:
    (tmp_path / "shop.yaml").write_text(INGRESS)
    layout = LabLayout(tmp_path, "127.0.0.1", 1, 2, 3, 4, 5, "127.0.100.1", "127.0.200.1")
    config = render_nginx(load_manifests(tmp_path), layout)
    notes = [str(n) for n in config.notes]
    assert (
        "[nginx] Ingress web/shop: annotation nginx.ingress.kubernetes.io/limit-rps is not modelled by the lab" in notes
    )
    assert not any("proxy-buffering" in n for n in notes)
    assert "proxy_buffering off;" in config.text
