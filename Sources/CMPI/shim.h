// Open MPI (Debian: libopenmpi-dev, pkg-config name "ompi"): only MAMLMPIShim uses it,
// and only with the MPI trait (docs/scale-out.md).
#include <mpi.h>
