#!/usr/bin/env python3
"""comfy_tree.py — writes the reference tiny model (diffusers layout) as the single files of a
ComfyUI models/ tree, for the single-file render tests (tests/test_single_files.c, the GIMP
2.10 and GIMP 3 suites). python3 + numpy only; the names come from convert_checkpoint.py.

  comfy_tree.py MODEL_DIR OUT_DIR

  OUT_DIR/models/
    diffusion_models/flux1-tiny-dev.safetensors  the transformer, Black Forest Labs names
    diffusion_models/flux1-tiny-dev.json         {"axes_dims_rope": [4, 6, 6]}
    vae/ae.safetensors                           the VAE, LDM names (decoder and encoder)
    vae/ae.json                                  the VAE's config.json
    text_encoders/clip_l.safetensors             CLIP, transformers names (text_model.*)
    text_encoders/clip_l.json                    CLIP's config.json
    text_encoders/t5xxl_tiny_fp32.safetensors    T5 encoder (shared.weight, encoder.*)

Everything stays float32, so the render must equal the folder's. The .json files beside
three of them carry only what no tensor shape tells for this tiny model (docs/FORMATS.md,
"Single files"): the rope axes of a head dim that is not FLUX.1's 128, CLIP's 4 heads, the
VAE's 4 GroupNorm groups. T5 needs none: its heads show in relative_attention_bias.
"""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_checkpoint import (flux_to_original, read_safetensors,  # noqa: E402
                                vae_to_ldm, write_safetensors)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model, out = sys.argv[1], os.path.join(sys.argv[2], "models")
    dirs = {d: os.path.join(out, d) for d in ("diffusion_models", "vae", "text_encoders")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)

    tr = read_safetensors(os.path.join(model, "transformer", "diffusion_pytorch_model.safetensors"))
    write_safetensors(os.path.join(dirs["diffusion_models"], "flux1-tiny-dev.safetensors"),
                      flux_to_original(tr))
    with open(os.path.join(model, "transformer", "config.json")) as f:
        axes = json.load(f)["axes_dims_rope"]
    with open(os.path.join(dirs["diffusion_models"], "flux1-tiny-dev.json"), "w") as f:
        json.dump({"axes_dims_rope": axes}, f)

    vae = read_safetensors(os.path.join(model, "vae", "diffusion_pytorch_model.safetensors"))
    write_safetensors(os.path.join(dirs["vae"], "ae.safetensors"), vae_to_ldm(vae))
    shutil.copyfile(os.path.join(model, "vae", "config.json"), os.path.join(dirs["vae"], "ae.json"))

    clip = read_safetensors(os.path.join(model, "text_encoder", "model.safetensors"))
    write_safetensors(os.path.join(dirs["text_encoders"], "clip_l.safetensors"), clip)
    shutil.copyfile(os.path.join(model, "text_encoder", "config.json"),
                    os.path.join(dirs["text_encoders"], "clip_l.json"))

    t5 = read_safetensors(os.path.join(model, "text_encoder_2", "model.safetensors"))
    write_safetensors(os.path.join(dirs["text_encoders"], "t5xxl_tiny_fp32.safetensors"), t5)


if __name__ == "__main__":
    main()
