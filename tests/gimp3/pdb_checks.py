"""pdb_checks.py — runs inside gimp-console-3.0 (python-fu-eval): the plug-in called from
Python-Fu. Reads FLUX_T_* from the environment, writes one JSON object of results to
$FLUX_T_OUT/pdb-checks.json (gimp3_tests.py judges them) and the pictures as PNGs there."""
import json
import os

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, Gio  # noqa: E402

OUT, MODEL, PROMPT = os.environ["FLUX_T_OUT"], os.environ["FLUX_T_MODEL"], os.environ["FLUX_T_PROMPT"]
KILL = os.environ["FLUX_SPY_KILL_FILE"]
pdb = Gimp.get_pdb()
res = {}


def new_image(w, h):
    img = Gimp.Image.new(w, h, Gimp.ImageBaseType.RGB)
    bg = Gimp.Layer.new(img, "bg", w, h, Gimp.ImageType.RGB_IMAGE, 100, Gimp.LayerMode.NORMAL)
    img.insert_layer(bg, None, 0)
    bg.fill(Gimp.FillType.WHITE)
    return img, bg


def call(name, img=None, drawables=(), mode=Gimp.RunMode.NONINTERACTIVE, **kw):
    proc = pdb.lookup_procedure(name)
    cfg = proc.create_config()
    cfg.set_property("run-mode", mode)
    if img is not None:
        cfg.set_property("image", img)
        cfg.set_core_object_array("drawables", list(drawables))
    args = dict(prompt=PROMPT, width=64, height=64, num_steps=4, guidance=3.5, seed=0, model=MODEL)
    args.update(kw)
    for k, v in args.items():
        cfg.set_property(k.replace("_", "-"), v)
    out = proc.run(cfg)
    status = out.index(0)
    values = [out.index(i) for i in range(1, out.length())]
    return status, values


def save(img, name):
    path = os.path.join(OUT, name)
    Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, img, Gio.File.new_for_path(path), None)
    return path


def names(proc_name, which):
    proc = pdb.lookup_procedure(proc_name)
    specs = proc.get_arguments() if which == "args" else proc.get_return_values()
    return [p.name for p in specs]


# 1. the PDB signatures and menus
for p in ("plug-in-flux-generate", "plug-in-flux-generate-image"):
    res[p] = dict(args=names(p, "args"), rets=names(p, "rets"),
                  menu=list(pdb.lookup_procedure(p).get_menu_paths()))

# 2. File > Create: a new image equal to the golden picture
status, values = call("plug-in-flux-generate-image")
res["image_status"] = status.value_nick
if status == Gimp.PDBStatusType.SUCCESS:
    img2, seed = values[0], values[1]
    layers = img2.get_layers()
    res["image"] = dict(size=[img2.get_width(), img2.get_height()], seed=seed,
                        base=img2.get_base_type().value_nick, precision=img2.get_precision().value_nick,
                        layers=[l.get_name() for l in layers], png=save(img2, "image.png"))
    img2.delete()
else:
    res["image_error"] = [str(v) for v in values]

# 3. a random seed (-1): the returned seed reproduces the same pixels
img, bg = new_image(32, 48)
status, values = call("plug-in-flux-generate", img, [bg], width=32, height=48, seed=-1)
res["random_status"] = status.value_nick
if status == Gimp.PDBStatusType.SUCCESS:
    seed = values[1]
    res["random_seed"] = seed
    a = save(img, "random.png")
    status, values = call("plug-in-flux-generate", img, [bg], width=32, height=48, seed=seed)
    res["random_again"] = [status.value_nick, values[1] if len(values) > 1 else None, a,
                           save(img, "random-again.png") if status == Gimp.PDBStatusType.SUCCESS else ""]
img.delete()

# 4. a selection: the layer goes to its corner; sizes floor to multiples of 16
img, bg = new_image(128, 96)
img.select_rectangle(Gimp.ChannelOps.REPLACE, 20, 10, 30, 30)
status, values = call("plug-in-flux-generate", img, [bg], width=40, height=37, seed=3)
if status == Gimp.PDBStatusType.SUCCESS:
    lay = values[0]
    res["selection"] = [lay.get_width(), lay.get_height()] + list(lay.get_offsets()[1:])
else:
    res["selection"] = [status.value_nick] + [str(v) for v in values]
Gimp.Selection.none(img)

# 5. killed at step 2 (what GIMP does on Cancel): the image keeps its layers and undo
before = [l.get_id() for l in img.get_layers()]
with open(KILL, "w") as f:
    f.write("Step 2/")
status, values = call("plug-in-flux-generate", img, [bg])
os.remove(KILL)
res["kill"] = dict(status=status.value_nick, before=before, after=[l.get_id() for l in img.get_layers()])

# 6. RUN-INTERACTIVE without a display: a clean error, no crash
status, values = call("plug-in-flux-generate", img, [bg], mode=Gimp.RunMode.INTERACTIVE)
res["interactive"] = [status.value_nick] + [str(v) for v in values]

# 7. an empty model argument means the folder remembered from the dialog (flux-plugin.ini)
status, values = call("plug-in-flux-generate", img, [bg], model="")
res["remembered_model"] = status.value_nick
img.delete()

# 7b. a model string: the VAE chosen by hand, relative to the model folder
img, bg = new_image(64, 64)
status, values = call("plug-in-flux-generate", img, [bg],
                      model=MODEL + ";vae=vae/diffusion_pytorch_model.safetensors")
res["relative_vae"] = [status.value_nick] + (
    [save(img, "relative-vae.png")] if status == Gimp.PDBStatusType.SUCCESS else [str(v) for v in values])
img.delete()

# 8. LoRAs: the -loras procedure with "" (the golden picture), a LoRA at strength 1 (another
# picture) and a missing file (an error naming it); gimp3_tests.py wrote the LoRA (a kohya
# LoRA on double block 0's qkv of the tiny model, gimp_tests.write_lora)
lora = os.path.join(OUT, "style.safetensors")
res["loras_args"] = names("plug-in-flux-generate-image-loras", "args")
res["loras"] = {}
for what, spec in (("none", ""), ("strength1", lora + ":1"), ("missing", "/nonexistent/gone.safetensors")):
    status, values = call("plug-in-flux-generate-image-loras", loras=spec)
    entry = [status.value_nick]
    if status == Gimp.PDBStatusType.SUCCESS:
        entry.append(save(values[0], "lora-%s.png" % what))
        values[0].delete()
    else:
        entry += [str(v) for v in values]
    res["loras"][what] = entry

with open(os.path.join(OUT, "pdb-checks.json"), "w") as f:
    json.dump(res, f, indent=1)
Gimp.message("TEST-OK python")
