/* The emulator's NCCL collectives: ncclAllReduce and ncclBroadcast of floats, queued on the rank's
 * stream. When the stream reaches one, the rank posts its call in the clique (emu_nccl_clique.c)
 * and meets the others at a barrier; every rank checks that all called the same collective, then
 * the data moves through the ranks' staging lanes a chunk at a time: each rank copies its chunk
 * into its lane, meets the others, computes its own result from every lane, and meets them again
 * before the lanes are reused. So it works the same between threads and between processes. Every
 * rank sums in rank order (NCCL's order is its own; the result is the same up to rounding).
 * A rank that aborts leaves, so the others wait on until they abort too, or the wait limit fails
 * their communicators, as nothing else would end a stalled NCCL kernel. */
#include <string.h>

#include "emu/emu_nccl.h"

static float reduce(ncclRedOp_t op, float a, float b)
{
  switch (op) {
  case ncclProd: return a * b;
  case ncclMax: return a > b ? a : b;
  case ncclMin: return a < b ? a : b;
  default: return a + b;
  }
}

typedef struct waiter {
  struct ncclComm *comm;
  emu_stream *stream;
} waiter;

/* A rank stops waiting when its communicator is aborted or its stream destroyed. */
static bool gone(void *ctx)
{
  waiter *w = ctx;
  return atomic_load(&w->comm->aborted) || emu_stream_stopping(w->stream);
}

static bool same_call(const emu_call *a, const emu_call *b)
{
  return a->seq == b->seq && a->kind == b->kind && a->count == b->count && a->root == b->root &&
         a->op == b->op;
}

/* The barrier, or false; when the wait limit ended it, the communicator fails. */
static bool meet(waiter *w)
{
  if (emu_clique_barrier(w->comm->clique, gone, w)) return true;
  if (!gone(w))
    emu_comm_fail(w->comm, ncclSystemError, "a collective's peers did not arrive within %.0f s",
                  emu_wait_limit_s());
  return false;
}

static void allreduce(waiter *w, const emu_call *call, const float *send, float *recv)
{
  emu_clique *q = w->comm->clique;
  int n_ranks = w->comm->nranks;
  float *mine = emu_clique_lane(q, w->comm->rank);
  for (size_t at = 0; at < call->count; at += EMU_LANE_FLOATS) {
    size_t n = call->count - at < EMU_LANE_FLOATS ? call->count - at : EMU_LANE_FLOATS;
    memcpy(mine, send + at, n * sizeof(float));
    if (!meet(w)) return;
    const float *first = emu_clique_lane(q, 0);
    for (size_t i = 0; i < n; i++) {
      float acc = first[i];
      for (int r = 1; r < n_ranks; r++)
        acc = reduce((ncclRedOp_t)call->op, acc, emu_clique_lane(q, r)[i]);
      recv[at + i] = acc;
    }
    if (!meet(w)) return;
  }
}

static void broadcast(waiter *w, const emu_call *call, const float *send, float *recv)
{
  emu_clique *q = w->comm->clique;
  bool root = w->comm->rank == call->root;
  float *lane = emu_clique_lane(q, call->root);
  for (size_t at = 0; at < call->count; at += EMU_LANE_FLOATS) {
    size_t n = call->count - at < EMU_LANE_FLOATS ? call->count - at : EMU_LANE_FLOATS;
    if (root) memcpy(lane, send + at, n * sizeof(float));
    if (!meet(w)) return;
    if (!root || recv != send) memcpy(recv + at, lane, n * sizeof(float));
    if (!meet(w)) return;
  }
}

/* Posts the call, meets the others, and checks they called the same. */
static bool agree(waiter *w, const emu_call *call)
{
  emu_clique *q = w->comm->clique;
  *emu_clique_call(q, w->comm->rank) = *call;
  if (!meet(w)) return false;
  for (int r = 0; r < w->comm->nranks; r++)
    if (!same_call(emu_clique_call(q, r), call)) {
      emu_comm_fail(w->comm, ncclInvalidUsage,
                    "collective %llu: rank %d called another collective, count or root",
                    (unsigned long long)call->seq, r);
      return false;
    }
  return true;
}

