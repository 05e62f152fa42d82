// The kernels of kernels/cuda, compiled for the CPU from the same text, behind one C entry point
// that launches a kernel by name with a typed argument list, as cuLaunchKernel does on a GPU. The
// argument kinds are checked against each kernel's parameter list, so a wrong count or order fails
// with a message instead of running on garbage.
#include <cstdint>
#include <cstring>
#include <string>

#include "shim.h"

#include "../cuda/common.cuh"
#include "../cuda/norm.cu"
#include "../cuda/adam.cu"
#include "../cuda/elementwise.cu"
#include "../cuda/actor.cu"
#include "../cuda/loss.cu"

// Mirrors kernels::cpu::CArg: a kind tag and 64 bits of payload.
struct DeepcrlArg {
    int32_t kind;
    int32_t pad;
    uint64_t bits;
};

namespace {
enum Kind { kPtr = 0, kNull = 1, kI32 = 2, kI64 = 3, kF32 = 4 };

thread_local std::string error;

struct Args {
    const DeepcrlArg* a;
    int n;
    bool ok = true;

    bool kind(int i, Kind want, const char* what) {
        if (!ok) return false;
        if (i >= n || (a[i].kind != want && !(want == kPtr && a[i].kind == kNull))) {
            error = std::string("argument ") + std::to_string(i) + " must be " + what;
            ok = false;
        }
        return ok;
    }
    float* p(int i) { return kind(i, kPtr, "a pointer") ? reinterpret_cast<float*>(static_cast<uintptr_t>(a[i].bits)) : nullptr; }
    int i32(int i) { return kind(i, kI32, "a 32-bit int") ? static_cast<int>(static_cast<int64_t>(a[i].bits)) : 0; }
    long long i64(int i) { return kind(i, kI64, "a 64-bit int") ? static_cast<long long>(a[i].bits) : 0; }
    float f32(int i) {
        if (!kind(i, kF32, "a float")) return 0.0f;
        const uint32_t b = static_cast<uint32_t>(a[i].bits);
        float f;
        std::memcpy(&f, &b, sizeof f);
        return f;
    }
};

int fail() { return -3; }
}  // namespace

