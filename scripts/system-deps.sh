#!/usr/bin/env bash
# WeasyPrint needs Pango (and fonts) from the system; install them when missing.
# Runs from `make` on a fresh machine; does nothing where they are present.
set -euo pipefail
missing=()
ldconfig -p | grep -q 'libpango-1.0.so' || missing+=(libpango-1.0-0 libpangoft2-1.0-0)
ldconfig -p | grep -q 'libharfbuzz.so' || missing+=(libharfbuzz0b)
# Font subsetting in C: WeasyPrint is much faster with it and warns without it.
ldconfig -p | grep -q 'libharfbuzz-subset.so' || missing+=(libharfbuzz-subset0)
fc-list 2>/dev/null | grep -qi 'dejavu' || missing+=(fonts-dejavu-core fontconfig)
# pdftotext -bbox and pdftoppm: the layout test reads where each word of a PDF landed.
command -v pdftotext >/dev/null || missing+=(poppler-utils)
# Vendor names in Chinese, Japanese or Korean need a CJK font (DejaVu has none): a small one.
fc-list :lang=zh 2>/dev/null | grep -q . || missing+=(fonts-wqy-microhei)
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "scorecard needs these system packages: ${missing[*]} (install them as root)" >&2
    exit 1
  fi
  echo "installing system packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
