#!/usr/bin/env python3
"""convert_checkpoint.py — writes the reference tiny model (diffusers layout) in the other
checkpoint formats that artists have, for tests/test_checkpoint.c and tests/test_quant.c.
python3 + numpy only (no torch, no gguf package): each format is written from its published
layout, so the C readers are checked against an independent writer.

  convert_checkpoint.py MODEL_DIR OUT_DIR      the conversions (list in main())
  convert_checkpoint.py --fuzz-corpus OUT_DIR  a few small GGUF files (fuzzer seeds)
  convert_checkpoint.py --bfl-transformer MODEL_DIR OUT_FILE
                                               MODEL_DIR's transformer with BFL names (e.g. the
                                               Fill-shaped tiny model, for tests/test_edit.c)

Formats:
  safetensors  8-byte LE header length, JSON header, raw LE data (huggingface/safetensors)
  GGUF v3      ggml docs/gguf.md: magic, version, counts, KV pairs, tensor infos with dims
               innermost first, data aligned to general.alignment (32)
  GGML blocks  ggml-common.h layouts (see core/formats/quant.h for the table)
  FP8 e4m3fn   1-4-3, bias 7, no infinities, max 448, round to nearest even, saturating
Names: Black Forest Labs' flux / ae names are the inverse of diffusers 0.32.2's
convert_flux_transformer_checkpoint_to_diffusers / convert_ldm_vae_checkpoint; T5 llama.cpp
names as in ComfyUI-GGUF.
"""
import json
import os
import struct
import sys

import numpy as np

# ----------------------------------------------------------------------------------------
# safetensors

ST_DT = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64,
         "I32": np.int32, "U8": np.uint8, "I8": np.int8}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        out[k] = np.frombuffer(data[b:e], dtype=ST_DT[v["dtype"]]).reshape(v["shape"]).copy()
    return out


