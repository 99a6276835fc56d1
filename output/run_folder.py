"""The run folder OUT/<as-of>/ as one object: lock, leftovers, staging, carry-over, writing,
read-back checks and publishing, in the order that keeps every promise of contract section 5.

Nothing is visible in OUT/<as-of>/ until `publish`: a run is written into a staging folder
beside it under a lock, its documents are read back before any email leaves
(`verify_documents`, `check_attachments`), and `latest` moves only once the run is in place.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from extract.checks import Finding
from output.files import (
    STAGING,
    job_leftovers,
    make_staging_folder,
    publish_run_folder,
    restore_unpublished_run,
    sha256_of,
    write_bytes_atomic,
)
from scorecard.errors import LockError, OutputError

if TYPE_CHECKING:
    from reports.build import PreviousPdf
    from reports.messages import Message

LOCK_NAME = ".scorecard.lock"


class RunFolder:
    """One day's run folder in the making. Open it with `RunFolder.locked(out_dir, day)`."""

    def __init__(self, out_dir: Path, day: dt.date) -> None:
        self.out_dir = out_dir
        self.day = day
        self.final = out_dir / day.isoformat()
        """Where the run is published."""
        self.staging = make_staging_folder(out_dir, f".{self.final.name}.staging-")
        """Where it is written until then."""

    @classmethod
    @contextmanager
    def locked(cls, out_dir: Path, day: dt.date) -> Iterator[RunFolder]:
        """One run at a time per output folder (a second fails at once, exit 4); what killed
        runs left is cleared under the lock; the staging folder is gone when the block ends."""
        out_dir.mkdir(parents=True, exist_ok=True)
        lock_path = out_dir / LOCK_NAME
        with lock_path.open("a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LockError(f"another scorecard run holds the lock {lock_path}") from None
            try:
                _remove_leftovers(out_dir)
                folder = cls(out_dir, day)
                try:
                    yield folder
                finally:
                    shutil.rmtree(folder.staging, ignore_errors=True)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @property
    def email_journal(self) -> Path:
        """The day's email journal: beside the run folders, so it outlives every run of the day."""
        return self.out_dir / f"{self.day.isoformat()}.emails.jsonl"

    def write(self, relative: str | Path, content: bytes) -> None:
        write_bytes_atomic(self.staging / relative, content)

    def write_all(self, files: Mapping[str, bytes]) -> None:
        for relative, content in files.items():
            self.write(relative, content)

    def link(self, relative: str, source: Path) -> None:
        """An earlier run's file, unchanged, as this run's `relative`: a hard link (a copy where
        the file system has none), so pruning that run never takes it from this one."""
        target = self.staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        try:
            os.link(source, target)
        except OSError:
            write_bytes_atomic(target, source.read_bytes())

    def discard(self, paths: Sequence[str]) -> None:
        """Files this run must not publish (a document it failed to render, carried over from
        the day's last run by `carry_over`)."""
        for relative in paths:
            (self.staging / relative).unlink(missing_ok=True)

    def size_of(self, relative: Path) -> int:
        return (self.staging / relative).stat().st_size

    def carry_over(self, expected: Mapping[str, str]) -> None:
        """The last run's documents, linked (not copied) into this one: a run for some vendors
        replaces their documents and keeps everyone else's. A document is carried by the
        document it records, to the path that document has now (a renamed vendor's file moves
        to its new name); one recorded by no expected path is left behind."""
        if not self.final.is_dir():
            return
        now_at: dict[tuple[Path, str, str | None], str] = {
            (Path(p).parent, Path(p).suffix, key): p for p, key in expected.items()
        }
        for path in sorted(self.final.rglob("*")):
            relative = path.relative_to(self.final).as_posix()
            if not path.is_file() or relative == "manifest.json":
                continue
            if relative in expected or _is_report(relative):
                recorded = recorded_document(path)
                if recorded != expected.get(relative):
                    moved = now_at.get((Path(relative).parent, path.suffix, recorded))
                    if moved is None or (self.final / moved).exists():
                        continue
                    relative = moved
            target = self.staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            # A hard link: written files are replaced by rename, so the old run is never changed.
            os.link(path, target)

    def verify_documents(self, expected: Mapping[str, str]) -> None:
        """Each PDF opens and has pages, and every report records the document its path promises.

        By the key recorded at render time, never by looking for the name in the
        text: text extraction changes spaces, joiners and right-to-left names, and
        "Acme" is in "Acme V-PH-MNL".
        """
        from pypdf.errors import PdfReadError

        for path in sorted([*self.staging.glob("*.*"), *self.staging.glob("*/*.*")]):
            relative = path.relative_to(self.staging).as_posix()
            if path.suffix not in (".pdf", ".html") or relative.startswith("emails/"):
                continue
            try:
                # One read per PDF: its page count and key both come from the trailer.
                if path.suffix == ".pdf":
                    pages, recorded = _pdf_facts(path)
                else:
                    pages, recorded = 1, recorded_document(path)
            except (PdfReadError, OSError, ValueError, KeyError, TypeError) as exc:
                raise OutputError(
                    f"{relative} does not open as a PDF ({exc}); the run is not published"
                ) from None
            if not pages:
                raise OutputError(f"{relative} has no pages; the run is not published")
            if recorded != expected.get(relative):
                raise OutputError(
                    f"{relative} records {recorded!r}, not {expected.get(relative)!r} (the "
                    "document its name promises); the run is not published"
                )

    def check_attachments(self, messages: Sequence[Message]) -> None:
        """Every attachment is the document its message is about, checked before anything is sent."""
        for message in messages:
            recorded = recorded_document(self.staging / message.attachment)
            if recorded != message.document:
                raise OutputError(
                    f"{message.attachment} records {recorded!r}, not {message.document!r}: it "
                    f"would reach {', '.join(message.to)} by mistake; nothing is sent and the "
                    "run is not published"
                )

    @cached_property
    def earlier_emails(self) -> list[dict[str, Any]]:
        """What the day's last complete run recorded as emailed (read once), so nothing goes twice."""
        try:
            manifest = json.loads((self.final / "manifest.json").read_text("utf-8"))
            emails = manifest.get("emails", [])
        except (OSError, ValueError, AttributeError):
            return []
        return emails if isinstance(emails, list) else []

    def artifacts(self) -> list[dict[str, Any]]:
        """Every file written so far, with its size and SHA-256, as the manifest lists them."""
        return [
            {
                "path": path.relative_to(self.staging).as_posix(),
                "bytes": path.stat().st_size,
                "sha256": sha256_of(path),
            }
            for path in sorted(p for p in self.staging.rglob("*") if p.is_file())
        ]

    def publish(self, manifest: dict[str, Any], point_latest: bool = True) -> None:
        """Write manifest.json last, refuse an empty file, swap the run into place, then (for a
        run with reports) point OUT/latest at it, unless a run of a newer day is there.

        A run of the day that sent emails is never lost: before it is replaced, its documents
        and manifest are kept beside the new run as OUT/<as-of>.earlier-<n>/ (hard links)."""
        for artifact in manifest["artifacts"]:
            if artifact["bytes"] == 0:
                raise OutputError(f"{artifact['path']} came out empty; the run is not published")
        self.write(
            "manifest.json",
            (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
        )
        if self._earlier_run_was_sent():
            self._keep_earlier_run()
        publish_run_folder(self.staging, self.final)
        if point_latest:
            self._point_latest()

    def _earlier_run_was_sent(self) -> bool:
        return any(e.get("status") == "sent" for e in self.earlier_emails if isinstance(e, dict))

    def _keep_earlier_run(self) -> None:
        number = 1
        while (kept := self.out_dir / f"{self.final.name}.earlier-{number}").exists():
            number += 1
        staging = make_staging_folder(self.out_dir, f".{self.final.name}.staging-")
        try:
            shutil.copytree(self.final, staging, copy_function=os.link, dirs_exist_ok=True)
            os.replace(staging, kept)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise OutputError(
                f"cannot keep the sent run {self.final} beside the new one: {exc.strerror or exc}; "
                "the run is not published"
            ) from None

    def has_reports(self) -> bool:
        """The day's published run has reports (a rerun with nothing to score keeps it)."""
        manifest = _read_manifest(self.final)
        artifacts = manifest.get("artifacts", []) if manifest else []
        return any(
            str(a.get("path", "")).endswith((".html", ".pdf", ".csv"))
            and a.get("path") != "data_quality.csv"
            for a in artifacts
            if isinstance(a, dict)
        )

    def _point_latest(self) -> None:
        """out/latest -> the run just published, swapped atomically; never back to an older day."""
        link = self.out_dir / "latest"
        try:
            pointed = os.readlink(link) if link.is_symlink() else None
        except OSError:
            pointed = None
        if pointed is not None and (self.out_dir / pointed).is_dir():
            try:
                if dt.date.fromisoformat(Path(pointed).name) > self.day:
                    return
            except ValueError:
                pass
        temporary = self.out_dir / f".latest-{os.getpid()}"
        try:
            temporary.unlink(missing_ok=True)
            os.symlink(self.final.name, temporary)
            os.replace(temporary, link)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise OutputError(
                f"the run is complete in {self.final}, but {self.out_dir / 'latest'} "
                f"cannot point at it: {exc.strerror or exc}"
            ) from None


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _remove_leftovers(out_dir: Path) -> None:
    """Staging folders of runs that were killed: never published, safe to delete under the lock.

    A `.previous` folder is a complete run: put back if its run folder is missing. Only the
    job's own names are touched: a symlink or a user's `.notes.previous` is left alone.
    """
    for leftover in job_leftovers(out_dir, STAGING):
        shutil.rmtree(leftover, ignore_errors=True)
    restore_unpublished_run(out_dir)


def _is_report(relative: str) -> bool:
    """A rendered document (the pack, a scorecard), not a table, an .eml or a chart."""
    parts = relative.split("/")
    return relative.endswith((".pdf", ".html")) and (
        len(parts) == 1 or (len(parts) == 2 and parts[0] in ("vendors", "vendor-facing"))
    )


_HTML_DOCUMENT = re.compile(r'<meta name="keywords" content="([^"]*)">')


def recorded_document(path: Path) -> str | None:
    """The document key a report recorded at render time (PDF Keywords, HTML keywords meta)."""
    if path.suffix == ".pdf":
        return _pdf_facts(path)[1]
    # The whole head, however long the title before the tag (a long vendor name).
    text = path.read_text("utf-8", errors="replace")
    match = _HTML_DOCUMENT.search(text, 0, max(text.find("</head>"), 0) or len(text))
    return match.group(1) if match else None


def _pdf_facts(path: Path) -> tuple[int, str | None]:
    """A PDF's page count and recorded key, from its trailer alone: the cross-reference table,
    the document info and the page tree's root count (no page is parsed)."""
    from pypdf import PdfReader

    reader = PdfReader(path)
    root = cast(Any, reader.trailer["/Root"])
    pages = root["/Pages"].get("/Count", 0)
    metadata = reader.metadata
    keywords = None if metadata is None else metadata.get("/Keywords")
    return int(pages), None if keywords is None else str(keywords)


def last_successful_run(out_dir: Path) -> tuple[Path, dt.datetime] | None:
    """The run folder whose manifest says exit 0 and finished last."""
    best: tuple[Path, dt.datetime] | None = None
    for manifest_path in out_dir.glob("*/manifest.json"):
        if manifest_path.parent.is_symlink() or not _is_day(manifest_path.parent.name):
            continue
        try:
            manifest = json.loads(manifest_path.read_text("utf-8"))
            # The manifest is written last and renamed into place: its time is the run's end.
            finished = dt.datetime.fromtimestamp(manifest_path.stat().st_mtime, dt.UTC)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if manifest.get("exit_code") == 0 and (best is None or finished > best[1]):
            best = (manifest_path.parent, finished)
    return best


FUTURE_TOLERANCE_HOURS = 0.25
"""A manifest this far after `now` is dated in the future (clocks of two machines differ a little)."""


def _is_day(name: str) -> bool:
    try:
        dt.date.fromisoformat(name)
    except ValueError:
        return False
    return len(name) == 10


def check_last_run(out_dir: Path, max_age_hours: float, now: dt.datetime) -> Finding:
    found = last_successful_run(out_dir)
    if found is None:
        return Finding(False, f"last successful run: none in {out_dir}")
    folder, finished = found
    age = (now.replace(tzinfo=dt.UTC) - finished).total_seconds() / 3600
    if age < -FUTURE_TOLERANCE_HOURS or folder.name > now.date().isoformat():
        return Finding(
            False,
            f"last successful run: {folder.name}, finished {finished:%Y-%m-%d %H:%M} UTC, is dated "
            "in the future (a wrong clock or a copied folder): it proves nothing about tonight",
        )
    text = f"last successful run: {folder.name}, finished {finished:%Y-%m-%d %H:%M} UTC ({age:,.1f} h ago, limit {max_age_hours:g} h)"
    return Finding(age <= max_age_hours, text)


def reusable_pdfs(out_dir: Path, as_of: dt.date) -> dict[str, PreviousPdf]:
    """The PDFs of the newest published run of a day up to `as_of` (the day's own run on a
    rerun), by path, with what they were rendered from (manifest.json's documents): a
    document whose render digest is the same need not be rendered again. Only files whose
    bytes are still the ones the manifest lists are offered."""
    from reports.build import PreviousPdf

    days = sorted(
        (p for p in out_dir.glob("*/manifest.json") if not p.parent.is_symlink()),
        key=lambda p: p.parent.name,
        reverse=True,
    )
    for manifest_path in days:
        folder = manifest_path.parent
        if not _is_day(folder.name) or folder.name > as_of.isoformat():
            continue
        manifest = _read_manifest(folder)
        documents = manifest.get("documents") if manifest else None
        if not isinstance(documents, dict) or manifest is None:
            continue
        sizes = {
            a.get("path"): (a.get("bytes"), a.get("sha256"))
            for a in manifest.get("artifacts", [])
            if isinstance(a, dict)
        }
        found = {}
        for path, record in documents.items():
            source = folder / path
            try:
                size, digest = sizes[path]
                unchanged = source.stat().st_size == size and sha256_of(source) == digest
            except (KeyError, OSError, TypeError, ValueError):
                continue
            if (
                unchanged
                and isinstance(record, dict)
                and {"digest", "rendered_as_of"} <= set(record)
            ):
                found[path] = PreviousPdf(
                    source, folder.name, str(record["rendered_as_of"]), str(record["digest"])
                )
        return found
    return {}
