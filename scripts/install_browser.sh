#!/usr/bin/env bash
# Make sure Debian's Chromium is there for the browser tests (tests/browser).
# Installs it with apt-get when this runs as root (as in CI) or with password-less sudo;
# otherwise says what to install. Never downloads a browser build of its own: Playwright
# drives this system Chromium through its executable_path.
set -uo pipefail
for name in "${CHROMIUM:-}" chromium chromium-browser; do
    if [ -n "$name" ] && command -v "$name" >/dev/null 2>&1; then
        echo "== browser: $("$name" --version 2>/dev/null | head -n 1)"
        exit 0
    fi
done
packages=(chromium fonts-dejavu-core fonts-liberation fonts-noto-color-emoji)
echo "== installing Chromium for the browser tests: apt-get install ${packages[*]}"
bash "$(dirname "$0")/apt_install.sh" "${packages[@]}"
case $? in
    0) echo "== browser: $(chromium --version 2>/dev/null | head -n 1)"; exit 0 ;;
    1) echo "!! apt-get could not install Chromium" >&2 ;;
esac
cat >&2 <<MSG
!! The browser tests (tests/browser) need Chromium, which is not installed.
!! On Debian or Ubuntu, as root:  apt-get update && apt-get install -y chromium
!! or point CHROMIUM=/path/to/chromium at one. Without it they are skipped
!! (and fail under CI=true, where nothing may be skipped).
MSG
exit 0