def write_safetensors(path, tensors):
    """tensors: name -> (dtype string, shape, bytes) or a numpy array."""
    head, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for k, v in tensors.items():
        if isinstance(v, np.ndarray):
            dt = {np.dtype(t): s for s, t in ST_DT.items()}[v.dtype]
            v = (dt, list(v.shape), np.ascontiguousarray(v).tobytes())
        dt, shape, b = v
        head[k] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(head).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def bf16_bytes(x):
    """float32 → bfloat16 (round to nearest even) raw bytes."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16).tobytes()


def bf16_to_f32(x):
    return np.frombuffer(bf16_bytes(x), np.uint16).astype(np.uint32).__lshift__(16).view(np.float32)

# ----------------------------------------------------------------------------------------
# FP8 e4m3fn


def _e4m3_table():
    v = []
    for c in range(127):  # 0x7f is NaN
        e, m = c >> 3, c & 7
        v.append(m * 2.0 ** -9 if e == 0 else (1 + m / 8) * 2.0 ** (e - 7))
    return np.array(v)


E4M3 = _e4m3_table()


def to_e4m3(x):
    """float → e4m3fn codes, round to nearest (ties to even code), saturating at 448."""
    x = np.asarray(x, np.float64)
    a = np.minimum(np.abs(x), 448.0).ravel()
    hi = np.clip(np.searchsorted(E4M3, a), 1, 126)
    lo = hi - 1
    dl, dh = a - E4M3[lo], E4M3[hi] - a
    pick = np.where(dl < dh, lo, np.where(dh < dl, hi, np.where(lo % 2 == 0, lo, hi)))
    code = pick.astype(np.uint8) | (np.signbit(x.ravel()).astype(np.uint8) << 7)
    return code.reshape(x.shape)


def e4m3_value(code):
    return (np.where(code & 0x80, -1.0, 1.0) * E4M3[code & 0x7F]).astype(np.float32)

# ----------------------------------------------------------------------------------------
# GGML block quantisation. Each quantiser returns (packed bytes, numpy dequantisation computed
# from the integer quants and scales before packing — in float32, in ggml's operation order).

F32 = np.float32
QK = {"Q8_0": 32, "Q4_0": 32, "Q4_1": 32, "Q5_0": 32, "Q5_1": 32,
      "Q4_K": 256, "Q5_K": 256, "Q6_K": 256}
GGML_ID = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8,
           "Q4_K": 12, "Q5_K": 13, "Q6_K": 14, "BF16": 30}


def h16(x):
    """Round to half; returns (half bytes per row, the float32 value actually stored)."""
    h = np.asarray(x, np.float32).astype(np.float16)
    return h, h.astype(np.float32)


def safe_inv(d):
    with np.errstate(divide="ignore"):
        return np.where(d != 0, 1.0 / np.where(d != 0, d, 1), 0).astype(F32)


def signed_absmax(b):
    i = np.argmax(np.abs(b), axis=1)
    return b[np.arange(b.shape[0]), i]


def nibbles32(q):
    """32 quants → 16 bytes: low nibble element j, high nibble element j+16."""
    return (q[:, :16] & 15 | (q[:, 16:] & 15) << 4).astype(np.uint8)


def qh32(q):
    """5th bits of 32 quants → little-endian u32 (bit j = element j)."""
    bits = ((q >> 4) & 1).astype(np.uint64)
    return (bits << np.arange(32, dtype=np.uint64)).sum(axis=1).astype(np.uint32)


def quant_q8_0(b):
    d16, d = h16(np.abs(b).max(axis=1) / 127)
    q = np.clip(np.rint(b * safe_inv(d)[:, None]), -127, 127).astype(np.int8)
    packed = np.concatenate([d16[:, None].view(np.uint8), q.view(np.uint8)], axis=1)
    return packed, q.astype(F32) * d[:, None]


def quant_q4_0(b, levels=16):
    half = levels // 2
    d16, d = h16(signed_absmax(b) / -half)
    q = np.clip(np.floor(b * safe_inv(d)[:, None] + (half + 0.5)), 0, levels - 1).astype(np.int32)
    y = (q - half).astype(F32) * d[:, None]
    if levels == 16:
        packed = np.concatenate([d16[:, None].view(np.uint8), nibbles32(q)], axis=1)
    else:
        qh = qh32(q)[:, None].view(np.uint8)
        packed = np.concatenate([d16[:, None].view(np.uint8), qh, nibbles32(q)], axis=1)
    return packed, y


def quant_q4_1(b, levels=16):
    mn, mx = b.min(axis=1), b.max(axis=1)
    d16, d = h16((mx - mn) / (levels - 1))
    m16, m = h16(mn)
    q = np.clip(np.rint((b - m[:, None]) * safe_inv(d)[:, None]), 0, levels - 1).astype(np.int32)
    y = q.astype(F32) * d[:, None] + m[:, None]
    parts = [d16[:, None].view(np.uint8), m16[:, None].view(np.uint8)]
    if levels == 32:
        parts.append(qh32(q)[:, None].view(np.uint8))
    return np.concatenate(parts + [nibbles32(q)], axis=1), y


def pack_k_scales(sc, m):
    """8 six-bit scales and mins → 12 bytes (see core/formats/quant.c k_scale_min)."""
    out = np.zeros((sc.shape[0], 12), np.uint8)
    for s in range(4):
        out[:, s] = sc[:, s] & 63 | (sc[:, s + 4] >> 4) << 6
        out[:, s + 4] = m[:, s] & 63 | (m[:, s + 4] >> 4) << 6
        out[:, s + 8] = sc[:, s + 4] & 15 | (m[:, s + 4] & 15) << 4
    return out


def quant_k(b, bits):
    """Q4_K (bits 4) and Q5_K (bits 5): 8 sub-blocks of 32 with 6-bit scale and min."""
    nb, top = b.shape[0], (1 << bits) - 1
    sub = b.reshape(nb, 8, 32)
    lo = np.minimum(sub.min(axis=2), 0)
    scale, mins = (sub.max(axis=2) - lo) / top, -lo
    d16, d = h16(scale.max(axis=1) / 63)
    dm16, dmin = h16(mins.max(axis=1) / 63)
    sc = np.clip(np.rint(scale * safe_inv(d)[:, None]), 0, 63).astype(np.int32)
    m = np.clip(np.rint(mins * safe_inv(dmin)[:, None]), 0, 63).astype(np.int32)
    D = d[:, None] * sc.astype(F32)
    M = dmin[:, None] * m.astype(F32)
    q = np.clip(np.rint((sub + M[:, :, None]) * safe_inv(D)[:, :, None]), 0, top).astype(np.int32)
    y = (D[:, :, None] * q.astype(F32) - M[:, :, None]).reshape(nb, 256)
    q = q.reshape(nb, 4, 2, 32)  # group g: sub-blocks 2g (low nibbles) and 2g+1 (high)
    qs = (q[:, :, 0, :] & 15 | (q[:, :, 1, :] & 15) << 4).astype(np.uint8).reshape(nb, 128)
    parts = [d16[:, None].view(np.uint8), dm16[:, None].view(np.uint8), pack_k_scales(sc, m)]
    if bits == 5:
        qh = np.zeros((nb, 32), np.uint8)
        for g in range(4):
            qh |= ((q[:, g, 0, :] >> 4 & 1) << (2 * g) | (q[:, g, 1, :] >> 4 & 1) << (2 * g + 1)).astype(np.uint8)
        parts.append(qh)
    return np.concatenate(parts + [qs], axis=1), y


def quant_q6_k(b):
    nb = b.shape[0]
    sub = b.reshape(nb, 16, 16)
    scale = signed_absmax(sub.reshape(-1, 16)).reshape(nb, 16) / 31
    d16, d = h16(np.abs(scale).max(axis=1) / 127)
    sc = np.clip(np.rint(scale * safe_inv(d)[:, None]), -128, 127).astype(np.int8)
    D = d[:, None] * sc.astype(F32)
    q = (np.clip(np.rint(sub * safe_inv(D)[:, :, None]), -32, 31) + 32).astype(np.int32)
    y = (D[:, :, None] * (q - 32).astype(F32)).reshape(nb, 256)
    q = q.reshape(nb, 2, 4, 32)  # half h, quarter, lane l: element 128h + 32·quarter + l
    ql = np.zeros((nb, 2, 64), np.uint8)
    qh = np.zeros((nb, 2, 32), np.uint8)
    for quarter in range(4):
        lo = (q[:, :, quarter, :] & 15).astype(np.uint8)
        sl = slice(32 * (quarter & 1), 32 * (quarter & 1) + 32)
        ql[:, :, sl] |= lo << 4 if quarter >= 2 else lo
        qh |= ((q[:, :, quarter, :] >> 4) << (2 * quarter)).astype(np.uint8)
    packed = np.concatenate([ql.reshape(nb, 128), qh.reshape(nb, 64), sc.view(np.uint8),
                             d16[:, None].view(np.uint8)], axis=1)
    return packed, y


QUANT = {"Q8_0": quant_q8_0, "Q4_0": quant_q4_0, "Q4_1": quant_q4_1,
         "Q5_0": lambda b: quant_q4_0(b, 32), "Q5_1": lambda b: quant_q4_1(b, 32),
         "Q4_K": lambda b: quant_k(b, 4), "Q5_K": lambda b: quant_k(b, 5), "Q6_K": quant_q6_k}


def quantize(x, qtype):
    """x [..., K] float32 with K % block == 0 → (bytes, float32 dequantisation, same shape)."""
    x = np.ascontiguousarray(x, np.float32)
    blocks = x.reshape(-1, QK[qtype])
    packed, y = QUANT[qtype](blocks)
    return packed.astype(np.uint8).tobytes(), y.astype(np.float32).reshape(x.shape)

# ----------------------------------------------------------------------------------------
# GGUF


def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_kv(key, vtype, value):
    out = gguf_str(key) + struct.pack("<I", vtype)
    if vtype == 8:
        return out + gguf_str(value)
    if vtype == 9:  # (elem type, list); nested arrays as (9, [(type, list), ...])
        et, items = value
        out += struct.pack("<IQ", et, len(items))
        for it in items:
            out += gguf_kv("", et, it)[12:]  # value only: drop the empty key and type
        return out
    fmt = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B",
           10: "<Q", 11: "<q", 12: "<d"}[vtype]
    return out + struct.pack(fmt, value)


def write_gguf(path, tensors, kvs, alignment=32, version=3):
    """tensors: list of (name, shape in PyTorch order, ggml type name, raw bytes)."""
    if alignment != 32:
        kvs = kvs + [("general.alignment", 4, alignment)]
    infos, blobs, off = b"", b"", 0
    for name, shape, tname, raw in tensors:
        dims = list(reversed(shape))  # GGUF: innermost first
        infos += gguf_str(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", GGML_ID[tname], off)
        blobs += raw + b"\0" * (-len(raw) % alignment)
        off = len(blobs)
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    head += b"".join(gguf_kv(k, t, v) for k, t, v in kvs) + infos
    head += b"\0" * (-len(head) % alignment)
    with open(path, "wb") as f:
        f.write(head + blobs)


def gguf_tensor(name, x, qtype):
    """A tensor for write_gguf, in `qtype` where rows allow it; K-quants fall back to a
    32-block type for rows that are not multiples of 256 (as llama.cpp's quantizer does),
    others to F16; 1-D tensors stay F32 (as in FLUX GGUF files). Returns (entry, value)."""
    x = np.ascontiguousarray(x, np.float32)
    t = qtype
    if t in QK:
        if x.ndim < 2:
            t = "F32"
        elif x.shape[-1] % QK[t]:
            t = {"Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}.get(t, "F16")
            if t in QK and x.shape[-1] % QK[t]:
                t = "F16"
    if t in QK:
        raw, y = quantize(x, t)
    elif t == "F16":
        raw, y = x.astype(np.float16).tobytes(), x.astype(np.float16).astype(np.float32)
    elif t == "BF16":
        raw, y = bf16_bytes(x), bf16_to_f32(x).reshape(x.shape)
    else:
        raw, y = x.tobytes(), x
    return (name, list(x.shape), t, raw), y

# ----------------------------------------------------------------------------------------
# Names: diffusers → original


def flux_to_original(sd):
    """Inverse of diffusers' convert_flux_transformer_checkpoint_to_diffusers."""
    out, sd = {}, dict(sd)
    top = {"x_embedder": "img_in", "context_embedder": "txt_in",
           "time_text_embed.timestep_embedder.linear_1": "time_in.in_layer",
           "time_text_embed.timestep_embedder.linear_2": "time_in.out_layer",
           "time_text_embed.text_embedder.linear_1": "vector_in.in_layer",
           "time_text_embed.text_embedder.linear_2": "vector_in.out_layer",
           "time_text_embed.guidance_embedder.linear_1": "guidance_in.in_layer",
           "time_text_embed.guidance_embedder.linear_2": "guidance_in.out_layer",
           "proj_out": "final_layer.linear"}
    for k, v in top.items():
        for p in ("weight", "bias"):
            if f"{k}.{p}" in sd:
                out[f"{v}.{p}"] = sd.pop(f"{k}.{p}")
    for p in ("weight", "bias"):
        scale, shift = np.split(sd.pop(f"norm_out.linear.{p}"), 2, axis=0)
        out[f"final_layer.adaLN_modulation.1.{p}"] = np.concatenate([shift, scale], axis=0)
    nd = len({k.split(".")[1] for k in sd if k.startswith("transformer_blocks.")})
    ns = len({k.split(".")[1] for k in sd if k.startswith("single_transformer_blocks.")})
    for i in range(nd):
        b, o = f"transformer_blocks.{i}.", f"double_blocks.{i}."
        ren = {"norm1.linear": "img_mod.lin", "norm1_context.linear": "txt_mod.lin",
               "attn.to_out.0": "img_attn.proj", "attn.to_add_out": "txt_attn.proj",
               "ff.net.0.proj": "img_mlp.0", "ff.net.2": "img_mlp.2",
               "ff_context.net.0.proj": "txt_mlp.0", "ff_context.net.2": "txt_mlp.2"}
        for k, v in ren.items():
            for p in ("weight", "bias"):
                out[o + v + "." + p] = sd.pop(b + k + "." + p)
        for p in ("weight", "bias"):
            out[o + "img_attn.qkv." + p] = np.concatenate([sd.pop(b + f"attn.to_{c}.{p}") for c in "qkv"])
            out[o + "txt_attn.qkv." + p] = np.concatenate([sd.pop(b + f"attn.add_{c}_proj.{p}") for c in "qkv"])
        for k, v in {"norm_q": "img_attn.norm.query_norm", "norm_k": "img_attn.norm.key_norm",
                     "norm_added_q": "txt_attn.norm.query_norm",
                     "norm_added_k": "txt_attn.norm.key_norm"}.items():
            out[o + v + ".scale"] = sd.pop(b + "attn." + k + ".weight")
    for i in range(ns):
        b, o = f"single_transformer_blocks.{i}.", f"single_blocks.{i}."
        for p in ("weight", "bias"):
            out[o + "modulation.lin." + p] = sd.pop(b + "norm.linear." + p)
            out[o + "linear2." + p] = sd.pop(b + "proj_out." + p)
            out[o + "linear1." + p] = np.concatenate(
                [sd.pop(b + f"attn.to_{c}.{p}") for c in "qkv"] + [sd.pop(b + "proj_mlp." + p)])
        out[o + "norm.query_norm.scale"] = sd.pop(b + "attn.norm_q.weight")
        out[o + "norm.key_norm.scale"] = sd.pop(b + "attn.norm_k.weight")
    assert not sd, sorted(sd)
    return out


def vae_to_ldm(sd):
    """Inverse of diffusers' convert_ldm_vae_checkpoint (the FLUX ae.safetensors names)."""
    n_up = len({k.split(".")[2] for k in sd if k.startswith("decoder.up_blocks.")})
    out = {}
    for k, v in sd.items():
        part, rest = k.split(".", 1)
        r = rest.replace("conv_shortcut", "nin_shortcut")
        f = r.split(".")
        if r.startswith("conv_norm_out."):
            r = "norm_out." + r[len("conv_norm_out."):]
        elif f[0] == "down_blocks":
            r = f"down.{f[1]}." + (f"block.{f[3]}." if f[2] == "resnets" else "downsample.") + ".".join(f[4:] if f[2] == "resnets" else f[4:])
        elif f[0] == "up_blocks":
            i = n_up - 1 - int(f[1])
            r = f"up.{i}." + (f"block.{f[3]}." if f[2] == "resnets" else "upsample.") + ".".join(f[4:])
        elif f[0] == "mid_block" and f[1] == "resnets":
            r = f"mid.block_{int(f[2]) + 1}." + ".".join(f[3:])
        elif f[0] == "mid_block" and f[1] == "attentions":
            p = ".".join(f[3:])
            p = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}[p.rsplit(".", 1)[0]] + "." + p.rsplit(".", 1)[1]
            r = "mid.attn_1." + p
            if v.ndim == 2:
                v = v.reshape(v.shape + (1, 1))
        out[part + "." + r] = v
    return out


