#!/usr/bin/env bash
# WeasyPrint needs Pango (and fonts) from the system; install them when missing.
# Runs from `make` on a fresh machine; does nothing where they are present.
set -euo pipefail
source "$(dirname "$0")/apt-missing.sh"
missing=()
ldconfig -p | grep -q 'libpango-1.0.so' || missing+=(libpango-1.0-0 libpangoft2-1.0-0)
ldconfig -p | grep -q 'libharfbuzz.so' || missing+=(libharfbuzz0b)
# Font subsetting in C: WeasyPrint is much faster with it and warns without it.
ldconfig -p | grep -q 'libharfbuzz-subset.so' || missing+=(libharfbuzz-subset0)
fc-list 2>/dev/null | grep -qi 'dejavu' || missing+=(fonts-dejavu-core fontconfig)
# Vendor names in Chinese, Japanese or Korean need a CJK font (DejaVu has none): a small one.
fc-list :lang=zh 2>/dev/null | grep -q . || missing+=(fonts-wqy-microhei)
install_missing scorecard fail "${missing[@]}"
