// Counts allocations for pellet-load micro: malloc and friends are interposed in the
// pellet-load binary only (this target links into nothing else) and forward to glibc.
#define _GNU_SOURCE
#include "pellet_allocations.h"
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>

// glibc's own entry points, still reachable when the public names are interposed.
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static _Atomic uint64_t allocations;
static _Atomic bool counting;

static inline void record(void) {
    if (atomic_load_explicit(&counting, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    }
}

uint64_t pellet_allocations_count(void) { return atomic_load(&allocations); }
void pellet_allocations_set_counting(bool on) { atomic_store(&counting, on); }

void *malloc(size_t size) { record(); return __libc_malloc(size); }
void *calloc(size_t count, size_t size) { record(); return __libc_calloc(count, size); }
void *realloc(void *pointer, size_t size) { record(); return __libc_realloc(pointer, size); }
void *memalign(size_t alignment, size_t size) { record(); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { record(); return __libc_memalign(alignment, size); }
int posix_memalign(void **result, size_t alignment, size_t size) {
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    record();
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) return ENOMEM;
    *result = pointer;
    return 0;
}
