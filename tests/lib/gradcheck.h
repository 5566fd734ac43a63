/* Finite-difference gradient checks of the model tests (test_mlp.c, test_layers.c). */
#ifndef DPT_TESTS_LIB_GRADCHECK_H
#define DPT_TESTS_LIB_GRADCHECK_H

#include <stddef.h>
#include <stdint.h>

/* The summed loss at the current parameters, and in *pattern a hash of the forward pass's
 * discrete choices (which units a ReLU let through, which entry a pooling window took). */
typedef double (*dpt_test_loss_fn)(void *ctx, uint64_t *pattern);

/* Central differences (step eps) of the loss for params[first, last) against the backward pass's
 * grads: the number of mismatches (|numeric - grad| > 2e-3 + 2e-2 |numeric|), each printed. A
 * perturbation that changes the pattern measures a kink, not the gradient: that parameter is
 * skipped and counted in *skipped. params is restored. */
size_t dpt_test_gradcheck(float *params, size_t first, size_t last, const float *grads, float eps,
                          dpt_test_loss_fn loss, void *ctx, size_t *skipped);

#endif
