#!/usr/bin/env python3
"""make_lora_case.py — the inputs of the LoRA golden test (tests/test_lora.c), numpy only.

  make_lora_case.py OUT_DIR [--gguf]

writes, the same bytes on every run and machine (seeded legacy RandomState, stable across
numpy versions):
  OUT_DIR/base/transformer/{config.json, diffusion_pytorch_model.safetensors}
      a FLUX.1-dev transformer at the real width (D 3072, 24 heads x 128, MLP 12288, T5 4096,
      CLIP 768) with 1 double and 1 single block, bf16, diffusers names (~0.5 B parameters);
  OUT_DIR/base_q8_0.gguf (with --gguf)
      the same weights as a Q8_0 GGUF with the Black Forest Labs names (fused qkv, linear1),
      written by tests/convert_checkpoint.py's converter;
  OUT_DIR/loras/<name>.safetensors
      random LoRAs in the three formats people have (LORAS below);
  OUT_DIR/inputs.safetensors
      one forward's inputs: hidden [1,16,64], encoder_hidden [1,8,4096], pooled [1,768],
      timestep [1], guidance [1], img_ids [16,3], txt_ids [8,3].
CASES lists what each golden output is: a base, and LoRAs with their multipliers.
tests/lora/make_lora_reference.py computes the outputs with diffusers 0.32.2 into
tests/data/lora/reference.safetensors.
"""
import json
import os
import struct
import sys

import numpy as np

D, HD, F, J, P, C = 3072, 128, 12288, 4096, 768, 64
T_IMG, T_TXT = 16, 8

CONFIG = {
    "_class_name": "FluxTransformer2DModel",
    "attention_head_dim": HD,
    "guidance_embeds": True,
    "in_channels": C,
    "joint_attention_dim": J,
    "num_attention_heads": D // HD,
    "num_layers": 1,
    "num_single_layers": 1,
    "patch_size": 1,
    "pooled_projection_dim": P,
}


def linear_names():
    """(name, out, in) of every nn.Linear of FluxTransformer2DModel with 1 + 1 blocks."""
    out = [("x_embedder", D, C), ("context_embedder", D, J),
           ("time_text_embed.timestep_embedder.linear_1", D, 256),
           ("time_text_embed.timestep_embedder.linear_2", D, D),
           ("time_text_embed.guidance_embedder.linear_1", D, 256),
           ("time_text_embed.guidance_embedder.linear_2", D, D),
           ("time_text_embed.text_embedder.linear_1", D, P),
           ("time_text_embed.text_embedder.linear_2", D, D),
           ("norm_out.linear", 2 * D, D), ("proj_out", C, D)]
    b = "transformer_blocks.0."
    out += [(b + "norm1.linear", 6 * D, D), (b + "norm1_context.linear", 6 * D, D)]
    out += [(b + "attn." + n, D, D) for n in ("to_q", "to_k", "to_v", "add_q_proj", "add_k_proj",
                                              "add_v_proj", "to_out.0", "to_add_out")]
    out += [(b + "ff.net.0.proj", F, D), (b + "ff.net.2", D, F),
            (b + "ff_context.net.0.proj", F, D), (b + "ff_context.net.2", D, F)]
    s = "single_transformer_blocks.0."
    out += [(s + "norm.linear", 3 * D, D), (s + "attn.to_q", D, D), (s + "attn.to_k", D, D),
            (s + "attn.to_v", D, D), (s + "proj_mlp", F, D), (s + "proj_out", D, D + F)]
    return out


def scale_names():
    b, s = "transformer_blocks.0.attn.", "single_transformer_blocks.0.attn."
    return [b + n for n in ("norm_q", "norm_k", "norm_added_q", "norm_added_k")] + \
           [s + "norm_q", s + "norm_k"]


class Pool:
    """Standard normal values from a fixed pool read at seeded offsets: 0.5 B values cost a
    copy each instead of a Box-Muller, and the bytes only depend on the seed."""

    def __init__(self, seed):
        self.rs = np.random.RandomState(seed)
        self.data = self.rs.standard_normal(1 << 22).astype(np.float32)

    def normal(self, shape, std, mean=0.0):
        n, parts = int(np.prod(shape)), []
        while n:
            k = min(n, 1 << 20)
            off = int(self.rs.randint(0, len(self.data) - k))
            parts.append(self.data[off:off + k])
            n -= k
        x = np.concatenate(parts).reshape(shape)
        return x * np.float32(std) + np.float32(mean)


