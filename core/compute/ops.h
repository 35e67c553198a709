/* ops.h — CPU tensor operations on OpenBLAS, shared by every model.
 *
 * Activations are plain contiguous float32 arrays in PyTorch dimension order (row-major);
 * weights are checkpoint tensors (F32/F16/BF16, mapped) converted to float32 in tiles as
 * the GEMM consumes them, never the whole model at once.
 *
 * Each fast op has a naive twin (`*_naive`, ops_naive.c): the algorithmic reference the
 * unit tests compare against. Shapes are given as [rows, cols] in the comments.
 */
#pragma once

#include "dtype.h"
#include <stddef.h>

/* ---- linear algebra ----------------------------------------------------------------- */

/* Scratch ops_linear keeps per thread for converting non-float32 weights of K columns (it
 * lives as long as the thread, for the largest K seen): for memory estimates. */
size_t ops_linear_scratch_bytes(int K);
/* Scratch ops_attention keeps per thread (all threads together, at most) for Tk keys of
 * head_dim HD: the float32 score and output tiles and, where fast can run, one head's K and V
 * packed in bf16 (its size grows with Tk), Q and P: for memory estimates. */
size_t ops_attention_scratch_bytes(int Tk, int HD);
/* Tests only: the attention scratch the calling thread holds now, in bytes. */
size_t ops_attention_thread_bytes(void);
/* Tests only: conversion tiles of `rows` weight rows (0: the default), so that small
 * matrices span several tiles per thread. Not thread-safe; set before running ops. */
void ops_linear_force_tile_rows(int rows);
/* y[M,N] = x[M,K] · w[N,K]ᵀ + b[N]   (torch.nn.Linear). b may be NULL. Under precision fast
 * (precision.h): quantised w through integer products (quant_dot.h for Q8_0 up to QDOT_MAX_M
 * rows, gemm_int8.h where ops_linear_int8 says so), other w through bf16 products
 * (gemm_bf16.h). */
void ops_linear(float *y, const float *x, const StTensor *w, const float *b, int M, int K, int N);
/* TRUE when ops_linear under fast multiplies the quantised w (beyond quant_dot's rows) with
 * the int8 GEMM: where this CPU has a native int8 path, except for types other than Q8_0
 * beside AMX-BF16 (there the bf16 GEMM is as fast or faster, measured). */
gboolean ops_linear_int8(const StTensor *w);
void ops_linear_naive(float *y, const float *x, const StTensor *w, const float *b, int M, int K,
                      int N);

/* C[M,N] = A[M,K] · B[K,N] (+ C if accumulate), all float32 row-major with leading dims. */
void ops_matmul(float *c, int ldc, const float *a, int lda, const float *b, int ldb, int M, int K,
                int N, int accumulate);

/* ---- normalisation ------------------------------------------------------------------ */

/* LayerNorm over the last dim: y[M,N] = (x - mean) / sqrt(var + eps) * g + b; g, b may be NULL
 * (elementwise_affine=False). y may equal x. */
void ops_layernorm(float *y, const float *x, const float *g, const float *b, int M, int N,
                   float eps);
void ops_layernorm_naive(float *y, const float *x, const float *g, const float *b, int M, int N,
                         float eps);

/* RMSNorm (T5LayerNorm, FLUX's QK norm): y = x / sqrt(mean(x²) + eps) * g. g may be NULL. */
void ops_rmsnorm(float *y, const float *x, const float *g, int M, int N, float eps);
void ops_rmsnorm_naive(float *y, const float *x, const float *g, int M, int N, float eps);

/* ---- activations, in place over n elements ----------------------------------------- */

void ops_gelu_tanh(float *x, size_t n);  /* GELU(approximate="tanh"), gelu_pytorch_tanh */
void ops_gelu_erf(float *x, size_t n);   /* exact GELU */
void ops_quick_gelu(float *x, size_t n); /* x · sigmoid(1.702 x) (CLIP) */
void ops_silu(float *x, size_t n);       /* x · sigmoid(x) */
void ops_gelu_tanh_naive(float *x, size_t n);
void ops_gelu_erf_naive(float *x, size_t n);
void ops_quick_gelu_naive(float *x, size_t n);
void ops_silu_naive(float *x, size_t n);

/* ---- attention ---------------------------------------------------------------------- */

/* Multi-head attention, heads interleaved in the feature dim:
 *   q [Tq, ldq] holds head h at columns h*HD .. h*HD+HD-1 (same for k [Tk, ldk], v, out).
 *   out_h = softmax(scale · q_h k_hᵀ + bias_h) v_h
 * rel_bias (may be NULL): [NH, Tq + Tk - 1], the bias of query i and key j is
 *   rel_bias[h, (j - i) + (Tq - 1)]  (T5's relative position bias, no T×T matrix needed).
 * causal: key j > query i is masked out.
 * Flash style: tiles of queries against tiles of keys with an online softmax; the full T×T
 * score matrix is never materialised. */
typedef struct {
    int Tq, Tk, NH, HD;
    int ldq, ldk, ldv, ldo;
    float scale;
    const float *rel_bias;
    int causal;
} OpsAttnShape;

void ops_attention(float *out, const float *q, const float *k, const float *v,
                   const OpsAttnShape *s);
void ops_attention_naive(float *out, const float *q, const float *k, const float *v,
                         const OpsAttnShape *s);

/* ---- the elementwise steps of a transformer block (ops_block.c) ----------------------- */

/* AdaLN: y[M,N] = LayerNorm(x) (no affine, eps) · (1 + scale[N]) + shift[N]. y may equal x. */
void ops_modulate(float *y, const float *x, const float *shift, const float *scale, int M, int N,
                  float eps);
void ops_modulate_naive(float *y, const float *x, const float *shift, const float *scale, int M,
                        int N, float eps);
/* Gated residual: x[M,N] += gate[N] · y[M,N]. */
void ops_gated_add(float *x, const float *y, const float *gate, int M, int N);
void ops_gated_add_naive(float *x, const float *y, const float *gate, int M, int N);
/* x[n] += y[n]. */
void ops_add(float *x, const float *y, size_t n);
void ops_add_naive(float *x, const float *y, size_t n);
/* RoPE in place on x [T, ld] holding NH heads of HD at columns h·HD: each pair (re, im) of a
 * head → (re·cos − im·sin, im·cos + re·sin) with cos_t/sin_t [T, HD] repeat-interleaved. */
void ops_rope(float *x, int ld, const float *cos_t, const float *sin_t, int T, int NH, int HD);
void ops_rope_naive(float *x, int ld, const float *cos_t, const float *sin_t, int T, int NH,
                    int HD);
/* dst[r, 0..w) = src[r, 0..w) for n rows, row strides ldd and lds. */
void ops_copy_columns(float *dst, int ldd, const float *src, int lds, int w, int n);
void ops_copy_columns_naive(float *dst, int ldd, const float *src, int lds, int w, int n);
