"""Stage 3: HTML and PDF scorecards from plain view models (jinja2 + WeasyPrint)."""
