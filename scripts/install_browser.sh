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
if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        SUDO=()
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        SUDO=(unavailable)
    fi
    if [ "${SUDO[0]:-}" != unavailable ]; then
        echo "== installing Chromium for the browser tests: apt-get install ${packages[*]}"
        if "${SUDO[@]}" apt-get update -qq && \
           DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
               "${packages[@]}" >/dev/null; then
            echo "== browser: $(chromium --version 2>/dev/null | head -n 1)"
            exit 0
        fi
        echo "!! apt-get could not install Chromium" >&2
    fi
fi
cat >&2 <<MSG
!! The browser tests (tests/browser) need Chromium, which is not installed.
!! On Debian or Ubuntu, as root:  apt-get update && apt-get install -y chromium
!! or point CHROMIUM=/path/to/chromium at one. Without it they are skipped
!! (and fail under CI=true, where nothing may be skipped).
MSG
exit 0