T5_LLAMA = {"layer.0.SelfAttention.q": "attn_q", "layer.0.SelfAttention.k": "attn_k",
            "layer.0.SelfAttention.v": "attn_v", "layer.0.SelfAttention.o": "attn_o",
            "layer.0.SelfAttention.relative_attention_bias": "attn_rel_b",
            "layer.0.layer_norm": "attn_norm", "layer.1.DenseReluDense.wi_0": "ffn_gate",
            "layer.1.DenseReluDense.wi_1": "ffn_up", "layer.1.DenseReluDense.wo": "ffn_down",
            "layer.1.layer_norm": "ffn_norm"}


def t5_to_llama(name):
    if name == "shared.weight":
        return "token_embd.weight"
    if name == "encoder.final_layer_norm.weight":
        return "enc.output_norm.weight"
    f = name.split(".")
    return f"enc.blk.{f[2]}.{T5_LLAMA['.'.join(f[3:-1])]}.{f[-1]}"

# ----------------------------------------------------------------------------------------


GGUF_TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"]
KVS = [("general.architecture", 8, "flux"), ("general.quantization_version", 4, 2),
       ("test.nested", 9, (9, [(0, [1, 2]), (8, ["a", "bc"])])), ("test.float", 6, 0.5),
       ("test.i64", 11, -7)]


