# Sourced by system-deps.sh and test-deps.sh: install_missing WHO ON_NON_ROOT PACKAGE...
# installs the Debian packages named (those found missing) with apt-get; without root it
# says what is needed and exits 1 (ON_NON_ROOT=fail) or returns (ON_NON_ROOT=skip).
install_missing() {
  local who=$1 on_non_root=$2; shift 2
  (($#)) || return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "$who needs these system packages: $* (install them as root)" >&2
    [ "$on_non_root" = skip ] && return 0
    exit 1
  fi
  echo "installing system packages for $who: $*"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
