// libpng 1.6 (Debian: libpng-dev, pkg-config name "libpng"). MAMLCore uses only the
// simplified API (png_image_*), which reports errors in png_image.message instead of
// longjmp, so it is safe to call from Swift.
#include <png.h>
