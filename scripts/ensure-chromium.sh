#!/usr/bin/env bash
# Sourced by scripts/test.sh: the ops dashboard test drives Debian's chromium (test/integration/ops/browser.ts).
# Installs it when missing (apt, as root or through sudo) and exports CHROMIUM_PATH for the tests.
if [ -z "${CHROMIUM_PATH:-}" ] && ! command -v chromium >/dev/null; then
  echo "[test] chromium is missing (the ops dashboard test needs it): installing Debian's chromium package"
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  if ! { "${as_root[@]}" apt-get update -qq && "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium; }; then
    echo "[test] could not install chromium: install it (apt-get install chromium), or set CHROMIUM_PATH to a Chromium binary" >&2
    exit 1
  fi
fi
export CHROMIUM_PATH="${CHROMIUM_PATH:-$(command -v chromium)}"
