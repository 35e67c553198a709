#!/usr/bin/env python3
"""make_model.py — writes a random-weight FLUX.1 model folder with the REAL dimensions.

The folder has the diffusers layout of black-forest-labs/FLUX.1-dev (model_index.json,
scheduler/, tokenizer/, tokenizer_2/, text_encoder/, text_encoder_2/, transformer/, vae/),
the real config files (from --configs), and bf16 safetensors shards with an index json,
exactly the tensor names and shapes of the real checkpoints. Only the depth can be reduced
(--double, --single, --t5-layers, --clip-layers); widths stay real.

Tensor names and shapes come from instantiating the reference classes (diffusers 0.32.2,
transformers 4.46) on torch's "meta" device: no memory is allocated for them. Values are
written in streaming chunks (never a whole tensor, let alone a 24 GB model, in memory):
normal(0, 1/sqrt(fan_in)) for matrices and convolutions, 1 + small noise for norm scales,
small noise for biases. The values only have to be finite and of a sane magnitude: this
model is for timing and memory, not for images.

Run with /work/venv-ref/bin/python (needs torch, diffusers, transformers, numpy):
  python bench/make_model.py --out /work/bench-models/flux-full                 # 57 blocks
  python bench/make_model.py --out /work/bench-models/flux-d1s2 --double 1 --single 2 \
      --t5-layers 2 --clip-layers 2
"""
import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np

CHUNK = 1 << 22  # values generated and written per step (8 MiB of bf16)
SHARD_BYTES = 5 << 30  # the real checkpoints use ~5-10 GB shards


class Pool:
    """A fixed pool of standard normal values; tensors read it at random offsets, so
    generating 12e9 values costs a multiply and a shift per value, not a Box-Muller."""

    def __init__(self, seed):
        rng = np.random.default_rng(seed)
        self.rng = rng
        self.data = rng.standard_normal(1 << 24, dtype=np.float32)

    def chunk(self, n):
        off = int(self.rng.integers(0, len(self.data) - n))
        return self.data[off:off + n]


def to_bf16(x):
    """float32 array → bf16 bits (uint16), round to nearest even."""
    u = x.astype(np.float32).view(np.uint32)
    u = u + (np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1)))
    return (u >> np.uint32(16)).astype(np.uint16)


def init_of(name, shape):
    """(mean, std) of a tensor, by its role."""
    last = name.rsplit(".", 1)[-1]
    if len(shape) == 1:
        is_scale = last == "weight"  # LayerNorm/RMSNorm/GroupNorm scales
        return (1.0, 0.02) if is_scale else (0.0, 0.02)
    if "embedding" in name or name.endswith("shared.weight") or "embed_tokens" in name:
        return (0.0, 0.5)
    if "relative_attention_bias" in name:
        return (0.0, 0.1)
    fan_in = int(np.prod(shape[1:]))
    return (0.0, 1.0 / np.sqrt(max(fan_in, 1)))


def write_component(out_dir, stem, tensors, pool, log):
    """tensors: list of (name, shape). Writes <stem>-0000i-of-0000n.safetensors + index
    (or a single <stem>.safetensors when it fits one shard)."""
    os.makedirs(out_dir, exist_ok=True)
    shards, cur, cur_bytes = [], [], 0
    for name, shape in tensors:
        nbytes = int(np.prod(shape)) * 2
        if cur and cur_bytes + nbytes > SHARD_BYTES:
            shards.append(cur)
            cur, cur_bytes = [], 0
        cur.append((name, shape))
        cur_bytes += nbytes
    if cur:
        shards.append(cur)
    n = len(shards)
    files = ([f"{stem}.safetensors"] if n == 1 else
             [f"{stem}-{i + 1:05d}-of-{n:05d}.safetensors" for i in range(n)])
    weight_map, total = {}, 0
    for fname, shard in zip(files, shards):
        header, off = {"__metadata__": {"format": "pt"}}, 0
        for name, shape in shard:
            nb = int(np.prod(shape)) * 2
            header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + nb]}
            off += nb
            weight_map[name] = fname
        hj = json.dumps(header, separators=(",", ":")).encode()
        hj += b" " * ((8 - len(hj) % 8) % 8)
        path = os.path.join(out_dir, fname)
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(hj)))
            f.write(hj)
            for name, shape in shard:
                mean, std = init_of(name, shape)
                left = int(np.prod(shape))
                while left:
                    k = min(left, CHUNK)
                    v = pool.chunk(k) * np.float32(std) + np.float32(mean)
                    f.write(to_bf16(v).tobytes())
                    left -= k
        total += off
        log(f"  {path}: {len(shard)} tensors, {off / 2**30:.2f} GiB")
    if n > 1:
        idx = {"metadata": {"total_size": total}, "weight_map": weight_map}
        with open(os.path.join(out_dir, f"{stem}.safetensors.index.json"), "w") as f:
            json.dump(idx, f, indent=1)
    return total


