#!/usr/bin/env python3
"""make_lora_reference.py — the golden outputs of tests/test_lora.c, from diffusers 0.32.2.

  python make_lora_reference.py CASE_DIR [OUT]      (OUT: tests/data/lora/reference.safetensors)

CASE_DIR is what tests/lora/make_lora_case.py wrote (with --gguf). For every CASES entry,
FluxTransformer2DModel (float32, the bf16 base weights upcast; or the Q8_0 GGUF's values
dequantized, the "merged" base of the quantized model) runs one forward on the inputs with
the LoRAs loaded the way FluxPipeline.load_lora_weights loads them
(FluxLoraLoaderMixin.lora_state_dict with its kohya conversion, then load_lora_into_transformer;
the multipliers through set_adapters, which is what joint_attention_kwargs={"scale": s} scales).
diffusers 0.32.2 has no conversion for the BFL / ai-toolkit names ("diffusion_model.*.lora_A"),
so that file is handed to it renamed to kohya's names (lora_down = lora_A, lora_up = lora_B,
alpha = rank): its own kohya conversion then splits the fused layers.

Needs a virtualenv with diffusers==0.32.2 transformers==4.46.* peft safetensors numpy torch.
Output: "<case>" [1, 16, 64] per case, float32.
"""
import os
import sys

import numpy as np
import torch
from diffusers import FluxPipeline, FluxTransformer2DModel
from safetensors.numpy import load_file, save_file
from safetensors.torch import load_file as load_torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import make_lora_case as mc  # noqa: E402
import convert_checkpoint as cc  # noqa: E402


def lora_dict(case_dir, name):
    """The LoRA as torch tensors, BFL names renamed to kohya's (see above)."""
    sd = {k: v.float() for k, v in
          load_torch(os.path.join(case_dir, "loras", name + ".safetensors")).items()}
    if mc.LORAS[name][0] != "bfl":
        return sd
    out = {}
    for k, v in sd.items():
        stem, part = k[len("diffusion_model."):].split(".lora_")
        kk = "lora_unet_" + stem.replace(".", "_")
        if part == "A.weight":
            out[kk + ".lora_down.weight"] = v
            out[kk + ".alpha"] = torch.tensor(float(v.shape[0]))
        else:
            out[kk + ".lora_up.weight"] = v
    return out


def q8_0_values(sd):
    """What the Q8_0 GGUF holds, dequantized, per diffusers tensor (quantization is per
    32-wide row block, so quantizing the fused BFL tensor or its parts is the same)."""
    return {k: cc.gguf_tensor(k, v, "Q8_0")[1].reshape(v.shape) for k, v in sd.items()}


def main():
    case_dir = sys.argv[1]
    out_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "data", "lora", "reference.safetensors")
    torch.set_grad_enabled(False)
    x = {k: torch.from_numpy(v) for k, v in
         load_file(os.path.join(case_dir, "inputs.safetensors")).items()}
    folder = os.path.join(case_dir, "base", "transformer")
    sd = mc.base_tensors()
    q8 = {k: torch.from_numpy(v) for k, v in q8_0_values(sd).items()}
    del sd
    out = {}
    for case, (base, loras) in mc.CASES.items():
        m = FluxTransformer2DModel.from_pretrained(folder, torch_dtype=torch.float32)
        if base == "q8_0":
            m.load_state_dict(q8, strict=True)
        names, weights = [], []
        for i, (lora, mult) in enumerate(loras):
            sdl, alphas = FluxPipeline.lora_state_dict(lora_dict(case_dir, lora), return_alphas=True)
            name = f"l{i}"
            FluxPipeline.load_lora_into_transformer(sdl, network_alphas=alphas, transformer=m,
                                                    adapter_name=name)
            names.append(name)
            weights.append(mult)
        if names:
            m.set_adapters(names, weights)
        y = m(hidden_states=x["hidden"], encoder_hidden_states=x["encoder_hidden"],
              pooled_projections=x["pooled"], timestep=x["timestep"], img_ids=x["img_ids"],
              txt_ids=x["txt_ids"], guidance=x["guidance"], return_dict=False)[0]
        out[case] = y.float().numpy().copy()
        print(f"{case}: |y| {np.abs(out[case]).mean():.4f}", flush=True)
        del m
    base = out["base"]
    for case in out:
        d = np.abs(out[case] - base).max() / np.abs(base).max()
        print(f"{case}: differs from base by {d:.3f} (max, relative)")
    save_file(out, out_path)


if __name__ == "__main__":
    main()
