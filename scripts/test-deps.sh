#!/usr/bin/env bash
# What only the tests need from the system: Chromium for the accessibility tests
# (axe-core runs in it), poppler-utils (pdftotext -bbox, pdftoppm) for reading PDFs
# back, Java for the Nu checker and Spark. Runs from `make test`; does nothing where
# they are present; without root their tests skip (and fail under CI=true).
set -euo pipefail
source "$(dirname "$0")/apt-missing.sh"
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v pdftotext >/dev/null || missing+=(poppler-utils)
command -v java >/dev/null || missing+=(default-jre-headless)
install_missing "the tests" skip "${missing[@]}"
