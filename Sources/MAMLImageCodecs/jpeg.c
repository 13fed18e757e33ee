// JPEG decoding with libjpeg(-turbo): errors longjmp back here, never exit the process.
#include "maml_image.h"

#include "jpeg_errors.h"
#include <stdlib.h>
#include <string.h>

void mi_free(mi_image *image) {
    if (!image) return;
    free(image->pixels);
    image->pixels = NULL;
}

mi_status mi_decode_jpeg(const uint8_t *data, size_t size, int channels, int max_side, mi_image *out) {
    memset(out, 0, sizeof *out);
    if (channels != 1 && channels != 3) {
        snprintf(out->error, sizeof out->error, "channels must be 1 or 3, got %d", channels);
        return MI_UNSUPPORTED;
    }
    struct jpeg_decompress_struct cinfo;
    mi_jpeg_errors err;
    cinfo.err = mi_jpeg_errors_init(&err, out->error, sizeof out->error, "corrupt or truncated JPEG");
    uint8_t *volatile pixels = NULL;
    JSAMPLE *volatile row = NULL;
    if (setjmp(err.escape)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        free(row);
        out->pixels = NULL;
        return MI_CORRUPT;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, (const unsigned char *)data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    out->source_channels = cinfo.num_components;
    out->progressive = cinfo.progressive_mode ? 1 : 0;
    if ((int)cinfo.image_width > max_side || (int)cinfo.image_height > max_side) {
        snprintf(out->error, sizeof out->error, "JPEG is %ux%u, more than %d pixels on a side",
                 cinfo.image_width, cinfo.image_height, max_side);
        jpeg_destroy_decompress(&cinfo);
        return MI_TOO_LARGE;
    }
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    if (cmyk) cinfo.out_color_space = JCS_CMYK;            /* converted below */
    else cinfo.out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height, in = cinfo.output_components;
    pixels = malloc((size_t)w * (size_t)h * (size_t)channels);
    row = malloc((size_t)w * (size_t)in);
    if (!pixels || !row) {
        snprintf(out->error, sizeof out->error, "out of memory for a %dx%d image", w, h);
        jpeg_destroy_decompress(&cinfo);
        free(pixels); free(row);
        return MI_NO_MEMORY;
    }
    while ((int)cinfo.output_scanline < h) {
        int y = (int)cinfo.output_scanline;
        JSAMPROW rows[1] = {row};
        jpeg_read_scanlines(&cinfo, rows, 1);
        uint8_t *dst = pixels + (size_t)y * (size_t)w * (size_t)channels;
        for (int x = 0; x < w; x++) {
            const JSAMPLE *p = row + (size_t)x * (size_t)in;
            uint8_t r, g, b;
            if (cmyk) {
                /* Adobe writes CMYK inverted (as libjpeg returns it): r = C' * K' / 255. */
                r = (uint8_t)((p[0] * p[3] + 127) / 255);
                g = (uint8_t)((p[1] * p[3] + 127) / 255);
                b = (uint8_t)((p[2] * p[3] + 127) / 255);
            } else if (in == 1) {
                r = g = b = p[0];
            } else {
                r = p[0]; g = p[1]; b = p[2];
            }
            if (channels == 3) { dst[3 * x] = r; dst[3 * x + 1] = g; dst[3 * x + 2] = b; }
            else if (in == 1 && !cmyk) dst[x] = p[0];
            else dst[x] = (uint8_t)((299 * r + 587 * g + 114 * b + 500) / 1000);
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    out->width = w; out->height = h; out->channels = channels; out->pixels = pixels;
    return MI_OK;
}
