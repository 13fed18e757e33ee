/* maml_image.h: decoding image files to 8-bit pixels for the image task families.
 *
 * JPEG through libjpeg(-turbo), both ways (encoding makes test data: image-tree, round trips). libjpeg reports errors by calling error_exit, which must not
 * return; a C wrapper is the one safe place to longjmp out of it, so decoding lives here and
 * Swift sees a status and a message. Every function is thread-safe (no shared state).
 *
 *   mi_image img;
 *   if (mi_decode_jpeg(bytes, size, 3, 16384, &img) != MI_OK) puts(img.error);
 *   ... img.pixels: height x width x channels, row-major, 8-bit ...
 *   mi_free(&img);
 */
#ifndef MAML_IMAGE_H
#define MAML_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { MI_OK = 0, MI_CORRUPT = 1, MI_TOO_LARGE = 2, MI_NO_MEMORY = 3, MI_UNSUPPORTED = 4 } mi_status;

typedef struct mi_image {
    int width, height;
    /* Channels of `pixels` (1 grey or 3 RGB: what was asked), and of the file itself (1, 3 or 4 for CMYK). */
    int channels, source_channels;
    /* Progressive JPEG (informational). */
    int progressive;
    /* height * width * channels bytes, row-major; owned by the image: mi_free releases it. */
    uint8_t *pixels;
    /* Why decoding failed (NUL-terminated), empty on success. */
    char error[200];
} mi_image;

/* Decodes a whole JPEG file held in `data` (`size` bytes, borrowed) to `channels` (1: grey, colour
 * converted by ITU-R BT.601 luma; 3: RGB, grey expanded, CMYK/YCCK converted). Refuses images whose
 * width or height exceeds `max_side` before allocating pixels. On failure `out->pixels` is NULL.
 * [thread-safe] [caller frees with mi_free] */
mi_status mi_decode_jpeg(const uint8_t *data, size_t size, int channels, int max_side, mi_image *out);

/* Releases the pixels (safe on a failed or already freed image). [thread-safe] */
void mi_free(mi_image *image);

typedef struct mi_buffer {
    /* `size` bytes of a whole file, malloc'd; owned by the buffer: mi_free_buffer releases it. */
    uint8_t *bytes;
    unsigned long size;   /* libjpeg's type for jpeg_mem_dest */
    /* Why encoding failed (NUL-terminated), empty on success. */
    char error[200];
} mi_buffer;

/* Encodes `pixels` (height x width x channels bytes, row-major; borrowed) as a baseline JFIF JPEG:
 * channels 1 writes a greyscale file, 3 a YCbCr one, its chroma subsampled 2x2 (4:2:0, libjpeg's
 * default and what most cameras and ImageNet's files use) if `subsample_chroma`, else kept whole
 * (4:4:4). `quality` is libjpeg's 1...100 scale.
 * Bad arguments return MI_UNSUPPORTED; a failure inside libjpeg returns MI_CORRUPT (the message says
 * why). On failure `out->bytes` is NULL. [thread-safe] [caller frees with mi_free_buffer] */
mi_status mi_encode_jpeg(const uint8_t *pixels, int width, int height, int channels, int quality,
                         int subsample_chroma, mi_buffer *out);

/* Releases the bytes (safe on a failed or already freed buffer). [thread-safe] */
void mi_free_buffer(mi_buffer *buffer);

#ifdef __cplusplus
}
#endif
#endif
