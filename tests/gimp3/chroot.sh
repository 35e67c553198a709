#!/usr/bin/env bash
# chroot.sh — the GIMP 3 stage of the test suite on a Debian 12 host: a Debian 13 (trixie) root
# made with debootstrap (GIMP 3.0.4, libgimp-3.0-dev), the project built inside it, and the
# GIMP 3 tests (meson suite 'gimp3': headless gimp-console-3.0 and an Xvfb GUI run).
#
#   tests/gimp3/chroot.sh [test [TEST-NAME...]|shell|build|both]   (as root; test is the default)
#
# The root is cached in $GIMP3_ROOT_BASE (default /var/tmp/gimp-flux-gimp3, outside the
# checkout) and reused while its stamp matches the package list; otherwise it is rebuilt
# (about 2–4 minutes, from the Debian mirror of the host's apt sources). The checkout and
# ../shared are bind-mounted at the same paths inside (shared read-only); the build folder
# is build-gimp3/ in the checkout, the screenshots and logs land in
# build-gimp3/meson-logs/gimp3-artifacts/. Mounts are undone on exit, whatever happens.
# Any failure, including a root that cannot be made (no debootstrap, no mount, no mirror),
# exits non-zero with the reason: the stage never skips itself.
set -euo pipefail
action=${1:-test}
src=$(cd "$(dirname "$0")/../.." && pwd)
shared=$(readlink -f "$src/../shared")
shared_at=$(dirname "$src")/shared # the path meson sees (../shared), a symlink here
base=${GIMP3_ROOT_BASE:-/var/tmp/gimp-flux-gimp3}
root=$base/root
pkgs="gimp libgimp-3.0-dev build-essential meson ninja-build pkg-config libglib2.0-dev"
pkgs+=" libjson-glib-dev libopenblas-dev libpng-dev gettext xvfb xauth xdotool imagemagick dbus locales"
stamp="gimp-flux gimp3 root v1: $pkgs"

# Mounts in a mount namespace of our own: other checkouts may use the same root at the same
# time (their /proc, /sys inside it would block ours), and ours vanish with the process.
if [ -z "${GIMP3_PRIVATE_MOUNTS:-}" ] && [ "$(id -u)" = 0 ] &&
    unshare --mount --propagation private true 2>/dev/null; then
    exec unshare --mount --propagation private env GIMP3_PRIVATE_MOUNTS=1 bash "$0" "$@"
fi

die() {
    echo "GIMP 3 stage FAILED: $*" >&2
    exit 1
}
[ "$(id -u)" = 0 ] || die "the Debian 13 root needs root (debootstrap, mount, chroot); run as root"
[ -d "$shared/reference" ] || die "no reference pack at $shared/reference"

mirror() {
    local m
    m=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) {print $i; exit}}' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [ -n "$m" ] || m=$(awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^https?:.*\/debian\/?$/) {print $i; exit}}' \
        /etc/apt/sources.list 2>/dev/null || true)
    echo "${m:-http://deb.debian.org/debian}"
}

