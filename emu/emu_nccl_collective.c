/* The emulator's NCCL collectives: ncclAllReduce and ncclBroadcast of floats,
 * queued on the rank's stream; when the stream reaches one, the rank waits in
 * the collective's slot until every rank has arrived, and the last to arrive
 * computes for all. The sum runs in rank order (NCCL's order is its own; the
 * result is the same up to rounding). A rank that aborts leaves its slot, so
 * the others wait on until they abort too, or the wait limit ends the
 * collective with an error, as a stalled NCCL kernel would be ended by nothing
 * else. */
#include <stdlib.h>
#include <string.h>

#include "emu/emu_nccl.h"

enum { CHUNK = 4096 };

static float reduce(ncclRedOp_t op, float a, float b)
{
  switch (op) {
  case ncclProd: return a * b;
  case ncclMax: return a > b ? a : b;
  case ncclMin: return a < b ? a : b;
  default: return a + b;
  }
}

/* Reads every rank's chunk before writing any, so in-place buffers are safe. */
static void compute(emu_slot *slot, int nranks)
{
  if (slot->kind == EMU_BROADCAST) {
    const float *src = slot->send[slot->root];
    for (int r = 0; r < nranks; r++)
      if (slot->recv[r] != src) memmove(slot->recv[r], src, slot->count * sizeof(float));
    return;
  }
  float acc[CHUNK];
  for (size_t at = 0; at < slot->count; at += CHUNK) {
    size_t n = slot->count - at < CHUNK ? slot->count - at : CHUNK;
    memcpy(acc, slot->send[0] + at, n * sizeof(float));
    for (int r = 1; r < nranks; r++)
      for (size_t i = 0; i < n; i++) acc[i] = reduce(slot->op, acc[i], slot->send[r][at + i]);
    for (int r = 0; r < nranks; r++) memcpy(slot->recv[r] + at, acc, n * sizeof(float));
  }
}

/* The slot for a's sequence number, made by the first rank to arrive (clique mu
 * held). */
static emu_slot *slot_for(emu_clique *q, const emu_coll_args *a)
{
  for (emu_slot *s = q->slots; s; s = s->next)
    if (s->seq == a->seq) return s;
  emu_slot *s = calloc(1, sizeof *s + 2 * (size_t)q->nranks * sizeof(void *));
  if (!s) return NULL;
  s->send = (const float **)(s + 1);
  s->recv = (float **)(s->send + q->nranks);
  s->seq = a->seq;
  s->kind = a->kind;
  s->count = a->count;
  s->root = a->root;
  s->op = a->op;
  s->next = q->slots;
  q->slots = s;
  return s;
}

static void unlink_slot(emu_clique *q, emu_slot *slot)
{
  emu_slot **p = &q->slots;
  while (*p != slot) p = &(*p)->next;
  *p = slot->next;
  free(slot);
}

static bool same_call(const emu_slot *s, const emu_coll_args *a)
{
  return s->kind == a->kind && s->count == a->count && s->root == a->root && s->op == a->op;
}

/* Arrives, waits for the rest (or leaves on abort, stream stop or the wait
 * limit), departs. */
static void meet(emu_stream *st, struct ncclComm *c, const emu_coll_args *a, const float *send,
                 float *recv)
{
  emu_clique *q = c->clique;
  double t0 = emu_now();
  pthread_mutex_lock(&q->mu);
  emu_slot *slot = slot_for(q, a);
  if (!slot || !same_call(slot, a)) {
    pthread_mutex_unlock(&q->mu);
    emu_comm_fail(c, slot ? ncclInvalidUsage : ncclSystemError,
                  "collective %llu: the ranks called different collectives or counts",
                  (unsigned long long)a->seq);
    return;
  }
  slot->send[c->rank] = send;
  slot->recv[c->rank] = recv;
  if (++slot->arrived == q->nranks) {
    compute(slot, q->nranks);
    slot->done = true;
    pthread_cond_broadcast(&q->cv);
  }
  bool late = false;
  while (!slot->done && !atomic_load(&c->aborted) && !emu_stream_stopping(st) &&
         !(late = emu_now() - t0 > emu_wait_limit_s()))
    emu_cond_poll(&q->cv, &q->mu);
  if (slot->done) {
    if (++slot->departed == q->nranks) unlink_slot(q, slot);
  } else {
    slot->send[c->rank] = NULL;
    slot->recv[c->rank] = NULL;
    if (--slot->arrived == 0) unlink_slot(q, slot);
  }
  pthread_mutex_unlock(&q->mu);
  if (late)
    emu_comm_fail(c, ncclSystemError, "collective %llu: peers did not arrive within %.0f s",
                  (unsigned long long)a->seq, emu_wait_limit_s());
}

void emu_run_collective(emu_stream *s, void *p)
{
  emu_coll_args *a = p;
  struct ncclComm *c = a->comm;
  emu_fault f = emu_fault_get(EMU_FAULT_NCCL);
  long nth = atomic_fetch_add(&c->run_count, 1) + 1;
  size_t bytes = a->count * sizeof(float);
  if (atomic_load(&c->aborted) || atomic_load(&c->state) != ncclSuccess) {
    /* dropped: an aborted or failed communicator runs nothing */
  } else if (f.device == c->rank && f.nth == nth) {
    emu_comm_fail(c, ncclRemoteError,
                  "emulated fault (DPT_CUDA_EMU_NCCL_ERROR): rank %d, "
                  "collective %ld",
                  c->rank, nth);
  } else {
    const float *send = emu_view(a->send, bytes);
    float *recv = emu_view(a->recv, bytes);
    if (!send || !recv)
      emu_set_sticky(s->device, cudaErrorIllegalAddress);
    else
      meet(s, c, a, send, recv);
  }
  atomic_fetch_sub(&c->outstanding, 1);
  emu_comm_release(c);
}

static ncclResult_t enqueue(emu_coll_args *a, cudaStream_t stream)
{
  struct ncclComm *c = a->comm;
  if (!c) return ncclInvalidArgument;
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
  size_t bytes = a->count * sizeof(float);
  if (a->count && ((a->send && !emu_view(a->send, bytes)) || !emu_view(a->recv, bytes)))
    return ncclInvalidArgument;
  if (a->count == 0) return ncclSuccess;
  a->seq = c->issued++;
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
  if (datatype != ncclFloat32 || op < ncclSum || op > ncclMin || !sendbuff || !recvbuff)
    return ncclInvalidArgument;
  emu_coll_args a = {.comm = comm,
                     .kind = EMU_ALLREDUCE,
                     .send = sendbuff,
                     .recv = recvbuff,
                     .count = count,
                     .op = op};
  return enqueue(&a, stream);
}

ncclResult_t ncclBroadcast(const void *sendbuff, void *recvbuff, size_t count,
                           ncclDataType_t datatype, int root, ncclComm_t comm, cudaStream_t stream)
{
  if (datatype != ncclFloat32 || !recvbuff || !comm || root < 0 || root >= comm->clique->nranks)
    return ncclInvalidArgument;
  emu_coll_args a = {.comm = comm,
                     .kind = EMU_BROADCAST,
                     .send = sendbuff ? sendbuff : recvbuff,
                     .recv = recvbuff,
                     .count = count,
                     .op = ncclSum,
                     .root = root};
  return enqueue(&a, stream);
}
