// JPEG encoding with libjpeg(-turbo), for test data; errors longjmp back here like decoding's.
#include "maml_image.h"

#include "jpeg_errors.h"
#include <stdlib.h>
#include <string.h>

void mi_free_buffer(mi_buffer *buffer) {
    if (!buffer) return;
    free(buffer->bytes);
    buffer->bytes = NULL;
    buffer->size = 0;
}

mi_status mi_encode_jpeg(const uint8_t *pixels, int width, int height, int channels, int quality,
                         int subsample_chroma, mi_buffer *out) {
    memset(out, 0, sizeof *out);
    if (channels != 1 && channels != 3) {
        snprintf(out->error, sizeof out->error, "channels must be 1 or 3, got %d", channels);
        return MI_UNSUPPORTED;
    }
    if (width < 1 || height < 1 || width > JPEG_MAX_DIMENSION || height > JPEG_MAX_DIMENSION) {
        snprintf(out->error, sizeof out->error, "a JPEG is 1 to %d pixels on a side, not %dx%d",
                 (int)JPEG_MAX_DIMENSION, width, height);
        return MI_UNSUPPORTED;
    }
    if (quality < 1 || quality > 100) {
        snprintf(out->error, sizeof out->error, "quality must be 1 to 100, got %d", quality);
        return MI_UNSUPPORTED;
    }
    struct jpeg_compress_struct cinfo;
    mi_jpeg_errors err;
    cinfo.err = mi_jpeg_errors_init(&err, out->error, sizeof out->error, "cannot encode JPEG");
    /* jpeg_mem_dest mallocs the output and keeps out->bytes pointing at the current buffer as it
     * grows, so after a longjmp out->bytes (caller memory, not a local) is what to free. */
    if (setjmp(err.escape)) {
        jpeg_destroy_compress(&cinfo);
        mi_free_buffer(out);
        return MI_CORRUPT;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &out->bytes, &out->size);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = channels;
    cinfo.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    if (channels == 3 && !subsample_chroma) {
        cinfo.comp_info[0].h_samp_factor = cinfo.comp_info[0].v_samp_factor = 1;   /* luma at chroma's rate: 4:4:4 */
    }
    jpeg_start_compress(&cinfo, TRUE);
    size_t stride = (size_t)width * (size_t)channels;
    while (cinfo.next_scanline < cinfo.image_height) {
        /* libjpeg only reads the rows; its API is not const-qualified. */
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)cinfo.next_scanline * stride);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    return MI_OK;
}
