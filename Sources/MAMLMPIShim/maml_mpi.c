#include "maml_mpi.h"

// MAML_MPI comes from the MPI trait (Package.swift). Its absence, or a machine without
// Open MPI's headers, compiles the stubs below: the default build never needs mpi.h.
#if defined(MAML_MPI) && !__has_include(<mpi.h>)
#error "the MPI trait needs Open MPI's headers and library: apt-get install -y openmpi-bin libopenmpi-dev"
#endif

#if defined(MAML_MPI)
#include <mpi.h>
#include <string.h>
#include <time.h>

// A duplicate of MPI_COMM_WORLD for mamlmpi_all_arrive only.
static MPI_Comm exit_comm = MPI_COMM_NULL;

int mamlmpi_compiled(void) { return 1; }

int mamlmpi_init(int *rank, int *size) {
    int provided = 0;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return rc;
    // Errors come back to the host, which names the rank and host before ending the job.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    rc = MPI_Comm_dup(MPI_COMM_WORLD, &exit_comm);
    if (rc != MPI_SUCCESS) return rc;
    rc = MPI_Comm_rank(MPI_COMM_WORLD, rank);
    if (rc != MPI_SUCCESS) return rc;
    return MPI_Comm_size(MPI_COMM_WORLD, size);
}

int mamlmpi_finalize(void) { return MPI_Finalize(); }

void mamlmpi_abort(int status) { MPI_Abort(MPI_COMM_WORLD, status); }

int mamlmpi_processor_name(char *out, int capacity) {
    char name[MPI_MAX_PROCESSOR_NAME + 1];
    int length = 0;
    int rc = MPI_Get_processor_name(name, &length);
    if (rc != MPI_SUCCESS || capacity <= 0) return rc;
    if (length >= capacity) length = capacity - 1;
    memcpy(out, name, (size_t)length);
    out[length] = 0;
    return MPI_SUCCESS;
}

void mamlmpi_error_text(int code, char *out, int capacity) {
    char text[MPI_MAX_ERROR_STRING + 1];
    int length = 0;
    if (capacity <= 0) return;
    if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) length = 0;
    if (length >= capacity) length = capacity - 1;
    memcpy(out, text, (size_t)length);
    out[length] = 0;
}

// One block as a contiguous type: counts stay small ints however large a block is.
static int allgather(void *buffer, MPI_Datatype element, int block_length, const int *counts, const int *offsets) {
    MPI_Datatype block;
    int rc = MPI_Type_contiguous(block_length, element, &block);
    if (rc != MPI_SUCCESS) return rc;
    rc = MPI_Type_commit(&block);
    if (rc == MPI_SUCCESS)
        rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buffer, counts, offsets, block, MPI_COMM_WORLD);
    MPI_Type_free(&block);
    return rc;
}

int mamlmpi_allgather_floats(float *buffer, int block_length, const int *counts, const int *offsets) {
    return allgather(buffer, MPI_FLOAT, block_length, counts, offsets);
}

int mamlmpi_allgather_doubles(double *buffer, int block_length, const int *counts, const int *offsets) {
    return allgather(buffer, MPI_DOUBLE, block_length, counts, offsets);
}

int mamlmpi_broadcast(void *bytes, int count, int root) {
    return MPI_Bcast(bytes, count, MPI_BYTE, root, MPI_COMM_WORLD);
}

int mamlmpi_max(long long *value) {
    return MPI_Allreduce(MPI_IN_PLACE, value, 1, MPI_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
}

int mamlmpi_all_arrive(double seconds) {
    MPI_Request request;
    if (MPI_Ibarrier(exit_comm, &request) != MPI_SUCCESS) return 0;
    double end = MPI_Wtime() + seconds;
    for (;;) {
        int done = 0;
        if (MPI_Test(&request, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return 0;
        if (done) return 1;
        if (MPI_Wtime() > end) return 0;
        struct timespec pause = {0, 1000000};   // 1 ms: the others are seconds away or gone
        nanosleep(&pause, NULL);
    }
}

#else
// No MPI in this build: every call fails with -1 ("not built with MPI").
#include <string.h>

int mamlmpi_compiled(void) { return 0; }
int mamlmpi_init(int *rank, int *size) { *rank = 0; *size = 1; return -1; }
int mamlmpi_finalize(void) { return -1; }
void mamlmpi_abort(int status) { (void)status; }
int mamlmpi_processor_name(char *out, int capacity) { if (capacity > 0) out[0] = 0; return -1; }
void mamlmpi_error_text(int code, char *out, int capacity) {
    (void)code;
    const char *text = "this maml-host was built without MPI";
    if (capacity <= 0) return;
    strncpy(out, text, (size_t)capacity - 1);
    out[capacity - 1] = 0;
}
int mamlmpi_allgather_floats(float *b, int l, const int *c, const int *o) { (void)b; (void)l; (void)c; (void)o; return -1; }
int mamlmpi_allgather_doubles(double *b, int l, const int *c, const int *o) { (void)b; (void)l; (void)c; (void)o; return -1; }
int mamlmpi_broadcast(void *bytes, int count, int root) { (void)bytes; (void)count; (void)root; return -1; }
int mamlmpi_max(long long *value) { (void)value; return -1; }
int mamlmpi_all_arrive(double seconds) { (void)seconds; return 0; }
#endif
