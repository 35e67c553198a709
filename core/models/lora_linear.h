/* lora_linear.h — LoRA products added to linear layers' outputs on a compute backend.
 *
 * Holds, for each linear layer of a model that a LoRA archive (lora.h) changes, its stacked
 * A [R, K] and B [N, R] (already scaled) as backend weights, and after the base product the
 * layer's caller adds y += (x·Aᵀ)·Bᵀ, with the backend's linear_lora where it has one (cpu:
 * the second product accumulates into y) and two more linears and an add elsewhere: the base
 * weights are untouched (any dtype the backend's linear reads: mapped BF16, FP8, GGUF
 * blocks), and the extra work is M·R·(K + N) multiply-adds per layer, a few percent of the
 * base's M·N·K for ranks R ≪ min(N, K).
 *
 *   LoraLinear *ll = lora_linear_new(be, lora_archive, weights, n, ST_BF16, &err); // takes the
 * archive be->linear(bc, y, x, w[i], b, M); lora_linear_apply(ll, bc, i, y, x, M);     // no-op for
 * a layer without LoRA lora_linear_free(ll);
 *
 * The scratch for the two products lives in the LoraLinear's own backend context, in chunks
 * of LORA_LINEAR_ROWS rows, so its size does not grow with the image. Ops are queued on the
 * caller's context `bc` (the same backend); one apply at a time per LoraLinear.
 */
#pragma once

#include "backend.h"
#include "safetensors.h"

/* Rows per chunk of the LoRA products (scratch: rows × (R + N) floats), or, on backends with
 * linear_lora (y += (x·Aᵀ)·Bᵀ in place: cpu), rows × R floats. */
#define LORA_LINEAR_ROWS     256
#define LORA_LINEAR_ACC_ROWS 4096

typedef struct LoraLinear LoraLinear;

/* Binds the LoRA tensors "<layer>.lora_A" / "<layer>.lora_B" of `lora` to layers 0..n-1,
 * whose base weights are `weights[i]` (named "<layer>.weight"), stored as `dtype` on backends
 * that copy weights (cuda: the base's BF16; cpu reads the float32 tensors in place). Takes
 * ownership of `lora` (freed on failure too). NULL with `error` set when the backend cannot hold
 * them. Caller owns: lora_linear_free (NULL-safe). */
LoraLinear *lora_linear_new(const FluxBackend *be, StArchive *lora, const StTensor *const *weights,
                            guint n, StDtype dtype, GError **error);
void lora_linear_free(LoraLinear *ll);
/* Layers that have a LoRA. */
guint lora_linear_count(const LoraLinear *ll);
/* y [M, N] += (x [M, K] · Aᵀ) · Bᵀ for layer i when it has a LoRA. */
void lora_linear_apply(const LoraLinear *ll, FluxBackendCtx *bc, guint i, float *y, const float *x,
                       int M);
