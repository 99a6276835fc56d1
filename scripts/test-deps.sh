#!/usr/bin/env bash
# What only the tests need from the system: Chromium for the accessibility tests
# (axe-core runs in it), poppler-utils for reading PDFs back, Java for the Nu checker.
# Runs from `make test`; does nothing where they are present.
set -euo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v pdftotext >/dev/null || missing+=(poppler-utils)
command -v java >/dev/null || missing+=(default-jre-headless)
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "the tests need these system packages: ${missing[*]} (install them as root); their tests will skip" >&2
    exit 0
  fi
  echo "installing system packages for the tests: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
