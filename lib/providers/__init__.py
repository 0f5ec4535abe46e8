"""Provider connectors: stream a provider's pages into typed Arrow batches.

``fetch_batches`` is the public entry point (see ``lib/providers/rest.py``); ``pages`` shapes
one page, ``paging`` decides the next request, ``retry`` does rate limiting and retries.
"""

from lib.providers.rest import fetch_batches

__all__ = ["fetch_batches"]