extern "C" {
const char* deepcrl_cpu_last_error() {
    // The launch error, else the shim's (a bad launch or a barrier only some threads reach).
    return error.empty() ? shim::last_error() : error.c_str();
}

int deepcrl_cpu_launch(const char* name, unsigned grid, unsigned block, const DeepcrlArg* args, int nargs) {
    error.clear();
    Args A{args, nargs};
    auto is = [&](const char* k, int count) {
        if (std::strcmp(name, k) != 0) return false;
        if (nargs != count) {
            error = std::string("takes ") + std::to_string(count) + " arguments, got " + std::to_string(nargs);
            A.ok = false;
        }
        return true;
    };
    if (is("ln_silu_forward", 8)) {
        auto z = A.p(0), bias = A.p(1), gamma = A.p(2), beta = A.p(3), rstd = A.p(4), act = A.p(5);
        int rows = A.i32(6), width = A.i32(7);
        if (!A.ok) return fail();
        return shim::run(grid, block, [=] { ln_silu_forward(z, bias, gamma, beta, rstd, act, rows, width); });
    }
    if (is("ln_silu_backward", 9)) {
        auto d = A.p(0), nhat = A.p(1), rstd = A.p(2), gamma = A.p(3), beta = A.p(4), partial = A.p(5);
        int rows = A.i32(6), width = A.i32(7), rpb = A.i32(8);
        if (!A.ok) return fail();
        return shim::run(grid, block, [=] { ln_silu_backward(d, nhat, rstd, gamma, beta, partial, rows, width, rpb); });
    }
    if (is("ln_plain_forward", 5)) {
        auto x = A.p(0), nhat = A.p(1), rstd = A.p(2);
        int rows = A.i32(3), width = A.i32(4);
        if (!A.ok) return fail();
        return shim::run(grid, block, [=] { ln_plain_forward(x, nhat, rstd, rows, width); });
    }
    if (is("ln_plain_backward", 5)) {
        auto d = A.p(0), nhat = A.p(1), rstd = A.p(2);
        int rows = A.i32(3), width = A.i32(4);
        if (!A.ok) return fail();
        return shim::run(grid, block, [=] { ln_plain_backward(d, nhat, rstd, rows, width); });
    }
    if (is("sum_partials", 4)) {
        auto partial = A.p(0), out = A.p(1);
        int blocks = A.i32(2), n = A.i32(3);
        if (!A.ok) return fail();
        return shim::run(grid, block, [=] { sum_partials(partial, out, blocks, n); });
    }
    if (is("adam_tick", 4)) {
        auto state = A.p(0);
        float b1 = A.f32(1), b2 = A.f32(2);
        long long warmup = A.i64(3);
        if (!A.ok) return fail();
        return shim::run(grid, block, [=] { adam_tick(state, b1, b2, warmup); });
    }
    if (is("adam_step", 10)) {
        auto params = A.p(0), grads = A.p(1), m = A.p(2), v = A.p(3), state = A.p(4);
        long long n = A.i64(5);
        float lr = A.f32(6), b1 = A.f32(7), b2 = A.f32(8), eps = A.f32(9);
        if (!A.ok) return fail();
        return shim::run(grid, block, [=] { adam_step(params, grads, m, v, state, n, lr, b1, b2, eps); });
    }
    if (is("concat_rows", 6)) {
        auto out = A.p(0), a = A.p(1);
        int da = A.i32(2);
        auto b = A.p(3);
        int db = A.i32(4), rows = A.i32(5);
        if (!A.ok) return fail();
        return shim::run(grid, block, [=] { concat_rows(out, a, da, b, db, rows); });
    }
    if (is("add_bias", 4)) {
        auto y = A.p(0), bias = A.p(1);
        int rows = A.i32(2), n = A.i32(3);
        if (!A.ok) return fail();
        return shim::run(grid, block, [=] { add_bias(y, bias, rows, n); });
    }
    if (is("add", 4)) {
        auto out = A.p(0), x = A.p(1), y = A.p(2);
        long long n = A.i64(3);
        if (!A.ok) return fail();
        return shim::run(grid, block, [=] { add(out, x, y, n); });
    }
    if (is("actor_sample", 9)) {
        auto mean = A.p(0), raw = A.p(1), noise = A.p(2), t = A.p(3), sd = A.p(4), action = A.p(5), lp = A.p(6);
        int rows = A.i32(7), a_dim = A.i32(8);
        if (!A.ok) return fail();
        return shim::run(grid, block, [=] { actor_sample(mean, raw, noise, t, sd, action, lp, rows, a_dim); });
    }
    if (is("actor_sample_backward", 13)) {
        auto d_sa_in = A.p(0);
        int d_stride = A.i32(1), d_off = A.i32(2);
        auto log_alpha = A.p(3), action = A.p(4), sd = A.p(5), t = A.p(6), noise = A.p(7), d_mean = A.p(8), d_raw = A.p(9);
        int rows = A.i32(10), a_dim = A.i32(11), n = A.i32(12);
        if (!A.ok) return fail();
        return shim::run(grid, block, [=] {
            actor_sample_backward(d_sa_in, d_stride, d_off, log_alpha, action, sd, t, noise, d_mean, d_raw, rows, a_dim, n);
        });
    }
    if (is("q_and_grad", 7)) {
        auto phi = A.p(0), psi = A.p(1), q = A.p(2), d_phi = A.p(3);
        int rows = A.i32(4), dim = A.i32(5), n = A.i32(6);
        if (!A.ok) return fail();
        return shim::run(grid, block, [=] { q_and_grad(phi, psi, q, d_phi, rows, dim, n); });
    }
    if (is("actor_alpha", 8)) {
        auto lp = A.p(0), q = A.p(1), log_alpha = A.p(2);
        float target = A.f32(3);
        auto grad = A.p(4), stats = A.p(5);
        int rows = A.i32(6), n = A.i32(7);
        if (!A.ok) return fail();
        return shim::run(grid, block, [=] { actor_alpha(lp, q, log_alpha, target, grad, stats, rows, n); });
    }
    if (is("pair_dist", 6)) {
        auto phi = A.p(0), psi = A.p(1), dist = A.p(2);
        int rows = A.i32(3), n = A.i32(4), dim = A.i32(5);
        if (!A.ok) return fail();
        return shim::run(grid, block, [=] { pair_dist(phi, psi, dist, rows, n, dim); });
    }
    if (is("infonce_rows", 6)) {
        auto dist = A.p(0), coef = A.p(1), rs = A.p(2);
        int rows = A.i32(3), n = A.i32(4), offset = A.i32(5);
        if (!A.ok) return fail();
        return shim::run(grid, block, [=] { infonce_rows(dist, coef, rs, rows, n, offset); });
    }
    if (is("infonce_reduce", 4)) {
        auto rs = A.p(0), stats = A.p(1);
        int rows = A.i32(2), n = A.i32(3);
        if (!A.ok) return fail();
        return shim::run(grid, block, [=] { infonce_reduce(rs, stats, rows, n); });
    }
    if (is("pair_grads_phi", 7) || is("pair_grads_psi", 7)) {
        auto coef = A.p(0), phi = A.p(1), psi = A.p(2), out = A.p(3);
        int rows = A.i32(4), n = A.i32(5), dim = A.i32(6);
        if (!A.ok) return fail();
        const bool for_phi = std::strcmp(name, "pair_grads_phi") == 0;
        return shim::run(grid, block, [=] {
            if (for_phi) pair_grads_phi(coef, phi, psi, out, rows, n, dim);
            else pair_grads_psi(coef, phi, psi, out, rows, n, dim);
        });
    }
    if (!A.ok) return fail();
    error = "no such kernel in kernels/cpu/launch.cpp";
    return -4;
}
}
