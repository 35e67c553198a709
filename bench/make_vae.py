#!/usr/bin/env python3
"""make_vae.py — a random-weight VAE decoder of FLUX.1's real shape, numpy only, for timing
the VAE (flux-bench --preview-table) where bench/make_model.py (torch) cannot run.

Writes OUT/vae/config.json (the given AutoencoderKL config) and
OUT/vae/diffusion_pytorch_model.safetensors with the decoder tensors under diffusers names,
BF16, drawn N(0, 1/fan_in) so activations stay finite. Only timings mean anything.

  /usr/bin/python3 bench/make_vae.py ../shared/flux1_files/FLUX.1-dev/vae/config.json OUT
"""
import json
import os
import struct
import sys

import numpy as np


def decoder_shapes(cfg):
    ch, lat, layers = cfg["block_out_channels"], cfg["latent_channels"], cfg["layers_per_block"]
    out, n = {}, len(ch)

    def conv(name, co, ci, k):
        out[name + ".weight"] = (co, ci, k, k)
        out[name + ".bias"] = (co,)

    def norm(name, c):
        out[name + ".weight"] = (c,)
        out[name + ".bias"] = (c,)

    def resnet(prefix, ci, co):
        norm(prefix + "norm1", ci)
        conv(prefix + "conv1", co, ci, 3)
        norm(prefix + "norm2", co)
        conv(prefix + "conv2", co, co, 3)
        if ci != co:
            conv(prefix + "conv_shortcut", co, ci, 1)

    top = ch[-1]
    conv("decoder.conv_in", top, lat, 3)
    for j in range(2):
        resnet("decoder.mid_block.resnets.%d." % j, top, top)
    if cfg.get("mid_block_add_attention", True):
        a = "decoder.mid_block.attentions.0."
        norm(a + "group_norm", top)
        for p in ("to_q", "to_k", "to_v", "to_out.0"):
            out[a + p + ".weight"] = (top, top)
            out[a + p + ".bias"] = (top,)
    prev = top
    for i in range(n):
        co = ch[n - 1 - i]
        for j in range(layers + 1):
            resnet("decoder.up_blocks.%d.resnets.%d." % (i, j), prev if j == 0 else co, co)
        if i != n - 1:
            conv("decoder.up_blocks.%d.upsamplers.0.conv" % i, co, co, 3)
        prev = co
    norm("decoder.conv_norm_out", ch[0])
    conv("decoder.conv_out", cfg["out_channels"], ch[0], 3)
    return out


def to_bf16(x):
    u = x.astype(np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)  # round to nearest even


def main():
    cfg_path, out_dir = sys.argv[1], sys.argv[2]
    cfg = json.load(open(cfg_path))
    rng = np.random.default_rng(0)
    header, blobs, offset = {}, [], 0
    for name, shape in decoder_shapes(cfg).items():
        if name.endswith(".weight") and len(shape) > 1:
            fan_in = int(np.prod(shape[1:]))
            x = rng.standard_normal(shape, dtype=np.float32) / np.sqrt(fan_in)
        elif "norm" in name and name.endswith(".weight"):
            x = np.ones(shape, np.float32)
        else:
            x = np.zeros(shape, np.float32)
        b = to_bf16(x).tobytes()
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    os.makedirs(os.path.join(out_dir, "vae"), exist_ok=True)
    with open(os.path.join(out_dir, "vae", "diffusion_pytorch_model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)
    with open(os.path.join(out_dir, "vae", "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    print("%s: %d tensors, %.1f MB" % (out_dir, len(header), offset / 1e6))


if __name__ == "__main__":
    main()
