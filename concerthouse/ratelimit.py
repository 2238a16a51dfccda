"""A fixed-window rate limit in the cache, for the public forms (per address and per client).

With several web processes the cache must be shared (CACHE_URL=redis://...), or each process
counts on its own. Keys are hashed, so no address or IP reaches the cache in clear.
"""

import hashlib

from django.core.cache import cache


def client_key(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


def allow(scope: str, key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one attempt; False once `limit` attempts were made within the window."""
    digest = hashlib.sha256(f"{scope}:{key}".encode()).hexdigest()
    cache_key = f"ratelimit:{digest}"
    cache.add(cache_key, 0, timeout=window_seconds)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=window_seconds)
        count = 1
    return count <= limit
