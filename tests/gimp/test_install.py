#!/usr/bin/env python3
"""test_install.py — `meson install` of the GIMP 2.10 plug-in needs no root (issue 11).

  1. The install plan (`meson introspect --installed`): with the defaults (plugin_install=user,
     cli_install=false) every file goes into the user's own folders (--home: the GIMP 2.10
     folder --gimp-user-dir, and the GIMP 3 one when that entry is built too): the plug-in, its
     translations, its tokenizers and the Script-Fu script; nothing into the prefix
     (flux-generate only with -Dcli_install=true).
  2. A real install as an unprivileged user (uid 65534 via setpriv when this runs as root)
     into a --destdir: every planned file arrives, with the plug-in executable, and nothing
     else is written.
Exit 0 passed, 1 failed, 77 skipped (the build was configured with other options).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

WANT = ["plug-ins/flux/flux",
        "plug-ins/flux/tokenizers/tokenizer/vocab.json",
        "plug-ins/flux/tokenizers/tokenizer/merges.txt",
        "plug-ins/flux/tokenizers/tokenizer_2/spiece.model",
        "plug-ins/flux/locale/de/LC_MESSAGES/gimp20-flux.mo",
        "plug-ins/flux/locale/zh_CN/LC_MESSAGES/gimp20-flux.mo",
        "scripts/flux-variations.scm"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--gimp-user-dir", required=True)
    ap.add_argument("--home", required=True)
    ap.add_argument("--meson", default="meson")
    args = ap.parse_args()
    failures = []

    def check(name, ok, detail=""):
        print("%s %s%s" % ("ok  " if ok else "FAIL", name, ": " + detail if detail and not ok else ""))
        if not ok:
            failures.append(name)

    opts = {o["name"]: o["value"] for o in json.loads(subprocess.check_output(
        [args.meson, "introspect", "--buildoptions", args.build_dir]))}
    if opts.get("plugin_install") != "user" or opts.get("cli_install"):
        print("SKIP: configured with plugin_install=%s cli_install=%s" % (
            opts.get("plugin_install"), opts.get("cli_install")))
        return 77
    plan = json.loads(subprocess.check_output([args.meson, "introspect", "--installed", args.build_dir]))
    user = os.path.normpath(args.gimp_user_dir)
    home = os.path.normpath(args.home)
    outside = [d for d in plan.values() if not os.path.normpath(d).startswith(home + os.sep)]
    check("every planned file goes into the user's home %s" % home, not outside, str(outside))
    check("the 2.10 entry goes into the user's GIMP folder %s" % user,
          any(os.path.normpath(d).startswith(user + os.sep) for d in plan.values()), str(plan))
    check("nothing goes into the prefix %s" % opts["prefix"],
          not any(d.startswith(opts["prefix"] + os.sep) for d in plan.values()), str(plan))
    check("flux-generate is not installed unless asked", not any(
        os.path.basename(d) == "flux-generate" for d in plan.values()))

    dest = tempfile.mkdtemp(prefix="flux-install-")
    try:
        os.chmod(dest, 0o777)
        cmd = [args.meson, "install", "-C", args.build_dir, "--no-rebuild", "--destdir", dest]
        env = dict(os.environ)
        drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        plan_file = os.path.join(os.path.abspath(args.build_dir), "meson-private", "install.dat")
        if os.geteuid() == 0 and (not shutil.which("setpriv") or subprocess.run(
                drop + ["test", "-r", plan_file]).returncode != 0):
            # e.g. a checkout under /root (mode 700): the plan above is the check that counts
            print("note: uid 65534 cannot read %s; installing as root into the destdir" % plan_file)
        elif os.geteuid() == 0:
            # meson writes its install log into the build folder: let the user write it
            log = os.path.join(args.build_dir, "meson-logs", "install-log.txt")
            open(log, "a").close()
            os.chmod(log, 0o666)
            cmd = drop + cmd
            env["HOME"] = dest
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        check("meson install as uid %s succeeds" % (cmd[1][8:] if cmd[0] == "setpriv" else os.geteuid()),
              r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:])
        got = set()
        for root, _, files in os.walk(dest):
            for f in files:
                got.add(os.path.relpath(os.path.join(root, f), dest + user))
        for w in WANT:
            check("installed %s" % w, w in got, "\n".join(sorted(got)))
        home_rel = os.path.relpath(home, user)
        check("nothing written outside the user's home",
              all(not os.path.relpath(g, home_rel).startswith("..") for g in got),
              "\n".join(sorted(got)))
        binary = os.path.join(dest + user, "plug-ins/flux/flux")
        check("the plug-in is executable", os.access(binary, os.X_OK))
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
