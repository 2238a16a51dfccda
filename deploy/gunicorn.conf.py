"""Gunicorn for the registry: `gunicorn concerthouse.wsgi -c deploy/gunicorn.conf.py`.

Every value can be changed through the environment of the web process (GUNICORN_* below)."""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Sync workers: each request is a few milliseconds of Python and database, with nothing slow to
# wait on (mail goes through Celery). Two per core keeps the cores busy while one waits on
# PostgreSQL; more only queue for the CPU.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 30
# A worker is replaced now and then, so that no slow leak grows for weeks.
max_requests = 5000
max_requests_jitter = 500
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
