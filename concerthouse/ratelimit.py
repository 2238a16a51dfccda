"""Fixed-window rate limits in the cache, for the public forms (per client and per address).

With several web processes the cache must be shared (CACHE_URL=redis://...), or each process
counts on its own. Keys are keyed hashes (the blind-index key): no address or IP reaches the cache
in clear, and a plain hash of an IPv4 address could be reversed by trying them all.

The counts of a check are one cache round trip on Redis (an INCR and an EXPIRE for each, sent
together), whose answers are read only when needed (`Counting`): they are on the path of every
public form's POST. The window's number is part of the key, so a key never needs resetting; its
expiry only clears it away.
"""

import contextlib
import functools
import ipaddress
import time
from dataclasses import dataclass

import redis
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


class Counting:
    """Attempts being counted. On Redis the counts are written when it is made and their answers
    read by `allowed()`: what the request does in between (its form's validation) runs while Redis
    answers, rather than the process sleeping on the round trip and being woken again for the
    answer. Measured under load on the signup, that sleep cost 6 to 7% of the POST's throughput, of
    the 17% that counting in Redis cost it in all. Other caches count at once."""

    def __init__(self, *attempts: Attempt):
        now = time.time()
        self.attempts = attempts
        self._cache = caches["default"]  # the backend: `django.core.cache.cache` is only a proxy
        self._keys = [attempt.cache_key(now) for attempt in attempts]
        windows = [attempt.window_seconds for attempt in attempts]
        if isinstance(self._cache, RedisCache):
            # The keys are hex digests, valid for every backend: made, not checked.
            self._keys = [self._cache.make_key(key) for key in self._keys]
            commands = b"".join(map(_incr_expire, self._keys, windows))
            self._sent = _Sent(self._cache, commands, answers=2 * len(attempts))
            self._counts = None
        else:
            self._counts = list(map(functools.partial(_count, self._cache), self._keys, windows))

    def allowed(self) -> tuple[bool, ...]:
        """For each attempt, whether it is still within its limit."""
        if self._counts is None:
            self._counts = self._sent.answers()[::2]  # INCR's answers: EXPIRE's come between
        return tuple(count <= a.limit for count, a in zip(self._counts, self.attempts, strict=True))

    def undo(self, attempt: Attempt) -> None:
        """Take back the count of `attempt`, one of these: it turned out not to be one."""
        key = self._keys[self.attempts.index(attempt)]
        if isinstance(self._cache, RedisCache):
            # With its expiry set again: a count gone by then would otherwise come back as -1, kept
            # for ever.
            commands = _incr_expire(key, attempt.window_seconds, verb=b"DECR")
            _Sent(self._cache, commands, answers=2).answers()
        else:
            with contextlib.suppress(ValueError):  # its window is over, its count gone with it
                self._cache.decr(key)


def allowed(*attempts: Attempt) -> tuple[bool, ...]:
    """Count each attempt; for each, whether it is still within its limit. On Redis all of them
    are counted in one round trip: a form's POST counts its client and its address together."""
    return Counting(*attempts).allowed()


def allow(scope: str, key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one attempt; False once `limit` attempts were made within the window."""
    return allowed(Attempt(scope, key, limit, window_seconds))[0]


def _count(cache, key: str, window_seconds: int) -> int:
    try:
        return cache.incr(key)
    except ValueError:  # the window's first attempt
        if cache.add(key, 1, timeout=window_seconds):
            return 1
        return cache.incr(key)  # another process added it in between


# --- On Redis --------------------------------------------------------------------------------------
def _connection(cache: RedisCache):
    """The Redis connection the counts are written through: one of this thread's own (caches are
    per thread), taken from the backend's pool once and kept on the backend.

    The counts are on the path of every public form's POST, and measured there a redis-py client's
    own work (taking a connection from the pool and giving it back, the retry wrapper, a pipeline
    object) cost twice the round trip to Redis: about 130 µs of CPU against 55 µs for the same two
    commands written to a connection held."""
    connection = getattr(cache, "_ratelimit_connection", None)
    if connection is None:
        pool = cache._cache.get_client(write=True).connection_pool
        connection = cache._ratelimit_connection = pool.get_connection()
    return connection


def _incr_expire(key: str, seconds: int, *, verb: bytes = b"INCR") -> bytes:
    """INCR key (or DECR: `verb`) and EXPIRE key seconds in Redis's protocol (RESP), as redis-py
    would pack them. Written out here: redis-py's general packing was 10 µs of the 50 µs of CPU a
    count cost the web process."""
    key_bytes, seconds_bytes = key.encode(), b"%d" % seconds
    return b"*2\r\n$4\r\n%b\r\n$%d\r\n%b\r\n*3\r\n$6\r\nEXPIRE\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (
        verb,
        len(key_bytes),
        key_bytes,
        len(key_bytes),
        key_bytes,
        len(seconds_bytes),
        seconds_bytes,
    )


class _Sent:
    """Commands written to Redis, all at once, whose answers are read when asked for.

    Answers come back in the order the commands were written, on a connection this thread keeps
    for the counts: before anything more is written to it, the answers still owed on it are read
    and kept by whoever they belong to, so that no answer is ever taken for another's."""

    def __init__(self, cache: RedisCache, commands: bytes, answers: int):
        self._connection = _connection(cache)
        self._commands, self._owed, self._answers = commands, answers, None
        unread = getattr(self._connection, "_ratelimit_unread", None)
        if unread is not None:
            unread.answers()
        try:
            self._send()
        except (redis.ConnectionError, redis.TimeoutError):
            self._send()  # Redis restarted, or dropped the idle connection: once more, on a new one

    def answers(self) -> list:
        if self._answers is None:
            try:
                self._answers = self._read()
            except (redis.ConnectionError, redis.TimeoutError):
                # As above. Commands that reached Redis before the error are applied twice: a
                # count counted twice errs on the side of the limit; one taken back twice (an
                # undo) lets one more attempt through.
                self._send()
                self._answers = self._read()
        return self._answers

    def _send(self) -> None:
        try:
            self._connection.send_packed_command([self._commands])
        except BaseException:
            self._connection.disconnect()
            raise
        self._connection._ratelimit_unread = self

    def _read(self) -> list:
        self._connection._ratelimit_unread = None
        try:
            return [self._connection.read_response() for _ in range(self._owed)]
        except BaseException:
            self._connection.disconnect()  # an answer left unread would be taken for the next's
            raise