def meta_shapes(model, skip=()):
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items() if k not in skip]


def load_cfg(path, **over):
    with open(path) as f:
        cfg = json.load(f)
    cfg.update(over)
    return cfg


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--configs", default="/work/shared/flux1_files/FLUX.1-dev")
    ap.add_argument("--tokenizers", default="/work/shared/flux1_files")
    ap.add_argument("--double", type=int, default=None, help="double blocks (real: 19)")
    ap.add_argument("--single", type=int, default=None, help="single blocks (real: 38)")
    ap.add_argument("--t5-layers", type=int, default=None, help="T5 encoder layers (real: 24)")
    ap.add_argument("--clip-layers", type=int, default=None, help="CLIP layers (real: 12)")
    ap.add_argument("--components", default="transformer,text_encoder,text_encoder_2,vae")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    import torch
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    def log(s):
        print(s, flush=True)

    comps = a.components.split(",")
    os.makedirs(a.out, exist_ok=True)
    src = a.configs
    shutil.copy(os.path.join(src, "model_index.json"), a.out)
    shutil.copytree(os.path.join(src, "scheduler"), os.path.join(a.out, "scheduler"),
                    dirs_exist_ok=True)
    for t in ("tokenizer", "tokenizer_2"):
        shutil.copytree(os.path.join(a.tokenizers, t), os.path.join(a.out, t), dirs_exist_ok=True)
    for root, dirs, files in os.walk(a.out):  # shared/ is read-only: make the copies writable
        for n in dirs + files:
            os.chmod(os.path.join(root, n), 0o755 if n in dirs else 0o644)
    pool = Pool(a.seed)
    total = 0

    def save_cfg(sub, cfg):
        os.makedirs(os.path.join(a.out, sub), exist_ok=True)
        with open(os.path.join(a.out, sub, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)

    with torch.device("meta"):
        if "transformer" in comps:
            over = {}
            if a.double is not None:
                over["num_layers"] = a.double
            if a.single is not None:
                over["num_single_layers"] = a.single
            cfg = load_cfg(os.path.join(src, "transformer/config.json"), **over)
            save_cfg("transformer", cfg)
            m = FluxTransformer2DModel.from_config(cfg)
            log(f"transformer: {cfg['num_layers']} double + {cfg['num_single_layers']} single")
            total += write_component(os.path.join(a.out, "transformer"), "diffusion_pytorch_model",
                                     meta_shapes(m), pool, log)
            del m
        if "text_encoder" in comps:
            over = {} if a.clip_layers is None else {"num_hidden_layers": a.clip_layers}
            cfg = load_cfg(os.path.join(src, "text_encoder/config.json"), **over)
            save_cfg("text_encoder", cfg)
            m = CLIPTextModel(CLIPTextConfig(**cfg))
            log(f"text_encoder: {cfg['num_hidden_layers']} layers")
            total += write_component(os.path.join(a.out, "text_encoder"), "model",
                                     meta_shapes(m, ("text_model.embeddings.position_ids",)),
                                     pool, log)
            del m
        if "text_encoder_2" in comps:
            over = {} if a.t5_layers is None else {"num_layers": a.t5_layers}
            cfg = load_cfg(os.path.join(src, "text_encoder_2/config.json"), **over)
            save_cfg("text_encoder_2", cfg)
            m = T5EncoderModel(T5Config(**cfg))
            log(f"text_encoder_2: {cfg['num_layers']} layers")
            # encoder.embed_tokens is tied to shared and not stored in the real checkpoint
            total += write_component(os.path.join(a.out, "text_encoder_2"), "model",
                                     meta_shapes(m, ("encoder.embed_tokens.weight",)), pool, log)
            del m
        if "vae" in comps:
            cfg = load_cfg(os.path.join(src, "vae/config.json"))
            save_cfg("vae", cfg)
            m = AutoencoderKL.from_config(cfg)
            log("vae")
            total += write_component(os.path.join(a.out, "vae"), "diffusion_pytorch_model",
                                     meta_shapes(m), pool, log)
            del m
    log(f"total {total / 2**30:.2f} GiB in {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
