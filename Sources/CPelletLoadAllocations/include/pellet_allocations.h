#ifndef PELLET_ALLOCATIONS_H
#define PELLET_ALLOCATIONS_H
#include <stdbool.h>
#include <stdint.h>
/// Allocations (malloc, calloc, realloc, memalign, aligned_alloc, posix_memalign) counted while
/// counting is on, on every thread.
uint64_t pellet_allocations_count(void);
void pellet_allocations_set_counting(bool on);
#endif
