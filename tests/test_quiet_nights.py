"""Issue 22: a night with nothing new costs little. A PDF whose document has not changed since
the run it would repeat is not rendered again: the earlier run's file is linked in its place,
and the manifest says so. Real renders, one process, asserted from the manifest."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import scorecard
from output.ledger import Ledger, prune
from tests.builders import item, load, vendor

DAY = dt.date(2026, 9, 20)
VENDORS = ("A", "B", "C")


def _rows(extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "vendors": [vendor(v, name=f"Vendor {v}") for v in VENDORS],
        "work_items": [
            item(f"{v}{n}", v, f"2026-09-{n:02d} 08:00", f"2026-09-{n:02d} 20:00",
                 f"2026-09-{n:02d} 12:00", qa=1)
            for v in VENDORS
            for n in range(1, 6)
        ]
        + (extra or []),
    }  # fmt: skip


def _config(tmp_path: Path, weight: int = 1) -> Any:
    path = tmp_path / "scorecard.toml"
    path.write_text(
        '[run]\nformats = ["pdf", "html", "csv"]\n'
        "[reports]\nworkers = 1\nvendor_facing = false\n"
        f"[scoring.weights]\naccuracy = {weight}\n"
    )
    return scorecard.load_config(path, output_dir=tmp_path / "out")


def _documents(run: scorecard.api.RunResult) -> dict[str, dict[str, str]]:
    manifest = json.loads((run.run_dir / "manifest.json").read_text("utf-8"))
    documents: dict[str, dict[str, str]] = manifest["documents"]
    return documents


def _rendered(run: scorecard.api.RunResult) -> list[str]:
    return sorted(p for p, record in _documents(run).items() if "reused_from" not in record)


PDFS = [
    "portfolio.pdf",
    "vendors/vendor-a_a.pdf",
    "vendors/vendor-b_b.pdf",
    "vendors/vendor-c_c.pdf",
]


def test_a_quiet_night_renders_no_pdf_and_says_which_run_it_reuses(sqlite_url, tmp_path):
    load(sqlite_url, _rows())
    config = _config(tmp_path)
    first = scorecard.run(config, database_url=sqlite_url, as_of=DAY)
    assert first.exit_code == 0, first.problems
    assert _rendered(first) == PDFS

    # The next night, nothing new: every PDF is the first run's, linked, not rendered again.
    night = scorecard.run(config, database_url=sqlite_url, as_of=DAY + dt.timedelta(days=1))
    assert night.exit_code == 0, night.problems
    documents = _documents(night)
    assert _rendered(night) == []
    assert {d["reused_from"] for d in documents.values()} == {DAY.isoformat()}
    assert {d["rendered_as_of"] for d in documents.values()} == {DAY.isoformat()}
    for path in PDFS:
        assert os.path.samefile(first.run_dir / path, night.run_dir / path)
    # The HTML is made every night (it is cheap) and says tonight's day; the reused PDF says
    # the day it was rendered, whose figures are tonight's exactly.
    html = (night.run_dir / "portfolio.html").read_text("utf-8")
    assert f'content="{DAY + dt.timedelta(days=1)}T23:59:59Z"' in html

    # A third night reuses the first night's PDFs through the second's.
    third = scorecard.run(config, database_url=sqlite_url, as_of=DAY + dt.timedelta(days=2))
    assert _rendered(third) == []
    assert {d["rendered_as_of"] for d in _documents(third).values()} == {DAY.isoformat()}

    # Retention may delete the first run: the later runs' files are links, not references.
    ledger = Ledger(tmp_path / "out")
    removed = prune(tmp_path / "out", ledger, DAY + dt.timedelta(days=2), 1, 0)
    assert DAY.isoformat() in removed
    assert (third.run_dir / "portfolio.pdf").stat().st_size > 1000
    fourth = scorecard.run(config, database_url=sqlite_url, as_of=DAY + dt.timedelta(days=3))
    assert fourth.exit_code == 0 and _rendered(fourth) == []


def test_new_data_for_one_vendor_renders_its_scorecard_and_the_pack_only(sqlite_url, tmp_path):
    load(sqlite_url, _rows())
    config = _config(tmp_path)
    scorecard.run(config, database_url=sqlite_url, as_of=DAY)
    # One more item for B, on a day before the first run's: only B's figures change.
    late = item("B-new", "B", "2026-09-10 08:00", "2026-09-10 20:00", "2026-09-11 12:00", qa=1,
                defects=1)  # fmt: skip
    load(sqlite_url, {"work_items": [late]})
    night = scorecard.run(config, database_url=sqlite_url, as_of=DAY + dt.timedelta(days=1))
    assert night.exit_code == 0, night.problems
    assert _rendered(night) == ["portfolio.pdf", "vendors/vendor-b_b.pdf"]


def test_a_weights_change_renders_everything_again(sqlite_url, tmp_path):
    load(sqlite_url, _rows())
    scorecard.run(_config(tmp_path), database_url=sqlite_url, as_of=DAY)
    night = scorecard.run(_config(tmp_path, weight=2), database_url=sqlite_url,
                          as_of=DAY + dt.timedelta(days=1))  # fmt: skip
    assert _rendered(night) == PDFS


def test_a_changed_pdf_on_disk_is_not_reused(sqlite_url, tmp_path):
    """Only a file whose bytes are still those its manifest lists is offered for reuse."""
    load(sqlite_url, _rows())
    config = _config(tmp_path)
    first = scorecard.run(config, database_url=sqlite_url, as_of=DAY)
    pdf = first.run_dir / "vendors" / "vendor-a_a.pdf"
    pdf.write_bytes(pdf.read_bytes() + b"\n% edited\n")
    night = scorecard.run(config, database_url=sqlite_url, as_of=DAY + dt.timedelta(days=1))
    assert _rendered(night) == ["vendors/vendor-a_a.pdf"]