def fp8_files(orig, out_dir):
    """Unscaled: every matrix cast to e4m3fn. Scaled (ComfyUI scaled_fp8 convention): matrix
    / (absmax/448) cast, with the float32 scalar beside it — `<layer>.scale_weight` for even
    tensors and `<layer>.weight_scale` (the newer convention) for odd ones — plus the
    `scaled_fp8` marker. Vectors stay BF16 in both, as in ComfyUI's files."""
    plain, scaled = {}, {"scaled_fp8": ("F8_E4M3", [0], b"")}
    for i, (k, v) in enumerate(sorted(orig.items())):
        if v.ndim < 2:
            plain[k] = scaled[k] = ("BF16", list(v.shape), bf16_bytes(v))
            continue
        plain[k] = ("F8_E4M3", list(v.shape), to_e4m3(v).tobytes())
        s = np.float32(np.abs(v).max() / 448.0)
        scaled[k] = ("F8_E4M3", list(v.shape), to_e4m3(v / s).tobytes())
        layer = k[: -len(".weight")]
        scaled[layer + (".scale_weight" if i % 2 == 0 else ".weight_scale")] = ("F32", [], np.float32(s).tobytes())
    write_safetensors(os.path.join(out_dir, "transformer_fp8.safetensors"), plain)
    write_safetensors(os.path.join(out_dir, "transformer_fp8_scaled.safetensors"), scaled)


