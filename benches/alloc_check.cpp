// qdtls_alloc_check_IMPL: allocation calls per datagram on the encrypt
// path (write: encrypt + send) and the decrypt path (read: recv + decrypt),
// counted by count_malloc.cpp over 20,000 datagrams after 2,000 of warm-up.
// Prints "RESULT alloc_write|alloc_read <impl> <allocations per datagram>"
// for the implementation the executable was built with (one per
// implementation, as qdtls_bench_IMPL). The target for qdtls is 0; raw
// OpenSSL and Qt are shown for reference (Qt returns every plaintext in a new
// QByteArray, which shows the counter works).
#include "bench.hpp"

#include <atomic>
#include <string>

namespace countmalloc {
extern std::atomic<unsigned long> allocations;
}

using namespace bench;

int main(int argc, char **argv) {
    constexpr long kWarmup = 2000, kCount = 20000;
    int status = 0;
    {
        std::unique_ptr<Impl> impl = make_impl(argc, argv);
        std::string which = impl->name();
        Options o;
        if (!impl->data_setup(o)) {
            std::fprintf(stderr, "qdtls_alloc_check: %s: setup failed\n", which.c_str());
            return 1;
        }
        bool ok = true;
        for (long i = 0; i < kWarmup && ok; ++i)
            ok = impl->data_write() && impl->data_read();
        unsigned long writes = 0, reads = 0;
        for (long i = 0; i < kCount && ok; ++i) {
            unsigned long a0 = countmalloc::allocations.load(std::memory_order_relaxed);
            ok = impl->data_write();
            unsigned long a1 = countmalloc::allocations.load(std::memory_order_relaxed);
            ok = ok && impl->data_read();
            unsigned long a2 = countmalloc::allocations.load(std::memory_order_relaxed);
            writes += a1 - a0;
            reads += a2 - a1;
        }
        if (!ok) {
            std::fprintf(stderr, "qdtls_alloc_check: %s: datagram failed\n", which.c_str());
            return 1;
        }
        std::printf("RESULT alloc_write %s %.3f alloc/dgram\n", impl->name(), double(writes) / kCount);
        std::printf("RESULT alloc_read %s %.3f alloc/dgram\n", impl->name(), double(reads) / kCount);
        // The counter must see allocations made inside the library, or 0 means nothing.
        unsigned long a0 = countmalloc::allocations.load(std::memory_order_relaxed);
        if (impl->provoke_allocation()) {
            unsigned long seen = countmalloc::allocations.load(std::memory_order_relaxed) - a0;
            std::printf("CHECK %s: an error path inside the library made %lu counted allocation(s)%s\n",
                        impl->name(), seen, seen > 0 ? "" : " -- THE COUNTER DOES NOT SEE THE LIBRARY");
            if (seen == 0)
                status = 1;
        }
        // Scenario 3b's calls, when the library has them.
        Options batch_options;
        auto batch = make_impl(argc, argv);
        if (batch->data_batch_setup(batch_options)) {
            constexpr int kBatch = 32;
            for (long i = 0; i < kWarmup / kBatch && ok; ++i)
                ok = batch->data_batch(kBatch);
            unsigned long b0 = countmalloc::allocations.load(std::memory_order_relaxed);
            for (long i = 0; i < kCount / kBatch && ok; ++i)
                ok = batch->data_batch(kBatch);
            unsigned long b1 = countmalloc::allocations.load(std::memory_order_relaxed);
            if (ok)
                std::printf("RESULT alloc_batch %s %.3f alloc/dgram\n", batch->name(),
                            double(b1 - b0) / double(kCount / kBatch * kBatch));
            else
                status = 1;
        }
        std::fflush(stdout);
    }
    return status;
}
