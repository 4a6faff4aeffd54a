#!/usr/bin/env bash
# apt_install.sh PACKAGE...: install Debian packages with apt-get, as root (as in CI) or with
# password-less sudo. Exits 2 where neither is possible, 1 where apt-get fails, 0 when done.
# scripts/install_browser.sh (Chromium) and scripts/install_latex.sh (TeX Live) use it.
set -uo pipefail
command -v apt-get >/dev/null 2>&1 || exit 2
if [ "$(id -u)" = 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    exit 2
fi
"${SUDO[@]}" apt-get update -qq || exit 1
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
    "$@" >/dev/null || exit 1
