"""edit_checks.py — runs inside gimp-console-3.0 (python-fu-eval): plug-in-flux-edit (FLUX
Repaint) called from Python-Fu. Reads FLUX_T_* from the environment (FLUX_T_PICTURE: a 200×160
RGB PNG that gimp3_tests.py wrote), writes $FLUX_T_OUT/edit-checks.json and the new layers
alone as PNGs; gimp3_tests.py judges them against flux-generate on the same crop."""
import json
import os

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, Gio  # noqa: E402

OUT, MODEL, PROMPT = os.environ["FLUX_T_OUT"], os.environ["FLUX_T_MODEL"], os.environ["FLUX_T_PROMPT"]
PICTURE, KILL = os.environ["FLUX_T_PICTURE"], os.environ["FLUX_SPY_KILL_FILE"]
pdb = Gimp.get_pdb()
res = {}


def edit(img, drawables, mode=Gimp.RunMode.NONINTERACTIVE, **kw):
    proc = pdb.lookup_procedure("plug-in-flux-edit")
    cfg = proc.create_config()
    cfg.set_property("run-mode", mode)
    cfg.set_property("image", img)
    cfg.set_core_object_array("drawables", list(drawables))
    args = dict(prompt=PROMPT, num_steps=4, guidance=3.5, seed=3, model=MODEL, strength=1.0, size=64)
    args.update(kw)
    for k, v in args.items():
        cfg.set_property(k.replace("_", "-"), v)
    out = proc.run(cfg)
    return out.index(0), [out.index(i) for i in range(1, out.length())]


def save_alone(layer, name):
    """The layer's own pixels (no mask, no other layer) as a PNG."""
    img = Gimp.Image.new(layer.get_width(), layer.get_height(), Gimp.ImageBaseType.RGB)
    copy = Gimp.Layer.new_from_drawable(layer, img)
    img.insert_layer(copy, None, 0)
    if copy.get_mask() is not None:
        copy.remove_mask(Gimp.MaskApplyMode.DISCARD)
    copy.set_offsets(0, 0)
    path = os.path.join(OUT, name)
    Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, img, Gio.File.new_for_path(path), None)
    img.delete()
    return path


def describe(img, layer):
    return dict(size=[layer.get_width(), layer.get_height()], offsets=list(layer.get_offsets()[1:]),
                mask=layer.get_mask() is not None, position=img.get_item_position(layer),
                name=layer.get_name())


proc = pdb.lookup_procedure("plug-in-flux-edit")
res["signature"] = dict(args=[p.name for p in proc.get_arguments()],
                        rets=[p.name for p in proc.get_return_values()],
                        menu=list(proc.get_menu_paths()))

# 1. a 20×20 selection in the 200×160 picture: one new layer over the repaint box, masked
img = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(PICTURE))
bg = img.get_layers()[0]
img.select_rectangle(Gimp.ChannelOps.REPLACE, 120, 90, 20, 20)
before = [l.get_id() for l in img.get_layers()]
status, values = edit(img, [bg])
res["repaint"] = dict(status=status.value_nick, values=[str(v) for v in values])
if status == Gimp.PDBStatusType.SUCCESS:
    layer, seed = values
    res["repaint"].update(describe(img, layer), seed=seed, png=save_alone(layer, "edit-layer.png"),
                          layers=len(img.get_layers()), before=len(before),
                          bg_png=save_alone(bg, "edit-bg-after.png"))

# 2. killed at step 2 (what GIMP does on Cancel): the image keeps its layers
before = [l.get_id() for l in img.get_layers()]
with open(KILL, "w") as f:
    f.write("Step 2/")
status, values = edit(img, [bg], seed=5)
os.remove(KILL)
res["kill"] = dict(status=status.value_nick, before=before, after=[l.get_id() for l in img.get_layers()])

# 3. no selection: img2img of the layer, at its offsets, its size floored to 16
Gimp.Selection.none(img)
bg.set_offsets(5, 7)
status, values = edit(img, [bg], strength=0.5, seed=4)
res["img2img"] = dict(status=status.value_nick, values=[str(v) for v in values])
if status == Gimp.PDBStatusType.SUCCESS:
    layer, seed = values
    res["img2img"].update(describe(img, layer), seed=seed, png=save_alone(layer, "img2img-layer.png"))

# 4. no drawable given: the selected layer
status, values = edit(img, [], strength=0.5, seed=4)
res["no_drawable"] = [status.value_nick] + ([values[0].get_width()] if status == Gimp.PDBStatusType.SUCCESS
                                            else [str(v) for v in values])
img.delete()

with open(os.path.join(OUT, "edit-checks.json"), "w") as f:
    json.dump(res, f, indent=1)
Gimp.message("TEST-OK edit")
