"""The soak check: Hubble flows over a window (gRPC Observer API or exported files)."""

from cutover.soak.check import analyse, soak_cases
from cutover.soak.hubble import flow_messages, flows_from_file, flows_from_relay

__all__ = ["analyse", "flow_messages", "flows_from_file", "flows_from_relay", "soak_cases"]