def roundtrip(out_dir):
    """rt.<TYPE>: random data quantised here; ref.<TYPE>: numpy's dequantisation of it."""
    rng = np.random.default_rng(1234)
    tensors = []
    for t in QK:
        x = (rng.standard_normal((6, 512)) * rng.uniform(0.01, 3, (6, 1))).astype(np.float32)
        x[1, :64] = 0  # all-zero blocks (scale 0)
        x[2, 32:96] = np.abs(x[2, 32:96])  # positive-only blocks (min 0)
        raw, y = quantize(x, t)
        tensors.append((f"rt.{t}", [6, 512], t, raw))
        tensors.append((f"ref.{t}", [6, 512], "F32", y.tobytes()))
        tensors.append((f"src.{t}", [6, 512], "F32", x.tobytes()))
    write_gguf(os.path.join(out_dir, "quant_roundtrip.gguf"), tensors, KVS)


def convert(model, out_dir):
    tr = read_safetensors(os.path.join(model, "transformer", "diffusion_pytorch_model.safetensors"))
    orig = flux_to_original(tr)
    write_safetensors(os.path.join(out_dir, "transformer_orig.safetensors"), orig)
    # an all-in-one ComfyUI checkpoint: prefixed components, transformer in BF16
    aio = {"model.diffusion_model." + k: ("BF16", list(v.shape), bf16_bytes(v)) for k, v in orig.items()}
    vae = read_safetensors(os.path.join(model, "vae", "diffusion_pytorch_model.safetensors"))
    aio.update({"first_stage_model." + k: v for k, v in vae_to_ldm(vae).items()})
    write_safetensors(os.path.join(out_dir, "all_in_one.safetensors"), aio)
    fp8_files(orig, out_dir)
    for t in GGUF_TYPES:
        write_gguf(os.path.join(out_dir, f"transformer_{t}.gguf"),
                   [gguf_tensor(k, v, t)[0] for k, v in orig.items()], KVS,
                   alignment=64 if t == "Q8_0" else 32, version=2 if t == "F16" else 3)
    write_gguf(os.path.join(out_dir, "transformer_diffusers_F32.gguf"),
               [gguf_tensor(k, v, "F32")[0] for k, v in tr.items()], KVS)
    write_safetensors(os.path.join(out_dir, "vae_orig.safetensors"), vae_to_ldm(vae))
    clip = read_safetensors(os.path.join(model, "text_encoder", "model.safetensors"))
    write_safetensors(os.path.join(out_dir, "clip_prefixed.safetensors"),
                      {"text_encoders.clip_l.transformer." + k: v for k, v in clip.items()})
    t5 = read_safetensors(os.path.join(model, "text_encoder_2", "model.safetensors"))
    t5p = {"text_encoders.t5xxl.transformer." + ("encoder.embed_tokens.weight" if k == "shared.weight" else k): v
           for k, v in t5.items()}
    write_safetensors(os.path.join(out_dir, "t5_prefixed.safetensors"), t5p)
    write_gguf(os.path.join(out_dir, "t5_llama_Q8_0.gguf"),
               [gguf_tensor(t5_to_llama(k), v, "Q8_0")[0] for k, v in t5.items()],
               [("general.architecture", 8, "t5encoder")])
    roundtrip(out_dir)


