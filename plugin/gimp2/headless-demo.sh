#!/usr/bin/env bash
# headless-demo.sh BUILD_DIR MODEL_DIR OUT.png — installs the built plug-in into a private GIMP
# profile (BUILD_DIR/gimp-demo) and makes one picture with it inside headless GIMP
# (gimp-console-2.10, no display): File ▸ Create ▸ FLUX Text to Image, from Script-Fu.
set -euo pipefail
build=$(cd "$1" && pwd) model=$(cd "$2" && pwd) out=$(realpath -m "$3")
work=$build/gimp-demo
rm -rf "$work"
export GIMP2_DIRECTORY=$work/profile XDG_CACHE_HOME=$work/cache LANG=C.UTF-8
unset DISPLAY WAYLAND_DISPLAY
# a first start creates the profile; the plug-in goes in afterwards
timeout 120 gimp-console-2.10 -i -d -f -b '(gimp-quit 0)' >/dev/null 2>&1
mkdir -p "$GIMP2_DIRECTORY/plug-ins/flux"
cp "$build/plugin/gimp2/flux" "$GIMP2_DIRECTORY/plug-ins/flux/"
log=$work/gimp.log
timeout 300 gimp-console-2.10 -i -d -f -b "
(let* ((res (plug-in-flux-generate-image RUN-NONINTERACTIVE \"a photo of a cat\" 64 64 4 3.5 0 \"$model\"))
       (img (car res))
       (layer (car (gimp-image-get-active-layer img))))
  (file-png-save2 RUN-NONINTERACTIVE img layer \"$out\" \"$out\" 0 9 0 0 0 0 0 0 0)
  (gimp-image-delete img)
  (gimp-message \"FLUX-DEMO-OK\"))" -b '(gimp-quit 0)' >"$log" 2>&1 || true
# GIMP's exit status is always 0: judge by the log and the file
if grep -qE 'execution error|Plug-in crashed|GIMP-Error' "$log" || ! grep -q FLUX-DEMO-OK "$log"; then
    cat "$log" >&2
    echo "headless-demo: the plug-in run failed (log above)" >&2
    exit 1
fi
echo "headless GIMP made $out with the FLUX plug-in"
