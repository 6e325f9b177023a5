"""`cutover inventory`: phase 0 on paper: inventory.json, the Ingress backup, a draft targets file."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import yaml

from cutover import annotations as ann
from cutover.cluster.checks import inventory
from cutover.cluster.state import ClusterState
from cutover.ingress_targets import ServiceEntries, migrated_ingresses

__all__ = ["draft_targets", "write_inventory"]

_DROP_METADATA = ("managedFields", "resourceVersion", "uid", "generation", "creationTimestamp")


def _backup_object(obj: dict[str, Any]) -> dict[str, Any]:
    metadata = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _DROP_METADATA}
    annotations = dict(metadata.get("annotations") or {})
    # kubectl's last-applied copy repeats the object; keep the backup readable.
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    return {**obj, "metadata": metadata}


def draft_targets(state: ClusterState) -> dict[str, Any]:
    """A targets file to fill in: services, waves and the checks each annotation calls for."""
    services = []
    entries = ServiceEntries(state.manifests)
    for ingress in migrated_ingresses(state.manifests):
        entry = entries.entry(ingress)
        checks = entry["checks"]
        if "sse" in checks:
            entry["sse"] = {"path": "/REPLACE-with-a-streaming-path", "streams": [{"name": "long", "events": 20}]}
        if "source_ip" in checks:
            entry["source_ip"] = {"allowed": ["office"], "denied": ["outside"]}
        if "backend_tls" in checks:
            entry["backend_tls"] = {
                "mode": "A",
                "hostname": f"{ingress.paths[0].backend.service}.{ingress.namespace}.svc",
            }
        services.append(entry)
    return {
        "version": 1,
        "endpoints": {
            "nginx": {"address": "REPLACE-with-the-ingress-nginx-address", "http_port": 80, "https_port": 443},
            "gateway": {"address": "REPLACE-with-the-gateway-address", "http_port": 80, "https_port": 443},
        },
        "vantage_points": {
            "office": {"address": None, "description": "a client on the allowed network"},
            "outside": {"address": None, "description": "a client outside it"},
        },
        "default_vantage_point": "office",
        "services": services,
        "waivers": [],
    }


def write_inventory(state: ClusterState, out: Path, today: dt.date, targets_path: Path | None) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    rows = inventory(state)
    counts = {level: sum(1 for r in rows if r["complexity"] == level) for level in ("HIGH", "MEDIUM", "LOW")}
    flagged = [
        {"ingress": f"{r['namespace']}/{r['name']}", **a}
        for r in rows
        for a in r["annotations"]
        if a["category"] in ("unknown", "unsupported")
    ]
    document = {
        "source": state.description,
        "generated": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "summary": {"ingresses": len(rows), "complexity": counts, "flagged_annotations": len(flagged)},
        "warnings": ann.wave_warnings(state.manifests.ingresses),
        "flagged": flagged,
        "ingresses": rows,
    }
    written = {"inventory": out / "inventory.json", "backup": out / f"ingress-backup-{today:%Y%m%d}.yaml"}
    written["inventory"].write_text(json.dumps(document, indent=2))
    backup = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [_backup_object(obj) for obj in state.items("ingresses")],
    }
    written["backup"].write_text(yaml.safe_dump(backup, sort_keys=False))
    if targets_path is not None:
        targets_path.parent.mkdir(parents=True, exist_ok=True)
        targets_path.write_text(
            "# Draft targets from `cutover inventory`: fill in the endpoints and review every check.\n"
            + yaml.safe_dump(draft_targets(state), sort_keys=False)
        )
        written["targets"] = targets_path
    return written
