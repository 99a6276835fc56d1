"""Evidence through a whole run: files, the claim file against the credits page, and each
vendor-facing scorecard (and its email) carrying its own evidence only.

The two vendors are hostile to each other: IDs "A" and "AB", names that contain each other,
item IDs that are prefixes of the other's.
"""

from __future__ import annotations

import base64
import csv
import email
import email.policy
import io
import re
from pathlib import Path

import pytest
from pypdf import PdfReader

from reports.view import vendor_slug
from tests.builders import charge, item, load, vendor

AS_OF = "2026-08-31"
OWN_IDS = {"A": {"1", "2", "1-AB"}, "AB": {"12", "2A", "1-A"}}
ROWS = {
    "vendors": [
        vendor("A", name="Acme"),
        vendor("AB", name="Acme Acme"),
    ],
    "work_items": [
        # July and August: every item of each vendor late, so both miss their level.
        *[
            item(i, v, f"2026-{m}-01 08:00", f"2026-{m}-02 08:00", f"2026-{m}-05 12:00")
            for v, ids in OWN_IDS.items()
            for m in ("07", "08")
            for i in (f"{x}-{m}" for x in sorted(ids))
        ],
        # One on time each month, which is no evidence.
        *[
            item(f"ok-{v}-{m}", v, f"2026-{m}-01 08:00", f"2026-{m}-02 08:00", f"2026-{m}-01 09:00")
            for v in OWN_IDS
            for m in ("07", "08")
        ],
    ],
    "requests": [],
    "charges": [
        charge("fA", "A", "2026-07-01", "2026-08-31", 6_200.0),
        charge("fAB", "AB", "2026-07-01", "2026-08-31", 3_100.0),
        charge("sA", "A", "2026-07-01", "2026-07-31", -50.0, kind="service_credit"),
    ],
}
CONFIG = """
[run]
history_periods = 1
period = "month"

[email]
vendor_contacts = { A = "a@acme.example", AB = "ab@acme.example" }

[contracts."A"]
at_risk_pct = 0.10
[[contracts."A".service_levels]]
name = "On time"
process = "support"
kpi = "on_time_rate"
minimum = 0.90
allocation_pct = 100

[contracts."AB"]
at_risk_pct = 0.10
[[contracts."AB".service_levels]]
name = "On time"
process = "ALL"
kpi = "on_time_rate"
minimum = 0.90
allocation_pct = 100
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, scorecard_cli) -> Path:
    base = tmp_path_factory.mktemp("evidence-run")
    url = f"sqlite:///{base / 'src.db'}"
    load(url, ROWS)
    config = base / "scorecard.toml"
    config.write_text(CONFIG)
    result = scorecard_cli.run(url, base / "out", "--send", "--email-dry-run", config=config,
                               as_of=AS_OF)  # fmt: skip
    assert result.exit_code == 0, result.output
    return base / "out" / AS_OF


def _csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def _embedded(html: str) -> list[dict[str, str]]:
    found = re.findall(r'href="data:text/csv;charset=utf-8;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(found) == 1
    return _csv(base64.b64decode(found[0]))


def _pdf_files(pdf: PdfReader) -> list[bytes]:
    """The files a PDF carries: in its pages' file-attachment annotations, and document-level."""
    found = [data for files in pdf.attachments.values() for data in files]
    for page in pdf.pages:
        for annotation in page.get("/Annots") or []:
            annotation = annotation.get_object()
            if annotation.get("/Subtype") == "/FileAttachment":
                found.append(annotation["/FS"].get_object()["/EF"]["/F"].get_object().get_data())
    return found


def _expected(vendor_id: str) -> set[str]:
    return {f"{x}-{m}" for x in OWN_IDS[vendor_id] for m in ("07", "08")}


def test_evidence_csv_lists_every_late_item_of_both_vendors(run_dir):
    rows = _csv((run_dir / "evidence.csv").read_bytes())
    assert rows[0].keys() == {"month", "vendor_id", "service_level", "process", "kpi", "table",
                              "item_id", "reason", "value"}  # fmt: skip
    for vendor_id in OWN_IDS:
        mine = {r["item_id"] for r in rows if r["vendor_id"] == vendor_id}
        assert mine == _expected(vendor_id)
    assert {r["reason"] for r in rows} == {"late"}
    assert (run_dir / "evidence.json").exists()


