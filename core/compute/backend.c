/* backend.c — the backend registry: which table a device name means (the cpu table of
 * backend_cpu.c, the cuda table of backend_cuda.c when built with CUDA), FLUX_DEVICE and
 * flux_device_check. See backend.h for the contract of each entry.

 */
#include "backend.h"
#include "flux.h"

#include <string.h>

/* ------------------------------------------------------------------------------------- */
/* Registry                                                                              */

/* FLUX_DEVICE when it names a backend other than "auto", else NULL */
static const char *device_from_env(void)
{
    const char *env = g_getenv("FLUX_DEVICE");
    return env && *env && strcmp(env, "auto") != 0 ? env : NULL;
}

/* "cpu" or "cuda" (usable here), else NULL with `error` set. */
static const FluxBackend *backend_named(const char *name, GError **error)
{
    if (strcmp(name, "cpu") == 0) return &backend_cpu;
    if (strcmp(name, "cuda") == 0) {
        if (!flux_backend_cuda_built()) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_UNSUPPORTED,
                        "backend 'cuda': this build has no CUDA support (configure with "
                        "'meson setup -Dcuda=enabled' where nvcc and cuBLAS are installed)");
            return NULL;
        }
        if (flux_backend_cuda_devices() == 0) {
            g_set_error(error, FLUX_ERROR, FLUX_ERROR_UNSUPPORTED,
                        "backend 'cuda': no usable GPU (cudaGetDeviceCount found no device; "
                        "is the NVIDIA driver loaded?)");
            return NULL;
        }
        return backend_cuda();
    }
    g_set_error(error, FLUX_ERROR, FLUX_ERROR_ARGUMENT,
                "unknown backend '%s', expected 'auto', 'cpu' or 'cuda'", name);
    return NULL;
}

const FluxBackend *flux_backend_resolve(const char *name, gboolean *automatic, GError **error)
{
    gboolean auto_name = !name || strcmp(name, "auto") == 0;
    const char *env = auto_name ? device_from_env() : NULL;
    if (automatic) *automatic = auto_name && !env;
    if (!auto_name) return backend_named(name, error);
    if (!env) return flux_backend_cuda_devices() > 0 ? backend_cuda() : &backend_cpu;
    const FluxBackend *be = backend_named(env, error);
    if (!be) g_prefix_error(error, "FLUX_DEVICE: ");
    return be;
}

gboolean flux_backend_is_auto(const char *name)
{
    return (!name || strcmp(name, "auto") == 0) && !device_from_env();
}

const FluxBackend *flux_backend_get(const char *name, GError **error)
{
    return flux_backend_resolve(name, NULL, error);
}

/* ------------------------------------------------------------------------------------- */
/* Public (flux.h)                                                                       */

gboolean flux_device_check(const char *device, GError **error)
{
    return flux_backend_get(device, error) != NULL;
}
