// Counting malloc without LD_PRELOAD: these definitions in the executable
// interpose glibc's for the whole process (shared libraries included) and
// forward to glibc's own entry points. Only allocation calls are counted.
#include <atomic>
#include <cerrno>
#include <cstddef>

extern "C" {
void *__libc_malloc(std::size_t) noexcept;
void *__libc_calloc(std::size_t, std::size_t) noexcept;
void *__libc_realloc(void *, std::size_t) noexcept;
void *__libc_memalign(std::size_t, std::size_t) noexcept;
void __libc_free(void *) noexcept;
}

namespace countmalloc {
std::atomic<unsigned long> allocations{0};
}

namespace {
inline void count() { countmalloc::allocations.fetch_add(1, std::memory_order_relaxed); }
} // namespace

extern "C" {

void *malloc(std::size_t n) noexcept {
    count();
    return __libc_malloc(n);
}

void *calloc(std::size_t a, std::size_t b) noexcept {
    count();
    return __libc_calloc(a, b);
}

void *realloc(void *p, std::size_t n) noexcept {
    count();
    return __libc_realloc(p, n);
}

void free(void *p) noexcept { __libc_free(p); }

void *memalign(std::size_t align, std::size_t n) noexcept {
    count();
    return __libc_memalign(align, n);
}

void *aligned_alloc(std::size_t align, std::size_t n) noexcept {
    count();
    return __libc_memalign(align, n);
}

int posix_memalign(void **out, std::size_t align, std::size_t n) noexcept {
    count();
    void *p = __libc_memalign(align, n);
    if (p == nullptr)
        return ENOMEM;
    *out = p;
    return 0;
}

} // extern "C"
