"""scorecard: nightly scorecards for outsourcing vendors.

The public API (scorecard/api.py): `load_config`, `run`, `check` and `score`, with their
results `RunResult`, `CheckResult` and `Scores`. They are imported on first use (PEP 562), so that a stage
reading `scorecard.config` or `scorecard.errors` loads no other stage, and `--help` stays
light.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

# The one place the version is written: pyproject.toml reads it from here (as a literal, so
# keep it one), and CHANGELOG.md has a section for it.
__version__ = "0.1.0"

__all__ = [
    "CheckResult", "RunResult", "Scores", "__version__", "check", "load_config", "run", "score",
]  # fmt: skip

if TYPE_CHECKING:
    from scorecard.api import CheckResult, RunResult, Scores, check, load_config, run, score

STAGES = ("extract", "scoring", "reports", "output")


def __getattr__(name: str) -> Any:
    if name in __all__:
        from scorecard import api

        return getattr(api, name)
    raise AttributeError(f"module 'scorecard' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _check_stages_beside_us() -> None:
    """The four stages are top-level packages installed beside this one. Another package that
    took one of their generic names would be imported instead, and fail somewhere deep: say so
    here, where the cure is clear."""
    home = Path(__file__).resolve().parent.parent
    for stage in STAGES:
        spec = find_spec(stage)
        origin = None if spec is None or spec.origin is None else Path(spec.origin).resolve()
        if origin is None or origin.parent.parent != home:
            raise ImportError(
                f"scorecard's stage package {stage!r} is {origin or 'missing'}, not "
                f"{home / stage}: another installed package uses the name; install scorecard "
                "in a virtual environment of its own (python -m venv, or pipx install)"
            )


_check_stages_beside_us()
