// zlib (Debian: zlib1g-dev, which libpng-dev depends on): image-tree reads Fashion-MNIST's .gz
// files with gzopen/gzread. A test tool's dependency, not the product's.
#include <zlib.h>
