#!/usr/bin/env python3
"""gimp_tests.py — the FLUX plug-in inside a real GIMP 2.10 (stdlib only).

GIMP runs the Script-Fu server, and every PDB call is one request over its socket, so each
call has its own error flag and message. The plug-in, its translations and the example script
are installed into a fresh private profile (GIMP2_DIRECTORY) under --work. An LD_PRELOADed
progress spy (progress-spy.c) logs the plug-in's progress calls into GIMP's log.

  headless  gimp-console-2.10: layer and image procedures against the golden picture,
            placement, last values, bad arguments, interactive without a display, a kill
            in the middle of a run, grayscale and float images, the variations script.
  gui       gimp-2.10 under Xvfb (started by run-gimp-tests.sh): the dialog in English and
            zh_CN, filled in with xdotool and confirmed with Enter, Ctrl+Z, Escape;
            screenshots go to --artifacts; the preview window of a longer run updates and
            its Stop leaves the image as it was.
Exit status: 0 all passed, 1 a check failed, 77 skipped.
"""
import argparse
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib

GOLDEN = "golden/pipeline_p64x64_s4.png"  # "a photo of a cat", 64², 4 steps, 3.5, seed 0
PROMPT = "a photo of a cat"
TITLES = {"en": "FLUX Text to Image", "zh_CN": "FLUX 文生图"}
STEP2 = {"en": "Step 2/", "zh_CN": "第 2/"}  # progress text of the second step

failures = []
T0 = time.time()


def check(name, ok, detail=""):
    print("%5.1f s  %s %s%s" % (time.time() - T0, "ok  " if ok else "FAIL", name,
                                ": " + detail if detail and not ok else ""), flush=True)
    if not ok:
        failures.append(name)
    return ok


# ---------------------------------------------------------------------------------------
# PNG reading (8- and 16-bit gray, gray+alpha, RGB, RGBA; not interlaced)

