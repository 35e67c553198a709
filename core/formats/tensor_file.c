/* tensor_file.c — FluxTensorFile (flux.h): the public face of the safetensors writer, so that
 * clients save traced tensors without the file reader's internals. */
#include "flux.h"
#include "safetensors.h"

struct FluxTensorFile {
    StWriter *writer;
};

FluxTensorFile *flux_tensor_file_new(void)
{
    FluxTensorFile *f = g_new0(FluxTensorFile, 1);
    f->writer = st_writer_new();
    return f;
}

void flux_tensor_file_add(FluxTensorFile *file, const char *name, FluxDtype dtype, int ndim,
                          const int64_t *shape, const void *data)
{
    StDtype dt = dtype == FLUX_DTYPE_F32 ? ST_F32 : dtype == FLUX_DTYPE_I64 ? ST_I64 : ST_U8;
    st_writer_add(file->writer, name, dt, ndim, shape, data);
}

gboolean flux_tensor_file_save(FluxTensorFile *file, const char *path, GError **error)
{
    return st_writer_save(file->writer, path, error);
}

void flux_tensor_file_free(FluxTensorFile *file)
{
    if (!file) return;
    st_writer_free(file->writer);
    g_free(file);
}
