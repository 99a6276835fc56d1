"""scorecard: nightly scorecards for outsourcing vendors."""

__version__ = "0.1.0"
