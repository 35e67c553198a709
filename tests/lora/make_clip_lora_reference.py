#!/usr/bin/env python3
"""make_clip_lora_reference.py — CLIP-L LoRA goldens of tests/test_lora.c, from diffusers 0.32.2.

  python make_clip_lora_reference.py [REFERENCE_DIR] [OUT_DIR]
      (defaults: ../shared/reference, tests/data/lora)

On the reference pack's tiny CLIP text model (tiny-flux-dev/text_encoder: D 32, F 37, 2 layers)
writes two small LoRA files and the pooled outputs with them:
  clip_kohya.safetensors      lora_te1_* lora_down/lora_up/alpha (F16; rank 4, alpha 2) on every
                              linear of layer 0 and fc2 of layer 1, plus one transformer layer
  clip_diffusers.safetensors  text_encoder.* lora_A/lora_B (F32, rank 2, no alpha) on layer 1's
                              attention
  clip_reference.safetensors  "ids" [1, 77] (I64) and "pooled.<case>" [1, 32] for the cases
                              none, kohya_1 (×1), diffusers_0.5 (×0.5)
The LoRAs load as FluxPipeline.load_lora_weights loads them (lora_state_dict, then
load_lora_into_text_encoder with prefix "text_encoder"); the multiplier is set_adapters' weight.
Needs the virtualenv of make_lora_reference.py.
"""
import os
import sys

import numpy as np
import torch
from diffusers import FluxPipeline
from safetensors.numpy import save_file
from safetensors.torch import load_file as load_torch
from transformers import CLIPTextModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_lora_case as mc  # noqa: E402

D, F = 32, 37
ATTN = ("q_proj", "k_proj", "v_proj", "out_proj")


def kohya(rs):
    out = {}
    layers = [f"text_model_encoder_layers_0_self_attn_{p}" for p in ATTN] + \
             ["text_model_encoder_layers_0_mlp_fc1", "text_model_encoder_layers_0_mlp_fc2",
              "text_model_encoder_layers_1_mlp_fc2"]
    for name in layers:
        n_in = F if name.endswith("fc2") else D
        n_out = F if name.endswith("fc1") else D
        k = "lora_te1_" + name
        out[k + ".lora_down.weight"] = (rs.standard_normal((4, n_in)) / np.sqrt(n_in)).astype(np.float32)
        out[k + ".lora_up.weight"] = (rs.standard_normal((n_out, 4)) * 0.5).astype(np.float32)
        out[k + ".alpha"] = np.array(2.0, np.float32)
    k = "lora_unet_double_blocks_0_img_attn_proj"  # a transformer layer of the tiny model too
    out[k + ".lora_down.weight"] = np.zeros((4, 32), np.float32)
    out[k + ".lora_up.weight"] = np.zeros((32, 4), np.float32)
    out[k + ".alpha"] = np.array(4.0, np.float32)
    return {k: mc.stored(v, "F16") if v.ndim else v for k, v in out.items()}


def diffusers(rs):
    out = {}
    for p in ATTN[:3]:
        k = f"text_encoder.text_model.encoder.layers.1.self_attn.{p}"
        out[k + ".lora_A.weight"] = (rs.standard_normal((2, D)) / np.sqrt(D)).astype(np.float32)
        out[k + ".lora_B.weight"] = (rs.standard_normal((D, 2)) * 0.5).astype(np.float32)
    return out


def pooled(te_dir, lora_path, mult, ids):
    te = CLIPTextModel.from_pretrained(te_dir, torch_dtype=torch.float32)
    if lora_path:
        sd = {k: v.float() for k, v in load_torch(lora_path).items()}
        sdl, alphas = FluxPipeline.lora_state_dict(sd, return_alphas=True)
        te_sd = {k: v for k, v in sdl.items() if k.startswith("text_encoder.")}
        te_alphas = {k: v for k, v in (alphas or {}).items() if k.startswith("text_encoder.")}
        FluxPipeline.load_lora_into_text_encoder(te_sd, network_alphas=te_alphas or None,
                                                 text_encoder=te, prefix="text_encoder",
                                                 adapter_name="a")
        from diffusers.loaders.lora_base import set_adapters_for_text_encoder
        set_adapters_for_text_encoder(["a"], te, [mult])
    with torch.no_grad():
        return te(torch.from_numpy(ids)).pooler_output.float().numpy()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ref = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "..", "shared", "reference")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "data", "lora")
    te_dir = os.path.join(ref, "tiny-flux-dev", "text_encoder")
    rs = np.random.RandomState(11)
    pk, pd = os.path.join(out, "clip_kohya.safetensors"), os.path.join(out, "clip_diffusers.safetensors")
    mc.write_safetensors(pk, kohya(rs), "F16")
    mc.write_safetensors(pd, diffusers(rs), "F32")
    ids = np.full((1, 77), 49407, np.int64)
    ids[0, :7] = [49406, 320, 1125, 539, 320, 2368, 49407]
    res = {"ids": ids,
           "pooled.none": pooled(te_dir, None, 1.0, ids),
           "pooled.kohya_1": pooled(te_dir, pk, 1.0, ids),
           "pooled.diffusers_0.5": pooled(te_dir, pd, 0.5, ids)}
    for k in ("pooled.kohya_1", "pooled.diffusers_0.5"):
        d = np.abs(res[k] - res["pooled.none"]).max() / np.abs(res["pooled.none"]).max()
        print(f"{k}: differs from no LoRA by {d:.3f} (max, relative)")
    save_file(res, os.path.join(out, "clip_reference.safetensors"))


if __name__ == "__main__":
    main()
