"""The embedded lab: real nginx and real Envoy on loopback, rendered from manifests."""

from cutover.lab.lab import DEFAULT_VANTAGE_POINTS, Lab, LabOptions, LabState, find_tool, load_overlay
from cutover.lab.profiles import DEFAULT_PROFILE, PROFILES, GatewayProfile, get_profile

__all__ = [
    "DEFAULT_PROFILE",
    "DEFAULT_VANTAGE_POINTS",
    "PROFILES",
    "GatewayProfile",
    "Lab",
    "LabOptions",
    "LabState",
    "find_tool",
    "get_profile",
    "load_overlay",
]
