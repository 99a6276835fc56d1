"""Files written so that a reader never sees half of one."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from scorecard.errors import OutputError


def _umask() -> int:
    # The only way to read the umask is to set it; put it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_staging_folder(parent: Path, prefix: str) -> Path:
    """A fresh folder for a run in the making, with the modes the umask gives (mkdtemp's are 0700).

    Readers such as a BI tool or a web server often run as another user: the published
    folder must be as readable as any folder the user makes (0755 under umask 022).
    """
    folder = Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
    folder.chmod(0o777 & ~_umask())
    return folder


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, flush it to disk, then rename it into place.

    The file gets the modes the umask gives (0644 under umask 022), not mkstemp's 0600.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), 0o666 & ~_umask())
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_RUN_NAME = r"\d{4}-\d{2}-\d{2}"
PREVIOUS = re.compile(
    rf"^\.scorecard\.({_RUN_NAME})\.previous-[A-Za-z0-9_]+$|^\.({_RUN_NAME})\.previous$"
)
"""What publish_run_folder names the run it replaces (the second form: older versions)."""
STAGING = re.compile(rf"^\.{_RUN_NAME}\.staging-[A-Za-z0-9_]+$")
"""What make_staging_folder names a run in the making."""


def job_leftovers(out_dir: Path, pattern: re.Pattern[str]) -> list[Path]:
    """The folders in out_dir that this job made under that name pattern: real folders, never a
    symlink or a user's own `.notes.previous`."""
    return sorted(
        path
        for path in out_dir.iterdir()
        if pattern.match(path.name) and path.is_dir() and not path.is_symlink()
    )


def restore_unpublished_run(out_dir: Path) -> None:
    """Undo what a kill between publish_run_folder's two renames left: the run in `.previous`.

    Restored when its run folder is missing (it is the last good run); removed
    only when the run folder is there to replace it. Only names the job made are touched.
    """
    for previous in job_leftovers(out_dir, PREVIOUS):
        match = PREVIOUS.match(previous.name)
        assert match is not None
        final = out_dir / (match.group(1) or match.group(2))
        try:
            if final.exists() or final.is_symlink() or not (previous / "manifest.json").is_file():
                shutil.rmtree(previous)
            else:
                os.replace(previous, final)
        except OSError as exc:
            raise OutputError(
                f"cannot restore {final} from {previous}: {exc.strerror or exc}"
            ) from None


def publish_run_folder(staging: Path, final: Path) -> None:
    """Swap a finished staging folder into place; a previous run for the same day is replaced whole.

    At every moment a complete run is in `final` or, between the two renames, in a fresh
    `.scorecard.<day>.previous-*` folder (which the next run restores); it is deleted only
    after the new one is in place.
    """
    restore_unpublished_run(final.parent)  # a kill's leftover first: never two of them
    previous = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".scorecard.{final.name}.previous-"))
    try:
        if final.exists():
            os.replace(final, previous)  # onto the empty folder mkdtemp made
        os.replace(staging, final)
    except OSError as exc:
        if (previous / "manifest.json").exists() and not final.exists():
            os.replace(previous, final)
        shutil.rmtree(previous, ignore_errors=True)
        raise OutputError(
            f"cannot move the finished run into {final}: {exc.strerror or exc}"
        ) from None
    shutil.rmtree(previous, ignore_errors=True)
