"""The files of access and portability packages: where they live, writing one, removing them.

A package is a zip of a person's data, so its file must never outlive its row: rows are deleted
first (by retention, or with the person), their files once that has committed, and a sweep removes
any file whose row is gone.
"""

import logging
import zipfile
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from .models import AccessPackage

logger = logging.getLogger(__name__)

# A package's file is written before its row commits: a younger file without a row may be one.
ORPHAN_GRACE = timedelta(hours=1)


def packages_directory() -> Path:
    return Path(settings.PRIVATE_MEDIA_ROOT) / "packages"


def package_path(package: AccessPackage) -> Path:
    return packages_directory() / package.file_name


def package_write(request, files: dict[str, str]) -> AccessPackage:
    """Zip `files` (name: content) for `request` and record the package, to expire after
    PRIVACY_PACKAGE_DAYS."""
    directory = packages_directory()
    directory.mkdir(parents=True, exist_ok=True)
    package = AccessPackage(
        request=request,
        expires_at=timezone.now() + timedelta(days=settings.PRIVACY_PACKAGE_DAYS),
    )
    package.file_name = f"{package.public_id}.zip"
    # The fastest compression level: a large ledger compresses well at any level.
    with zipfile.ZipFile(
        directory / package.file_name, "w", zipfile.ZIP_DEFLATED, compresslevel=1
    ) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    package.save()
    return package


def package_files_remove(paths) -> int:
    """Remove these package files, each on its own: one that cannot be removed (its name only in
    a count, never in the log) does not keep the others on disk. Returns how many went."""
    removed = failed = 0
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            failed += 1
        else:
            removed += 1
    if failed:
        logger.error(
            "%d access package file(s) could not be removed; the sweep tries again", failed
        )
    return removed


def package_files_remove_orphans() -> int:
    """Package files that no row knows any more, removed: their rows were deleted, and removing
    the file failed or was lost with its worker. Each is a full copy of someone's data."""
    directory = packages_directory()
    if not directory.is_dir():
        return 0
    cutoff = (timezone.now() - ORPHAN_GRACE).timestamp()
    old = {
        path.name: path
        for path in directory.iterdir()
        if path.is_file() and path.stat().st_mtime < cutoff
    }
    known = set(AccessPackage.objects.filter(file_name__in=old).values_list("file_name", flat=True))
    return package_files_remove(path for name, path in old.items() if name not in known)
