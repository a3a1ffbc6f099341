"""CPE, the Cloud Processing Engine."""

from cpe.errors import ActivityFailed, CPEError

__all__ = ["ActivityFailed", "CPEError", "__version__"]
__version__ = "0.1.0"
