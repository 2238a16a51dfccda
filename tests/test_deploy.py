"""The sample deployment in deploy/: what README tells an operator to copy must work as written."""

import configparser
import runpy
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def programs() -> dict[str, dict[str, str]]:
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";",))
    for path in sorted((DEPLOY / "supervisor").glob("*.conf")):
        parser.read(path)
    return {
        section.removeprefix("program:"): dict(parser[section])
        for section in parser.sections()
        if section.startswith("program:")
    }


def test_supervisor_runs_web_workers_and_one_beat_in_its_own_file():
    found = programs()
    assert set(found) == {"registry-web", "registry-worker", "registry-beat"}
    assert (
        "gunicorn concerthouse.wsgi -c /srv/registry/deploy/gunicorn.conf.py"
        in (found["registry-web"]["command"])
    )
    assert " worker " in found["registry-worker"]["command"]
    beat_files = [
        path.name
        for path in (DEPLOY / "supervisor").glob("*.conf")
        if "celery -A concerthouse beat" in path.read_text()
    ]
    assert beat_files == ["registry-beat.conf"]  # installed on exactly one machine
    for program in found.values():
        assert program["command"].startswith("/srv/registry/deploy/with-env ")


def test_the_gunicorn_configuration_loads_runs_sync_workers_and_keeps_no_access_log(monkeypatch):
    monkeypatch.delenv("GUNICORN_WORKERS", raising=False)
    config = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    # Sync workers: a process takes a connection only when it is free.
    assert config["worker_class"] == "sync" and config["workers"] >= 1
    assert config["accesslog"] is None


def test_the_gunicorn_configuration_takes_its_values_from_the_environment(monkeypatch):
    monkeypatch.setenv("GUNICORN_WORKERS", "3")
    monkeypatch.setenv("GUNICORN_BIND", "127.0.0.1:8123")
    config = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    assert (config["workers"], config["bind"]) == (3, "127.0.0.1:8123")


def test_with_env_runs_the_command_with_the_environment_file(tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("HOUSE_NAME=Örebro Konserthus\nSECRET_KEY=abc def\n", encoding="utf-8")
    result = subprocess.run(  # noqa: S603 (the project's own script)
        [str(DEPLOY / "with-env"), "sh", "-c", 'printf "%s|%s" "$HOUSE_NAME" "$SECRET_KEY"'],
        env={"PATH": "/usr/bin:/bin", "REGISTRY_ENV_FILE": str(env_file)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == "Örebro Konserthus|abc def"
