import os

import pytest

from concerthouse.celery import app as celery_app


@pytest.fixture
def broker(request):
    """Point the Celery app at a broker URL for one test, then put it back."""
    names = ("broker_url", "broker_write_url", "task_always_eager")
    saved = {name: celery_app.conf[name] for name in names}

    def use(url):
        celery_app.conf.update(broker_url=url, broker_write_url=url, task_always_eager=False)

    yield use
    celery_app.conf.update(saved)


@pytest.mark.django_db
def test_health_reports_the_database_and_an_eager_broker(client):
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "eager"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_health_reports_a_broker_that_is_down(client, broker):
    broker("redis://127.0.0.1:1/0")  # nothing listens on port 1
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "database": "ok", "broker": "down"}


@pytest.mark.django_db
def test_health_reports_a_real_broker_that_is_up(client, broker):
    url = os.environ.get("CELERY_BROKER_URL")
    if not url:
        pytest.skip("set CELERY_BROKER_URL to a running Redis to check a live broker")
    broker(url)
    response = client.get("/health/")
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}
