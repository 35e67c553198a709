#!/usr/bin/env python3
"""peer_files.py — the single files both engines of bench/peer_sdcpp.sh load, numpy only.

From a bench/make_model.py folder (diffusers layout, bf16) writes into OUT:
  flux_bf16.safetensors  the transformer under the original Black Forest Labs names (fused qkv,
                         as flux1-dev.safetensors has them): the same bf16 values, renamed and
                         concatenated by tests/convert_checkpoint.py's flux_to_original, never
                         rounded through float32;
  ae.safetensors         the VAE under the original names (convert_checkpoint.vae_to_ldm);
  clip_l.safetensors     CLIP-L with all 12 layers (the real size, whatever depth the folder's
                         text encoder has), random bf16 N(0, 1/fan_in) under the transformers
                         names that clip_l.safetensors files carry.
The 2-layer T5 is taken as it is (text_encoder_2/model.safetensors has the usual names).

  /usr/bin/python3 bench/peer_files.py MODEL_DIR OUT
"""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_checkpoint as cc  # noqa: E402
from make_gguf import read_bf16_safetensors  # noqa: E402


def write_bf16(path, tensors):
    """tensors: name -> uint16 array of bf16 bits, written one at a time."""
    head, off = {"__metadata__": {"format": "pt"}}, 0
    for k, v in tensors.items():
        head[k] = {"dtype": "BF16", "shape": list(v.shape), "data_offsets": [off, off + v.nbytes]}
        off += v.nbytes
    h = json.dumps(head, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path + ".part", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for v in tensors.values():
            f.write(np.ascontiguousarray(v).tobytes())
    os.replace(path + ".part", path)
    print(f"{path}: {len(tensors)} tensors, {off / 2**20:.1f} MiB")


def clip_l(rng):
    """CLIPTextModel (openai/clip-vit-large-patch14 text tower): name -> bf16 bits."""
    d, f, layers, vocab, pos = 768, 3072, 12, 49408, 77
    shapes = {"text_model.embeddings.token_embedding.weight": (vocab, d),
              "text_model.embeddings.position_embedding.weight": (pos, d)}
    for i in range(layers):
        p = f"text_model.encoder.layers.{i}."
        for m in ("q_proj", "k_proj", "v_proj", "out_proj"):
            shapes[p + f"self_attn.{m}.weight"] = (d, d)
            shapes[p + f"self_attn.{m}.bias"] = (d,)
        for n in ("layer_norm1", "layer_norm2"):
            shapes[p + n + ".weight"] = (d,)
            shapes[p + n + ".bias"] = (d,)
        shapes[p + "mlp.fc1.weight"], shapes[p + "mlp.fc1.bias"] = (f, d), (f,)
        shapes[p + "mlp.fc2.weight"], shapes[p + "mlp.fc2.bias"] = (d, f), (d,)
    shapes["text_model.final_layer_norm.weight"] = (d,)
    shapes["text_model.final_layer_norm.bias"] = (d,)
    out = {}
    for k, s in shapes.items():
        if len(s) == 1:
            x = np.full(s, 1.0 if k.endswith("norm1.weight") or k.endswith("norm2.weight")
                        or k.endswith("final_layer_norm.weight") else 0.0, np.float32)
            x += rng.standard_normal(s, dtype=np.float32) * np.float32(0.02)
        else:
            std = 0.5 if "embedding" in k else 1.0 / np.sqrt(s[1])
            x = rng.standard_normal(s, dtype=np.float32) * np.float32(std)
        out[k] = np.frombuffer(cc.bf16_bytes(x), np.uint16).reshape(s)
    return out


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    model, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    dit = read_bf16_safetensors(
        os.path.join(model, "transformer", "diffusion_pytorch_model.safetensors"), bits=True)
    write_bf16(os.path.join(out, "flux_bf16.safetensors"), cc.flux_to_original(dit))
    del dit
    vae = read_bf16_safetensors(
        os.path.join(model, "vae", "diffusion_pytorch_model.safetensors"), bits=True)
    write_bf16(os.path.join(out, "ae.safetensors"), cc.vae_to_ldm(vae))
    write_bf16(os.path.join(out, "clip_l.safetensors"), clip_l(np.random.default_rng(1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
