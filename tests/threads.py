"""Work started at the same moment on several connections, as two workers or two clicks are."""

import threading

from django.db import connections


def run_at_once(work, *, times: int = 2) -> tuple[list, list[Exception]]:
    """Call `work()` in `times` threads released together; returns what the calls returned and
    what they raised. Each thread closes its own database connection when done."""
    barrier, results, errors = threading.Barrier(times), [], []

    def call():
        try:
            barrier.wait()
            results.append(work())
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=call) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors
