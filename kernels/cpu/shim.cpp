// The fiber scheduler behind shim.h.
#include "shim.h"

#include <ucontext.h>

#include <memory>
#include <string>
#include <vector>

namespace shim {
thread_local dim3 thread_idx, block_idx, block_dim, grid_dim;

namespace {
// Kernels keep a few dozen floats per thread: 64 KiB is ample and cheap (untouched pages are free).
constexpr size_t kStack = 64 * 1024;
constexpr unsigned kMaxThreads = 1024;

struct Fiber {
    ucontext_t ctx;
    dim3 idx;
    bool done = false;
    bool at_barrier = false;
};

struct Block {
    ucontext_t scheduler;
    std::vector<Fiber> fibers;
    std::unique_ptr<char[]> stacks;
    Fiber* current = nullptr;
    void (*body)(void*) = nullptr;
    void* ctx = nullptr;
};

thread_local Block* running = nullptr;
thread_local std::string error;

// swapcontext returns twice, like setjmp; kept alone in its own frame so no caller's locals live
// across it (what -Wclobbered warns about).
__attribute__((noinline)) void resume(Block* b, Fiber* f) {
    b->current = f;
    thread_idx = f->idx;
    swapcontext(&b->scheduler, &f->ctx);
}

void entry();

// Fresh context for fiber i of a block (getcontext returns twice too).
__attribute__((noinline)) void init_fiber(Block* b, unsigned i, dim3 block) {
    Fiber& f = b->fibers[i];
    f.idx = dim3{i % block.x, (i / block.x) % block.y, i / (block.x * block.y)};
    f.done = f.at_barrier = false;
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = b->stacks.get() + kStack * i;
    f.ctx.uc_stack.ss_size = kStack;
    f.ctx.uc_link = &b->scheduler;
    makecontext(&f.ctx, entry, 0);
}

void entry() {
    Block* b = running;
    b->body(b->ctx);
    b->current->done = true;
    // Returning resumes uc_link, the scheduler.
}
}  // namespace

void sync_threads() {
    Block* b = running;
    Fiber* f = b->current;
    f->at_barrier = true;
    swapcontext(&f->ctx, &b->scheduler);
}

const char* last_error() { return error.c_str(); }

int launch(dim3 grid, dim3 block, void (*body)(void*), void* ctx) {
    const unsigned n = block.x * block.y * block.z;
    if (n == 0 || n > kMaxThreads || grid.x == 0 || grid.y == 0 || grid.z == 0) {
        error = "bad launch: block " + std::to_string(block.x) + "x" + std::to_string(block.y) + "x" +
                std::to_string(block.z) + ", grid " + std::to_string(grid.x) + "x" + std::to_string(grid.y) + "x" +
                std::to_string(grid.z);
        return -2;
    }
    Block b;
    b.body = body;
    b.ctx = ctx;
    b.fibers.resize(n);
    b.stacks.reset(new char[kStack * n]);
    Block* outer = running;
    running = &b;
    grid_dim = grid;
    block_dim = block;
    int rc = 0;
    for (unsigned bz = 0; bz < grid.z && rc == 0; ++bz)
        for (unsigned by = 0; by < grid.y && rc == 0; ++by)
            for (unsigned bx = 0; bx < grid.x && rc == 0; ++bx) {
                block_idx = dim3{bx, by, bz};
                for (unsigned i = 0; i < n; ++i) init_fiber(&b, i, block);
                // Rounds: run every live fiber up to its next barrier (or its end), in thread order.
                for (;;) {
                    unsigned live = 0;
                    for (unsigned i = 0; i < n; ++i) {
                        Fiber& f = b.fibers[i];
                        if (f.done) continue;
                        f.at_barrier = false;
                        resume(&b, &f);
                        // A fiber that did not finish stopped at a barrier: it has no other way out.
                        if (!f.done) ++live;
                    }
                    if (live == 0) break;
                    if (live != n) {
                        error = "block (" + std::to_string(bx) + "," + std::to_string(by) + "," + std::to_string(bz) +
                                "): __syncthreads reached by " + std::to_string(live) + " of " + std::to_string(n) +
                                " threads (the others returned): undefined on a GPU";
                        rc = -1;
                        break;
                    }
                }
            }
    running = outer;
    return rc;
}
}  // namespace shim
