"""Names from every script and every trap render, publish and reach the right person only."""

from __future__ import annotations

import csv
import io
import json

import pytest
from pypdf import PdfReader

from tests.builders import item, load, vendor
from tests.test_email import Inbox, _free_port

AS_OF = "2026-09-30"
HOSTILE_NAMES = [
    "Acme",  # with its twin below and "Acme V-PH-MNL"
    "Acme",
    "Acme V-PH-MNL",
    "שירותי מיקור חוץ בע״מ",  # Hebrew (RTL)
    "شركة الخدمات المتكاملة",  # Arabic (RTL)
    "株式会社東京サービス",  # Japanese
    "北京外包服务有限公司",  # Chinese
    "한국 아웃소싱",  # Korean
    "Café Zoë Ångström",  # precomposed accents
    "Cafe\u0301 Zoe\u0308",  # combining marks
    "Zero\u200bWidth\u200dJoiner",  # zero-width space and joiner
    "Non\u00a0Breaking\u00a0Space",  # NBSP
    "Soft\u00adHyphen\u00adated",  # soft hyphens
    "Double  Space  Ltd",
    "Tab\tSeparated Ltd",
    "Emoji 🚀 Outsourcing 🌍",
    "Family 👨‍👩‍👧 Services",  # emoji ZWJ sequence
    "L" + "o" * 298 + "ng",  # 300 characters
    "Dollar $\\frac$ Ltd",  # mathtext
    "Price $x^2$ and $y$",
    "=cmd|' /C calc'!A0",  # spreadsheet formula
    "+1 Services",
    "-2 Partners",
    "@x Holdings",
    "&" * 100,
    "<script>alert(1)</script>",
    'O\'Brien & "Sons" <Ltd>',
    "Back\\slash {braces} %percent",
    "Ünïcödé Hyphen-ated-Very-Long-Name-That-Wraps-Across-Lines-In-The-Header Ltd",
    "Ελληνικές Υπηρεσίες",  # Greek
    "Русский Аутсорсинг",  # Cyrillic
    "हिन्दी सेवाएँ",  # Devanagari
    "ไทย เอาท์ซอร์ส",  # Thai
]
IDS = ["V-PH-MNL", "V-IN-PNQ", "V-US-NYC"] + [f"V-{n:02d}" for n in range(3, len(HOSTILE_NAMES))]


@pytest.fixture(scope="module")
def published(tmp_path_factory, scorecard_cli):
    """One run over every hostile name, each vendor with its own manager, mailed to a real server."""
    from aiosmtpd.controller import Controller

    base = tmp_path_factory.mktemp("hostile")
    url = f"sqlite:///{base / 'source.db'}"
    vendors = [
        vendor(vendor_id, name=name, manager_email=f"manager-{vendor_id.lower()}@example.com")
        for vendor_id, name in zip(IDS, HOSTILE_NAMES, strict=True)
    ]
    items = [
        item(
            f"{vendor_id}-{n}",
            vendor_id,
            "2026-07-01 00:00",
            "2026-07-02 00:00",
            "2026-07-01 12:00",
            qa=1,
        )
        for vendor_id in IDS
        for n in range(2)
    ]
    load(url, {"vendors": vendors, "work_items": items})
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    config = base / "mail.toml"
    config.write_text(
        f'[email]\nsmtp_host = "127.0.0.1"\nsmtp_port = {controller.port}\n'
        'sender = "scorecards@example.com"\nretry_delay_seconds = 0.01\n'
        "[reports]\nworkers = 2\n"
    )
    try:
        result = scorecard_cli.run(url, base / "out", "--send", config=config)
    finally:
        controller.stop()
    return result, base / "out" / AS_OF, inbox


def test_every_hostile_name_is_rendered_and_published_with_exit_0(published):
    result, run_dir, _ = published
    assert result.exit_code == 0, (result.output, result.exception)
    pdfs = sorted((run_dir / "vendors").glob("*.pdf"))
    assert len(pdfs) == len(HOSTILE_NAMES)
    assert all(len(p.name) <= 130 for p in run_dir.rglob("*"))
    assert (run_dir / "portfolio.pdf").stat().st_size > 0


def test_each_manager_gets_exactly_their_own_vendors_scorecard(published):
    _, run_dir, inbox = published
    manifest = json.loads((run_dir / "manifest.json").read_text())
    by_path = {a["path"]: a["sha256"] for a in manifest["artifacts"]}
    received = {}
    for recipients, message in inbox.messages:
        (recipient,) = recipients
        attachment = next(message.iter_attachments())
        received[recipient] = attachment.get_content()
    assert len(received) == len(IDS)
    for vendor_id in IDS:
        content = received[f"manager-{vendor_id.lower()}@example.com"]
        keywords = PdfReader(io.BytesIO(content)).metadata["/Keywords"]
        assert keywords == f"scorecard-vendor {vendor_id.encode().hex()}", vendor_id
    assert len(set(by_path)) == len(by_path)


def test_the_csv_names_are_exact_or_neutralised(published):
    _, run_dir, _ = published
    with (run_dir / "scores.csv").open(encoding="utf-8") as handle:
        names = {row["vendor_name"] for row in csv.DictReader(handle)}
    assert "'=cmd|' /C calc'!A0" in names and "'+1 Services" in names and "'@x Holdings" in names
    assert "北京外包服务有限公司" in names and "Double  Space  Ltd" in names
    assert not any(name.startswith(("=", "+", "-", "@")) for name in names)


def test_twin_names_get_distinct_files_that_record_their_vendor(published):
    _, run_dir, _ = published
    documents = {
        PdfReader(p).metadata["/Keywords"]: p.name for p in (run_dir / "vendors").glob("acme*.pdf")
    }
    assert sorted(documents) == sorted(f"scorecard-vendor {v.encode().hex()}" for v in IDS[:3])
    assert documents[f"scorecard-vendor {b'V-US-NYC'.hex()}"] == "acme-v-ph-mnl_v-us-nyc.pdf"
