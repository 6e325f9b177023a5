"""What is probed and how: requests addressed like curl --resolve, streams, timings."""

from cutover.probe.client import Endpoint, ProbeResult, fetch

__all__ = ["Endpoint", "ProbeResult", "fetch"]
