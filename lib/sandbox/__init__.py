"""Local sandboxes of the providers' cost and usage APIs, with seeded data and fault switches.

``SandboxServer`` serves OpenAI and Anthropic on one local port; ``sandbox_key(tenant)`` is
the API key that makes it serve that tenant's synthetic data.
"""

from lib.sandbox.common import sandbox_key
from lib.sandbox.faults import Faults, FaultSettings
from lib.sandbox.server import SandboxServer

__all__ = ["FaultSettings", "Faults", "SandboxServer", "sandbox_key"]
