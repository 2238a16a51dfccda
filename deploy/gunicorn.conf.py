"""Gunicorn for the registry: `gunicorn concerthouse.wsgi -c deploy/gunicorn.conf.py`.

Every value can be changed through the environment of the web process (GUNICORN_* below)."""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Sync workers: a process takes a connection only when it is free, handles its one request and
# closes the connection, so the busy processes never hold requests that an idle one could serve.
# A gthread process accepts every connection it can, free thread or not (gunicorn issue 3433),
# and keeps it for its keep-alive: in the load benchmark, one process of two at times held all 16
# of wrk's connections while the other idled, and the signups a second fell by 40%. Measured
# here with sync workers, 4 processes on 2 cores: 10% more requests a second than 2 processes of
# 2 threads, and the slowest percentile halved (22 ms against 39 ms).
# Two processes a core, so that while one waits on PostgreSQL or Redis the core runs the other.
# A sync worker is held for as long as its client takes to send the request and read the
# answer, so it needs a proxy in front that buffers both (nginx does by default; README,
# Production): then a slow visitor holds the proxy, not a process. The processes of every web
# machine together must stay below PostgreSQL's max_connections: each keeps a connection
# (CONN_MAX_AGE).
workers = int(os.environ.get("GUNICORN_WORKERS", 2 * multiprocessing.cpu_count()))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 30
# A worker is replaced now and then, so that no slow leak grows for weeks. Not much more often:
# a new worker loads Django afresh (over a second of CPU), so at the few hundred signups a second
# a busy announcement brings, 5,000 requests meant a restart every few seconds, and the requests
# waiting for it showed as the slowest percentile of the load benchmark.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 100_000))
max_requests_jitter = max_requests // 10
# The reverse proxy in front (nginx, a load balancer) sets X-Forwarded-Proto; trust it from there.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
# No access log: its lines would hold every visitor's address and the signed links in URLs.
# Errors still go to stderr.
accesslog = None
errorlog = "-"
# Request lines and headers larger than a browser sends are refused before Django sees them.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
