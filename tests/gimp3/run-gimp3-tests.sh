#!/usr/bin/env bash
# run-gimp3-tests.sh — the GIMP 3 plug-in tests (meson suite 'gimp3'), on a real GIMP 3 with a
# private profile under --work; tests/gimp3/chroot.sh runs them inside a Debian 13 root.
#
#   run-gimp3-tests.sh headless|gui --plugin BIN --po-build-dir DIR --gettext-package NAME \
#       --model DIR --work DIR --artifacts DIR
#
# headless: gimp-console-3.0, no display; gui: gimp-3.0 under Xvfb driven with xdotool,
# screenshots in --artifacts. Exit 77 (skipped) when a program is missing, unless
# FLUX_GIMP3_REQUIRED=1 (set by chroot.sh, where a skip would hide a broken root): then 1.
set -euo pipefail
mode=${1:?usage: run-gimp3-tests.sh headless|gui OPTIONS}
shift
here=$(cd "$(dirname "$0")" && pwd)
need() {
    for p in "$@"; do
        if ! command -v "$p" >/dev/null 2>&1; then
            echo "$p not found (the $mode GIMP 3 tests need: $*)"
            [ "${FLUX_GIMP3_REQUIRED:-0}" = 1 ] && exit 1
            exit 77
        fi
    done
}
case $mode in
headless) need gimp-console-3.0 cc python3 ;;
gui) need gimp-3.0 gimp-console-3.0 cc python3 Xvfb xdotool import dbus-run-session ;;
*)
    echo "unknown mode $mode (headless or gui)" >&2
    exit 2
    ;;
esac
exec env -u DISPLAY -u WAYLAND_DISPLAY -u LANGUAGE -u LC_ALL timeout 450 \
    python3 "$here/gimp3_tests.py" "$mode" "$@"