def base_tensors(seed=0):
    """diffusers name → float32 array (values rounded to bf16, as stored)."""
    pool, out = Pool(seed), {}
    for name, n_out, n_in in linear_names():
        out[name + ".weight"] = pool.normal((n_out, n_in), 1.0 / np.sqrt(n_in))
        out[name + ".bias"] = pool.normal((n_out,), 0.02)
    for name in scale_names():
        out[name + ".weight"] = pool.normal((HD,), 0.02, 1.0)
    return {k: bf16_round(v) for k, v in out.items()}


def bf16_bits(x):
    u = np.ascontiguousarray(x, np.float32).view(np.uint32)
    u = u + (np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1)))
    return (u >> np.uint32(16)).astype(np.uint16)


def bf16_round(x):
    return (bf16_bits(x).astype(np.uint32) << np.uint32(16)).view(np.float32).reshape(x.shape)


DTYPES = {"F32": (np.float32, lambda x: x.astype("<f4").tobytes()),
          "F16": (np.float16, lambda x: x.astype("<f2").tobytes()),
          "BF16": (None, lambda x: bf16_bits(x).astype("<u2").tobytes())}


def write_safetensors(path, tensors, dtype="F32"):
    """tensors: name → float32 array, all written as `dtype`."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for k, v in tensors.items():
        raw = DTYPES[dtype][1](np.asarray(v, np.float32))
        header[k] = {"dtype": dtype, "shape": list(np.shape(v)), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def stored(x, dtype):
    """x as the file holds it, back in float32."""
    if dtype == "F16":
        return x.astype(np.float16).astype(np.float32)
    if dtype == "BF16":
        return bf16_round(x)
    return x.astype(np.float32)


# ---------------------------------------------------------------------------------------
# The LoRAs: (format, dtype, rank, alpha or None, targets). Targets are the layer names of
# that format; the width of a fused target is its rows in the base.

SPLIT_OUT = dict((n, o) for n, o, _ in linear_names())
SPLIT_IN = dict((n, i) for n, _, i in linear_names())
FUSED = {"double_blocks.0.img_attn.qkv": (3 * D, D), "double_blocks.0.txt_attn.qkv": (3 * D, D),
         "double_blocks.0.img_attn.proj": (D, D), "double_blocks.0.txt_attn.proj": (D, D),
         "double_blocks.0.img_mlp.0": (F, D), "double_blocks.0.img_mlp.2": (D, F),
         "double_blocks.0.txt_mlp.0": (F, D), "double_blocks.0.txt_mlp.2": (D, F),
         "double_blocks.0.img_mod.lin": (6 * D, D), "double_blocks.0.txt_mod.lin": (6 * D, D),
         "single_blocks.0.linear1": (3 * D + F, D), "single_blocks.0.linear2": (D, D + F),
         "single_blocks.0.modulation.lin": (3 * D, D)}

LORAS = {
    # kohya / ComfyUI: lora_unet_<BFL name with _>, lora_down/lora_up/alpha; fused qkv, linear1
    "kohya": ("kohya", "F16", 16, 8.0,
              ["double_blocks.0.img_attn.qkv", "double_blocks.0.txt_attn.qkv",
               "double_blocks.0.img_attn.proj", "double_blocks.0.img_mlp.0",
               "double_blocks.0.txt_mlp.2", "double_blocks.0.img_mod.lin",
               "double_blocks.0.txt_mod.lin", "single_blocks.0.linear1",
               "single_blocks.0.linear2", "single_blocks.0.modulation.lin"]),
    # diffusers / PEFT: transformer.<diffusers name>.lora_A/lora_B (+ alpha); split targets
    "diffusers": ("diffusers", "BF16", 8, 4.0,
                  ["transformer_blocks.0.attn.to_q", "transformer_blocks.0.attn.to_k",
                   "transformer_blocks.0.attn.add_v_proj", "transformer_blocks.0.attn.to_out.0",
                   "transformer_blocks.0.ff.net.2", "transformer_blocks.0.ff_context.net.0.proj",
                   "transformer_blocks.0.norm1.linear", "single_transformer_blocks.0.attn.to_v",
                   "single_transformer_blocks.0.proj_mlp", "single_transformer_blocks.0.proj_out",
                   "single_transformer_blocks.0.norm.linear", "x_embedder", "context_embedder",
                   "proj_out", "norm_out.linear", "time_text_embed.timestep_embedder.linear_1"]),
    # BFL / ai-toolkit: diffusion_model.<BFL name>.lora_A/lora_B, no alpha (= rank)
    "bfl": ("bfl", "F32", 4, None,
            ["double_blocks.0.img_attn.qkv", "double_blocks.0.txt_attn.qkv",
             "double_blocks.0.txt_attn.proj", "double_blocks.0.img_mlp.2",
             "single_blocks.0.linear1", "single_blocks.0.linear2"]),
}

# name → (base, [(lora, multiplier)]); base "folder" (bf16 diffusers) or "q8_0" (the GGUF)
CASES = {
    "base": ("folder", []),
    "kohya_1": ("folder", [("kohya", 1.0)]),
    "kohya_0.5": ("folder", [("kohya", 0.5)]),
    "diffusers_1": ("folder", [("diffusers", 1.0)]),
    "bfl_1": ("folder", [("bfl", 1.0)]),
    "stack": ("folder", [("kohya", 0.5), ("diffusers", 1.0)]),
    "q8_0_base": ("q8_0", []),
    "q8_0_diffusers_1": ("q8_0", [("diffusers", 1.0)]),
}


def lora_tensors(name, seed):
    """The file's tensors (name → float32 array, values as stored)."""
    fmt, dtype, r, alpha, targets = LORAS[name]
    rs, out = np.random.RandomState(seed), {}
    for t in targets:
        n_out, n_in = FUSED[t] if fmt != "diffusers" else (SPLIT_OUT[t], SPLIT_IN[t])
        a = (rs.standard_normal((r, n_in)) / np.sqrt(n_in)).astype(np.float32)
        b = (rs.standard_normal((n_out, r)) * (0.5 / np.sqrt(r))).astype(np.float32)
        a, b = stored(a, dtype), stored(b, dtype)
        if fmt == "kohya":
            k = "lora_unet_" + t.replace(".", "_")
            out[k + ".lora_down.weight"], out[k + ".lora_up.weight"] = a, b
            out[k + ".alpha"] = np.array(alpha, np.float32)
        else:
            k = ("transformer." if fmt == "diffusers" else "diffusion_model.") + t
            out[k + ".lora_A.weight"], out[k + ".lora_B.weight"] = a, b
            if alpha is not None:
                out[k + ".alpha"] = np.array(alpha, np.float32)
    return out


