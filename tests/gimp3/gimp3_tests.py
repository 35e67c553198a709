#!/usr/bin/env python3
"""gimp3_tests.py — the FLUX plug-in inside a real GIMP 3 (stdlib only).

Every GIMP run is a `gimp-console-3.0 --batch-interpreter=… -b …` (or gimp-3.0 under Xvfb)
on a private profile (GIMP3_DIRECTORY) under --work, with the plug-in and its translations
installed into it and the progress spy (tests/gimp/progress-spy.c) preloaded.

  headless  Script-Fu (v3 dialect, named arguments) and Python-Fu calls: a new layer equal
            to the golden picture, the progress texts, the PDB signatures, File ▸ Create,
            random seeds, selection placement, bad arguments (a calling error naming the
            value), a kill in the middle of a run (image untouched), no display, German.
            FLUX Repaint (plug-in-flux-edit, edit_checks.py): a selection in a bigger image →
            one masked layer over the box equal to flux-generate on the crop (±1); img2img of
            the layer; bad arguments; a kill leaves the image as it was.
  gui       gimp-3.0 under Xvfb: Filters ▸ Render ▸ FLUX Text to Image... from the menu,
            prompt typed, Enter; the layer, the saved last values, then a RUN-WITH-LAST-VALS
            call giving the golden picture again. FLUX Repaint... from the menu in both modes
            (a selection: Region size; none: Strength), values typed, the new layer, the last
            values GIMP saved. Screenshots go to --artifacts.
Exit status: 0 all passed, 1 a check failed.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gimp"))
from gimp_tests import (chosen_companions, comfy_tree, pixels, picture_rows,  # noqa: E402
                        write_lora, write_png)  # (the 2.10 suite's helpers)

GOLDEN = "golden/pipeline_p64x64_s4.png"  # "a photo of a cat", 64², 4 steps, 3.5, seed 0
PROMPT = "a photo of a cat"
HERE = os.path.dirname(os.path.abspath(__file__))
failures = []
T0 = time.time()


def check(name, ok, detail=""):
    print("%5.1f s  %s %s%s" % (time.time() - T0, "ok  " if ok else "FAIL", name,
                                ": " + str(detail) if detail and not ok else ""), flush=True)
    if not ok:
        failures.append(name)
    return ok


def compare(name, path, want, w=64, h=64, tol=1):
    try:
        gw, gh, got = pixels(path, 3)
    except Exception as e:  # noqa: BLE001 - reported as a failed check
        return check(name, False, e)
    if (gw, gh) != (w, h):
        return check(name, False, "size %dx%d, expected %dx%d" % (gw, gh, w, h))
    worst = max(abs(a - b) for a, b in zip(got, want))
    return check("%s (max |diff| %d)" % (name, worst), worst <= tol)


def q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Env:
    def __init__(self, args):
        self.args = args
        self.profile = os.path.join(args.work, "profile")
        self.kill_file = os.path.join(args.work, "kill-at")
        self.spy = os.path.join(args.work, "progress-spy.so")

    def vars(self, lang="C.UTF-8"):
        env = dict(os.environ)
        w = self.args.work
        env.update(GIMP3_DIRECTORY=self.profile, XDG_CACHE_HOME=os.path.join(w, "cache"),
                   XDG_DATA_HOME=os.path.join(w, "data"), XDG_CONFIG_HOME=os.path.join(w, "config"),
                   LANG=lang, LD_PRELOAD=self.spy, FLUX_SPY_KILL_FILE=self.kill_file, NO_AT_BRIDGE="1",
                   FLUX_T_OUT=self.args.out, FLUX_T_MODEL=self.args.model, FLUX_T_PROMPT=PROMPT)
        return env

    def batch(self, log, interpreter, *commands, lang="C.UTF-8", gui=False):
        """Runs GIMP with -b commands; returns (exit code, log text)."""
        exe = ["gimp-3.0", "--no-splash", "-d"] if gui else ["gimp-console-3.0", "-i", "-d", "-f"]
        cmd = ["timeout", "150"] + exe + ["--quit", "--batch-interpreter=" + interpreter]
        for c in commands:
            cmd += ["-b", c]
        path = os.path.join(self.args.out, log)
        with open(path, "wb") as f:
            rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=self.vars(lang)).returncode
        return rc, open(path, encoding="utf-8", errors="replace").read()

    def scheme(self, log, body, lang="C.UTF-8"):
        return self.batch(log, "plug-in-script-fu-eval", "(script-fu-use-v3) " + body, lang=lang)


def setup(args):
    """A fresh profile with the plug-in and its translations installed."""
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    os.makedirs(args.out, exist_ok=True)
    e = Env(args)
    subprocess.run([os.environ.get("CC", "cc"), "-shared", "-fPIC", "-O2", "-o", e.spy,
                    os.path.join(HERE, "..", "gimp", "progress-spy.c"), "-ldl"], check=True)
    env = e.vars()
    env.pop("LD_PRELOAD")
    # GIMP creates the profile on its first start; installing into it before would skip that
    subprocess.run(["timeout", "120", "gimp-console-3.0", "-i", "-d", "-f", "--quit"], env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    with open(os.path.join(e.profile, "gimprc"), "a") as f:
        f.write("(show-welcome-dialog no)\n")
    pdir = os.path.join(e.profile, "plug-ins", "flux")
    os.makedirs(pdir)
    shutil.copy2(args.plugin, os.path.join(pdir, "flux"))
    langs = []
    mo = args.gettext_package + ".mo"
    for lang in sorted(os.listdir(args.po_build_dir)) if os.path.isdir(args.po_build_dir) else []:
        src = os.path.join(args.po_build_dir, lang, "LC_MESSAGES", mo)
        if os.path.isfile(src):
            dst = os.path.join(pdir, "locale", lang, "LC_MESSAGES")
            os.makedirs(dst)
            shutil.copy2(src, dst)
            langs.append(lang)
    check("translations de and zh_CN built and installed", {"de", "zh_CN"} <= set(langs), langs)
    # a CJK font lent by the host (chroot.sh), for a readable Chinese dialog in the screenshots
    if args.cjk_fonts and os.path.isdir(args.cjk_fonts):
        shutil.copytree(args.cjk_fonts, os.path.join(args.work, "data", "fonts"))
    # the tokenizers beside the binary, as meson install puts them (for single files)
    shutil.copytree(os.path.join(HERE, "..", "..", "data", "tokenizers"), os.path.join(pdir, "tokenizers"),
                    ignore=shutil.ignore_patterns("README.md"))
    return e


def remember_model(e, model):
    with open(os.path.join(e.profile, "flux-plugin.ini"), "w") as f:
        f.write("[flux]\nmodel=%s\n" % model)


def layer_call(img, bg, mode="RUN-NONINTERACTIVE", **kw):
    a = dict(prompt=q(PROMPT), width=64, height=64, num_steps=4, guidance="3.5", seed=0, model='""')
    a.update(kw)
    return ("(plug-in-flux-generate #:run-mode %s #:image %s #:drawables (vector %s) #:prompt %s "
            "#:width %s #:height %s #:num-steps %s #:guidance %s #:seed %s #:model %s)"
            % (mode, img, bg, a["prompt"], a["width"], a["height"], a["num_steps"], a["guidance"],
               a["seed"], a["model"]))


NEW_IMAGE = ('(img (gimp-image-new 64 64 RGB))'
             ' (bg (gimp-layer-new img "bg" 64 64 RGB-IMAGE 100 LAYER-MODE-NORMAL))'
             ' (dummy (begin (gimp-image-insert-layer img bg 0 0) (gimp-drawable-fill bg FILL-WHITE)))')


# ---------------------------------------------------------------------------------------
# headless

def companion_checks(e, args, model, golden, plain_png):
    """Script-Fu with companions chosen by hand (PATH;vae=FILE;clip_l=FILE;t5=FILE): the tiny
    model's own files, copied elsewhere, give the plain folder's picture; a wrong one is a
    calling error naming the file."""
    spec, files = chosen_companions(model, os.path.join(args.out, "chosen"))
    png = os.path.join(args.out, "scriptfu-chosen-companions.png")
    rc, log = e.scheme("chosen-companions.log", """(let* (%s (r %s))
        (gimp-file-save RUN-NONINTERACTIVE img %s -1) (gimp-image-delete img))"""
                       % (NEW_IMAGE, layer_call("img", "bg", model=q(spec)), q(png)))
    if check("Script-Fu, model string with VAE, CLIP-L and T5 chosen: succeeds", rc == 0,
             "rc %d\n%s" % (rc, log[-3000:])):
        compare("chosen companions: the image equals the golden PNG", png, golden)
        check("chosen companions: the image equals the plain folder's render",
              os.path.isfile(plain_png) and pixels(png, 3) == pixels(plain_png, 3))
    for what, m, needle in [
            ("the CLIP-L file as the VAE", model + ";vae=" + files["clip_l"],
             "“%s” is not the VAE (ae.safetensors): it holds other weights" % files["clip_l"]),
            ("a misspelt part", model + ";clip=" + files["clip_l"], "“clip=” is not one of its parts")]:
        rc, log = e.scheme("bad-companion-%s.log" % what.split()[-1],
                           "(let* (%s) %s)" % (NEW_IMAGE, layer_call("img", "bg", model=q(m))))
        check("companion chosen wrongly, %s: calling error naming it" % what,
              rc == 70 and "Calling error for procedure 'plug-in-flux-generate'" in log and needle in log,
              "rc %d\n%s" % (rc, log[-1500:]))


def headless(args, golden):
    e = setup(args)
    model = args.model

    # 1. Script-Fu, named arguments: a new layer on top equal to the golden picture
    png = os.path.join(args.out, "scriptfu-layer.png")
    rc, log = e.scheme("scriptfu.log", """(let* (%s (r %s) (layer (car r)))
        (gimp-message (string-append "RESULT " (number->string (vector-length (gimp-image-get-layers img)))
          " " (number->string (cadr r)) " " (number->string (gimp-image-get-item-position img layer))
          " " (gimp-item-get-name layer) "|"))
        (gimp-file-save RUN-NONINTERACTIVE img %s -1) (gimp-image-delete img))"""
                       % (NEW_IMAGE, layer_call("img", "bg", model=q(model)), q(png)))
    m = re.search(r"RESULT (\d+) (-?\d+) (-?\d+) ([^|]*)\|", log)
    if check("Script-Fu call succeeds (exit 0)", rc == 0 and m, "rc %d\n%s" % (rc, log[-3000:])):
        check("2 layers, seed 0 returned, new layer on top, named after the prompt and the seed",
              m.groups() == ("2", "0", "0", PROMPT + " (seed 0)"), m.groups())
        compare("Script-Fu layer equals the golden PNG", png, golden)
    texts = re.findall(r'PROGRESS-SPY flux (?:init|text) "([^"]*)"', log)
    updates = re.findall(r"PROGRESS-SPY flux update ([0-9.]+)", log)
    steps_seen = []
    for t in texts:  # a step's text may be refreshed (time left) while it runs
        if not steps_seen or t.split(" —")[0] != steps_seen[-1]:
            steps_seen.append(t.split(" —")[0])
    check("progress texts per phase and step (step 1 named as soon as it starts)",
          steps_seen == ["Loading model", "Encoding prompt", "Step 1/4", "Step 2/4", "Step 3/4",
                         "Step 4/4", "Decoding"]
          and all(" left" in t for t in texts[3:] if t.startswith("Step")), texts)
    # tiny-flux-dev has 2 + 2 transformer blocks: 3 updates inside each step, 1 at its end
    check("progress bar moves inside the steps: 19 rising updates (3 phases + 4 × 4)",
          len(updates) == 19 and [float(u) for u in updates] == sorted(float(u) for u in updates)
          and len(set(updates)) == 19, updates)

    companion_checks(e, args, model, golden, png)

    # 2. Python-Fu: signatures, File > Create, seeds, selection, kill, no display, remembered model
    remember_model(e, model)
    write_lora(os.path.join(args.out, "style.safetensors"))  # for pdb_checks.py's LoRA calls
    rc, log = e.batch("python.log", "python-fu-eval",
                      "exec(open(%r).read())" % os.path.join(HERE, "pdb_checks.py"))
    path = os.path.join(args.out, "pdb-checks.json")
    if not check("Python-Fu checks ran (exit 0)", rc == 0 and os.path.isfile(path), "rc %d\n%s" % (rc, log[-3000:])):
        return
    r = json.load(open(path))
    render = ["prompt", "width", "height", "num-steps", "guidance", "seed", "model"]
    lp, ip = r["plug-in-flux-generate"], r["plug-in-flux-generate-image"]
    check("layer procedure: the 2.10 arguments after run-mode, image, drawables",
          lp["args"] == ["run-mode", "image", "drawables"] + render, lp["args"])
    check("image procedure: run-mode + the 2.10 arguments", ip["args"] == ["run-mode"] + render, ip["args"])
    check("return values: layer/image and seed", (lp["rets"], ip["rets"]) == (["layer", "seed"], ["image", "seed"]),
          (lp["rets"], ip["rets"]))
    check("menus: Filters > Render and File > Create",
          (lp["menu"], ip["menu"]) == (["<Image>/Filters/Render"], ["<Image>/File/Create"]), (lp["menu"], ip["menu"]))
    im = r.get("image")
    if check("File > Create succeeds", r["image_status"] == "success", r.get("image_error")):
        check("new image 64x64 RGB u8 non-linear, one layer named after the prompt, seed 0",
              (im["size"], im["base"], im["precision"], im["layers"], im["seed"])
              == ([64, 64], "rgb", "u8-non-linear", [PROMPT + " (seed 0)"], 0), im)
        compare("new image equals the golden PNG", im["png"], golden)
    rs = r.get("random_seed")
    check("seed -1 draws a seed in 0..2^31-1", r["random_status"] == "success" and 0 <= rs < 2 ** 31, rs)
    ra = r.get("random_again")
    if check("the returned seed reproduces the run", ra and ra[0] == "success" and ra[1] == rs, ra):
        check("same seed, same pixels", pixels(ra[2], 3) == pixels(ra[3], 3))
    check("selection: layer at its corner (20,10), 40x37 floored to 32x32", r["selection"] == [32, 32, 20, 10],
          r["selection"])
    k = r["kill"]
    check("killed at step 2 (Cancel): the call fails", k["status"] != "success"
          and 'PROGRESS-SPY flux killed at "Step 2/' in log, k)
    check("killed at step 2 (Cancel): the image keeps its layers", k["before"] == k["after"], k)
    check("INTERACTIVE without a display fails cleanly", r["interactive"][0] == "execution-error"
          and any("needs a display" in v for v in r["interactive"]), r["interactive"])
    check("an empty model argument uses the remembered folder", r["remembered_model"] == "success",
          r["remembered_model"])
    rv = r["relative_vae"]
    if check("Python-Fu, model string with a relative VAE: succeeds", rv[0] == "success", rv):
        compare("relative VAE: the layer equals the golden PNG", rv[1], golden)
    check("-loras procedure: the image procedure's arguments + loras",
          r["loras_args"] == ["run-mode"] + render + ["loras"], r["loras_args"])
    lr = r["loras"]
    if check("-loras with \"\" succeeds", lr["none"][0] == "success", lr["none"]):
        compare("-loras with \"\" equals the golden PNG", lr["none"][1], golden)
    if check("-loras with a LoRA at strength 1 succeeds", lr["strength1"][0] == "success", lr["strength1"]):
        check("-loras with a LoRA at strength 1 changes the picture", pixels(lr["strength1"][1], 3)[2] != golden)
    check("a missing LoRA file fails naming it", lr["missing"][0] != "success"
          and any("gone.safetensors" in v for v in lr["missing"]), lr["missing"])
    lines = log.count("Plug-in crashed")
    check("no crash other than the deliberate kill", lines <= 1, "%d crashes" % lines)

    # 3. bad arguments: exit code 70, a calling error naming the value
    # out-of-range numbers are refused by GIMP before the plug-in runs, naming the value
    bad = [("width 0", dict(width=0), ["has value 0 out of range: 16 to 4096"]),
           ("seed -7", dict(seed=-7), ["has value -7 out of range: -1 to 2147483647"]),
           ("guidance 101", dict(guidance="101"), ["has value 101.000000 out of range"]),
           ("missing model folder", dict(model=q("/nonexistent/flux")),
            ["Calling error for procedure 'plug-in-flux-generate'",
             "“/nonexistent/flux” does not exist. Choose the folder of a FLUX.1 model"]),
           ("empty model, none remembered", dict(model='""'),
            ["Calling error for procedure 'plug-in-flux-generate'", "No model given"])]
    os.remove(os.path.join(e.profile, "flux-plugin.ini"))
    for what, kw, needles in bad:
        kw.setdefault("model", q(model))
        rc, log = e.scheme("bad-%s.log" % what.replace(" ", "-"),
                           "(let* (%s) %s)" % (NEW_IMAGE, layer_call("img", "bg", **kw)))
        check("bad argument, %s: calling error naming it" % what,
              rc == 70 and all(n in log for n in needles),
              "rc %d\n%s" % (rc, log[-1500:]))

    # 4. translations through set_i18n: the same error in German
    rc, log = e.scheme("de.log", "(let* (%s) %s)" % (NEW_IMAGE, layer_call("img", "bg", model=q("/nonexistent/flux"))),
                       lang="de_DE.UTF-8")
    check("German (de_DE.UTF-8): the plug-in's error is translated",
          rc == 70 and "„/nonexistent/flux“ existiert nicht. Wählen Sie den Ordner" in log, log[-1500:])
    # and in Chinese: the zh_CN catalogue is loaded at run time (the root has no CJK font for a
    # screenshot, so the text GIMP returns is checked)
    rc, log = e.scheme("zh_CN.log", "(let* (%s) %s)" % (NEW_IMAGE, layer_call("img", "bg", model=q("/nonexistent/flux"))),
                       lang="zh_CN.UTF-8")
    check("Chinese (zh_CN.UTF-8): the plug-in's error is translated",
          rc == 70 and "“/nonexistent/flux”不存在。请选择 FLUX.1 模型的文件夹" in log, log[-1500:])

    # 5. a ComfyUI tree's transformer file as the model argument (single files only: VAE,
    # CLIP-L, T5 found beside it, configs from their shapes, the tokenizers installed with the
    # plug-in); chroot.sh writes the tree from the host (tests/comfy_tree.py needs numpy)
    tr = comfy_tree(args.comfy_tree, args.model)
    png = os.path.join(args.out, "comfy-layer.png")
    rc, log = e.scheme("comfy.log", "(let* (%s (r %s)) (gimp-file-save RUN-NONINTERACTIVE img %s -1) (gimp-image-delete img))"
                       % (NEW_IMAGE, layer_call("img", "bg", model=q(tr or "(no tree)")), q(png)))
    if check("a ComfyUI transformer file as the model renders (exit 0)", tr and rc == 0, "rc %d\n%s" % (rc, log[-3000:])):
        compare("single-file layer equals the folder's render (±1)", png,
                pixels(os.path.join(args.out, "scriptfu-layer.png"), 3)[2])

    edit_headless(e, args)


# ---------------------------------------------------------------------------------------
# FLUX Repaint (plug-in-flux-edit), headless

EDIT_W, EDIT_H = 200, 160


def edit_picture():
    """A 200×160 RGB picture with structure in every channel (the model sees it)."""
    return [v for y in range(EDIT_H) for x in range(EDIT_W)
            for v in ((x * 5 + y * 3) % 256, (x * y // 7) % 256, (255 - 2 * x + y) % 256)]


def cli_run(args, out, name, init_png, mask_png, strength, seed):
    ref = os.path.join(out, name)
    cmd = [args.cli, "--model", args.model, "--prompt", PROMPT, "--init-image", init_png,
           "--strength", strength, "--steps", "4", "--guidance", "3.5", "--seed", str(seed),
           "--output", ref, "--quiet"] + (["--mask", mask_png] if mask_png else [])
    run = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, FLUX_DEVICE="cpu"))
    return ref if check("flux-generate on the crop runs (%s)" % name, run.returncode == 0, run.stderr) else None


def edit_call(**kw):
    a = dict(prompt=q(PROMPT), num_steps=4, guidance="3.5", seed=3, model='""', strength="1.0", size=64)
    a.update(kw)
    return ("(plug-in-flux-edit #:run-mode RUN-NONINTERACTIVE #:image img #:drawables (vector bg) "
            "#:prompt %s #:num-steps %s #:guidance %s #:seed %s #:model %s #:strength %s #:size %s)"
            % (a["prompt"], a["num_steps"], a["guidance"], a["seed"], a["model"], a["strength"], a["size"]))


def edit_headless(e, args):
    out = args.out
    full = edit_picture()
    picture = os.path.join(out, "edit-picture.png")
    write_png(picture, EDIT_W, EDIT_H, 3, full)
    env_extra = dict(FLUX_T_PICTURE=picture)
    os.environ.update(env_extra)  # Env.vars copies os.environ
    rc, log = e.batch("edit.log", "python-fu-eval", "exec(open(%r).read())" % os.path.join(HERE, "edit_checks.py"))
    path = os.path.join(out, "edit-checks.json")
    if not check("[repaint] Python-Fu checks ran (exit 0)", rc == 0 and os.path.isfile(path),
                 "rc %d\n%s" % (rc, log[-3000:])):
        return
    r = json.load(open(path))
    sig = r["signature"]
    check("[repaint] plug-in-flux-edit: the 2.10 arguments (drawables for drawable) and returns",
          sig["args"] == ["run-mode", "image", "drawables", "prompt", "num-steps", "guidance", "seed",
                          "model", "strength", "size"] and sig["rets"] == ["layer", "seed"], sig)
    check("[repaint] menu Filters > Render", sig["menu"] == ["<Image>/Filters/Render"], sig["menu"])

    # the box: the 20×20 selection at (120,90) + 2·32 context = 84 → 96, centred on (130,100)
    rp = r["repaint"]
    if check("[repaint] a selection: the call succeeds", rp["status"] == "success", rp):
        check("[repaint] exactly one new layer, on top, named after the prompt",
              (rp["layers"], rp["before"], rp["position"], rp["name"]) == (2, 1, 0, PROMPT), rp)
        check("[repaint] the layer is 96x96 at (82,52) with a layer mask",
              (rp["size"], rp["offsets"], rp["mask"]) == ([96, 96], [82, 52], True), rp)
        crop = [full[((52 + y) * EDIT_W + 82 + x) * 3 + c] for y in range(96) for x in range(96) for c in range(3)]
        mask = [255 if 120 <= 82 + x < 140 and 90 <= 52 + y < 110 else 0 for y in range(96) for x in range(96)]
        init_png, mask_png = os.path.join(out, "edit-crop.png"), os.path.join(out, "edit-mask.png")
        write_png(init_png, 96, 96, 3, crop)
        write_png(mask_png, 96, 96, 1, mask)
        ref = cli_run(args, out, "edit-cli.png", init_png, mask_png, "1.0", rp["seed"]) if args.cli else None
        if check("[repaint] flux-generate available for the comparison", ref is not None):
            compare("[repaint] layer pixels = flux-generate --init-image crop --mask (±1)", rp["png"],
                    pixels(ref, 3)[2], 96, 96)
        check("[repaint] the layer below keeps its pixels", pixels(rp["bg_png"], 3)[2] == full)
    k = r["kill"]
    check("[repaint] killed at step 2 (Cancel): the call fails, the image keeps its layers",
          k["status"] != "success" and k["before"] == k["after"]
          and 'PROGRESS-SPY flux killed at "Step 2/' in log, k)

    i2 = r["img2img"]
    if check("[img2img] no selection: the call succeeds", i2["status"] == "success", i2):
        check("[img2img] 192x160 at the layer's (5,7), no mask",
              (i2["size"], i2["offsets"], i2["mask"]) == ([192, 160], [5, 7], False), i2)
        crop = [full[(y * EDIT_W + x) * 3 + c] for y in range(160) for x in range(192) for c in range(3)]
        init_png = os.path.join(out, "img2img-crop.png")
        write_png(init_png, 192, 160, 3, crop)
        ref = cli_run(args, out, "img2img-cli.png", init_png, None, "0.5", i2["seed"]) if args.cli else None
        if ref:
            compare("[img2img] layer pixels = flux-generate --init-image --strength 0.5 (±1)", i2["png"],
                    pixels(ref, 3)[2], 192, 160)
    check("[img2img] no drawable given: the selected layer is used",
          r["no_drawable"] == ["success", 192], r["no_drawable"])

    # bad arguments: exit code 70 and a calling error naming the value; the image untouched
    bad = [("strength 0", dict(strength="0"), ["Calling error for procedure 'plug-in-flux-edit'",
                                               "strength 0 is out of range"]),
           ("strength 1.5", dict(strength="1.5"), ["has value 1.500000 out of range"]),
           ("size 5", dict(size=5), ["Calling error for procedure 'plug-in-flux-edit'",
                                     "Size 5 is out of range"]),
           ("steps 0", dict(num_steps=0), ["has value 0 out of range: 1 to"]),
           ("missing model folder", dict(model=q("/nonexistent/flux")),
            ["Calling error for procedure 'plug-in-flux-edit'", "“/nonexistent/flux” does not exist"])]
    for what, kw, needles in bad:
        kw.setdefault("model", q(args.model))
        rc, log = e.scheme("edit-bad-%s.log" % what.replace(" ", "-"), """(let* ((img (gimp-file-load RUN-NONINTERACTIVE %s))
            (bg (vector-ref (gimp-image-get-layers img) 0)))
          (gimp-image-select-rectangle img CHANNEL-OP-REPLACE 120 90 20 20)
          (gimp-message (string-append "LAYERS " (number->string (vector-length (gimp-image-get-layers img))) "|"))
          %s)""" % (q(picture), edit_call(**kw)))
        check("[repaint] bad argument, %s: calling error naming it" % what,
              rc == 70 and all(n in log for n in needles) and "LAYERS 1|" in log,
              "rc %d\n%s" % (rc, log[-1500:]))


# ---------------------------------------------------------------------------------------
# gui

def xdo(*a):
    return subprocess.run(["xdotool"] + list(a), capture_output=True, text=True).stdout.strip()


def find_window(pattern, timeout=60, by="--classname"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        ids = xdo("search", "--onlyvisible", by, pattern).split()
        if ids:
            return ids[-1]
        time.sleep(0.3)
    return None


def shot(out, name):
    path = os.path.join(out, name)
    subprocess.run(["timeout", "20", "import", "-window", "root", path], capture_output=True)
    return path


def keys(*ks):
    for k in ks:
        xdo("key", "--clearmodifiers", k)
        time.sleep(0.15)


def typ(text):
    xdo("type", "--delay", "40", text)
    time.sleep(0.2)


def gui(args, golden):
    e = setup(args)
    remember_model(e, args.model)  # as if chosen in an earlier session
    out = args.out
    # -displayfd: Xvfb picks a free display (its abstract socket is shared with the host,
    # where other X servers may run) and writes the number to the pipe
    rfd, wfd = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(wfd), "-screen", "0", "1280x1024x24",
                             "-nolisten", "tcp"], pass_fds=(wfd,), stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(out, "xvfb.log"), "wb"))
    os.close(wfd)
    with os.fdopen(rfd) as f:
        display = ":" + f.readline().strip()
    os.environ["DISPLAY"] = display
    env = e.vars()
    print("Xvfb on display " + display, flush=True)
    try:
        run_gimp(env, out, "gui.log", "(script-fu-use-v3) (let* (%s) (gimp-display-new img))" % NEW_IMAGE,
                 lambda: gui_checks(e, out))
        # FLUX Repaint in both modes, on the 200×160 picture with a 20×20 selection
        picture = os.path.join(out, "edit-picture.png")
        write_png(picture, EDIT_W, EDIT_H, 3, edit_picture())
        run_gimp(env, out, "gui-repaint.log", """(script-fu-use-v3)
            (let* ((img (gimp-file-load RUN-NONINTERACTIVE %s)))
              (gimp-image-select-rectangle img CHANNEL-OP-REPLACE 120 90 20 20) (gimp-display-new img))"""
                 % q(picture), lambda: repaint_gui(e, out))
        # the dialog in German and Chinese (GIMP 3 binds the plug-in's catalog through set_i18n)
        for lang, locale, title in [("de", "de_DE.UTF-8", "FLUX Text zu Bild"),
                                    ("zh_CN", "zh_CN.UTF-8", "FLUX 文生图")]:
            run_gimp(e.vars(locale), out, "gui-%s.log" % lang, "(script-fu-use-v3) (let* (%s) (gimp-display-new img) %s)"
                     % (NEW_IMAGE, layer_call("img", "bg", mode="RUN-INTERACTIVE")),
                     lambda lang=lang, title=title: translated_dialog(out, lang, title))
    finally:
        xvfb.kill()
        xvfb.wait()
    # the last values the dialog saved, used by RUN-WITH-LAST-VALS from a script
    last = os.path.join(e.profile, "plug-in-settings", "GimpProcedureConfigRun-plug-in-flux-generate.last")
    text = open(last).read() if os.path.isfile(last) else ""
    check("last values saved after OK: prompt, 64x64, 4 steps, seed 0",
          all(s in text for s in ['(prompt "%s")' % PROMPT, "(width 64)", "(height 64)", "(num-steps 4)",
                                  "(seed 0)"]), text)
    png = os.path.join(out, "last-vals.png")
    rc, log = e.scheme("last-vals.log", """(let* (%s (r %s) (layer (car r)))
        (gimp-message (string-append "RESULT " (gimp-item-get-name layer) "|"))
        (gimp-file-save RUN-NONINTERACTIVE img %s -1))"""
                       % (NEW_IMAGE, layer_call("img", "bg", mode="RUN-WITH-LAST-VALS", prompt='"ignored"',
                                                width=16, height=16, num_steps=1, model='"/ignored"'), q(png)))
    if check("RUN-WITH-LAST-VALS call succeeds", rc == 0 and "RESULT " + PROMPT + " (seed 0)|" in log,
             log[-2000:]):
        compare("RUN-WITH-LAST-VALS (the dialog's values) equals the golden PNG", png, golden)


def run_gimp(env, out, log_name, batch, checks):
    """gimp-3.0 with one Script-Fu batch command while `checks` drives it; then killed."""
    with open(os.path.join(out, log_name), "wb") as log:
        g = subprocess.Popen(["timeout", "200", "dbus-run-session", "--", "gimp-3.0", "--no-splash",
                              "--batch-interpreter=plug-in-script-fu-eval", "-b", batch],
                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                             start_new_session=True)
        try:
            checks()
        finally:  # GIMP and its plug-ins too, so that no window of this run stays on the display
            try:
                os.killpg(g.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            g.wait()


def translated_dialog(out, lang, want_title):
    """The dialog opened under another language: its title from that catalogue, a screenshot
    (Chinese is readable when chroot.sh lent the root the host's CJK font), Escape closes it."""
    dlg = find_window("^flux$", 90)
    if not check("[%s] the dialog opens" % lang, dlg is not None):
        return
    time.sleep(1.5)
    shot(out, "dialog-%s.png" % lang)
    title = xdo("getwindowname", dlg)
    check("[%s] dialog title is translated" % lang, title == want_title, title)
    xdo("windowfocus", "--sync", dlg)
    keys("Escape")
    time.sleep(1)
    check("[%s] Escape closes the dialog" % lang, find_window("^flux$", 3) is None)


def gui_checks(e, out):
    win = find_window(r"GIMP$", 90, by="--name")
    if not check("the image window is there", win is not None):
        return
    time.sleep(2)
    dlg = open_flux(win, "t", (out, "menu-filters-render.png"))
    if not check("the dialog opens from Filters > Render > FLUX Text to Image...", dlg is not None):
        shot(out, "no-dialog.png")
        return
    time.sleep(1.5)
    check("dialog title", xdo("getwindowname", dlg) == "FLUX Text to Image", xdo("getwindowname", dlg))
    shot(out, "dialog.png")
    xdo("windowfocus", "--sync", dlg)
    time.sleep(0.3)
    keys("alt+p", "ctrl+a")
    typ(PROMPT)
    for mnemonic, value in [("alt+w", "64"), ("alt+g", "64"), ("alt+t", "4")]:
        keys(mnemonic, "ctrl+a")
        typ(value)
    keys("alt+a")  # Random off: the seed becomes editable
    keys("alt+e", "ctrl+a")
    typ("0")
    keys("Tab")
    keys("alt+n", "Down")  # Precision: Automatic → Exact (float32)
    time.sleep(0.5)
    keys("alt+i")  # ▸ Model files: the VAE, CLIP-L and T5 files of the folder
    time.sleep(0.8)
    shot(out, "dialog-model-files.png")
    keys("alt+p")  # back in the prompt: Enter there renders
    time.sleep(0.5)
    shot(out, "dialog-filled.png")
    keys("Return")
    two = wait_layers(win, 2)
    time.sleep(0.5)
    shot(out, "after.png")
    if not check("Enter in the prompt: the image has a second layer", two, xdo("getwindowname", win)):
        return
    xdo("windowfocus", "--sync", win)
    keys("ctrl+z")
    check("one Ctrl+Z removes the new layer (one undo step)", wait_layers(win, 1, timeout=10),
          xdo("getwindowname", win))
    ini = os.path.join(e.profile, "flux-plugin.ini")
    text = open(ini).read() if os.path.isfile(ini) else ""
    check("the Precision chosen (Exact) is remembered", "precision=float32" in text, text)
    preview_checks(win, out)


def open_flux(win, item, menu_shot=None):
    """Filters ▸ Render ▸ FLUX <item> from the image window's menu (keyboard): "t" Text to
    Image, "r" Repaint. The dialog's window, or None. menu_shot: (out, name) of a screenshot
    of the open Render menu."""
    xdo("windowfocus", "--sync", win)
    xdo("mousemove", "1279", "1023")
    time.sleep(0.5)
    keys("alt+r")
    time.sleep(0.7)
    keys("r")
    time.sleep(0.7)
    if menu_shot:
        shot(*menu_shot)
    keys(item)
    return find_window("^flux$", 30)


def wait_layers(win, n, timeout=90):
    want = ", %d layer%s)" % (n, "s" if n != 1 else "")
    deadline = time.time() + timeout
    while time.time() < deadline and want not in xdo("getwindowname", win):
        time.sleep(0.5)
    return want in xdo("getwindowname", win)


def repaint_run(e, out, win, dlg, n, what):
    """Screenshot of the filled dialog, Enter, the image's n-th layer (a check), and the last
    values GIMP saved afterwards ("" when the run did not end)."""
    window_shot(out, "repaint-dialog-%s-filled.png" % what, dlg)
    keys("Return")
    ok = wait_layers(win, n)
    time.sleep(0.5)
    shot(out, "repaint-after-%s.png" % what)
    if not check("[repaint gui] %s: the image has %d layers" % (what, n), ok, xdo("getwindowname", win)):
        return ""
    time.sleep(1)
    last = os.path.join(e.profile, "plug-in-settings", "GimpProcedureConfigRun-plug-in-flux-edit.last")
    return open(last).read() if os.path.isfile(last) else "(no last values)"


def repaint_gui(e, out):
    win = find_window(r"200x160.*GIMP$", 90, by="--name")  # a loaded picture shows as [Untitled]
    if not check("[repaint gui] the image window is there", win is not None,
                 [xdo("getwindowname", w) for w in xdo("search", "--onlyvisible", "--name", ".").split()]):
        shot(out, "repaint-no-window.png")
        return
    time.sleep(2)
    dlg = open_flux(win, "r")
    if not check("[repaint gui] the dialog opens from Filters > Render > FLUX Repaint...", dlg is not None):
        shot(out, "repaint-no-dialog.png")
        return
    time.sleep(1.5)
    check("[repaint gui] dialog title", xdo("getwindowname", dlg) == "FLUX Repaint", xdo("getwindowname", dlg))
    window_shot(out, "repaint-dialog-selection.png", dlg)
    xdo("windowfocus", "--sync", dlg)
    time.sleep(0.3)
    keys("alt+p", "ctrl+a")
    typ(PROMPT)
    for mnemonic, value in [("alt+t", "4"), ("alt+z", "64")]:  # Steps, Region size
        keys(mnemonic, "ctrl+a")
        typ(value)
    keys("alt+a")  # Random off
    keys("alt+e", "ctrl+a")
    typ("3")
    keys("Tab", "alt+p")
    time.sleep(0.5)
    text = repaint_run(e, out, win, dlg, 2, "selection")
    if not text:
        return
    check("[repaint gui] last values saved: prompt, 4 steps, seed 3, size 64",
          all(s in text for s in ['(prompt "%s")' % PROMPT, "(num-steps 4)", "(seed 3)", "(size 64)"]), text)

    # no selection: the Strength slider, the layer reworked
    xdo("windowfocus", "--sync", win)
    keys("ctrl+shift+a")  # Select ▸ None
    time.sleep(0.5)
    dlg = open_flux(win, "r")
    if not check("[repaint gui] no selection: the dialog opens again", dlg is not None):
        return
    time.sleep(1.5)
    window_shot(out, "repaint-dialog-layer.png", dlg)
    xdo("windowfocus", "--sync", dlg)
    time.sleep(0.3)
    keys("alt+n", "ctrl+a")  # Strength
    typ("0.5")
    keys("Tab", "alt+p")
    time.sleep(0.5)
    text = repaint_run(e, out, win, dlg, 3, "layer")
    if not text:
        return
    check("[repaint gui] last values saved: strength 0.5", "(strength 0.5)" in text, text)

    # each run is one undo step: Ctrl+Z removes the img2img layer; two more undo Select None
    # and then the masked layer with its mask (were they two steps, 2 layers would be left)
    xdo("windowfocus", "--sync", win)
    keys("ctrl+z")
    one = wait_layers(win, 2, 10)
    keys("ctrl+z", "ctrl+z")
    two = wait_layers(win, 1, 10) if one else False
    check("[repaint gui] one Ctrl+Z per run: the layer (with its mask) goes in one step", one and two,
          xdo("getwindowname", win))


def window_shot(out, name, wid):
    path = os.path.join(out, name)
    # PNG24: ImageMagick 7 would write a palette PNG, which the reader does not take
    subprocess.run(["timeout", "20", "import", "-window", wid, "PNG24:" + path], capture_output=True)
    return path


def preview_checks(win, out):
    """A longer run (1024², 30 steps): the preview window shows the picture forming, and its
    Stop leaves the image as it was (the same number of layers)."""
    layers_before = re.findall(r", \d+ layers?\)", xdo("getwindowname", win))
    dlg = open_flux(win, "t")
    if not check("preview run: the dialog opens again", dlg is not None):
        return
    time.sleep(1.5)
    xdo("windowfocus", "--sync", dlg)
    time.sleep(0.3)
    for mnemonic, value in [("alt+w", "1024"), ("alt+g", "1024"), ("alt+t", "30")]:
        keys(mnemonic, "ctrl+a")
        typ(value)
    keys("alt+p")
    keys("Return")
    pw = find_window("Preview$", 60, by="--name")
    if not check("the preview window opens", pw is not None):
        shot(out, "no-preview.png")
        return
    check("the preview window is titled", xdo("getwindowname", pw) == "FLUX Text to Image — Preview",
          xdo("getwindowname", pw))
    time.sleep(6)
    a = window_shot(out, "preview-a.png", pw)
    time.sleep(6)
    b = window_shot(out, "preview-b.png", pw)
    ra, rb = (picture_rows(p) if os.path.isfile(p) else None for p in (a, b))
    check("the preview picture changes within 6 s", ra and rb and ra != rb)
    if not check("the run is still going", find_window("Preview$", 1, by="--name") is not None):
        return
    xdo("windowfocus", pw)  # no --sync: it would wait forever for a window gone meanwhile
    time.sleep(0.3)
    keys("alt+s")  # Stop
    time.sleep(0.2)
    shot(out, "preview-stopping.png")
    deadline = time.time() + 60
    while time.time() < deadline and find_window("Preview$", 1, by="--name"):
        time.sleep(0.5)
    check("Stop closes the preview window", find_window("Preview$", 1, by="--name") is None)
    time.sleep(1)
    shot(out, "after-stop.png")
    check("after Stop the image is unchanged (same layers)",
          layers_before and re.findall(r", \d+ layers?\)", xdo("getwindowname", win)) == layers_before,
          "%s -> %s" % (layers_before, xdo("getwindowname", win)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["headless", "gui"])
    for opt in ["plugin", "po-build-dir", "gettext-package", "model", "work", "artifacts"]:
        ap.add_argument("--" + opt, required=True)
    ap.add_argument("--comfy-tree", help="where tests/comfy_tree.py wrote (or writes) the tiny ComfyUI tree")
    ap.add_argument("--cjk-fonts", help="a folder of CJK fonts for the GUI run (chroot.sh copies the host's)")
    ap.add_argument("--cli", help="flux-generate, for the FLUX Repaint comparisons")
    args = ap.parse_args()
    args.work = os.path.join(args.work, args.mode)
    args.out = os.path.join(args.artifacts, args.mode)
    shutil.rmtree(args.out, ignore_errors=True)
    gw, gh, golden = pixels(os.path.join(args.model, GOLDEN), 3)
    (headless if args.mode == "headless" else gui)(args, golden)
    print("%s: %d failure(s) in %.0f s; artifacts in %s" % (args.mode, len(failures), time.time() - T0, args.out))
    for f in failures:
        print("  FAILED: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