void emu_run_collective(emu_stream *s, void *p)
{
  emu_coll_args *a = p;
  struct ncclComm *c = a->comm;
  emu_fault f = emu_fault_get(EMU_FAULT_NCCL);
  long nth = atomic_fetch_add(&c->run_count, 1) + 1;
  size_t bytes = a->call.count * sizeof(float);
  const float *send = emu_view(a->send, bytes);
  float *recv = emu_view(a->recv, bytes);
  waiter w = {.comm = c, .stream = s};
  if (atomic_load(&c->aborted) || atomic_load(&c->state) != ncclSuccess) {
    /* dropped: an aborted or failed communicator runs nothing */
  } else if (f.device == c->rank && f.nth == nth) {
    emu_comm_fail(c, ncclRemoteError,
                  "emulated fault (DPT_CUDA_EMU_NCCL_ERROR): rank %d, collective %ld", c->rank,
                  nth);
  } else if (!send || !recv) {
    emu_set_sticky(s->device, cudaErrorIllegalAddress);
  } else if (agree(&w, &a->call)) {
    if (a->call.kind == EMU_ALLREDUCE)
      allreduce(&w, &a->call, send, recv);
    else
      broadcast(&w, &a->call, send, recv);
  }
  atomic_fetch_sub(&c->outstanding, 1);
  emu_comm_release(c);
}

static ncclResult_t enqueue(emu_coll_args *a, cudaStream_t stream)
{
  struct ncclComm *c = a->comm;
  ncclResult_t state = (ncclResult_t)atomic_load(&c->state);
  if (state == ncclInProgress) return ncclInvalidUsage;
  if (state != ncclSuccess) return state;
  cudaError_t rc;
  emu_stream *s = emu_stream_resolve(stream, &rc);
  if (!s) return ncclUnhandledCudaError;
  if (s->device != c->device) {
    emu_comm_fail(c, ncclInvalidUsage, "the stream belongs to device %d, the communicator to %d",
                  s->device, c->device);
    return ncclInvalidUsage;
  }
  size_t bytes = a->call.count * sizeof(float);
  if (a->call.count && (!emu_view(a->send, bytes) || !emu_view(a->recv, bytes)))
    return ncclInvalidArgument;
  if (a->call.count == 0) return ncclSuccess;
  a->call.seq = c->issued++;
  atomic_fetch_add(&c->outstanding, 1);
  atomic_fetch_add(&c->refs, 1);
  emu_count(c->device, DPT_EMU_NCCL, 1);
  if (emu_stream_enqueue(s, emu_run_collective, a, sizeof *a) != cudaSuccess) {
    atomic_fetch_sub(&c->outstanding, 1);
    emu_comm_release(c);
    return ncclSystemError;
  }
  return ncclSuccess;
}

ncclResult_t ncclAllReduce(const void *sendbuff, void *recvbuff, size_t count,
                           ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                           cudaStream_t stream)
{
  if (!comm || datatype != ncclFloat32 || op < ncclSum || op > ncclMin || !sendbuff || !recvbuff)
    return ncclInvalidArgument;
  emu_coll_args a = {.comm = comm,
                     .call = {.kind = EMU_ALLREDUCE, .count = count, .op = op},
                     .send = sendbuff,
                     .recv = recvbuff};
  return enqueue(&a, stream);
}

ncclResult_t ncclBroadcast(const void *sendbuff, void *recvbuff, size_t count,
                           ncclDataType_t datatype, int root, ncclComm_t comm, cudaStream_t stream)
{
  if (!comm || datatype != ncclFloat32 || !recvbuff || root < 0 || root >= comm->nranks)
    return ncclInvalidArgument;
  /* Only the root's sendbuff is read. */
  emu_coll_args a = {.comm = comm,
                     .call = {.kind = EMU_BROADCAST, .count = count, .root = root},
                     .send = sendbuff ? sendbuff : recvbuff,
                     .recv = recvbuff};
  return enqueue(&a, stream);
}