def read_png(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path + ": not a PNG"
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    w, h, depth, ctype, _, _, interlace = hdr
    assert depth in (8, 16) and interlace == 0 and ctype in (0, 2, 4, 6), (path, hdr)
    ch = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    bpp = ch * depth // 8
    raw, stride = zlib.decompress(idat), w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        ftype, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], (prev[x - bpp] if x >= bpp else 0)
            if ftype == 1:
                line[x] = (line[x] + a) & 255
            elif ftype == 2:
                line[x] = (line[x] + b) & 255
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    if depth == 16:  # to 8 bits, rounded
        rows = [bytearray((line[i] * 256 + line[i + 1] + 128) // 257 for i in range(0, len(line), 2))
                for line in rows]
    return w, h, ch, rows


def pixels(path, channels):
    """Pixels as a flat list with `channels` (1 gray or 3 RGB) values each, alpha dropped."""
    w, h, ch, rows = read_png(path)
    keep = 1 if ch in (1, 2) else 3
    out = []
    for line in rows:
        for x in range(w):
            out.extend(line[x * ch:x * ch + keep])
    assert keep == channels, "%s has %d colour channels, expected %d" % (path, keep, channels)
    return w, h, out


def srgb_to_gray(rgb):
    """babl's R'G'B' u8 → Y' u8: linearize, luminance from babl's D50-adapted sRGB primaries
    (the Y row of its RGB→XYZ matrix), re-encode."""
    def lin(v):
        v /= 255.0
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    def enc(y):
        y = 12.92 * y if y <= 0.0031308 else 1.055 * y ** (1 / 2.4) - 0.055
        return int(round(max(0.0, min(1.0, y)) * 255))
    return [enc(0.2224884 * lin(rgb[i]) + 0.7169037 * lin(rgb[i + 1]) + 0.0606079 * lin(rgb[i + 2]))
            for i in range(0, len(rgb), 3)]


def compare(name, path, want_w, want_h, want, channels=3, tol=1):
    try:
        w, h, got = pixels(path, channels)
    except Exception as e:  # noqa: BLE001 - reported as a failed check
        return check(name, False, str(e))
    if (w, h) != (want_w, want_h):
        return check(name, False, "size %dx%d, expected %dx%d" % (w, h, want_w, want_h))
    diffs = [abs(a - b) for a, b in zip(got, want)]
    worst = max(diffs)
    i = diffs.index(worst) // channels
    return check(name + " (max |diff| %d)" % worst, worst <= tol,
                 "pixel (%d,%d) is %s, expected %s" % (i % w, i // w, got[i * channels:(i + 1) * channels],
                                                      want[i * channels:(i + 1) * channels]))


# ---------------------------------------------------------------------------------------
# GIMP with the Script-Fu server

def q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Gimp:
    def __init__(self, args, gui, lang, log_path):
        self.log_path = log_path
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        server = '(plug-in-script-fu-server RUN-NONINTERACTIVE "127.0.0.1" %d "")' % self.port
        exe = ["gimp-2.10", "--no-splash", "-d"] if gui else ["gimp-console-2.10", "-i", "-d", "-f"]
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(exe + ["-b", server], stdout=self.log, stderr=subprocess.STDOUT,
                                     env=gimp_env(args, lang), stdin=subprocess.DEVNULL)
        self.sock = None
        deadline = time.time() + 90
        while time.time() < deadline and self.proc.poll() is None:
            try:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        if not self.sock:
            raise RuntimeError("GIMP's Script-Fu server did not start; see " + log_path)
        self.sock.settimeout(150)
        self.lock = threading.Lock()

    def _recv(self, n):
        buf = b""
        while len(buf) < n:
            part = self.sock.recv(n - len(buf))
            if not part:
                raise RuntimeError("GIMP closed the Script-Fu connection; see " + self.log_path)
            buf += part
        return buf

    def call(self, cmd):
        """(ok, text) of one Script-Fu expression."""
        data = cmd.encode("utf-8")
        with self.lock:
            self.sock.sendall(b"G" + struct.pack(">H", len(data)) + data)
            magic, err, n = struct.unpack(">cBH", self._recv(4))
            text = self._recv(n).decode("utf-8", "replace")
        return err == 0, text

    def value(self, cmd):
        ok, text = self.call(cmd)
        if not ok:
            raise RuntimeError("%s failed: %s" % (cmd, text))
        return text

    def ints(self, cmd):
        return [int(v) for v in re.findall(r"-?\d+", self.value(cmd))]

    def log_size(self):
        self.log.flush()
        return os.path.getsize(self.log_path)

    def log_since(self, offset):
        time.sleep(0.1)
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def quit(self):
        try:
            self.call("(gimp-quit 1)")
        except Exception:  # noqa: BLE001 - the server closes the socket while quitting
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.log.close()


def gimp_env(args, lang):
    env = dict(os.environ)
    env.update(GIMP2_DIRECTORY=args.profile, XDG_CACHE_HOME=os.path.join(args.work, "cache"),
               LANG="C.UTF-8", LD_PRELOAD=args.spy, FLUX_SPY_KILL_FILE=args.kill_file,
               NO_AT_BRIDGE="1")
    env.pop("LANGUAGE", None)
    env.pop("LC_ALL", None)
    if lang != "en":
        env["LANGUAGE"] = lang  # works without the locale being generated (C.UTF-8 base)
    return env


def setup(args):
    """A fresh profile with the plug-in, its translations and the script installed."""
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    os.makedirs(args.artifacts, exist_ok=True)
    args.profile = os.path.join(args.work, "profile")
    args.kill_file = os.path.join(args.work, "kill-at")
    args.spy = os.path.join(args.work, "progress-spy.so")
    subprocess.run([os.environ.get("CC", "cc"), "-shared", "-fPIC", "-O2", "-o", args.spy,
                    os.path.join(os.path.dirname(os.path.abspath(__file__)), "progress-spy.c"),
                    "-ldl"], check=True)
    # GIMP creates the profile on its first start; installing into it before would skip that
    env = gimp_env(args, "en")
    env.pop("LD_PRELOAD")
    subprocess.run(["timeout", "120", "gimp-console-2.10", "-i", "-d", "-f", "-b", "(gimp-quit 0)"],
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   stdin=subprocess.DEVNULL)
    pdir = os.path.join(args.profile, "plug-ins", "flux")
    os.makedirs(pdir)
    shutil.copy2(args.plugin, os.path.join(pdir, "flux"))
    mo_name = args.gettext_package + ".mo"
    langs = []
    if os.path.isdir(args.po_build_dir):
        for lang in sorted(os.listdir(args.po_build_dir)):
            mo = os.path.join(args.po_build_dir, lang, "LC_MESSAGES", mo_name)
            if os.path.isfile(mo):
                dst = os.path.join(pdir, "locale", lang, "LC_MESSAGES")
                os.makedirs(dst)
                shutil.copy2(mo, dst)
                langs.append(lang)
    shutil.copytree(os.path.join(args.data_dir, "tokenizers"), os.path.join(pdir, "tokenizers"),
                    ignore=shutil.ignore_patterns("README.md"))
    print("installed plug-in into %s (translations: %s)" % (pdir, " ".join(langs) or "none"))
    os.makedirs(os.path.join(args.profile, "scripts"), exist_ok=True)
    shutil.copy2(os.path.join(args.data_dir, "flux-variations.scm"),
                 os.path.join(args.profile, "scripts"))
    return langs


def remember_model(args, model, gflops=None):
    with open(os.path.join(args.profile, "flux-plugin.ini"), "w") as f:
        f.write("[flux]\nmodel=%s\n" % model)
        if gflops:  # a rate kept from earlier: no quick test when the dialog opens
            f.write("gflops-per-s=%s\ngflops-from=run\n" % gflops)


def settings(args):
    path = os.path.join(args.profile, "flux-plugin.ini")
    return open(path).read() if os.path.exists(path) else ""


def mirror(src, dst, skip=()):
    """dst/<entry> → src/<entry> symlinks (a model folder with parts left out)."""
    os.makedirs(dst)
    for e in os.listdir(src):
        if e not in skip:
            os.symlink(os.path.join(src, e), os.path.join(dst, e))
    return dst


def cut_download(model, dst):
    """A copy of the model whose VAE weights stop at a third, as an interrupted download."""
    cut = mirror(model, dst, skip=("vae",))
    os.makedirs(os.path.join(cut, "vae"))
    os.symlink(os.path.join(model, "vae", "config.json"), os.path.join(cut, "vae", "config.json"))
    data = open(os.path.join(model, "vae", "diffusion_pytorch_model.safetensors"), "rb").read()
    weights = os.path.join(cut, "vae", "diffusion_pytorch_model.safetensors")
    with open(weights, "wb") as f:
        f.write(data[:len(data) // 3])
    return cut, weights


def comfy_tree(root, model):
    """The tiny model as a ComfyUI models/ tree under root (tests/comfy_tree.py, which needs
    numpy; written once): the transformer file's path, or None with the reason printed."""
    tr = os.path.join(root, "models", "diffusion_models", "flux1-tiny-dev.safetensors")
    if os.path.isfile(tr):
        return tr
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "comfy_tree.py")
    for py in [os.environ.get("FLUX_PYTHON"), sys.executable, "python3", "/usr/bin/python3"]:
        if py and subprocess.run([py, "-c", "import numpy"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL).returncode == 0:
            subprocess.run([py, script, model, root], check=True)
            return tr
    print("tests/comfy_tree.py needs a python3 with numpy (FLUX_PYTHON)")
    return None


def seeded(prompt, seed):
    return "%s (seed %d)" % (prompt, seed)


# ---------------------------------------------------------------------------------------
# Script-Fu snippets

def new_image(g, w, h, base="RGB", layer_type="RGB-IMAGE"):
    img, bg = g.ints("(let* ((img (car (gimp-image-new %d %d %s)))"
                     " (bg (car (gimp-layer-new img %d %d %s \"bg\" 100 LAYER-MODE-NORMAL))))"
                     " (gimp-image-insert-layer img bg 0 0) (gimp-drawable-fill bg FILL-WHITE)"
                     " (list img bg))" % (w, h, base, w, h, layer_type))
    return img, bg


def layers(g, img):
    return g.ints("(vector->list (cadr (gimp-image-get-layers %d)))" % img)


def layer_info(g, layer):
    """(name, width, height, x, y)"""
    ok, name = g.call("(car (gimp-item-get-name %d))" % layer)
    w, h, x, y = g.ints("(append (gimp-drawable-width %d) (gimp-drawable-height %d)"
                        " (gimp-drawable-offsets %d))" % (layer, layer, layer))
    return name.strip('"') if ok else None, w, h, x, y


def save_png(g, img, drawable, path):
    g.value("(file-png-save2 RUN-NONINTERACTIVE %d %d %s %s 0 9 0 0 0 0 0 0 0)"
            % (img, drawable, q(path), q(path)))
    return path


def gen_layer(g, img, drawable, prompt=PROMPT, w=64, h=64, steps=4, guidance="3.5", seed=0,
              model="", mode="RUN-NONINTERACTIVE"):
    return g.call("(plug-in-flux-generate %s %d %d %s %d %d %d %s %d %s)"
                  % (mode, img, drawable, q(prompt), w, h, steps, guidance, seed, q(model)))


def gen_image(g, prompt=PROMPT, w=64, h=64, steps=4, guidance="3.5", seed=0, model="",
              mode="RUN-NONINTERACTIVE"):
    return g.call("(plug-in-flux-generate-image %s %s %d %d %d %s %d %s)"
                  % (mode, q(prompt), w, h, steps, guidance, seed, q(model)))


def two_ints(text):
    v = [int(x) for x in re.findall(r"-?\d+", text)]
    return (v + [None, None])[:2]


# ---------------------------------------------------------------------------------------
# headless

def headless(args):
    setup(args)
    out = os.path.join(args.artifacts, "headless")
    os.makedirs(out, exist_ok=True)
    gw, gh, golden = pixels(os.path.join(args.model, GOLDEN), 3)
    model = args.model
    g = Gimp(args, False, "en", os.path.join(out, "gimp.log"))
    try:
        headless_checks(g, args, out, model, golden)
    finally:
        g.quit()
    log = open(os.path.join(out, "gimp.log"), encoding="utf-8", errors="replace").read()
    check("no crash other than the deliberate kill", log.count("Plug-in crashed") <= 1,
          "%d crashes in the log" % log.count("Plug-in crashed"))
    # the zh_CN catalogue loaded at run time, without a display: the error comes back in Chinese
    # (the GUI run checks the dialog's title and progress text in Chinese too)
    g = Gimp(args, False, "zh_CN", os.path.join(out, "gimp-zh_CN.log"))
    try:
        img, bg = new_image(g, 64, 64)
        ok, text = gen_layer(g, img, bg, model="/nonexistent/flux")
        check("zh_CN: the plug-in's error is translated",
              not ok and "“/nonexistent/flux”不存在。请选择 FLUX.1 模型的文件夹" in text, text)
    finally:
        g.quit()


def procedure_browser(g):
    args = [g.value('(cadr (gimp-procedural-db-proc-arg "plug-in-flux-generate" %d))' % i).strip('"')
            for i in range(10)]
    check("layer procedure's arguments are documented in dash-case",
          args == ["run-mode", "image", "drawable", "prompt", "width", "height", "num-steps",
                   "guidance", "seed", "model"], str(args))
    rets = [g.value('(cadr (gimp-procedural-db-proc-val "%s" %d))' % (p, i)).strip('"')
            for p in ("plug-in-flux-generate", "plug-in-flux-generate-image") for i in range(2)]
    check("return values: layer/image and seed", rets == ["layer", "seed", "image", "seed"], str(rets))
    iargs = [g.value('(cadr (gimp-procedural-db-proc-arg "plug-in-flux-generate-image" %d))' % i)
             .strip('"') for i in range(8)]
    check("image procedure's arguments", iargs == ["run-mode", "prompt", "width", "height",
                                                   "num-steps", "guidance", "seed", "model"], str(iargs))


def chosen_companions(model, dst):
    """Copies of the tiny model's VAE, CLIP-L and T5 weights under other names in dst, and the
    model string choosing them: (spec, {"vae": file, "clip_l": file, "t5": file})."""
    os.makedirs(dst, exist_ok=True)
    parts = {"vae": "vae/diffusion_pytorch_model.safetensors",
             "clip_l": "text_encoder/model.safetensors", "t5": "text_encoder_2/model.safetensors"}
    files = {}
    for key, sub in parts.items():
        files[key] = os.path.join(dst, "my-%s.safetensors" % key)
        shutil.copyfile(os.path.join(model, sub), files[key])
    return model + "".join(";%s=%s" % (k, files[k]) for k in ("vae", "clip_l", "t5")), files


def companion_checks(g, args, out, img, bg, model, golden):
    """The model argument with companions chosen by hand (PATH;vae=FILE;clip_l=FILE;t5=FILE):
    the tiny model's own files, copied elsewhere, render the plain folder's picture; a wrong
    or missing one is a calling error naming the file."""
    spec, files = chosen_companions(model, os.path.join(args.work, "chosen"))
    ok, text = gen_layer(g, img, bg, model=spec)
    check("model string with VAE, CLIP-L and T5 chosen: succeeds", ok, text)
    layer, _ = two_ints(text)
    if ok:
        path = save_png(g, img, layer, os.path.join(out, "chosen-companions.png"))
        compare("chosen companions: pixels equal the golden PNG", path, 64, 64, golden)
        check("chosen companions: pixels equal the plain folder's render",
              pixels(path, 3) == pixels(os.path.join(out, "layer.png"), 3))
    # a relative file is read from the model's folder; blanks around parts are dropped
    ok, text = gen_layer(g, img, bg, model=model + " ; vae=vae/diffusion_pytorch_model.safetensors")
    check("model string with a relative VAE: succeeds", ok, text)
    layer, _ = two_ints(text)
    if ok:
        path = save_png(g, img, layer, os.path.join(out, "relative-vae.png"))
        compare("relative VAE: pixels equal the golden PNG", path, 64, 64, golden)
    before = layers(g, img)
    bad = [
        ("the CLIP-L file as the VAE", model + ";vae=" + files["clip_l"],
         "“%s” is not the VAE (ae.safetensors): it holds other weights" % files["clip_l"]),
        ("a T5 file that is not there", model + ";t5=/nonexistent/t5xxl_fp16.safetensors",
         "“/nonexistent/t5xxl_fp16.safetensors”, chosen as the T5 text encoder"),
        ("a misspelt part", model + ";clip=" + files["clip_l"], "“clip=” is not one of its parts"),
    ]
    for what, m, msg in bad:
        ok, text = gen_layer(g, img, bg, model=m)
        check("companion chosen wrongly, %s: calling error \"%s\"" % (what, msg),
              not ok and "invalid input arguments" in text and msg in text, text)
    check("the image keeps its layers after the wrong companions", layers(g, img) == before,
          "%s → %s" % (before, layers(g, img)))


def headless_checks(g, args, out, model, golden):
    procedure_browser(g)
    img, bg = new_image(g, 128, 96)

    # 1. NONINTERACTIVE → a layer equal to the golden picture; progress per phase and step
    off = g.log_size()
    ok, text = gen_layer(g, img, bg, model=model)
    check("NONINTERACTIVE call succeeds", ok, text)
    layer, seed = two_ints(text)
    spy = g.log_since(off)
    check("returns the seed used", seed == 0, text)
    check("layer is on top, above the active layer", layers(g, img) == [layer, bg], str(layers(g, img)))
    name, w, h, x, y = layer_info(g, layer)
    check("layer name is the prompt and the seed used", name == seeded(PROMPT, 0), repr(name))
    check("layer is 64x64 at (0,0)", (w, h, x, y) == (64, 64, 0, 0), str((w, h, x, y)))
    compare("layer pixels equal the golden PNG", save_png(g, img, layer, os.path.join(out, "layer.png")),
            64, 64, golden)
    updates = [float(u) for u in re.findall(r"PROGRESS-SPY flux update ([0-9.]+)", spy)]
    texts = re.findall(r'PROGRESS-SPY flux (?:init|text) "([^"]*)"', spy)
    # tiny-flux-dev has 2 + 2 transformer blocks: 3 updates inside each step, 1 at its end
    check("progress moves inside the steps: per block, plus one per phase (4 × 4 + 3)",
          len(updates) == 19 and updates == sorted(updates) and len(set(updates)) == 19,
          "%d updates %s:\n%s" % (len(updates), updates, spy))
    want = ["Loading model", "Encoding prompt", "Step 1/4", "Step 2/4", "Step 3/4", "Step 4/4",
            "Decoding"]
    steps_seen = []
    for t in texts:  # a step's text may be refreshed (time left) while it runs
        if not steps_seen or t.split(" —")[0] != steps_seen[-1]:
            steps_seen.append(t.split(" —")[0])
    check("progress texts per phase and step (step 1 named as soon as it starts)",
          steps_seen == want and all(" left" in t for t in texts[3:] if t.startswith("Step")),
          str(texts))
    first_step = spy.find('"Step 1/4"')
    check("\"Encoding prompt\" is replaced before the bar moves inside step 1",
          0 <= first_step < spy.find("update 0.1"), spy)

    # 2. WITH_LAST_VALS repeats it (fixed seed stays)
    ok, text = gen_layer(g, img, -1, prompt="", w=0, h=0, steps=0, guidance="0", seed=0,
                         mode="RUN-WITH-LAST-VALS")
    check("WITH_LAST_VALS succeeds", ok, text)
    layer2, seed2 = two_ints(text)
    check("WITH_LAST_VALS keeps a fixed seed", seed2 == 0, text)
    if ok:
        compare("WITH_LAST_VALS pixels equal the golden PNG",
                save_png(g, img, layer2, os.path.join(out, "last-vals.png")), 64, 64, golden)

    # 3. random seed: a new one on repeat; the returned seed reproduces the pixels
    ok, text = gen_layer(g, img, bg, w=32, h=48, seed=-1, model=model)
    lr, s1 = two_ints(text)
    check("seed -1 draws a seed in 0..2^31-1", ok and 0 <= s1 < 2 ** 31, text)
    ok, text = gen_layer(g, img, -1, prompt="", w=0, h=0, steps=0, guidance="0", seed=0,
                         mode="RUN-WITH-LAST-VALS")
    _, s2 = two_ints(text)
    check("WITH_LAST_VALS draws a new random seed", ok and s2 is not None and s2 != s1, text)
    ok, text = gen_layer(g, img, bg, w=32, h=48, seed=s1, model=model)
    lf, _ = two_ints(text)
    if check("the returned seed reproduces the run", ok, text):
        a = save_png(g, img, lr, os.path.join(out, "random.png"))
        b = save_png(g, img, lf, os.path.join(out, "random-again.png"))
        check("same seed, same pixels", pixels(a, 3) == pixels(b, 3))
        check("the layer above bg went right above it", layers(g, img).index(lf) + 1 ==
              layers(g, img).index(bg), str(layers(g, img)))

    # 4. bad arguments: calling errors that name the value; the image keeps its layers
    before = layers(g, img)
    other, other_bg = new_image(g, 16, 16)
    idx = g.ints("(car (gimp-image-new 32 32 INDEXED))")[0]
    bad = [
        ("missing model folder", dict(model="/nonexistent/flux"),
         "“/nonexistent/flux” does not exist. Choose the folder of a FLUX.1 model"),
        ("no model and none remembered", dict(model=""), "No model given"),
        ("width 0", dict(w=0, model=model), "Width 0 is out of range"),
        ("height 5000", dict(h=5000, model=model), "Height 5000 is out of range"),
        ("steps -1", dict(steps=-1, model=model), "Number of steps -1 is out of range"),
        # GIMP itself refuses non-finite floats before the plug-in runs (its own message)
        ("NaN guidance", dict(guidance="(sqrt -1)", model=model), "nan' for argument 'guidance'"),
        ("infinite guidance", dict(guidance="(exp 1000)", model=model), "inf' for argument 'guidance'"),
        ("guidance -1", dict(guidance="-1", model=model), "Guidance -1 is out of range"),
        ("seed -7", dict(seed=-7, model=model), "Seed -7 is out of range"),
        ("drawable of another image", dict(drawable=other_bg, model=model), "does not belong"),
    ]
    for what, kw, msg in bad:
        drawable = kw.pop("drawable", bg)
        ok, text = gen_layer(g, img, drawable, **kw)
        check("bad argument, %s: calling error \"%s\"" % (what, msg),
              not ok and "invalid input arguments" in text and msg in text, text)
    # models an artist may have: a partial download, an interrupted one, a ComfyUI file
    partial = mirror(model, os.path.join(args.work, "partial"), skip=("transformer",))
    ok, text = gen_layer(g, img, bg, model=partial)
    check("partial download (no transformer/): says what is missing and what to do",
          not ok and "The model folder is incomplete: “%s/transformer”" % partial in text
          and "download the model again" in text, text)
    cut, weights = cut_download(model, os.path.join(args.work, "cut"))
    ok, text = gen_layer(g, img, bg, model=cut)
    check("interrupted download (VAE weights cut short): found from the header, said plainly",
          not ok and ("“%s” is incomplete" % weights) in text and "download this file again" in text,
          text)
    unet = os.path.join(args.work, "comfy", "unet")
    os.makedirs(unet)
    os.symlink(os.path.join(model, "transformer", "diffusion_pytorch_model.safetensors"),
               os.path.join(unet, "flux1-dev.safetensors"))
    ok, text = gen_layer(g, img, bg, model=os.path.join(unet, "flux1-dev.safetensors"))
    check("a ComfyUI transformer file without its VAE: says what is missing and where it looked",
          not ok and "not the VAE (ae.safetensors) that goes with it" in text and unet in text, text)
    ok, text = gen_layer(g, idx, -1, model=model)
    check("indexed image refused clearly", not ok and "RGB and grayscale" in text, text)
    ok, text = gen_image(g, w=0, model=model)
    check("image procedure: width 0 is a calling error", not ok and "Width 0" in text, text)
    check("the image keeps its layers after the errors", layers(g, img) == before,
          "%s → %s" % (before, layers(g, img)))
    companion_checks(g, args, out, img, bg, model, golden)

    # 4a. a ComfyUI tree's transformer file as the model: its VAE, CLIP-L and T5 found in
    # vae/ and text_encoders/, configs from their shapes, the plug-in's own tokenizers
    tr = comfy_tree(os.path.join(args.work, "comfy-tiny"), args.model)
    ok, text = gen_layer(g, img, bg, model=tr or "(no tree)")
    lc, _ = two_ints(text)
    if check("a ComfyUI transformer file (single files only) renders", tr and ok, text):
        compare("single-file layer equals the folder's render (±1)",
                save_png(g, img, lc, os.path.join(out, "comfy-layer.png")), 64, 64,
                pixels(os.path.join(out, "layer.png"), 3)[2])
        g.value("(gimp-image-remove-layer %d %d)" % (img, lc))

    # 4b. steps 0 = the model's default (28 for dev-type); an empty prompt renders as asked
    off = g.log_size()
    ok, text = gen_layer(g, img, bg, prompt="", w=32, h=32, steps=0, seed=7, model=model)
    spy = g.log_since(off)
    le, _ = two_ints(text)
    check("steps 0 from a script: the model's default 28 steps", ok and "Step 28/28" in spy,
          text + spy[-500:])
    check("an empty prompt from a script renders, the layer named FLUX (seed 7)",
          ok and layer_info(g, le)[0] == seeded("FLUX", 7), "%s %s" % (text, ok and layer_info(g, le)))
    if ok:
        g.value("(gimp-image-remove-layer %d %d)" % (img, le))

    # 5. INTERACTIVE without a display: an error message, no crash
    ok, text = gen_layer(g, img, bg, model=model, mode="RUN-INTERACTIVE")
    check("INTERACTIVE without a display fails cleanly", not ok and "needs a display" in text, text)

    # 6. the model folder remembered from the dialog (settings file) is used for "" from now on
    remember_model(args, model)
    model = ""

    # 7. a selection places the layer at its top-left corner; sizes floor to 16
    g.value("(gimp-image-select-rectangle %d CHANNEL-OP-REPLACE 20 10 30 30)" % img)
    ok, text = gen_layer(g, img, bg, w=40, h=37, seed=3, model=model)
    g.value("(gimp-selection-none %d)" % img)
    ls, _ = two_ints(text)
    check("empty model = the remembered folder; selection: layer at (20,10), 40x37 floored to 32x32",
          ok and layer_info(g, ls)[1:] == (32, 32, 20, 10), "%s %s" % (text, ok and layer_info(g, ls)))

    # 8. killed in the middle of the run (what GIMP does on Cancel): image untouched
    before = layers(g, img)
    with open(args.kill_file, "w") as f:
        f.write("Step 2/")
    ok, text = gen_layer(g, img, bg, model=model)
    os.remove(args.kill_file)
    check("killed at step 2: the call fails", not ok, text)
    check("killed at step 2: the image keeps its layers", layers(g, img) == before,
          "%s → %s" % (before, layers(g, img)))

    # 9. File ▸ Create: a new RGB 8-bit image
    ok, text = gen_image(g, model=model)
    check("image procedure succeeds", ok, text)
    img2, seed = two_ints(text)
    if ok:
        info = g.ints("(append (gimp-image-width {0}) (gimp-image-height {0}) (gimp-image-base-type {0})"
                      " (gimp-image-get-precision {0}))".format(img2))
        check("new image 64x64 RGB u8-gamma", info == [64, 64, 0, 150], str(info))
        ls2 = layers(g, img2)
        check("new image has one layer named from the prompt and the seed",
              len(ls2) == 1 and layer_info(g, ls2[0])[0] == seeded(PROMPT, seed), str(ls2))
        compare("new image pixels equal the golden PNG",
                save_png(g, img2, ls2[0], os.path.join(out, "image.png")), 64, 64, golden)

    # 10. other modes and precisions: grayscale gets a gray layer, float linear converts
    gimg, gbg = new_image(g, 64, 64, "GRAY", "GRAY-IMAGE")
    ok, text = gen_layer(g, gimg, gbg, model=model)
    gl, _ = two_ints(text)
    if check("grayscale image accepted", ok, text):
        check("grayscale image gets a gray layer",
              g.ints("(car (gimp-drawable-is-gray %d))" % gl) == [1])
        compare("gray layer = golden in luminance (±1)", save_png(g, gimg, gl, os.path.join(out, "gray.png")),
                64, 64, srgb_to_gray(golden), channels=1, tol=1)
    fimg, fbg = new_image(g, 64, 64)
    g.value("(gimp-image-convert-precision %d PRECISION-FLOAT-LINEAR)" % fimg)
    ok, text = gen_layer(g, fimg, fbg, model=model)
    fl, _ = two_ints(text)
    if check("32-bit float linear image accepted", ok, text):
        g.value("(gimp-image-convert-precision %d PRECISION-U8-GAMMA)" % fimg)
        compare("float linear layer converts back to the golden pixels",
                save_png(g, fimg, fl, os.path.join(out, "float.png")), 64, 64, golden)

    # 11. the example batch script: N seeds as layers, files per seed
    ok, text = g.call("(flux-variations-save %s 2 0 64 64 4 3.5 %s %s)"
                      % (q(PROMPT), q(model), q(os.path.join(out, "var"))))
    check("flux-variations-save makes 2 files", ok and text.strip() == "2", text)
    if ok:
        compare("variation seed 0 equals the golden PNG", os.path.join(out, "var-seed0.png"), 64, 64, golden)
        check("variation seed 1 differs", pixels(os.path.join(out, "var-seed1.png"), 3)[2] != golden)
    off = g.log_size()
    ok, text = g.call("(car (gimp-image-get-layers (flux-variations %s 1 0 32 32 0 3.5 %s)))"
                      % (q(PROMPT), q(model)))
    check("flux-variations with steps 0 takes the model's default (28)",
          ok and "Step 28/28" in g.log_since(off), text)

    # 12. LoRAs through the procedures with a trailing list (issue 14)
    lora_checks(g, out, model, golden)

    for i in (img, other, idx, img2, gimg, fimg):
        g.call("(gimp-image-delete %d)" % i)

    edit_checks(g, args, out)


def write_png(path, w, h, ch, flat):
    """An 8-bit grey (ch 1) or RGB (ch 3) PNG from a flat list of samples."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    raw = b"".join(b"\0" + bytes(flat[y * w * ch:(y + 1) * w * ch]) for y in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0 if ch == 1 else 2,
                                                                    0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def edit(g, img, drawable, prompt=PROMPT, steps=4, guidance="3.5", seed=3, model="", strength="1.0",
         size=0, mode="RUN-NONINTERACTIVE"):
    return g.call("(plug-in-flux-edit %s %d %d %s %d %s %d %s %s %d)"
                  % (mode, img, drawable, q(prompt), steps, guidance, seed, q(model), strength, size))


def edit_checks(g, args, out):
    """plug-in-flux-edit: a selection in a bigger image → one new layer over the repaint box
    with a layer mask, its pixels those of flux-generate on the cropped picture and mask; without
    a selection, img2img of the layer at its offsets; bad arguments; the image untouched."""
    model = args.model
    img, bg = new_image(g, 200, 160)
    g.value("(plug-in-plasma RUN-NONINTERACTIVE %d %d 7 1.0)" % (img, bg))
    g.value("(gimp-image-select-rectangle %d CHANNEL-OP-REPLACE 120 90 20 20)" % img)
    before = layers(g, img)
    ok, text = edit(g, img, bg, model=model, size=64)
    check("repaint the selection: the call succeeds", ok, text)
    if not ok:
        return
    layer, seed = two_ints(text)
    # box: the 20x20 selection + 2·32 context = 84 → 96, centred on (130, 100)
    check("one new layer above the old ones", layers(g, img) == [layer] + before, str(layers(g, img)))
    info = layer_info(g, layer)[1:]
    check("the layer is 96x96 at (82,52)", info == (96, 96, 82, 52), str(info))
    check("the layer has a layer mask", g.ints("(car (gimp-layer-get-mask %d))" % layer)[0] != -1)
    # the same crop and mask through the CLI
    bw, bh, full = pixels(save_png(g, img, bg, os.path.join(out, "edit-bg.png")), 3)
    crop = [full[((52 + y) * bw + 82 + x) * 3 + c] for y in range(96) for x in range(96) for c in range(3)]
    mask = [255 if 120 <= 82 + x < 140 and 90 <= 52 + y < 110 else 0 for y in range(96) for x in range(96)]
    init_png, mask_png = os.path.join(out, "edit-crop.png"), os.path.join(out, "edit-mask.png")
    write_png(init_png, 96, 96, 3, crop)
    write_png(mask_png, 96, 96, 1, mask)
    got = save_png(g, img, layer, os.path.join(out, "edit-layer.png"))
    if args.cli:
        ref = os.path.join(out, "edit-cli.png")
        run = subprocess.run([args.cli, "--model", model, "--prompt", PROMPT, "--init-image", init_png,
                              "--mask", mask_png, "--strength", "1.0", "--steps", "4", "--guidance", "3.5",
                              "--seed", str(seed), "--output", ref, "--quiet"],
                             capture_output=True, text=True, env=dict(os.environ, FLUX_DEVICE="cpu"))
        if check("flux-generate on the crop runs", run.returncode == 0, run.stderr):
            compare("layer pixels = flux-generate on the cropped picture (±1)", got, 96, 96, pixels(ref, 3)[2])
    # the image below is untouched
    check("the background keeps its pixels",
          pixels(save_png(g, img, bg, os.path.join(out, "edit-bg-after.png")), 3)[2] == full)

    # without a selection: img2img of the layer at its offsets (size floored to 16)
    g.value("(gimp-selection-none %d)" % img)
    g.value("(gimp-layer-set-offsets %d 5 7)" % bg)
    ok, text = edit(g, img, bg, model=model, strength="0.5")
    l2, _ = two_ints(text)
    check("start from the layer: succeeds", ok, text)
    if ok:
        check("start from the layer: 192x160 at the layer's (5,7), no mask",
              layer_info(g, l2)[1:] == (192, 160, 5, 7)
              and g.ints("(car (gimp-layer-get-mask %d))" % l2)[0] == -1, str(layer_info(g, l2)))
    ok, text = edit(g, img, -1, prompt="", steps=0, guidance="0", seed=0, strength="0",
                    mode="RUN-WITH-LAST-VALS")
    check("WITH_LAST_VALS repeats the last run", ok, text)
    before = layers(g, img)
    for what, kw, msg in [("strength 0", dict(strength="0", model=model), "strength 0 is out of range"),
                          ("strength 1.5", dict(strength="1.5", model=model), "out of range"),
                          ("size 5", dict(size=5, model=model), "Size 5 is out of range"),
                          ("steps 0", dict(steps=0, model=model), "out of range")]:
        ok, text = edit(g, img, bg, **kw)
        check("repaint, bad argument %s: error \"%s\"" % (what, msg), not ok and msg in text, text)
    check("the image keeps its layers after the errors", layers(g, img) == before)
    g.call("(gimp-image-delete %d)" % img)


def write_lora(path, d=32, rank=4):
    """A kohya LoRA on double block 0's image qkv of the tiny model (D = 32), float32, in
    plain Python (no numpy needed): values from a fixed linear congruence."""
    import json
    import struct
    x, tensors = 12345, {}
    for name, shape in (("lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight", (rank, d)),
                        ("lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight", (3 * d, rank))):
        vals = []
        for _ in range(shape[0] * shape[1]):
            x = (x * 1103515245 + 12345) % 2 ** 31
            vals.append(x / 2 ** 30 - 1.0)
        tensors[name] = (shape, struct.pack("<%df" % len(vals), *vals))
    header, off = {}, 0
    for k, (shape, raw) in tensors.items():
        header[k] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    hj = json.dumps(header).encode()
    hj += b" " * (-len(hj) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj + b"".join(r for _, r in tensors.values()))
    return path


def lora_checks(g, out, model, golden):
    """plug-in-flux-generate-loras / -image-loras: "" and strength 0 give the golden picture,
    strength 1 another one, a missing file an error naming it; the old procedures unchanged."""
    lora = write_lora(os.path.join(out, "style.safetensors"))
    args = [g.value('(cadr (gimp-procedural-db-proc-arg "plug-in-flux-generate-loras" %d))' % i)
            .strip('"') for i in range(11)]
    check("the -loras procedure takes the list last", args[-1] == "loras" and args[9] == "model",
          str(args))
    img, bg = new_image(g, 64, 64)
    call = "(plug-in-flux-generate-loras RUN-NONINTERACTIVE %d %d %s 64 64 4 3.5 0 %s %s)"
    for what, spec, same in (("no LoRA", "", True), ("strength 0", lora + ":0", True),
                             ("strength 1", lora + ":1", False)):
        ok, text = g.call(call % (img, bg, q(PROMPT), q(model), q(spec)))
        if not check("-loras with %s succeeds" % what, ok, text):
            continue
        layer, _ = two_ints(text)
        path = save_png(g, img, layer, os.path.join(out, "lora-%s.png" % what.replace(" ", "-")))
        if same:
            compare("-loras with %s equals the golden PNG" % what, path, 64, 64, golden)
        else:
            check("-loras with %s changes the picture" % what, pixels(path, 3)[2] != golden)
    ok, text = g.call("(plug-in-flux-generate-image-loras RUN-NONINTERACTIVE %s 64 64 4 3.5 0 %s %s)"
                      % (q(PROMPT), q(model), q("/nonexistent/gone.safetensors:0.8")))
    check("a missing LoRA file fails naming it", not ok and "gone.safetensors" in text, text)
    ok, text = g.call(call % (img, bg, q(PROMPT), q(model), q("style.safetensors:1000")))
    check("a strength out of range is a calling error naming the item",
          not ok and "style.safetensors:1000" in text, text)
    g.call("(gimp-image-delete %d)" % img)


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
        time.sleep(0.2)
    return None


def shot(path, window="root"):
    subprocess.run(["import", "-window", window, path], capture_output=True)
    return path


def keys(*ks):
    for k in ks:
        xdo("key", "--clearmodifiers", k)
        time.sleep(0.08)


def typ(text):
    xdo("type", "--delay", "30", text)
    time.sleep(0.1)


class Call(threading.Thread):
    """A blocking PDB call (the interactive plug-in) while this thread drives the dialog."""

    def __init__(self, g, cmd):
        super().__init__(daemon=True)
        self.g, self.cmd, self.result = g, cmd, None
        self.start()

    def run(self):
        self.result = self.g.call(self.cmd)


def gui(args):
    langs = setup(args)
    gw, gh, golden = pixels(os.path.join(args.model, GOLDEN), 3)
    remember_model(args, args.model, gflops=50)  # as if chosen in an earlier session
    for lang in ["en", "zh_CN"]:
        if lang != "en" and lang not in langs:
            check("translation %s built" % lang, False)
            continue
        gui_lang(args, lang, golden)


def gui_lang(args, lang, golden):
    out = os.path.join(args.artifacts, "gui-" + lang)
    os.makedirs(out, exist_ok=True)
    shutil.rmtree(os.path.join(args.profile, "backups"), ignore_errors=True)
    g = Gimp(args, True, lang, os.path.join(out, "gimp.log"))
    try:
        gui_checks(g, args, lang, out, golden)
    finally:
        for f in os.listdir(out):
            if f.endswith(".tmp"):
                os.remove(os.path.join(out, f))
        g.call("(for-each gimp-image-clean-all (vector->list (cadr (gimp-image-list))))")
        g.quit()
        shutil.rmtree(os.path.join(args.profile, "backups"), ignore_errors=True)


def gui_checks(g, args, lang, out, golden):
    img, bg = new_image(g, 128, 96)
    g.value("(gimp-display-new %d)" % img)
    time.sleep(1.0)
    shot(os.path.join(out, "image-window.png"))

    # Filters ▸ Render ▸ FLUX Text to Image... from the image window's menu (keyboard), as an
    # artist would: progress then shows in that window's status bar
    win = find_window("GIMP$", 20, by="--name")
    if not check("[%s] the image window is there" % lang, win is not None):
        return
    xdo("windowfocus", "--sync", win)
    keys("alt+r")
    time.sleep(0.5)
    keys("r")
    time.sleep(0.8)
    shot(os.path.join(out, "menu-filters-render.png"))
    keys("t")
    wid = find_window("^flux$")
    if not check("[%s] the dialog appears from the menu" % lang, wid is not None):
        return
    time.sleep(1.0)
    title = xdo("getwindowname", wid)
    check("[%s] dialog title is %r" % (lang, TITLES[lang]), title == TITLES[lang], repr(title))
    shot(os.path.join(out, "dialog.png"), wid)
    shot(os.path.join(out, "screen-dialog.png"))

    # type prompt, size, steps, seed (mnemonics), then Enter
    xdo("windowfocus", "--sync", wid)
    time.sleep(0.3)
    typ(PROMPT)
    for mnemonic, value in [("alt+w", "64"), ("alt+g", "64"), ("alt+s", "4")]:
        keys(mnemonic, "ctrl+a")
        typ(value)
    keys("alt+r")  # random off: the seed becomes editable
    keys("alt+e", "ctrl+a")
    typ("0")
    keys("alt+n", "Down")  # Precision: Automatic → Exact (float32)
    time.sleep(0.5)
    shot(os.path.join(out, "dialog-filled.png"), wid)
    keys("alt+i")  # ▸ Model files: the VAE, CLIP-L and T5 files of the folder
    time.sleep(0.8)
    shot(os.path.join(out, "dialog-model-files.png"), wid)
    keys("alt+p")  # back in the prompt, where Enter renders (on the expander it would toggle it)
    with open(args.kill_file, "w") as f:
        f.write("pause " + STEP2[lang])  # the spy holds the run there for a screenshot
    keys("Return")
    deadline = time.time() + 30
    while time.time() < deadline and "paused at" not in open(g.log_path, errors="replace").read():
        time.sleep(0.2)
    time.sleep(0.5)
    shot(os.path.join(out, "progress.png"))
    os.remove(args.kill_file)
    deadline = time.time() + 60
    while time.time() < deadline and len(layers(g, img)) < 2:
        time.sleep(0.3)
    now = layers(g, img)
    if not check("[%s] typed values + Enter: a new layer on top" % lang,
                 len(now) == 2 and now[1] == bg, str(now)):
        return
    layer = now[0]
    info = layer_info(g, layer)
    check("[%s] the layer has the typed size 64x64 and is named from the prompt and seed" % lang,
          info[:3] == (seeded(PROMPT, 0) if lang == "en" else info[0], 64, 64)
          and info[0].startswith(PROMPT) and "0" in info[0][len(PROMPT):], str(info))
    compare("[%s] dialog run (seed 0) equals the golden PNG" % lang,
            save_png(g, img, layer, os.path.join(out, "layer.png")), 64, 64, golden)
    check("[%s] the Precision chosen (Exact) is remembered" % lang,
          "precision=float32" in settings(args), settings(args))
    time.sleep(0.5)
    shot(os.path.join(out, "after.png"))

    # one Ctrl+Z removes the layer
    win = find_window("GIMP$", 10, by="--name")
    if win:
        xdo("windowfocus", "--sync", win)
        time.sleep(0.3)
        keys("ctrl+z")
    deadline = time.time() + 10
    while time.time() < deadline and layers(g, img) != [bg]:
        time.sleep(0.2)
    check("[%s] one Ctrl+Z removes the layer" % lang, layers(g, img) == [bg], str(layers(g, img)))

    # the dialog again: it remembers the last values; Escape cancels and changes nothing
    call = Call(g, "(plug-in-flux-generate RUN-INTERACTIVE %d %d \"\" 0 0 0 0 0 \"\")" % (img, bg))
    wid = find_window("^flux$")
    if check("[%s] the dialog appears again" % lang, wid is not None):
        time.sleep(1.0)
        shot(os.path.join(out, "dialog-again.png"), wid)
        xdo("windowfocus", "--sync", wid)
        keys("alt+h")  # Help: a message window over the dialog
        deadline = time.time() + 10
        while time.time() < deadline and len(xdo("search", "--onlyvisible", "--classname", "^flux$").split()) < 2:
            time.sleep(0.2)
        check("[%s] Help opens a help window" % lang,
              len(xdo("search", "--onlyvisible", "--classname", "^flux$").split()) == 2)
        time.sleep(0.5)
        shot(os.path.join(out, "help.png"))
        keys("Escape")
        time.sleep(0.5)
        xdo("windowfocus", "--sync", wid)
        keys("Escape")
        call.join(30)
        ok, text = call.result if call.result else (True, "no answer")
        # a cancelled plug-in returns no values: Script-Fu gives an error or (#f), no layer
        check("[%s] Escape cancels" % lang, not ok or text.strip() == "(#f)", text)
        check("[%s] after Cancel the image is unchanged" % lang, layers(g, img) == [bg],
              str(layers(g, img)))
    if lang == "en":
        gui_more_checks(g, args, out, img)


def gui_more_checks(g, args, out, img):
    # File ▸ Create: the dialog starts from the last values (64x64, seed 0); Enter → new image
    before = g.ints("(vector->list (cadr (gimp-image-list)))")
    call = Call(g, "(plug-in-flux-generate-image RUN-INTERACTIVE \"\" 0 0 0 0 0 \"\")")
    wid = find_window("^flux$")
    if check("[en] File > Create: the dialog appears", wid is not None):
        time.sleep(1.0)
        shot(os.path.join(out, "dialog-create.png"), wid)
        xdo("windowfocus", "--sync", wid)
        keys("Return")
        call.join(90)
        ok, text = call.result if call.result else (False, "no answer")
        img2, seed = two_ints(text)
        check("[en] File > Create makes a new 64x64 image with the last seed",
              ok and img2 not in before and seed == 0
              and g.ints("(append (gimp-image-width %d) (gimp-image-height %d))" % (img2, img2)) == [64, 64],
              text)
        time.sleep(0.5)
        shot(os.path.join(out, "after-create.png"))

    # with a selection the size defaults to it; Enter renders the last prompt there
    g.value("(gimp-image-select-rectangle %d CHANNEL-OP-REPLACE 20 10 48 32)" % img)
    before = layers(g, img)
    call = Call(g, "(plug-in-flux-generate RUN-INTERACTIVE %d -1 \"\" 0 0 0 0 0 \"\")" % img)
    wid = find_window("^flux$")
    if check("[en] dialog with a selection appears", wid is not None):
        time.sleep(1.0)
        shot(os.path.join(out, "dialog-selection.png"), wid)
        xdo("windowfocus", "--sync", wid)
        keys("Return")
        call.join(60)
        new = [lid for lid in layers(g, img) if lid not in before]
        check("[en] the size defaults to the selection's: a 48x32 layer at (20,10)",
              len(new) == 1 and layer_info(g, new[0])[1:] == (48, 32, 20, 10),
              "%s %s" % (call.result, new and layer_info(g, new[0])))
        for lid in new:
            g.value("(gimp-image-remove-layer %d %d)" % (img, lid))
    g.value("(gimp-selection-none %d)" % img)

    # an empty prompt: Enter asks first; Cancel there returns to the dialog
    call = Call(g, "(plug-in-flux-generate RUN-INTERACTIVE %d -1 \"\" 0 0 0 0 0 \"\")" % img)
    wid = find_window("^flux$")
    if check("[en] dialog for the empty prompt appears", wid is not None):
        time.sleep(1.0)
        xdo("windowfocus", "--sync", wid)
        keys("alt+p", "ctrl+a", "BackSpace")
        keys("Return")
        deadline = time.time() + 10
        while time.time() < deadline and len(xdo("search", "--onlyvisible", "--classname", "^flux$").split()) < 2:
            time.sleep(0.2)
        asked = len(xdo("search", "--onlyvisible", "--classname", "^flux$").split()) == 2
        time.sleep(0.5)
        shot(os.path.join(out, "empty-prompt-question.png"))
        check("[en] an empty prompt asks before rendering", asked)
        keys("Escape")  # the question's Cancel: back in the dialog, nothing rendered
        time.sleep(1.0)
        check("[en] declining leaves the dialog open, no run",
              call.result is None and find_window("^flux$", 2) is not None)
        xdo("windowfocus", "--sync", wid)
        keys("Escape")
        call.join(30)
    check("[en] no layer from the declined empty prompt", layers(g, img) == before, str(layers(g, img)))

    remember_model(args, args.model, gflops=50)
    gui_preview_checks(g, out, img)
    # (after the preview run: the first-run check below clears the last values)
    # the first run: no model chosen yet, the dialog says where to get one
    os.remove(os.path.join(args.profile, "flux-plugin.ini"))
    # and no last values of this session (a 1-byte blob is not a parameter set)
    g.value('(gimp-procedural-db-set-data "plug-in-flux-generate" 1 #(0))')
    call = Call(g, "(plug-in-flux-generate RUN-INTERACTIVE %d -1 \"\" 0 0 0 0 0 \"\")" % img)
    wid = find_window("^flux$")
    if check("[en] first-run dialog appears", wid is not None):
        time.sleep(1.5)
        shot(os.path.join(out, "dialog-first-run.png"), wid)
        xdo("windowfocus", "--sync", wid)
        keys("Return")
        time.sleep(1.0)
        check("[en] first run: Enter does nothing until a model is chosen",
              call.result is None and find_window("^flux$", 2) is not None)
        keys("alt+h")  # Help: where to get a model
        time.sleep(1.5)
        shot(os.path.join(out, "help-first-run.png"))
        keys("Escape")
        time.sleep(0.5)
        xdo("windowfocus", "--sync", wid)
        keys("Escape")
        call.join(30)
        check("[en] the first dialog measured this computer's rate for the estimate",
              re.search(r"gflops-per-s=[0-9.]+\ngflops-from=test", settings(args)) is not None,
              settings(args))

    # a folder that is not a FLUX model: a clear message, and OK stays insensitive
    remember_model(args, args.work)
    call = Call(g, "(plug-in-flux-generate RUN-INTERACTIVE %d -1 \"\" 0 0 0 0 0 \"\")" % img)
    wid = find_window("^flux$")
    if check("[en] dialog with a wrong model folder appears", wid is not None):
        time.sleep(1.0)
        shot(os.path.join(out, "dialog-not-a-model.png"), wid)
        xdo("windowfocus", "--sync", wid)
        keys("Return")
        time.sleep(1.0)
        check("[en] Enter does nothing while the folder is not a model",
              call.result is None and find_window("^flux$", 2) is not None)
        keys("Escape")
        call.join(30)

    # the case: an interrupted download was accepted, remembered, and failed at run
    # time; now the dialog says so and OK stays insensitive, so it cannot be remembered
    cut, _ = cut_download(args.model, os.path.join(args.work, "cut-gui"))
    remember_model(args, cut)
    call = Call(g, "(plug-in-flux-generate RUN-INTERACTIVE %d -1 \"\" 0 0 0 0 0 \"\")" % img)
    wid = find_window("^flux$")
    if check("[en] dialog with an interrupted download appears", wid is not None):
        time.sleep(1.0)
        shot(os.path.join(out, "dialog-truncated.png"), wid)
        xdo("windowfocus", "--sync", wid)
        keys("Return")
        time.sleep(1.0)
        check("[en] Enter does nothing while the weights are incomplete",
              call.result is None and find_window("^flux$", 2) is not None)
        keys("Escape")
        call.join(30)
    remember_model(args, args.model, gflops=50)
    gui_repaint_checks(g, args, out)


def open_repaint(win):
    """Filters ▸ Render ▸ FLUX Repaint... from the image window's menu (keyboard)."""
    xdo("windowfocus", "--sync", win)
    time.sleep(0.3)
    keys("alt+r")
    time.sleep(0.5)
    keys("r")
    time.sleep(0.8)
    keys("r")
    return find_window("^flux$")


def edit_cli(args, out, name, crop, w, h, mask, strength, seed):
    """flux-generate on a crop (and mask) written as PNGs; the result's pixels, or None."""
    init_png = os.path.join(out, name + "-crop.png")
    write_png(init_png, w, h, 3, crop)
    cmd = [args.cli, "--model", args.model, "--prompt", PROMPT, "--init-image", init_png, "--strength",
           strength, "--steps", "4", "--guidance", "3.5", "--seed", str(seed), "--quiet",
           "--output", os.path.join(out, name + "-cli.png")]
    if mask:
        write_png(os.path.join(out, name + "-mask.png"), w, h, 1, mask)
        cmd += ["--mask", os.path.join(out, name + "-mask.png")]
    run = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, FLUX_DEVICE="cpu"))
    if not check("[repaint gui] flux-generate on the crop (%s)" % name, run.returncode == 0, run.stderr):
        return None
    return pixels(os.path.join(out, name + "-cli.png"), 3)[2]


def repaint_run(g, out, img, n, what, wid):
    """Screenshot of the filled dialog, Enter, then the image's layers once it has n (or after
    90 s), with a screenshot of the result."""
    shot(os.path.join(out, "repaint-dialog-%s-filled.png" % what), wid)
    keys("Return")
    deadline = time.time() + 90
    while time.time() < deadline and len(layers(g, img)) < n:
        time.sleep(0.3)
    time.sleep(0.5)
    shot(os.path.join(out, "repaint-after-%s.png" % what))
    return layers(g, img)


def gui_repaint_checks(g, args, out):
    """FLUX Repaint from the menu in both modes: a selection (the size fields say how large a
    region to work at), then none (the Strength slider); the layers equal flux-generate on the
    same crop with the values typed."""
    img, bg = new_image(g, 200, 160)
    g.value("(plug-in-plasma RUN-NONINTERACTIVE %d %d 7 1.0)" % (img, bg))
    bw, bh, full = pixels(save_png(g, img, bg, os.path.join(out, "repaint-bg.png")), 3)
    g.value("(gimp-image-select-rectangle %d CHANNEL-OP-REPLACE 120 90 20 20)" % img)
    g.value("(gimp-display-new %d)" % img)
    time.sleep(1.0)
    win = find_window("GIMP$", 20, by="--name")
    wid = open_repaint(win) if win else None
    if not check("[repaint gui] a selection: the dialog opens from Filters > Render > FLUX Repaint...",
                 wid is not None):
        shot(os.path.join(out, "repaint-no-dialog.png"))
        return
    time.sleep(1.0)
    check("[repaint gui] dialog title", xdo("getwindowname", wid) == "FLUX Repaint", xdo("getwindowname", wid))
    shot(os.path.join(out, "repaint-dialog-selection.png"), wid)
    xdo("windowfocus", "--sync", wid)
    time.sleep(0.3)
    keys("ctrl+a")
    typ(PROMPT)
    for mnemonic, value in [("alt+w", "64"), ("alt+g", "64"), ("alt+s", "4")]:
        keys(mnemonic, "ctrl+a")
        typ(value)
    keys("alt+r")  # Random off (on by default): the seed becomes editable
    keys("alt+e", "ctrl+a")
    typ("3")
    time.sleep(0.3)
    now = repaint_run(g, out, img, 2, "selection", wid)
    if not check("[repaint gui] a selection: one new layer above", len(now) == 2 and now[1] == bg, str(now)):
        return
    layer = now[0]
    check("[repaint gui] the layer is 96x96 at (82,52) with a layer mask",
          layer_info(g, layer)[1:] == (96, 96, 82, 52)
          and g.ints("(car (gimp-layer-get-mask %d))" % layer)[0] != -1, str(layer_info(g, layer)))
    crop = [full[((52 + y) * bw + 82 + x) * 3 + c] for y in range(96) for x in range(96) for c in range(3)]
    mask = [255 if 120 <= 82 + x < 140 and 90 <= 52 + y < 110 else 0 for y in range(96) for x in range(96)]
    # with a selection the dialog has no Strength: the procedure's default 0.6 (diffusers'
    # FluxInpaintPipeline's) is used
    want = edit_cli(args, out, "repaint-selection", crop, 96, 96, mask, "0.6", 3) if args.cli else None
    if want:
        compare("[repaint gui] the typed values (size 64, 4 steps, seed 3): = flux-generate on the crop",
                save_png(g, img, layer, os.path.join(out, "repaint-layer-selection.png")), 96, 96, want)

    # no selection: the Strength slider (0.05–1) instead of the size
    g.value("(gimp-selection-none %d)" % img)
    g.value("(gimp-image-set-active-layer %d %d)" % (img, bg))
    g.value("(gimp-displays-flush)")
    time.sleep(0.5)
    wid = open_repaint(win)
    if not check("[repaint gui] no selection: the dialog opens with a Strength slider", wid is not None):
        return
    time.sleep(1.0)
    shot(os.path.join(out, "repaint-dialog-layer.png"), wid)
    xdo("windowfocus", "--sync", wid)
    time.sleep(0.3)
    keys("alt+t", "End")  # Strength: 1.0, then ten steps of 0.05 down
    for _ in range(10):
        keys("Left")
    keys("alt+e")
    time.sleep(0.3)
    now = repaint_run(g, out, img, 3, "layer", wid)
    if not check("[repaint gui] no selection: a third layer", len(now) == 3, str(now)):
        return
    layer = [l for l in now if l not in (bg, layer)][0]
    check("[repaint gui] 192x160 at the layer's (0,0), no mask",
          layer_info(g, layer)[1:] == (192, 160, 0, 0)
          and g.ints("(car (gimp-layer-get-mask %d))" % layer)[0] == -1, str(layer_info(g, layer)))
    crop = [full[(y * bw + x) * 3 + c] for y in range(160) for x in range(192) for c in range(3)]
    want = edit_cli(args, out, "repaint-layer", crop, 192, 160, None, "0.5", 3) if args.cli else None
    if want:
        compare("[repaint gui] the slider's strength 0.5: = flux-generate --strength 0.5",
                save_png(g, img, layer, os.path.join(out, "repaint-layer-layer.png")), 192, 160, want)
    # each run is one undo step: Ctrl+Z removes the img2img layer; two more undo Select None
    # and then the masked layer with its mask (were they two steps, 2 layers would be left)
    xdo("windowfocus", "--sync", win)
    time.sleep(0.3)
    keys("ctrl+z")
    deadline = time.time() + 10
    while time.time() < deadline and len(layers(g, img)) != 2:
        time.sleep(0.2)
    one = len(layers(g, img)) == 2
    keys("ctrl+z", "ctrl+z")
    deadline = time.time() + 10
    while time.time() < deadline and layers(g, img) != [bg]:
        time.sleep(0.2)
    check("[repaint gui] one Ctrl+Z per run: the layer (with its mask) goes in one step",
          one and layers(g, img) == [bg], str(layers(g, img)))
    g.call("(gimp-image-clean-all %d)" % img)


def wait_log(g, text, timeout):
    """Waits until GIMP's log (the progress spy) contains `text`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in open(g.log_path, errors="replace").read():
            return True
        time.sleep(0.1)
    return False


def picture_rows(path):
    """Rows 20..299, columns 20..299 of a preview window screenshot: inside the picture."""
    w, h, px = pixels(path, 3)
    if w < 300 or h < 300:
        return None
    return [px[(y * w + 20) * 3:(y * w + 300) * 3] for y in range(20, 300)]


def gui_preview_checks(g, out, img):
    # a run long enough to watch (1024², 30 steps of the tiny model: 0.3-1.5 s a step): the
    # preview window shows the picture forming, and Stop leaves the image as it was
    before = layers(g, img)
    call = Call(g, "(plug-in-flux-generate RUN-INTERACTIVE %d -1 \"\" 0 0 0 0 0 \"\")" % img)
    wid = find_window("^flux$")
    if not check("[en] preview run: the dialog appears", wid is not None):
        return
    time.sleep(1.0)
    xdo("windowfocus", "--sync", wid)
    time.sleep(0.3)
    for mnemonic, value in [("alt+w", "1024"), ("alt+g", "1024"), ("alt+s", "30")]:
        keys(mnemonic, "ctrl+a")
        typ(value)
    keys("Return")
    pid = find_window("Preview$", 30, by="--name")
    if not check("[en] the preview window opens", pid is not None):
        call.join(120)
        return
    check("[en] the preview window is titled", xdo("getwindowname", pid) == "FLUX Text to Image — Preview",
          xdo("getwindowname", pid))
    shots = []
    for step in (3, 7):
        got = wait_log(g, 'text "Step %d/30' % step, 60)
        time.sleep(0.3)  # the window repaints after the step's event
        shots.append(shot(os.path.join(out, "preview-step%d.png" % step), pid))
        check("[en] the run reaches step %d with the window open" % step, got)
    if len(shots) == 2 and all(os.path.isfile(p) for p in shots):
        # the picture alone (the window's top 320 px inside its 12 px border), not the texts
        a, b = (picture_rows(p) for p in shots)
        check("[en] the preview picture changes between steps 3 and 7", a and b and a != b)
    if not check("[en] the run is still going at step 7",
                 not wait_log(g, 'text "Step 30/30', 0.1) and find_window("Preview$", 1, by="--name")):
        call.join(120)
        return
    xdo("windowfocus", pid)  # no --sync: it would wait forever for a window gone meanwhile
    time.sleep(0.3)
    keys("alt+s")  # the Stop button's mnemonic
    time.sleep(0.2)  # the whole screen: `import -window` hangs when the window has gone
    shot(os.path.join(out, "preview-stopping.png"))
    call.join(60)
    ok, text = call.result if call.result else (True, "no answer")
    check("[en] Stop cancels the run", not ok or text.strip() == "(#f)", text)
    check("[en] after Stop the image is unchanged", layers(g, img) == before,
          "%s -> %s" % (before, layers(g, img)))
    check("[en] the run stopped before its last step", not wait_log(g, 'text "Step 30/30', 0.1))
    check("[en] the preview window is gone", find_window("Preview$", 3, by="--name") is None)
    shot(os.path.join(out, "after-stop.png"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["headless", "gui"])
    for opt in ["plugin", "po-build-dir", "gettext-package", "model", "data-dir", "work",
                "artifacts", "python", "cli"]:
        ap.add_argument("--" + opt, required=opt not in ("python", "cli"))
    args = ap.parse_args()
    args.work = os.path.join(args.work, args.mode)
    if not os.path.isfile(os.path.join(args.model, GOLDEN)):
        print("SKIP: reference model not found at " + args.model)
        return 77
    t0 = time.time()
    (headless if args.mode == "headless" else gui)(args)
    print("%s: %d failure(s) in %.0f s; artifacts in %s" % (args.mode, len(failures), time.time() - t0,
                                                            args.artifacts))
    for f in failures:
        print("  FAILED: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