def fuzz_corpus(out_dir):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 64)).astype(np.float32)
    write_gguf(os.path.join(out_dir, "f32.gguf"), [gguf_tensor("a.weight", x, "F32")[0],
               gguf_tensor("a.bias", x[0], "F32")[0]], KVS[:2])
    write_gguf(os.path.join(out_dir, "q8_q4.gguf"), [gguf_tensor("q8", x, "Q8_0")[0],
               gguf_tensor("q4", x, "Q4_1")[0], gguf_tensor("q5", x, "Q5_0")[0]], KVS)
    y = rng.standard_normal((1, 256)).astype(np.float32)
    write_gguf(os.path.join(out_dir, "kquants.gguf"), [gguf_tensor("k4", y, "Q4_K")[0],
               gguf_tensor("k5", y, "Q5_K")[0], gguf_tensor("k6", y, "Q6_K")[0]], KVS[:1], alignment=16)
    write_gguf(os.path.join(out_dir, "empty_v2.gguf"), [], KVS, version=2)
    flux = {"img_in.weight": (2, 4), "txt_in.weight": (2, 3), "proj_out": None,
            "double_blocks.0.img_attn.qkv.weight": (6, 2), "double_blocks.0.img_attn.norm.query_norm.scale": (1,),
            "single_blocks.0.linear1.weight": (10, 2), "single_blocks.0.linear1.bias": (10,),
            "final_layer.adaLN_modulation.1.weight": (4, 2), "final_layer.linear.weight": (4, 2),
            "vector_in.in_layer.weight": (2, 3)}
    write_gguf(os.path.join(out_dir, "flux_names.gguf"),
               [gguf_tensor(k, rng.standard_normal(v).astype(np.float32), "F32")[0]
                for k, v in flux.items() if v], KVS[:1])


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--fuzz-corpus":
        fuzz_corpus(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "--bfl-transformer":
        tr = read_safetensors(os.path.join(sys.argv[2], "transformer",
                                           "diffusion_pytorch_model.safetensors"))
        write_safetensors(sys.argv[3], flux_to_original(tr))
    elif len(sys.argv) == 3:
        convert(sys.argv[1], sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
