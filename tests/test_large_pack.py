"""A pack for 1,500 vendors, most of them inactive or tiny: an executive's document, not a list.

The ranked vendors are listed; those with too little activity to rank, and those with none
this period, are counted; processes are compared with in-house only where a baseline exists;
standings are claimed only for ranked vendors; run.scorecards renders the pack alone, or
scorecards for active or ranked vendors only.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

import pytest
from pypdf import PdfReader

from reports.build import scorecard_scope
from scoring.periods import periods_for
from tests.builders import charge, item, load, make_config, scored, vendor

AS_OF = "2026-09-30"
RANKED, SMALL, INACTIVE = 12, 300, 1188

CONFIG = """
[currency]
base = "EUR"

[in_house.support]
salary = 30000
productive_hours = 1500
units_per_hour = 2
"""


def _world() -> dict[str, list[dict]]:
    vendors, items, charges = [], [], []
    for n in range(RANKED):
        v = f"R{n:02d}"
        # One ranked vendor has no billing currency (the contract allows null).
        vendors.append(vendor(v, name=f"Ranked {n:02d}", currency=None if n == 0 else "EUR"))
        for k in range(40):
            late = k < n  # vendor n is late n times in 40
            items.append(item(f"{v}-{k}", v, "2026-08-03 09:00", "2026-08-04 09:00",
                              "2026-08-05 09:00" if late else "2026-08-03 15:00", qa=1))  # fmt: skip
        items.append(item(f"{v}-r", v, "2026-08-03 09:00", None, "2026-08-03 12:00",
                          process="research"))  # fmt: skip
        charges.append(charge(f"C-{v}", v, "2026-07-01", "2026-09-30", 400.0 + n))
    for n in range(SMALL):
        v = f"S{n:04d}"
        vendors.append(vendor(v, name=f"Small {n:04d}"))
        for k in range(1 + n % 5):
            items.append(item(f"{v}-{k}", v, "2026-09-01 09:00", "2026-09-02 09:00",
                              "2026-09-01 17:00", qa=1))  # fmt: skip
    for n in range(INACTIVE):
        v = f"Q{n:04d}"
        vendors.append(vendor(v, name=f"Quiet {n:04d}"))
        # Active last quarter only.
        items.append(item(f"{v}-0", v, "2026-05-04 09:00", "2026-05-05 09:00",
                          "2026-05-04 17:00", qa=1))  # fmt: skip
    return {"vendors": vendors, "work_items": items, "charges": charges}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("large_pack")
    url = f"sqlite:///{folder / 'world.db'}"
    load(url, _world())
    (folder / "config.toml").write_text(CONFIG)
    return url, folder / "config.toml"


@pytest.mark.slow
def test_the_pack_for_1500_vendors_lists_the_ranked_and_counts_the_rest(
    world, tmp_path, scorecard_cli
):
    url, config = world
    started = time.perf_counter()
    ran = scorecard_cli.run(
        url, tmp_path, "--format", "html,pdf,csv", "--scorecards", "none", config=config
    )
    seconds = time.perf_counter() - started
    assert ran.exit_code == 0, ran.output
    run_dir = tmp_path / AS_OF
    pages = len(PdfReader(run_dir / "portfolio.pdf").pages)
    print(f"\n1,500-vendor pack alone: {pages} PDF pages, whole run {seconds:.1f} s")
    assert pages <= 12
    assert not (run_dir / "vendors").exists()  # the pack alone
    html = (run_dir / "portfolio.html").read_text()
    ranking = html[html.index('id="ranking"') : html.index('id="signals"')]
    assert len(re.findall(r"Ranked \d\d", ranking)) == RANKED
    assert "Small 0" not in html and "Quiet 0" not in html
    assert (
        f"Counted, not listed: {SMALL} with too little activity to rank (fewer than 30 work "
        f"items this period), {INACTIVE:,} with no activity this period."
    ) in html
    # The standings name ranked vendors only (rank 1 is never late: excellent).
    summary = html[html.index("Executive summary") : html.index('id="ranking"')]
    assert "Ranked 00" in summary and "Small" not in summary
    processes = html[html.index('id="processes"') :]
    assert "so not compared here: Research." in processes
    assert "<h3>Research" not in processes and "<h3>Support" in processes


@pytest.mark.slow
def test_scorecards_for_ranked_vendors_only(world, tmp_path, scorecard_cli):
    url, config = world
    ran = scorecard_cli.run(url, tmp_path, "--format", "html", "--scorecards", "ranked",
                            config=config)  # fmt: skip
    assert ran.exit_code == 0, ran.output
    made = sorted(p.stem for p in (tmp_path / AS_OF / "vendors").glob("*.html"))
    assert made == [f"ranked-{n:02d}_r{n:02d}" for n in range(RANKED)]
    # A vendor without a billing currency does not "bill in None".
    page = (tmp_path / AS_OF / "vendors" / "ranked-00_r00.html").read_text()
    assert "bills in" not in page and "None" not in page
    assert "bills in EUR" in (tmp_path / AS_OF / "vendors" / "ranked-01_r01.html").read_text()


def test_the_scorecard_scopes_choose_active_or_ranked_vendors():
    periods = periods_for(dt.date.fromisoformat(AS_OF), "quarter", 1)
    rows = {
        "vendors": [vendor("BIG"), vendor("TINY"), vendor("QUIET"), vendor("IH", "in_house")],
        "work_items": [
            *[item(f"b{k}", "BIG", "2026-08-03 09:00", None, "2026-08-03 12:00", qa=1)
              for k in range(30)],
            item("t1", "TINY", "2026-08-03 09:00", None, "2026-08-03 12:00", qa=1),
            item("q1", "QUIET", "2026-05-04 09:00", None, "2026-05-04 12:00", qa=1),
            item("i1", "IH", "2026-08-03 09:00", None, "2026-08-03 12:00", qa=1),
        ],
    }  # fmt: skip
    table = scored(rows, periods, make_config())
    assert scorecard_scope(table, "all") is None
    assert scorecard_scope(table, "active") == {"BIG", "TINY", "IH"}
    assert scorecard_scope(table, "ranked") == {"BIG"}
    assert scorecard_scope(table, "none") == set()


def test_an_unknown_scope_is_a_usage_error_naming_the_option(scorecard_cli, tmp_path):
    ran = scorecard_cli("run", "--scorecards", "some", "--out", tmp_path)
    assert ran.exit_code == 2
    assert "--scorecards" in ran.output
