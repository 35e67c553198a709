#!/usr/bin/env python3
"""make_gguf.py — writes the transformer of a bench model folder (bench/make_model.py: bf16,
diffusers layout) as GGUF files of the given block types, with the original Black Forest Labs
tensor names (fused qkv), as the published FLUX.1 GGUF files have them (issue 7, item 5).

  make_gguf.py MODEL_DIR OUT_DIR [TYPE ...]     (types: Q8_0 Q4_K ..., default Q8_0 Q4_K)

writes OUT_DIR/transformer_TYPE.gguf. The conversion itself (names, block layouts, GGUF
container) is tests/convert_checkpoint.py's; this script adds reading bf16 safetensors and
writing the file tensor by tensor instead of as one bytes object. Matrices whose rows are no
multiple of the block fall back as convert_checkpoint.py does (the 64-wide img_in to Q5_0 for
Q4_K, 1-D tensors to F32).
"""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import convert_checkpoint as cc  # noqa: E402


def read_bf16_safetensors(path, bits=False):
    """name → float32 array; bf16 (and f32) tensors only. bits: bf16 tensors as their uint16
    bits, mapped and not converted (bench/peer_files.py renames them bit for bit)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        raw = data[b:e]
        if v["dtype"] == "BF16" and bits:
            x = raw.view(np.uint16)
        elif v["dtype"] == "BF16":
            x = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif v["dtype"] == "F32":
            x = raw.view(np.float32).copy()
        else:
            raise SystemExit(f"{path}: {k}: dtype {v['dtype']} not handled")
        out[k] = x.reshape(v["shape"])
    return out


def write_gguf_streamed(path, entries, kvs, alignment=32):
    """entries: (name, shape, type, raw) as cc.write_gguf takes, written one at a time."""
    infos, off = b"", 0
    for name, shape, tname, raw in entries:
        dims = list(reversed(shape))
        infos += cc.gguf_str(name) + struct.pack("<I", len(dims))
        infos += b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", cc.GGML_ID[tname], off)
        off += len(raw) + (-len(raw) % alignment)
    head = b"GGUF" + struct.pack("<IQQ", 3, len(entries), len(kvs))
    head += b"".join(cc.gguf_kv(k, t, v) for k, t, v in kvs) + infos
    head += b"\0" * (-len(head) % alignment)
    with open(path, "wb") as f:
        f.write(head)
        for _, _, _, raw in entries:
            f.write(raw)
            f.write(b"\0" * (-len(raw) % alignment))


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    model, out_dir = sys.argv[1], sys.argv[2]
    types = sys.argv[3:] or ["Q8_0", "Q4_K"]
    sd = read_bf16_safetensors(os.path.join(model, "transformer",
                                            "diffusion_pytorch_model.safetensors"))
    orig = cc.flux_to_original(sd)
    del sd
    kvs = [("general.architecture", 8, "flux"), ("general.quantization_version", 4, 2)]
    for t in types:
        entries, counts = [], {}
        for k, v in orig.items():
            e = cc.gguf_tensor(k, v, t)[0]
            entries.append(e)
            counts[e[2]] = counts.get(e[2], 0) + 1
        path = os.path.join(out_dir, f"transformer_{t}.gguf")
        write_gguf_streamed(path, entries, kvs)
        print(f"{path}: {os.path.getsize(path) / 2**20:.1f} MiB, tensor types {counts}")


if __name__ == "__main__":
    main()