mounts=()
undo_mounts() {
    local i
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
        umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}" 2>/dev/null || true
    done
    mounts=()
}
trap undo_mounts EXIT
mnt() { # mnt TARGET mount-args...
    local target=$1
    shift
    mkdir -p "$target"
    if mountpoint -q "$target"; then # another run's, seen before we had our own namespace
        if [ -n "${GIMP3_PRIVATE_MOUNTS:-}" ]; then
            umount -l "$target" # in our namespace only
        elif [ "$1" != --bind ]; then
            return 0 # shared with that run: neither mounted nor unmounted by us
        fi
    fi
    mount "$@" "$target" || die "cannot mount $target (the runner must allow mount and chroot)"
    mounts+=("$target")
}
in_root() {
    chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root \
        LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

make_root() {
    command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
    local m new=$base/root.new
    m=$(mirror)
    echo "== creating the Debian 13 root in $root from $m"
    mkdir -p "$base"
    rm -rf "$new" "$root"
    debootstrap --variant=minbase trixie "$new" "$m" >"$base/debootstrap.log" 2>&1 ||
        { tail -20 "$base/debootstrap.log"; die "debootstrap trixie failed (log: $base/debootstrap.log)"; }
    printf '#!/bin/sh\nexit 101\n' >"$new/usr/sbin/policy-rc.d" # dpkg starts no daemons
    chmod +x "$new/usr/sbin/policy-rc.d"
    echo force-unsafe-io >"$new/etc/dpkg/dpkg.cfg.d/ci-unsafe-io"
    mv "$new" "$root"
}

install_packages() {
    echo "== installing GIMP 3 and the build tools into the root"
    # shellcheck disable=SC2086
    in_root sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends $pkgs &&
        apt-get clean && localedef -i de_DE -f UTF-8 de_DE.UTF-8 &&
        localedef -i zh_CN -f UTF-8 zh_CN.UTF-8" >"$base/apt.log" 2>&1 ||
        { tail -30 "$base/apt.log"; die "installing the packages in the root failed (log: $base/apt.log)"; }
    echo "$stamp" >"$root/.gimp-flux-stamp"
}

t0=$SECONDS
fresh=0
# several checkouts on one machine may share the cached root: they use it under a shared lock,
# and whoever has to (re)build it takes the lock alone
mkdir -p "$base"
exec 9>"$base/.lock"
stale() { [ ! -f "$root/.gimp-flux-stamp" ] || [ "$(cat "$root/.gimp-flux-stamp")" != "$stamp" ]; }
if stale; then
    flock -x 9
    if stale; then
        make_root
        fresh=1
    fi
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
mnt "$root/proc" -t proc proc
mnt "$root/sys" -t sysfs sysfs
mnt "$root/dev/pts" --bind /dev/pts
mnt "$root/dev/shm" -t tmpfs -o mode=1777 tmpfs
[ "$fresh" = 0 ] || install_packages
flock -s 9 # from here on the root is only used
mnt "$root$src" --bind "$src"
mnt "$root$shared_at" --bind "$shared"
mount -o remount,bind,ro "$root$shared_at" || die "cannot make $root$shared_at read-only"
echo "== Debian 13 root ready after $((SECONDS - t0)) s ($(in_root gimp-console-3.0 --version))"

# GIMP 2.10's libgimp beside GIMP 3's, so that one build finds both and builds both entries
# (plugin/gimp2 and plugin/gimp3): no Debian has both dev packages (trixie dropped GIMP 2.10),
# so bookworm's libgimp2.0-dev and libgimp2.0 (from the host's apt) and trixie's libgtk2.0-dev
# and libgtk2.0-0t64 (from the root's) are unpacked with dpkg-deb -x, not installed, into
# $base/gimp2-sysroot (kept), seen in the root at /opt/gimp2-sysroot; their .pc files are
# rewritten to point there. Only the build uses it: GIMP 2.10 itself does not run in the root.
gimp2_sys=$base/gimp2-sysroot
gimp2_at=/opt/gimp2-sysroot
gimp2_pc=$gimp2_at/usr/lib/x86_64-linux-gnu/pkgconfig
make_gimp2_sysroot() {
    local new=$gimp2_sys.new d pc
    rm -rf "$new" && mkdir -p "$new/debs"
    (cd "$new/debs" && apt-get download -q libgimp2.0-dev libgimp2.0) >"$base/gimp2-sysroot.log" 2>&1 ||
        { tail -5 "$base/gimp2-sysroot.log"; die "apt-get download libgimp2.0-dev libgimp2.0 failed on the host"; }
    mkdir -p "$root/tmp/gimp2-debs.$$"
    in_root sh -c "cd /tmp/gimp2-debs.$$ && { apt-get download -q libgtk2.0-dev libgtk2.0-0t64 ||
        { apt-get update -q && apt-get download -q libgtk2.0-dev libgtk2.0-0t64; }; }" \
        >>"$base/gimp2-sysroot.log" 2>&1 ||
        { tail -5 "$base/gimp2-sysroot.log"; die "apt-get download libgtk2.0-dev failed in the root"; }
    mv "$root/tmp/gimp2-debs.$$"/*.deb "$new/debs/" && rmdir "$root/tmp/gimp2-debs.$$"
    for d in "$new"/debs/*.deb; do dpkg-deb -x "$d" "$new" || die "dpkg-deb -x $d failed"; done
    for pc in "$new"/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc; do
        sed -i -e "s|^prefix=/usr\$|prefix=$gimp2_at/usr|" \
            -e "s|^libdir=/usr/lib\$|libdir=$gimp2_at/usr/lib/x86_64-linux-gnu|" "$pc"
    done
    rm -rf "$gimp2_sys" && mv "$new" "$gimp2_sys"
}
(
    flock -x 8
    [ -f "$gimp2_sys/usr/lib/x86_64-linux-gnu/pkgconfig/gimpui-2.0.pc" ] || make_gimp2_sysroot
) 8>"$base/.gimp2-sysroot.lock"
mnt "$root$gimp2_at" --bind "$gimp2_sys"

build="$src/build-gimp3"
# reconfigured each time: a build folder made before the 2.10 sysroot existed then finds it
# (pkg_config_path, not PKG_CONFIG_PATH, which meson reads only at the first setup)
setup="cd '$src' && { if [ -f build-gimp3/build.ninja ]; then meson setup --reconfigure build-gimp3 \
    -Dpkg_config_path=$gimp2_pc >/dev/null; else meson setup build-gimp3 -Dplugin=enabled \
    -Dcuda=disabled -Dpkg_config_path=$gimp2_pc; fi; } &&
    ninja -C build-gimp3 plugin/gimp3/flux plugin/gimp2/flux cli/flux-generate gimp20-flux-gmo"
# the one build made both entries, each linked to its own libgimp
both="readelf -d '$build/plugin/gimp2/flux' | grep -q 'NEEDED.*\[libgimp-2.0.so.0\]' &&
    readelf -d '$build/plugin/gimp3/flux' | grep -q 'NEEDED.*\[libgimp-3.0.so.0\]' &&
    grep -q 'gimp-2.0' '$build/meson-info/intro-dependencies.json' &&
    grep -q 'gimp-3.0' '$build/meson-info/intro-dependencies.json'"
case $action in
shell) in_root bash -c "cd '$src' && exec bash -i" ;;
build) in_root bash -c "$setup" ;;
both)
    in_root bash -c "$setup && $both" || die "one build did not find both libgimps and build both entries"
    echo "== one build in $build found gimp-2.0 and gimp-3.0 and built both entries"
    ;;
test)
    # the tiny model as ComfyUI single files, for the single-file render test: written here,
    # because tests/comfy_tree.py needs numpy, which the root does not have
    # a CJK font for the Chinese dialog's screenshot, lent by the host (fonts-wqy-microhei, in
    # the README's package list): the root's package list stays as it is
    mkdir -p "$build/cjk-fonts"
    cp /usr/share/fonts/truetype/wqy/wqy-microhei.ttc "$build/cjk-fonts/" 2>/dev/null || true
    python3_np=${FLUX_PYTHON:-/usr/bin/python3}
    "$python3_np" "$src/tests/comfy_tree.py" "$shared/reference/tiny-flux-dev" "$build/comfy-tiny" ||
        die "writing the ComfyUI tree (tests/comfy_tree.py, needs python3-numpy on the host) failed"
    in_root bash -c "$setup && $both" || die "one build did not find both libgimps and build both entries"
    echo "== one build found gimp-2.0 and gimp-3.0 and built both entries (plugin/gimp2/flux, plugin/gimp3/flux)"
    in_root FLUX_GIMP3_REQUIRED=1 bash -c "cd '$src' && meson test -C build-gimp3 --no-rebuild --suite gimp3 --print-errorlogs ${*:2}" ||
        die "the GIMP 3 tests failed (logs and screenshots: $build/meson-logs/)"
    if [ $# -le 1 ]; then
        echo "== the README's GIMP 3 install, as a normal user in the root"
        (cd "$src" && git ls-files 2>/dev/null || find . -path ./build\* -prune -o -type f -print) \
            >"$root/tmp/gimp-flux-files"
        in_root bash "$src/tests/gimp3/user-install.sh" "$src" /tmp/gimp-flux-files "$shared_at/reference" ||
            die "installing the plug-in as a normal user failed"
    fi
    echo "== GIMP 3 stage passed in $((SECONDS - t0)) s; screenshots in $build/meson-logs/gimp3-artifacts/"
    ;;
*) die "unknown action $action (test, build or shell)" ;;
esac
