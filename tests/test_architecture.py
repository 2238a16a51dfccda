"""The apps depend on one another one way only (DESIGN.md, Layout).

`concerthouse` is the ground (settings, shared pieces, the privacy core); customers stands on it;
consent, newsletters and subscriptions build on customers, each on those before it; privacy_requests
and retention sit side by side on top and reach every other app only through the core. Every Python
file of every app is read, migrations included, and every way one app reaches another counts: an
import at the top or inside a function, `apps.get_model()` with another app's label, and a relation
to another app's model named as a string ("consent.ConsentEvent").
"""

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Each app and the apps it may use. Side by side, privacy_requests and retention may use neither
# each other nor any app but the ground.
ALLOWED = {
    "concerthouse": set(),
    "customers": {"concerthouse"},
    "consent": {"concerthouse", "customers"},
    "newsletters": {"concerthouse", "customers", "consent"},
    "subscriptions": {"concerthouse", "customers", "consent", "newsletters"},
    "privacy_requests": {"concerthouse"},
    "retention": {"concerthouse"},
}
APPS = set(ALLOWED)
# The project's wiring names every app by its dotted path, as Django requires: the settings'
# INSTALLED_APPS and the root URLconf's include() strings are not imports, and are not read here.

RELATION_CALLS = {"ForeignKey", "OneToOneField", "ManyToManyField"}


@dataclass(frozen=True)
class Reach:
    path: str
    line: int
    target: str  # the app reached
    how: str


def _app_of_dotted(name: str) -> str | None:
    head = name.split(".", 1)[0]
    return head if head in APPS else None


def _app_of_label(label: str) -> str | None:
    head = label.split(".", 1)[0].lower()
    return head if head in APPS else None


def reaches_in(source: str, path: str) -> list[Reach]:
    """Every other app that this source reaches, and how."""
    found = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if app := _app_of_dotted(alias.name):
                    found.append(Reach(path, node.lineno, app, f"import {alias.name}"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if app := _app_of_dotted(node.module):
                found.append(Reach(path, node.lineno, app, f"from {node.module} import"))
        elif isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else None
            name = name or (node.func.id if isinstance(node.func, ast.Name) else None)
            strings = [
                arg.value
                for arg in node.args[:1]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            ]
            strings += [
                keyword.value.value
                for keyword in node.keywords
                if keyword.arg in ("to", "app_label", "model")
                and isinstance(keyword.value, ast.Constant)
                and isinstance(keyword.value.value, str)
            ]
            if name == "get_model" or name == "import_module":
                for value in strings:
                    app = _app_of_dotted(value) if name == "import_module" else None
                    if app := app or _app_of_label(value):
                        found.append(Reach(path, node.lineno, app, f"{name}({value!r})"))
            elif name in RELATION_CALLS:
                for value in strings:
                    if "." in value and (app := _app_of_label(value)):
                        found.append(Reach(path, node.lineno, app, f"{name}({value!r})"))
    return found


def violations_of(app: str, reaches: list[Reach]) -> list[Reach]:
    return [r for r in reaches if r.target != app and r.target not in ALLOWED[app]]


def app_sources(app: str):
    for path in sorted((ROOT / app).rglob("*.py")):
        yield path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")


@pytest.mark.parametrize("app", sorted(APPS))
def test_each_app_reaches_only_the_apps_below_it(app):
    wrong = [
        reach
        for path, source in app_sources(app)
        for reach in violations_of(app, reaches_in(source, path))
    ]
    assert not wrong, "\n".join(f"{r.path}:{r.line}: {app} -> {r.target} ({r.how})" for r in wrong)


# --- The checker itself catches what it must ------------------------------------------------------
@pytest.mark.parametrize(
    ("app", "source", "target"),
    [
        ("privacy_requests", "def f():\n    from retention import engine\n", "retention"),
        ("retention", "import privacy_requests.models\n", "privacy_requests"),
        (
            "retention",
            "from django.apps import apps\n"
            "def f():\n    return apps.get_model('privacy_requests', 'PrivacyRequest')\n",
            "privacy_requests",
        ),
        ("retention", "apps.get_model('privacy_requests.PrivacyRequest')\n", "privacy_requests"),
        ("customers", "def f():\n    from consent.models import Consent\n", "consent"),
        (
            "customers",
            "from django.db import models\n"
            "class A(models.Model):\n    e = models.ForeignKey('consent.ConsentEvent', None)\n",
            "consent",
        ),
        ("concerthouse", "from newsletters import views\n", "newsletters"),
        (
            "newsletters",
            "import importlib\nimportlib.import_module('subscriptions.forms')\n",
            "subscriptions",
        ),
        ("privacy_requests", "from customers.models import Customer\n", "customers"),
    ],
)
def test_the_checker_finds_an_app_reaching_above_itself(app, source, target):
    wrong = violations_of(app, reaches_in(source, f"{app}/example.py"))
    assert [reach.target for reach in wrong] == [target]


def test_the_checker_lets_an_app_reach_below_itself_and_itself():
    source = (
        "from concerthouse.privacy.map import register\n"
        "from customers.models import Customer\n"
        "from .models import Consent\n"
        "from consent import services\n"
    )
    assert violations_of("consent", reaches_in(source, "consent/example.py")) == []
