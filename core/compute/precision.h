/* precision.h — float32 or fast arithmetic for the CPU ops (issue 15).
 *
 *   float32  every product in float32 on exactly converted weights (F32/F16/BF16/FP8 and the
 *            quantised types dequantised, then OpenBLAS sgemm): the numbers the golden tests
 *            and the reference checks are held to.
 *   fast     the CPU's native low-precision paths where it has them: activations (and
 *            weights that are not bf16 already) rounded to bf16, products on AMX-BF16 or
 *            AVX512-BF16 (gemm_bf16.h), float32 sums; Q8_0 linears of few rows through the int8
 *            kernel (quant_dot.h), other quantised linears through the int8 GEMM where
 *            ops_linear_int8 says so (gemm_int8.h: activations rounded to 8 bits per
 *            block). Results move by ~2^-8 relative per product (bf16 has 8 significant
 *            bits); docs/PERFORMANCE.md says how far a picture moves.
 *
 * The mode is process-wide (the ops have no context): flux_generate sets it for its run from
 * FluxGenerateParams.precision; otherwise it is FLUX_PRECISION (environment: "float32" or
 * "fast"), else fast when this CPU has a native bf16 path (ops_precision_fast_available),
 * else float32 — on such a CPU fast would run the float32 code anyway. */
#pragma once

#include <glib.h>

typedef enum { OPS_PRECISION_FLOAT32, OPS_PRECISION_FAST } OpsPrecision;

/* The mode the ops use now. */
OpsPrecision ops_precision(void);
/* Sets it (for a run, or a test). Not synchronised with ops running on other threads. */
void ops_precision_set(OpsPrecision p);
/* FLUX_PRECISION when set to a valid name, else fast where available, else float32. */
OpsPrecision ops_precision_default(void);
/* TRUE when this CPU has a path that fast uses (AMX-BF16 or AVX512-BF16). */
gboolean ops_precision_fast_available(void);
/* "float32" / "fast" → *p, TRUE; "auto" or NULL → ops_precision_default(), TRUE; anything
 * else FALSE. */
gboolean ops_precision_parse(const char *name, OpsPrecision *p);
const char *ops_precision_name(OpsPrecision p);
