"""What the emails say, as a real SMTP server (aiosmtpd) receives them from a demo-world run.

Every message is parsed: both alternatives, the figures equal to scores.csv and the pack,
valid HTML with nothing remote, the headers, the attachment under the size limit and the
notice instead of it over the limit; the HTML is rendered in headless Chromium, light and dark.
"""

from __future__ import annotations

import csv
import email
import email.utils
import json
import re
import subprocess
from email import policy
from email.message import EmailMessage
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from tests.test_accessibility import TOOLS, axe_violations, browser_or_skip
from tests.test_email import smtp_on_loopback
from tests.test_reports import VNU_JAR

AS_OF = "2026-09-30"
CONTACT = "account-lead@vendor.example"
LINK_BASE = "https://intranet.example.com/scorecards"
SCREENS = Path(__file__).resolve().parent / "browser" / "email_screens.cjs"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes, EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), envelope.content, parsed))  # type: ignore[arg-type]
        return "250 OK"


def _config(base: Path, port: int, extra: str = "") -> Path:
    """The example config (its contracts and vendor-facing scorecards), mailing the loopback."""
    example = resources.files("scorecard").joinpath("example-config.toml").read_text("utf-8")
    example = example.replace('smtp_host = "localhost"\nsmtp_port = 25\n',
                              f'smtp_host = "127.0.0.1"\nsmtp_port = {port}\n')  # fmt: skip
    assert f"smtp_port = {port}" in example
    path = base / f"mail-{port}.toml"
    if extra:
        assert "max_attachment_mb = 10\n" in example
        example = example.replace("max_attachment_mb = 10\n", extra)
    path.write_text(example + f'[email.vendor_contacts]\n"V-IN-BLR" = "{CONTACT}"\n', "utf-8")
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory, scorecard_cli) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("mailbody")
    url = f"sqlite:///{base / 'demo.db'}"
    made = scorecard_cli("demo-data", "--database-url", url, "--scale", "0.05", "--through", AS_OF)
    assert made.exit_code == 0, made.output
    inbox, small = Inbox(), Inbox()
    with smtp_on_loopback(inbox) as port:
        sent = scorecard_cli.run(
            url, base / "sent", "--send", "--format", "pdf,html,csv", config=_config(base, port)
        )
        assert sent.exit_code == 0, sent.output
    # A tiny limit: every attachment is over it (HTML only, to keep the test quick).
    tiny = f'max_attachment_mb = 0.001\nlink_base = "{LINK_BASE}/"\n'
    with smtp_on_loopback(small) as port:
        config = _config(base, port, tiny)
        over = scorecard_cli.run(
            url, base / "over", "--send", "--format", "html,csv", config=config
        )
        assert over.exit_code == 0, over.output
        dry = scorecard_cli.run(
            url, base / "dry", "--email-dry-run", "--format", "html,csv", config=config
        )
        assert dry.exit_code == 0, dry.output
    return {"base": base, "inbox": inbox.messages, "small": small.messages, "over": over,
            "dry": dry, "run": base / "sent" / AS_OF}  # fmt: skip


def _scores(run: Path) -> dict[str, dict[str, str]]:
    with (run / "scores.csv").open(encoding="utf-8") as handle:
        rows = [
            r for r in csv.DictReader(handle) if r["process"] == "ALL" and r["is_current"] == "true"
        ]
    return {r["vendor_name"]: r for r in rows}


def _parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()  # type: ignore[attr-defined]


