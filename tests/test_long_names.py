"""A vendor name of 10,240 characters, or of 1,700 ampersands, neither stops nor hangs the night:
the reports show it cut, the data keeps it whole."""

from __future__ import annotations

import csv
import time

import pytest

from output.run_folder import recorded_document
from reports.build import SHOWN_NAME_CHARACTERS
from tests.builders import item, load, vendor

AS_OF = "2026-09-30"
LONG_NAMES = {"LONG": "Outsourcing" * 931 + "Ltd", "AMP": "&" * 1700}  # 10,244 and 1,700


@pytest.mark.parametrize("vendor_id", list(LONG_NAMES))
def test_a_very_long_name_is_shown_cut_and_kept_whole_in_the_data(
    vendor_id, tmp_path, scorecard_cli
):
    name = LONG_NAMES[vendor_id]
    url = f"sqlite:///{tmp_path / 'source.db'}"
    load(
        url,
        {
            "vendors": [vendor(vendor_id, name=name), vendor("B", name="Plain Ltd")],
            "work_items": [
                item(f"{v}{i}", v, "2026-07-01 08:00", "2026-07-02 08:00", "2026-07-01 12:00")
                for v in (vendor_id, "B")
                for i in range(40)
            ],
        },
    )
    started = time.perf_counter()
    result = scorecard_cli.run(url, tmp_path / "out", "--format", "pdf,html,csv")
    seconds = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert seconds < 120
    run_dir = tmp_path / "out" / AS_OF
    with (run_dir / "scores.csv").open(encoding="utf-8") as handle:
        names = {row["vendor_id"]: row["vendor_name"] for row in csv.DictReader(handle)}
    assert names[vendor_id].lstrip("'") == name  # the data keeps the whole name
    (html,) = [p for p in (run_dir / "vendors").glob("*.html") if "plain" not in p.name]
    text = html.read_text(encoding="utf-8")
    shown = name[: SHOWN_NAME_CHARACTERS - 1].rstrip() + "\u2026"
    escaped = shown.replace("&", "&amp;")
    assert escaped in text and name.replace("&", "&amp;") not in text
    assert recorded_document(html) == f"scorecard-vendor {vendor_id.encode().hex()}"


def test_the_html_document_check_reads_the_whole_head(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>" + "&amp;" * 2000 + "</title>"
        '<meta name="keywords" content="scorecard-vendor 41"></head><body></body></html>',
        encoding="utf-8",
    )
    assert recorded_document(page) == "scorecard-vendor 41"
