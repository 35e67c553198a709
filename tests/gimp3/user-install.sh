#!/usr/bin/env bash
# user-install.sh — runs inside the Debian 13 root (tests/gimp3/chroot.sh): the README's GIMP 3
# install as a normal user, from a copy of the tracked files (FILE_LIST, one path a line):
# meson setup + ninja + `meson install --tags plugin,i18n` must put the plug-in and its
# catalogs and tokenizers into ~/.config/GIMP/3.0/plug-ins/flux/ without root, and GIMP 3
# must find it. ~ is a fresh folder under /home/artist for each run.
set -euo pipefail
src=$1 file_list=$2 reference=$3
id artist >/dev/null 2>&1 || useradd -m artist
# a home of its own per run: other checkouts may run this in the same root at the same time
home=$(mktemp -d /home/artist/run.XXXXXX)
trap 'rm -rf "$home"' EXIT
mkdir -p "$home/src"
(cd "$src" && tar -cf - -T "$file_list") | tar -xf - -C "$home/src"
chown -R artist:artist "$home"
as_artist() { su artist -c "export HOME='$home'; cd; $1"; }
as_artist "cd src && meson setup build --buildtype=release -Dplugin=enabled \
    -Dreference_dir='$reference' >/dev/null && ninja -C build plugin/gimp3/flux gimp20-flux-gmo >/dev/null \
    && meson install -C build --no-rebuild --tags plugin,i18n"
d=$home/.config/GIMP/3.0/plug-ins/flux
for f in flux locale/de/LC_MESSAGES/gimp20-flux.mo locale/zh_CN/LC_MESSAGES/gimp20-flux.mo \
    tokenizers/tokenizer/vocab.json tokenizers/tokenizer_2/spiece.model; do
    [ -f "$d/$f" ] || { echo "user install: $d/$f missing"; exit 1; }
done
out=$(as_artist 'timeout 120 gimp-console-3.0 -i -d -f --quit --batch-interpreter=plug-in-script-fu-eval \
    -b "(gimp-message (if (gimp-pdb-procedure-exists \"plug-in-flux-generate-image\") \"FOUND\" \"MISSING\"))"' 2>&1)
grep -q "FOUND" <<<"$out" || { echo "$out" | tail -20; echo "user install: GIMP 3 does not list the plug-in"; exit 1; }
echo "user install OK: $d (no root), and GIMP 3 lists plug-in-flux-generate-image"
