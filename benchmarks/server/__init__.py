"""The web server of the load benchmark (benchmarks/load.py): production's settings with the
environment the benchmark gives them, and a URLconf with a minimal view beside the project's.

A package of its own so that `manage.py bench`, which imports every module of `benchmarks` to
find the benchmarks, never imports these settings (they need the benchmark's environment).
Nothing here is part of the deployed application.
"""
