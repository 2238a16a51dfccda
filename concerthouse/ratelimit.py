"""Fixed-window rate limits in the cache, for the public forms (per client and per address).

With several web processes the cache must be shared (CACHE_URL=redis://...), or each process
counts on its own. Keys are keyed hashes (the blind-index key): no address or IP reaches the cache
in clear, and a plain hash of an IPv4 address could be reversed by trying them all. The window's
number is part of the key, so a key never needs resetting; its expiry only clears it away.

On Redis (django-redis) the attempts of one check are counted in one pipeline, an INCR and an
EXPIRE for each: a form's POST counts its client and its address in one round trip. On any other
cache (locmem in tests and on a laptop) they are counted with the cache's own `add` and `incr`.
A cache that is down lets the attempt through, with a warning in the log: it degrades the limit,
never loses a submission.
"""

import ipaddress
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django_redis import get_redis_connection
from django_redis.cache import RedisCache
from redis.exceptions import RedisError

from .encryption import blind_index

HOUR = 3600
DAY = 24 * HOUR
CACHE_ALIAS = "default"

logger = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class Attempt:
    """One attempt to count: `key` may make `limit` of them in `scope` within `window_seconds`."""

    scope: str
    key: str
    limit: int
    window_seconds: int

    def cache_key(self, now: float) -> str:
        window = int(now // self.window_seconds)
        digest = blind_index(self.key, purpose=f"ratelimit:{self.scope}")
        return f"ratelimit:{digest}:{window}"


def allowed(*attempts: Attempt) -> tuple[bool, ...]:
    """Count each attempt; for each, whether it is still within its limit."""
    now = time.time()
    keys = [attempt.cache_key(now) for attempt in attempts]
    try:
        counts = _count(keys, [attempt.window_seconds for attempt in attempts])
    except RedisError as error:
        logger.warning(
            "rate limits not counted, the cache is unreachable: %s", type(error).__name__
        )
        return tuple(True for _ in attempts)
    return tuple(count <= a.limit for count, a in zip(counts, attempts, strict=True))


def allow(scope: str, key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one attempt; False once `limit` attempts were made within the window."""
    return allowed(Attempt(scope, key, limit, window_seconds))[0]


def _count(keys: list[str], windows: list[int]) -> list[int]:
    cache = caches[CACHE_ALIAS]
    if isinstance(cache, RedisCache):
        # One round trip. Not a transaction (MULTI/EXEC): each key counts on its own.
        pipeline = get_redis_connection(CACHE_ALIAS).pipeline(transaction=False)
        for key, seconds in zip(keys, windows, strict=True):
            key = cache.make_key(key)
            pipeline.incr(key)
            pipeline.expire(key, seconds)
        return pipeline.execute()[::2]  # INCR's answers; EXPIRE's come between
    return [_count_in(cache, key, seconds) for key, seconds in zip(keys, windows, strict=True)]


def _count_in(cache, key: str, window_seconds: int) -> int:
    # add() sets the window's first attempt with its expiry; incr() keeps the expiry it has.
    if cache.add(key, 1, timeout=window_seconds):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between the two calls: this is the new window's first
        cache.add(key, 1, timeout=window_seconds)
        return 1