def inputs():
    rs = np.random.RandomState(7)
    img_ids = np.zeros((T_IMG, 3), np.float32)
    img_ids[:, 1] = np.arange(T_IMG) // 4
    img_ids[:, 2] = np.arange(T_IMG) % 4
    return {"hidden": rs.standard_normal((1, T_IMG, C)).astype(np.float32),
            "encoder_hidden": (rs.standard_normal((1, T_TXT, J)) * 0.5).astype(np.float32),
            "pooled": rs.standard_normal((1, P)).astype(np.float32),
            "timestep": np.array([0.75], np.float32), "guidance": np.array([3.5], np.float32),
            "img_ids": img_ids, "txt_ids": np.zeros((T_TXT, 3), np.float32)}


def write_gguf(path, sd):
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, ".."))
    sys.path.insert(0, os.path.join(here, "..", "..", "bench"))
    import convert_checkpoint as cc
    import make_gguf
    orig = cc.flux_to_original(sd)
    entries = [cc.gguf_tensor(k, v, "Q8_0")[0] for k, v in orig.items()]
    kvs = [("general.architecture", 8, "flux"), ("general.quantization_version", 4, 2)]
    make_gguf.write_gguf_streamed(path + ".tmp", entries, kvs)
    os.replace(path + ".tmp", path)


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    out = sys.argv[1]
    tdir = os.path.join(out, "base", "transformer")
    os.makedirs(tdir, exist_ok=True)
    os.makedirs(os.path.join(out, "loras"), exist_ok=True)
    with open(os.path.join(tdir, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
    sd = base_tensors()
    write_safetensors(os.path.join(tdir, "diffusion_pytorch_model.safetensors"), sd, "BF16")
    if "--gguf" in sys.argv[2:]:
        write_gguf(os.path.join(out, "base_q8_0.gguf"), sd)
    del sd
    for i, name in enumerate(LORAS):
        write_safetensors(os.path.join(out, "loras", name + ".safetensors"),
                          lora_tensors(name, 100 + i), LORAS[name][1])
    write_safetensors(os.path.join(out, "inputs.safetensors"), inputs())


if __name__ == "__main__":
    main()
