import importlib
import pkgutil
import traceback

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

import benchmarks


class Command(BaseCommand):
    help = (
        "Run the benchmarks of the `benchmarks` package against PostgreSQL and print each figure "
        "with its target. Exits non-zero if a target is missed. Use `make bench`, which gives them "
        "a database of their own: they empty the tables they fill."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "names",
            nargs="*",
            help='A module ("campaigns") or one benchmark ("campaigns.send_rate"); default: all.',
        )

    def handle(self, *args, names, **options):
        self._check_database()
        # Importing a module registers its benchmarks (@benchmark), in the order they are written.
        for module in pkgutil.iter_modules(benchmarks.__path__):
            importlib.import_module(f"{benchmarks.__name__}.{module.name}")
        registry = benchmarks.REGISTRY
        unknown = [n for n in names if n not in registry and not self._is_module(n, registry)]
        if unknown:
            raise CommandError(
                f"No benchmark {', '.join(unknown)}; there are: {', '.join(registry)}."
            )
        selected = [
            name
            for name in registry
            if not names or name in names or name.partition(".")[0] in names
        ]
        if settings.DEBUG:
            self.stderr.write("DEBUG is on: Django keeps every query, which the figures include.")

        missed = 0
        for name in selected:
            # Every benchmark runs and prints, whatever happened to the one before.
            try:
                result = registry[name]()
            except Exception as error:
                missed += 1
                self.stderr.write(traceback.format_exc())
                self.stdout.write(f"{name}: FAILED, no figure ({error})")
            else:
                # One figure, or several measured on one costly set-up (a list).
                for figure in result if isinstance(result, list) else [result]:
                    missed += not figure.ok
                    self.stdout.write(str(figure))
            self.stdout.flush()  # one line as each finishes, also when piped through make
        if missed:
            raise CommandError(f"{missed} of {len(selected)} benchmarks missed or failed.")

    @staticmethod
    def _is_module(name: str, registry) -> bool:
        return any(key.partition(".")[0] == name for key in registry)

    @staticmethod
    def _check_database() -> None:
        if connection.vendor != "postgresql":
            raise CommandError(
                f"The benchmarks measure PostgreSQL, the production database, not "
                f"{connection.vendor}: set DATABASE_URL, or run `make bench`."
            )
        # A guard against a DATABASE_URL left pointing at real data: the benchmarks TRUNCATE.
        name = connection.settings_dict["NAME"]
        if "bench" not in name:
            raise CommandError(
                f"The benchmarks empty the tables they fill, and database {name!r} is not named "
                "for benchmarks (its name must contain 'bench'); `make bench` uses "
                "concerthouse_bench."
            )