@pytest.mark.parametrize("vendor_id", ["A", "AB"])
def test_a_vendor_facing_scorecard_carries_its_own_evidence_only(run_dir, vendor_id):
    name = "Acme" if vendor_id == "A" else "Acme Acme"
    html = (run_dir / "vendor-facing" / f"{vendor_slug(vendor_id, name)}.html").read_text()
    rows = _embedded(html)
    assert {r["vendor_id"] for r in rows} == {vendor_id}
    assert {r["item_id"] for r in rows} == _expected(vendor_id)
    # The levels table says how many late items stand behind each missed month.
    assert html.count(">3 late<") == 2
    # The PDF embeds the same file; the email to the vendor attaches that PDF.
    pdf = PdfReader(run_dir / "vendor-facing" / f"{vendor_slug(vendor_id, name)}.pdf")
    attached = _pdf_files(pdf)
    assert len(attached) == 1 and _csv(attached[0]) == rows


def test_each_vendor_email_attaches_its_own_scorecard_with_its_own_evidence(run_dir):
    seen = {}
    for eml in sorted((run_dir / "emails").glob("*.eml")):
        message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        to = str(message["To"])
        vendor_id = {"a@acme.example": "A", "ab@acme.example": "AB"}.get(to)
        if vendor_id is None:
            continue
        (part,) = list(message.iter_attachments())
        pdf = PdfReader(io.BytesIO(part.get_content()))
        (attached,) = _pdf_files(pdf)
        rows = _csv(attached)
        assert {r["vendor_id"] for r in rows} == {vendor_id}, to
        assert {r["item_id"] for r in rows} == _expected(vendor_id), to
        seen[vendor_id] = to
    assert set(seen) == {"A", "AB"}


def test_the_claim_file_adds_up_to_the_credits_page(run_dir):
    claims = _csv((run_dir / "credit_claims.csv").read_bytes())
    assert list(claims[0]) == ["vendor_id", "vendor_name", "month", "levels_missed",
                               "credit_due", "credited", "unclaimed", "currency"]  # fmt: skip
    total = sum(float(r["unclaimed"]) for r in claims)
    html = (run_dir / "portfolio.html").read_text()
    said = re.search(r"credit_claims.csv lists (\d+) vendor-months .*?, ([\d,.]+) EUR in all", html)
    assert said is not None
    assert int(said.group(1)) == len(claims)
    assert float(said.group(2).replace(",", "")) == pytest.approx(total, abs=0.001)
    # The page's own year-to-date unclaimed total is the same money.
    year = re.search(r"<th>Portfolio</th>(?:<td[^>]*>[^<]*</td>\s*){6}<td[^>]*>([\d,.]+) EUR", html)
    assert year is not None
    assert float(year.group(1).replace(",", "")) == pytest.approx(total, abs=0.001)
    # 2026-07 for A: 620 x 10 % = 310 due, 50 credited, 260 unclaimed.
    a_july = next(r for r in claims if r["vendor_id"] == "A" and r["month"] == "2026-07")
    assert (a_july["credit_due"], a_july["credited"], a_july["unclaimed"]) == (
        "310.00",
        "50.00",
        "260.00",
    )
    assert a_july["levels_missed"] == "1" and a_july["currency"] == "EUR"


def test_every_engine_lists_the_same_items(any_database_url):
    import datetime as dt
    import tomllib

    from scorecard.api import score
    from scorecard.config import config_from_mapping

    load(any_database_url, ROWS)
    config = config_from_mapping(tomllib.loads(CONFIG))
    scores = score(config, database_url=any_database_url, as_of=dt.date.fromisoformat(AS_OF))
    evidence = scores.scored.credits.evidence
    assert evidence is not None
    got = {(r["vendor_id"], r["month"], r["item_id"], r["reason"], r["value"])
           for r in evidence.iter_rows(named=True)}  # fmt: skip
    expected = {
        (v, f"2026-{m}", f"{x}-{m}", "late", 76.0)  # due 08:00 on the 2nd, done 12:00 on the 5th
        for v, ids in OWN_IDS.items()
        for m in ("07", "08")
        for x in ids
    }
    assert got == expected
