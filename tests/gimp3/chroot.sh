#!/usr/bin/env bash
# chroot.sh — the GIMP 3 stage of the test suite on a Debian 12 host: a Debian 13 (trixie) root
# made with debootstrap (GIMP 3.0.4, libgimp-3.0-dev), the project built inside it, and the
# GIMP 3 tests (meson suite 'gimp3': headless gimp-console-3.0 and an Xvfb GUI run).
#
#   tests/gimp3/chroot.sh [test [TEST-NAME...]|shell|build]   (as root; test is the default)
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

build="$src/build-gimp3"
setup="cd '$src' && { [ -f build-gimp3/build.ninja ] || meson setup build-gimp3 -Dplugin=enabled \
    -Dcuda=disabled; } && ninja -C build-gimp3 plugin/gimp3/flux gimp20-flux-gmo"
case $action in
shell) in_root bash -c "cd '$src' && exec bash -i" ;;
build) in_root bash -c "$setup" ;;
test)
    # the tiny model as ComfyUI single files, for the single-file render test: written here,
    # because tests/comfy_tree.py needs numpy, which the root does not have
    python3_np=${FLUX_PYTHON:-/usr/bin/python3}
    "$python3_np" "$src/tests/comfy_tree.py" "$shared/reference/tiny-flux-dev" "$build/comfy-tiny" ||
        die "writing the ComfyUI tree (tests/comfy_tree.py, needs python3-numpy on the host) failed"
    in_root FLUX_GIMP3_REQUIRED=1 bash -c "$setup && meson test -C build-gimp3 --no-rebuild --suite gimp3 --print-errorlogs ${*:2}" ||
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
