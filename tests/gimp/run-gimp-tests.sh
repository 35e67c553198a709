#!/usr/bin/env bash
# run-gimp-tests.sh — the GIMP plug-in tests (meson suite 'gimp'), on a real GIMP 2.10 with a
# private profile under --work. Exit 77 (skipped) when the programs a mode needs are missing.
#
#   run-gimp-tests.sh headless|gui --plugin BIN --po-build-dir DIR --gettext-package NAME \
#       --model DIR --data-dir DIR --work DIR --artifacts DIR [--python PY]
#
# headless: gimp-console-2.10, no display (about 30 s).
# gui:      gimp-2.10 under Xvfb, driven with xdotool: dialog in English and zh_CN,
#           screenshots in --artifacts (about 40 s).
set -euo pipefail
mode=${1:?usage: run-gimp-tests.sh headless|gui OPTIONS}
shift
here=$(cd "$(dirname "$0")" && pwd)
python=python3
args=("$@")
for ((i = 0; i + 1 < ${#args[@]}; i++)); do
    [ "${args[i]}" = --python ] && python=${args[i + 1]}
done

skip_unless() {
    for p in "$@"; do
        if ! command -v "$p" >/dev/null 2>&1; then
            echo "SKIP: $p not found (the $mode GIMP tests need: $*)"
            exit 77
        fi
    done
}

case $mode in
headless)
    skip_unless gimp-console-2.10 cc
    exec env -u DISPLAY -u WAYLAND_DISPLAY "$python" "$here/gimp_tests.py" headless "$@"
    ;;
gui)
    skip_unless gimp-2.10 cc xvfb-run xauth xdotool import dbus-run-session
    exec env -u WAYLAND_DISPLAY timeout 330 dbus-run-session -- \
        xvfb-run -a -s "-screen 0 1280x1024x24" "$python" "$here/gimp_tests.py" gui "$@"
    ;;
*)
    echo "unknown mode $mode (headless or gui)" >&2
    exit 2
    ;;
esac