def _plain(html: str) -> str:
    """The HTML's text, tags out and spaces folded: what a reader sees."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.replace("&amp;", "&")))


def test_every_message_has_both_alternatives_the_attachment_and_the_headers(world):
    assert len(world["inbox"]) >= 3
    for _, _, message in world["inbox"]:
        assert message.get_content_type() == "multipart/mixed"
        alternative = next(p for p in message.iter_parts())
        assert alternative.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in alternative.iter_parts()] == [
            "text/plain",
            "text/html",
        ]
        attachment = next(message.iter_attachments())
        assert attachment.get_content_type() == "application/pdf"
        assert attachment.get_content().startswith(b"%PDF-")
        sent = email.utils.parsedate_to_datetime(message["Date"])
        assert sent.tzinfo is not None and sent.year >= 2026
        assert message["Auto-Submitted"] == "auto-generated"
        assert re.fullmatch(r"<[0-9a-f]{32}@example\.com>", message["Message-ID"])
        assert message["Reply-To"] == "vendor-management@example.com"


def test_the_portfolio_email_figures_are_those_of_scores_csv_and_the_pack(world):
    [pack] = [
        m for _, _, m in world["inbox"] if m["Subject"].startswith("Vendor performance review")
    ]
    text, html = _parts(pack)
    rows = [r for r in _scores(world["run"]).values() if r["sourcing"] != "in_house"]
    scored = sum(1 for r in rows if r["composite_score"])
    spend = round(sum(float(r["spend"]) for r in rows if r["spend"]))
    for body in (text, _plain(html)):
        assert f"Vendors scored {scored} of {len(rows)}" in body.replace(":", "")
        shown = re.search(r"Outsourced spend this period:? ([\d,]+) EUR", body)
        assert shown and int(shown.group(1).replace(",", "")) == spend
        # The unclaimed total is the one on the pack's cover.
        cover = (world["run"] / "portfolio.html").read_text("utf-8")
        unclaimed = re.search(r'<span class="value">([\d,.]+ EUR)</span><span class="label">'
                              r'<a href="#credits">service credits unclaimed', cover)  # fmt: skip
        assert unclaimed and re.search(
            r"Service credits unclaimed, .*?" + re.escape(unclaimed.group(1)), body
        )
        for standing in ("Excellent", "Good", "Watch", "Critical"):
            assert re.search(rf"\b{standing}\b", body, re.I)
        critical = sorted(n for n, r in _scores(world["run"]).items()
                          if r["standing"] == "critical" and r["sourcing"] != "in_house")  # fmt: skip
        for name in critical:
            assert name in body
    assert "Significant movers since last period" in text


def _facing_scores(run: Path) -> dict[str, dict[str, Any]]:
    """scores.csv as the vendor may see it: the composite of the dimensions it shows."""
    import tomllib

    import polars as pl

    from scorecard.config import config_from_mapping
    from scoring.facing import vendor_facing_table

    example = resources.files("scorecard").joinpath("example-config.toml").read_text("utf-8")
    table = pl.read_csv(run / "scores.csv", infer_schema_length=None)
    labels = sorted(table.get_column("period").unique().to_list())
    facing = vendor_facing_table(table, config_from_mapping(tomllib.loads(example)), labels)
    current = facing.filter((pl.col("process") == "ALL") & pl.col("is_current"))
    return {
        r["vendor_name"]: {k: "" if v is None else v for k, v in r.items()}
        for r in current.iter_rows(named=True)
    }


def test_each_vendor_email_states_its_composite_rank_and_change_as_in_scores_csv(world):
    internal, facing = _scores(world["run"]), _facing_scores(world["run"])
    checked = 0
    for to, _, message in world["inbox"]:
        subject = message["Subject"]
        if not subject.startswith("Vendor scorecard"):
            continue
        # The vendor's own copy: its composite is made of the dimensions it shows.
        scores = facing if to == [CONTACT] else internal
        ranked = sum(1 for r in scores.values() if r["rank"])
        row = scores[subject.split(": ", 1)[1]]
        text, html = _parts(message)
        items = int(row["work_items_completed"] or 0)
        if row["sourcing"] != "in_house" and items < 30:
            # Contract section 11: too few items to claim a standing, rank or change this period.
            for body in (text, _plain(html)):
                assert f"too little activity so far ({items} item" in body
                assert "points since last period" not in body
            checked += 1
            continue
        composite = f"{float(row['composite_score']):.0f}"
        rank = f"rank {row['rank']} of {ranked}" if row["rank"] else "unranked"
        for body in (text, _plain(html)):
            assert re.search(rf"\b{composite} / 100", body)
            assert row["standing"] in body
            assert rank in body if row["sourcing"] != "in_house" else "not ranked" in body
            assert re.search(r"(points since last period \((a real change: [^)]*|not shown to be real: [^)]*|not tested)\)"
                             r"|no comparison)", body)  # fmt: skip
        checked += 1
    assert checked >= 2


def test_the_vendor_facing_email_names_no_peer_no_in_house_cost_no_recommendation(world):
    scores = _scores(world["run"])
    [(_, _, message)] = [m for m in world["inbox"] if m[0] == [CONTACT]]
    text, html = _parts(message)
    own = message["Subject"].split(": ", 1)[1]
    internal = next(
        m for m in world["inbox"] if m[0] != [CONTACT] and m[2]["Subject"] == message["Subject"]
    )
    assert "Top recommendation" in _parts(internal[2])[0]
    for body in (text, html):
        for name in scores:
            if name != own:
                assert name not in body
        assert "in-house" not in body.lower() and "Top recommendation" not in body
        assert "confidential: internal use" not in body
    assert f"Prepared for {own}" in html


def test_the_html_is_valid_and_fetches_nothing(world, tmp_path):
    pages = []
    for number, (_, _, message) in enumerate(world["inbox"] + world["small"]):
        html = _parts(message)[1]
        assert not re.search(r"<(script|link|iframe|object|embed)\b", html, re.I)
        assert not re.search(
            r"""\b(src|background|srcset)\s*=\s*["']?\s*(https?:)?//""", html, re.I
        )
        assert not re.search(r"url\(|@import", html, re.I)
        # A link is only ever the file's place under email.link_base, for the reader to click.
        for href in re.findall(r"""href\s*=\s*["']([^"']*)""", html):
            assert href.startswith(LINK_BASE + "/" + AS_OF + "/")
        page = tmp_path / f"email-{number:02d}.html"
        page.write_text(html, "utf-8")
        pages.append(str(page))
    if not VNU_JAR.exists():
        pytest.skip("the Nu HTML checker is not installed (make test installs it)")
    result = subprocess.run(["java", "-jar", str(VNU_JAR), "--errors-only", "--format", "text", *pages],
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_over_the_limit_the_email_goes_without_the_attachment_and_says_where_it_is(world):
    assert len(world["small"]) == len(world["inbox"])
    for _, _, message in world["small"]:
        assert not list(message.iter_attachments())
        text, html = _parts(message)
        assert "is not attached: at 0.0" not in text  # the size is shown meaningfully
        assert re.search(r"is not attached: at [\d.]+ MB it is over the 0\.001 MB limit", text)
        assert f"It is at {LINK_BASE}/{AS_OF}/" in text
        assert f'href="{LINK_BASE}/{AS_OF}/' in html
    manifest = json.loads((world["base"] / "over" / AS_OF / "manifest.json").read_text())
    assert all(e["attached"] is False and "over the 0.001 MB limit" in e["attachment_dropped"]
               for e in manifest["emails"])  # fmt: skip
    assert manifest["notices"][0].startswith(
        f"{len(manifest['emails'])} of {len(manifest['emails'])} emails without their attachment"
    )
    assert "emails without their attachment;" in world["over"].stdout.splitlines()[-1]
    under = json.loads((world["run"] / "manifest.json").read_text())
    assert all(e["attached"] is True and "attachment_dropped" not in e for e in under["emails"])


def test_without_link_base_the_email_names_the_folder_and_a_vendor_is_asked_to_reply(tmp_path):
    from reports.messages import attachment_notice
    from scorecard.config import config_from_mapping

    settings = config_from_mapping({"email": {"max_attachment_mb": 0.001}}).email
    final_dir = tmp_path / AS_OF
    big, small = 2000, 1000
    relative = Path("vendors/acme.pdf")
    assert attachment_notice(small, relative, settings, final_dir, vendor_facing=False) is None
    internal = attachment_notice(big, relative, settings, final_dir, vendor_facing=False)
    assert internal is not None and internal.where == str(final_dir.absolute() / relative)
    assert not internal.is_link and "over the 0.001 MB limit" in internal.reason
    # The vendor cannot reach our folders: its email asks it to reply instead.
    facing = attachment_notice(big, relative, settings, final_dir, vendor_facing=True)
    assert facing is not None and facing.where == ""


def test_a_dry_run_eml_is_the_exact_bytes_sent_but_for_the_date(world):
    folder = world["base"] / "dry" / AS_OF / "emails"
    emls = sorted(folder.glob("*.eml"))
    assert len(emls) == len(world["small"])
    for eml, (_, received, _) in zip(emls, world["small"], strict=True):
        written = eml.read_bytes()
        assert b"\r\nDate: Thu, 01 Oct 2026 06:00:00 +0000\r\n" in written
        assert re.sub(rb"\r\nDate: [^\r]*", b"", written) == re.sub(
            rb"\r\nDate: [^\r]*", b"", received
        )


def test_the_html_renders_light_and_dark_in_chromium_and_passes_axe(world, tmp_path):
    chromium = browser_or_skip()
    pages = []
    facing = [m for m in world["inbox"] if m[0] == [CONTACT]]
    # The first two, the vendor-facing one, and a notice with its link (over the size limit).
    for (_, _, message), name in zip(world["inbox"][:2] + facing + world["small"][:1],
                                      ["portfolio", "vendor", "vendor-facing", "notice"], strict=True):  # fmt: skip
        page = tmp_path / f"email-{name}.html"
        page.write_text(_parts(message)[1], "utf-8")
        pages.append(page)
    result = subprocess.run(["node", str(SCREENS), str(TOOLS), chromium, str(tmp_path), *map(str, pages)],
                            capture_output=True, text=True, check=False, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["requests"] == []  # nothing remote was fetched

    def luminance(colour: str) -> float:
        red, green, blue = (int(v) for v in re.findall(r"\d+", colour)[:3])
        return (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255

    def contrast(first: str, second: str) -> float:
        """WCAG contrast ratio, with the channels linearised."""

        def relative(colour: str) -> float:
            channels = [int(v) / 255 for v in re.findall(r"\d+", colour)[:3]]
            linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
            return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

        high, low = sorted((relative(first), relative(second)), reverse=True)
        return (high + 0.05) / (low + 0.05)

    links = [shot["link"] for shot in report["shots"] if shot["link"]]
    assert len(links) == 2  # the notice's link, light and dark
    for colour, background in links:
        assert contrast(colour, background) >= 4.5, (colour, background)
    for shot in report["shots"]:
        assert Path(shot["png"]).stat().st_size > 5000
        background, text = luminance(shot["background"]), luminance(shot["text"])
        if shot["colorScheme"] == "dark":
            assert background < 0.2 and text > 0.8, shot
        else:
            assert background > 0.9 and text < 0.3, shot
    # On a 390 px phone no message scrolls sideways.
    assert len(report["phone"]) == len(pages)
    assert [
        (Path(s["file"]).name, s["scrollWidth"]) for s in report["phone"] if s["scrollWidth"] > 390
    ] == []
    serious = [v for v in axe_violations(chromium, pages) if v["impact"] in ("serious", "critical")]
    assert serious == []
