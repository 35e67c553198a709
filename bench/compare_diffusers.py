#!/usr/bin/env python3
"""compare_diffusers.py — one transformer step of the same model through diffusers + PyTorch
(CPU) and through this project's flux-bench, in one run, and the time ratio.

The model is a folder written by bench/make_model.py (real widths, reduced depth, bf16 on
disk). PyTorch runs it in float32 (torch's CPU bf16 matmul has no fast kernel on CPUs without
AVX512-BF16/AMX, so float32 is its fastest mode there) and, with --torch-bf16, in bf16 too.
flux-bench maps the bf16 weights and converts tiles to float32 for OpenBLAS.

  /work/venv-ref/bin/python bench/compare_diffusers.py /work/bench-models/flux-d1s2 \
      --bench build-perf/bench/flux-bench --sizes 256,512
"""
import argparse
import os
import re
import subprocess
import sys
import time


def torch_step(tr, size, dtype, torch):
    hw = size // 16
    t_img, t_txt = hw * hw, 512
    g = torch.Generator().manual_seed(0)
    cfg = tr.config
    hidden = torch.rand(1, t_img, cfg.in_channels, generator=g, dtype=dtype) * 2 - 1
    enc = torch.rand(1, t_txt, cfg.joint_attention_dim, generator=g, dtype=dtype) * 2 - 1
    pooled = torch.rand(1, cfg.pooled_projection_dim, generator=g, dtype=dtype) * 2 - 1
    img_ids = torch.zeros(t_img, 3)
    img_ids[:, 1] = torch.arange(t_img) // hw
    img_ids[:, 2] = torch.arange(t_img) % hw
    txt_ids = torch.zeros(t_txt, 3)
    kw = dict(hidden_states=hidden, encoder_hidden_states=enc, pooled_projections=pooled,
              timestep=torch.tensor([0.75], dtype=dtype), img_ids=img_ids, txt_ids=txt_ids,
              guidance=torch.tensor([3.5], dtype=dtype) if cfg.guidance_embeds else None,
              return_dict=False)
    with torch.inference_mode():
        best = 1e30
        for _ in range(2):  # the first run also pages the weights in
            t0 = time.perf_counter()
            tr(**kw)
            best = min(best, time.perf_counter() - t0)
    return best


def bench_step(bench, model, size):
    out = subprocess.run([bench, model, "--skip", "t5,clip,vae", "--sizes", str(size),
                          "--repeat", "2"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"transformer step \d+²\s+([0-9.]+) s", out)
    if not m:
        sys.exit("flux-bench printed no transformer step:\n" + out)
    return float(m.group(1)), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--bench", default="build-perf/bench/flux-bench")
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--torch-bf16", action="store_true")
    a = ap.parse_args()
    import torch
    from diffusers import FluxTransformer2DModel
    torch.set_num_threads(os.cpu_count())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{torch.backends.cpu.get_cpu_capability()}")
    dtypes = [torch.float32] + ([torch.bfloat16] if a.torch_bf16 else [])
    rows = []
    for size in [int(s) for s in a.sizes.split(",")]:
        ours, _ = bench_step(a.bench, a.model, size)
        for dt in dtypes:  # ours runs before and after torch: the best of both (noisy host)
            tr = FluxTransformer2DModel.from_pretrained(os.path.join(a.model, "transformer"),
                                                       torch_dtype=dt)
            t = torch_step(tr, size, dt, torch)
            del tr
            ours = min(ours, bench_step(a.bench, a.model, size)[0])
            rows.append((size, str(dt).replace("torch.", ""), t, ours))
            print(f"{size}²: diffusers+torch {rows[-1][1]} {t:.3f} s, flux-bench {ours:.3f} s, "
                  f"ratio (torch / ours) {t / ours:.2f}x", flush=True)
    print("\n| size | torch dtype | diffusers + torch (s) | flux-bench (s) | speed-up |")
    print("| --- | --- | --- | --- | --- |")
    for size, dt, t, ours in rows:
        print(f"| {size}² | {dt} | {t:.2f} | {ours:.2f} | {t / ours:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
