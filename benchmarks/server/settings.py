"""Production's settings, as gunicorn loads them in the load benchmark. The environment (the
benchmark database, Redis for the broker and the rate limits, generated secrets, rate limits high
enough for one client to post thousands of times, no HTTPS redirect on loopback) is set by
benchmarks/load.py; only the URLconf differs, to add the minimal view."""

from concerthouse.settings.production import *  # noqa: F403

ROOT_URLCONF = "benchmarks.server.urls"
