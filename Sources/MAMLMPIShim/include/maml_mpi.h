/*
 * maml_mpi.h - the MPI calls maml-host makes, as plain C functions.
 *
 * Open MPI 4.1's predefined handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_MAX) are
 * macros over addresses of extern globals, which Swift cannot import; these
 * functions take and return only C types. Every call is on MPI_COMM_WORLD and
 * from one thread (MPI_THREAD_FUNNELED). Without the MPI trait (or without
 * mpi.h) they are stubs: mamlmpi_compiled() returns 0 and the rest fail.
 *
 * Calls return 0 on success, else an MPI error code; mamlmpi_error_text
 * describes it.
 */
#ifndef MAML_MPI_H
#define MAML_MPI_H

#include <stddef.h>

/* 1 when this build links MPI, else 0. */
int mamlmpi_compiled(void);

/* MPI_Init_thread (funneled), with errors returned rather than fatal; this rank and the world size. */
int mamlmpi_init(int *rank, int *size);
int mamlmpi_finalize(void);
/* Ends every rank of the job (MPI_Abort on MPI_COMM_WORLD). */
void mamlmpi_abort(int status);

/* The processor (host) name, NUL-terminated, at most capacity bytes. */
int mamlmpi_processor_name(char *out, int capacity);
/* The text of an MPI error code, NUL-terminated. */
void mamlmpi_error_text(int code, char *out, int capacity);

/*
 * In-place all-gather of blocks of block_length elements: rank r contributes the
 * counts[r] blocks that start at block offsets[r] of buffer, and every rank ends
 * with all of them. counts and offsets have one entry per rank.
 */
int mamlmpi_allgather_floats(float *buffer, int block_length, const int *counts, const int *offsets);
int mamlmpi_allgather_doubles(double *buffer, int block_length, const int *counts, const int *offsets);

/* count bytes from root to every rank. */
int mamlmpi_broadcast(void *bytes, int count, int root);

/* The maximum of value over the ranks, into value. */
int mamlmpi_max(long long *value);

/*
 * 1 when every rank calls this within `seconds`, else 0 (then the job is to be aborted).
 * On a communicator of its own, so it never pairs with a collective other ranks are in.
 */
int mamlmpi_all_arrive(double seconds);

#endif
