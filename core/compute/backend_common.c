/* backend_common.c — see backend_common.h. */
#include "backend_common.h"
#include "flux.h"

/* ------------------------------------------------------------------------------------- */
/* Checks shared by the backends                                                         */

gboolean backend_check_weight(const StTensor *t, StDtype dt, GError **error)
{
    if (dt != ST_F32 && dt != ST_F16 && dt != ST_BF16) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                    "backend: weight '%s' requested as %s, expected F32, F16 or BF16", t->name,
                    st_dtype_name(dt));
        return FALSE;
    }
    if (t->ndim != 2 || !st_dtype_is_float(t->dtype) || t->shape[0] <= 0 || t->shape[1] <= 0 ||
        t->shape[0] > G_MAXINT || t->shape[1] > G_MAXINT) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "backend: weight '%s' (%s, %d dims) is not a float matrix [N, K]", t->name,
                    st_dtype_name(t->dtype), t->ndim);
        return FALSE;
    }
    return TRUE;
}

const char *backend_ctx_describe(const FluxBackendCtx *c)
{
    return c->description;
}
