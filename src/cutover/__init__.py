"""cutover: is it safe to move traffic from ingress-nginx to the Cilium Gateway API?"""

from cutover.errors import CutoverError, InputError, LabError, PortBusyError, ToolMissingError
from cutover.manifests import ManifestSet, load_manifests

__version__ = "0.1.0"

__all__ = [
    "CutoverError",
    "InputError",
    "LabError",
    "ManifestSet",
    "PortBusyError",
    "ToolMissingError",
    "__version__",
    "load_manifests",
]
