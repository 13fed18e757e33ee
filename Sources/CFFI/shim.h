// libffi (Debian: libffi-dev, pkg-config name "libffi"): calls plugin-declared
// operations ("maml.ops/1") by their signature string.
#include <ffi.h>
