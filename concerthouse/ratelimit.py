"""Fixed-window rate limits in the cache, for the public forms (per client and per address).

With several web processes the cache must be shared (CACHE_URL=redis://...), or each process
counts on its own. Keys are keyed hashes (the blind-index key): no address or IP reaches the cache
in clear, and a plain hash of an IPv4 address could be reversed by trying them all.

A check is one cache round trip on Redis (INCR and EXPIRE in one pipeline): it is on the path of
every public form's POST. The window's number is part of the key, so a key never needs resetting;
its expiry only clears it away.
"""

import ipaddress
import time

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from .encryption import blind_index

HOUR = 3600
DAY = 24 * HOUR


def client_ip(request) -> str:
    """The visitor's address. Behind `TRUSTED_PROXY_COUNT` reverse proxies it is the address that
    many places from the right of X-Forwarded-For: each proxy appends the address it was reached
    from, and anything further left was written by the client and may be forged. Without trusted
    proxies, or when the header is shorter or not an address, it is REMOTE_ADDR."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(forwarded) < proxies:
        return remote
    candidate = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def client_key(request) -> str:
    """What the per-client limits count: the address, or for IPv6 its /64 network, since one
    household or host is handed a whole /64 and can take a new address from it at will."""
    ip = client_ip(request)
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 6:
        if address.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is 192.0.2.1
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _writer(cache: RedisCache):
    """The Redis client the counts are written through, kept on the cache backend (one per thread,
    as Django's are). Django's `get_client` builds a new redis-py client on every call, with its
    table of response callbacks: measured, that cost more than the round trip to Redis itself."""
    client = getattr(cache, "_ratelimit_writer", None)
    if client is None:
        client = cache._ratelimit_writer = cache._cache.get_client(write=True)
    return client


def _count(cache_key: str, window_seconds: int) -> int:
    cache = caches["default"]  # the backend itself: `django.core.cache.cache` is only a proxy
    if isinstance(cache, RedisCache):
        key = cache.make_and_validate_key(cache_key)
        pipeline = _writer(cache).pipeline(transaction=False)
        pipeline.incr(key)
        pipeline.expire(key, window_seconds)
        count, _expiry_set = pipeline.execute()
        return count
    try:
        return cache.incr(cache_key)
    except ValueError:  # the window's first attempt
        if cache.add(cache_key, 1, timeout=window_seconds):
            return 1
        return cache.incr(cache_key)  # another process added it in between


def allow(scope: str, key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one attempt; False once `limit` attempts were made within the window."""
    window = int(time.time() // window_seconds)
    digest = blind_index(key, purpose=f"ratelimit:{scope}")
    return _count(f"ratelimit:{digest}:{window}", window_seconds) <= limit
