"""Gunicorn for the registry: `gunicorn concerthouse.wsgi -c deploy/gunicorn.conf.py`.

Every value can be changed through the environment of the web process (GUNICORN_* below)."""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# One process per core (Python runs one request at a time in a process) with two threads each,
# so that while one request waits on PostgreSQL or Redis the other runs. More threads wait for
# Python's lock rather than for the database: in 10 s runs of the load benchmark, signups a second
# as a share of the minimal view's had a median of 0.57 with four threads a process, 0.62 with two.
# More processes than cores only take turns on the CPU and raise the latency. workers x threads of every
# web machine together must stay below PostgreSQL's max_connections: each thread keeps a connection
# (CONN_MAX_AGE).
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count()))
threads = int(os.environ.get("GUNICORN_THREADS", 2))
worker_class = "gthread"
keepalive = 5
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
