//! Every kernel and product of the GPU update step as a typed call on any [`Device`]: the launch
//! geometry comes from [`crate::geometry`], and every range a kernel reads or writes is checked
//! against its buffer before the launch (on the CPU device and the CUDA device alike, so a wrong
//! size fails on the first call, not as a corrupted result or an illegal address on a GPU).

use crate::device::{check_range, Arg, Device, Gemm, Ptr};
use crate::geometry::{self, Launch, ELEMENTWISE_BLOCK};
use crate::{KernelError, Result};

/// A launch being assembled: each pointer is checked as it is added.
struct Call<'d> {
    dev: &'d mut dyn Device,
    kernel: &'static str,
    args: Vec<Arg>,
}

impl<'d> Call<'d> {
    fn new(dev: &'d mut dyn Device, kernel: &'static str) -> Self {
        Call { dev, kernel, args: Vec::with_capacity(12) }
    }

    /// A buffer argument touching `n` values from `p`.
    fn buf(mut self, what: &str, p: Ptr, n: usize) -> Result<Self> {
        check_range(&*self.dev, what, self.kernel, p, n)?;
        self.args.push(Arg::Ptr(p));
        Ok(self)
    }

    fn opt(self, what: &str, p: Option<Ptr>, n: usize) -> Result<Self> {
        match p {
            Some(p) => self.buf(what, p, n),
            None => {
                let mut s = self;
                s.args.push(Arg::Null);
                Ok(s)
            }
        }
    }

    fn int(mut self, what: &str, v: usize) -> Result<Self> {
        let v = i32::try_from(v).map_err(|_| KernelError::Shape {
            kernel: self.kernel,
            msg: format!("{what} = {v} does not fit a C int"),
        })?;
        self.args.push(Arg::I32(v));
        Ok(self)
    }

    fn long(mut self, v: usize) -> Self {
        self.args.push(Arg::I64(v as i64));
        self
    }

    fn float(mut self, v: f32) -> Self {
        self.args.push(Arg::F32(v));
        self
    }

    fn run(self, launch: Launch) -> Result<()> {
        self.dev.launch(self.kernel, launch, &self.args)
    }
}

/// One block for the single-block reductions.
const ONE_BLOCK: Launch = Launch { grid: 1, block: ELEMENTWISE_BLOCK as u32 };

/// Fused bias + LayerNorm + SiLU forward: `z [rows, width]` becomes n̂; writes `rstd` and `act`.
#[allow(clippy::too_many_arguments)] // the kernel's own argument list
pub fn ln_forward(
    dev: &mut dyn Device,
    z: Ptr,
    bias: Ptr,
    gamma: Ptr,
    beta: Ptr,
    rstd: Ptr,
    act: Ptr,
    rows: usize,
    width: usize,
) -> Result<()> {
    let launch = geometry::ln_forward(rows, width)?;
    let n = rows * width;
    Call::new(dev, "ln_silu_forward")
        .buf("z", z, n)?
        .buf("bias", bias, width)?
        .buf("gamma", gamma, width)?
        .buf("beta", beta, width)?
        .buf("rstd", rstd, rows)?
        .buf("act", act, n)?
        .int("rows", rows)?
        .int("width", width)?
        .run(launch)
}

/// Its backward: `d` holds ∂L/∂a and becomes ∂L/∂z. With `grads = Some((partial, out))`, the
/// (bias, γ, β) gradients summed over rows are written to `out [3·width]` through `partial`
/// (see [`ln_partial_len`]).
#[allow(clippy::too_many_arguments)] // the kernel's own argument list
pub fn ln_backward(
    dev: &mut dyn Device,
    d: Ptr,
    nhat: Ptr,
    rstd: Ptr,
    gamma: Ptr,
    beta: Ptr,
    grads: Option<(Ptr, Ptr)>,
    rows: usize,
    width: usize,
) -> Result<()> {
    let launch = geometry::ln_backward(rows, width)?;
    let n = rows * width;
    let blocks = launch.grid as usize;
    Call::new(dev, "ln_silu_backward")
        .buf("d", d, n)?
        .buf("nhat", nhat, n)?
        .buf("rstd", rstd, rows)?
        .buf("gamma", gamma, width)?
        .buf("beta", beta, width)?
        .opt("partial", grads.map(|g| g.0), blocks * 3 * width)?
        .int("rows", rows)?
        .int("width", width)?
        .int("rows_per_block", geometry::BACKWARD_ROWS_PER_BLOCK)?
        .run(launch)?;
    if let Some((partial, out)) = grads {
        sum_partials(dev, partial, out, blocks, 3 * width)?;
    }
    Ok(())
}

/// LayerNorm without parameters (the norm before the actor's heads): n̂ of each row of `x`
/// `[rows, width]` into `nhat`, r into `rstd`.
pub fn ln_plain_forward(dev: &mut dyn Device, x: Ptr, nhat: Ptr, rstd: Ptr, rows: usize, width: usize) -> Result<()> {
    let launch = geometry::per_row("ln_plain_forward", rows, width)?;
    Call::new(dev, "ln_plain_forward")
        .buf("x", x, rows * width)?
        .buf("nhat", nhat, rows * width)?
        .buf("rstd", rstd, rows)?
        .int("rows", rows)?
        .int("width", width)?
        .run(launch)
}

/// Its backward: `d` holds ∂L/∂n̂ and becomes ∂L/∂x.
pub fn ln_plain_backward(dev: &mut dyn Device, d: Ptr, nhat: Ptr, rstd: Ptr, rows: usize, width: usize) -> Result<()> {
    let launch = geometry::per_row("ln_plain_backward", rows, width)?;
    Call::new(dev, "ln_plain_backward")
        .buf("d", d, rows * width)?
        .buf("nhat", nhat, rows * width)?
        .buf("rstd", rstd, rows)?
        .int("rows", rows)?
        .int("width", width)?
        .run(launch)
}

/// Values of scratch [`ln_backward`] needs for its partial sums.
pub fn ln_partial_len(rows: usize, width: usize) -> usize {
    rows.div_ceil(geometry::BACKWARD_ROWS_PER_BLOCK) * 3 * width
}

/// `out[i] = Σ_b partial[b·n + i]`; with `blocks = rows`, the column sums of a `[rows, n]` matrix.
pub fn sum_partials(dev: &mut dyn Device, partial: Ptr, out: Ptr, blocks: usize, n: usize) -> Result<()> {
    let launch = geometry::elementwise("sum_partials", n)?;
    Call::new(dev, "sum_partials")
        .buf("partial", partial, blocks * n)?
        .buf("out", out, n)?
        .int("blocks", blocks)?
        .int("n", n)?
        .run(launch)
}

/// Advances Adam's device-side `[t, w(t)/(1−β1ᵗ), 1/(1−β2ᵗ)]`, w(t) = min(1, t/warmup_steps) the
/// learning-rate warm-up (1 when `warmup_steps` is 0).
pub fn adam_tick(dev: &mut dyn Device, state: Ptr, beta1: f32, beta2: f32, warmup_steps: u64) -> Result<()> {
    Call::new(dev, "adam_tick")
        .buf("state", state, 3)?
        .float(beta1)
        .float(beta2)
        .long(warmup_steps as usize)
        .run(Launch { grid: 1, block: 1 })
}

/// One Adam step over `n` values with the corrections in `state`.
#[allow(clippy::too_many_arguments)] // the kernel's own argument list
pub fn adam_step(
    dev: &mut dyn Device,
    params: Ptr,
    grads: Ptr,
    m: Ptr,
    v: Ptr,
    state: Ptr,
    n: usize,
    hyper: [f32; 4],
) -> Result<()> {
    let [lr, beta1, beta2, eps] = hyper;
    let launch = geometry::elementwise("adam_step", n)?;
    Call::new(dev, "adam_step")
        .buf("params", params, n)?
        .buf("grads", grads, n)?
        .buf("m", m, n)?
        .buf("v", v, n)?
        .buf("state", state, 3)?
        .long(n)
        .float(lr)
        .float(beta1)
        .float(beta2)
        .float(eps)
        .run(launch)
}

/// `out[r] = a[r] ⊕ b[r]` for `rows` rows of `da` and `db` values.
pub fn concat_rows(dev: &mut dyn Device, out: Ptr, a: Ptr, da: usize, b: Ptr, db: usize, rows: usize) -> Result<()> {
    let launch = geometry::elementwise("concat_rows", rows * (da + db))?;
    Call::new(dev, "concat_rows")
        .buf("out", out, rows * (da + db))?
        .buf("a", a, rows * da)?
        .int("da", da)?
        .buf("b", b, rows * db)?
        .int("db", db)?
        .int("rows", rows)?
        .run(launch)
}

/// `y[r, j] += bias[j]`.
pub fn add_bias(dev: &mut dyn Device, y: Ptr, bias: Ptr, rows: usize, n: usize) -> Result<()> {
    let launch = geometry::elementwise("add_bias", rows * n)?;
    Call::new(dev, "add_bias").buf("y", y, rows * n)?.buf("bias", bias, n)?.int("rows", rows)?.int("n", n)?.run(launch)
}

/// `out = x + y` over `n` values (`out` may be `x` or `y`).
pub fn add(dev: &mut dyn Device, out: Ptr, x: Ptr, y: Ptr, n: usize) -> Result<()> {
    let launch = geometry::elementwise("add", n)?;
    Call::new(dev, "add").buf("out", out, n)?.buf("x", x, n)?.buf("y", y, n)?.long(n).run(launch)
}

/// The actor's head outputs, all `[rows, a_dim]` (`log_prob` is `[rows]`).
#[derive(Clone, Copy, Debug)]
pub struct ActorHead {
    pub mean: Ptr,
    pub raw: Ptr,
    pub noise: Ptr,
    pub t: Ptr,
    pub std: Ptr,
    pub action: Ptr,
    pub log_prob: Ptr,
}

/// tanh(raw), std, the sampled action and log π per row.
pub fn actor_sample(dev: &mut dyn Device, h: &ActorHead, rows: usize, a_dim: usize) -> Result<()> {
    let n = rows * a_dim;
    let launch = geometry::elementwise("actor_sample", rows)?;
    Call::new(dev, "actor_sample")
        .buf("mean", h.mean, n)?
        .buf("raw", h.raw, n)?
        .buf("noise", h.noise, n)?
        .buf("t", h.t, n)?
        .buf("std", h.std, n)?
        .buf("action", h.action, n)?
        .buf("log_prob", h.log_prob, rows)?
        .int("rows", rows)?
        .int("a_dim", a_dim)?
        .run(launch)
}

/// d(mean) and d(raw) from φ's input gradient `d_sa_in [rows, d_stride]` (the action at column
/// `d_off`) and d(log π) = exp(*log_alpha)/batch, where `batch` is the rows the loss averages over
/// (`rows`, or every data-parallel rank's).
#[allow(clippy::too_many_arguments)] // the kernel's own argument list
pub fn actor_sample_backward(
    dev: &mut dyn Device,
    h: &ActorHead,
    d_sa_in: Ptr,
    d_stride: usize,
    d_off: usize,
    log_alpha: Ptr,
    d_mean: Ptr,
    d_raw: Ptr,
    rows: usize,
    a_dim: usize,
    batch: usize,
) -> Result<()> {
    let n = rows * a_dim;
    let launch = geometry::elementwise("actor_sample_backward", n)?;
    Call::new(dev, "actor_sample_backward")
        .buf("d_sa_in", d_sa_in, rows * d_stride)?
        .int("d_stride", d_stride)?
        .int("d_off", d_off)?
        .buf("log_alpha", log_alpha, 1)?
        .buf("action", h.action, n)?
        .buf("std", h.std, n)?
        .buf("t", h.t, n)?
        .buf("noise", h.noise, n)?
        .buf("d_mean", d_mean, n)?
        .buf("d_raw", d_raw, n)?
        .int("rows", rows)?
        .int("a_dim", a_dim)?
        .int("batch", batch)?
        .run(launch)
}

/// Q = −‖φ − ψ‖ per row and d(mean(−Q))/dφ, the mean over `batch` rows.
#[allow(clippy::too_many_arguments)] // the kernel's own argument list
pub fn q_and_grad(
    dev: &mut dyn Device,
    phi: Ptr,
    psi: Ptr,
    q: Ptr,
    d_phi: Ptr,
    rows: usize,
    dim: usize,
    batch: usize,
) -> Result<()> {
    let launch = geometry::elementwise("q_and_grad", rows)?;
    Call::new(dev, "q_and_grad")
        .buf("phi", phi, rows * dim)?
        .buf("psi", psi, rows * dim)?
        .buf("q", q, rows)?
        .buf("d_phi", d_phi, rows * dim)?
        .int("rows", rows)?
        .int("dim", dim)?
        .int("batch", batch)?
        .run(launch)
}

/// The means of log π and Q over `batch` rows (a data-parallel rank passes the whole batch and
/// its share of the target), α and α's gradient (into `*grad_log_alpha` and `stats[4..8)`).
#[allow(clippy::too_many_arguments)] // the kernel's own argument list
pub fn actor_alpha(
    dev: &mut dyn Device,
    log_prob: Ptr,
    q: Ptr,
    log_alpha: Ptr,
    target_entropy: f32,
    grad_log_alpha: Ptr,
    stats: Ptr,
    rows: usize,
    batch: usize,
) -> Result<()> {
    Call::new(dev, "actor_alpha")
        .buf("log_prob", log_prob, rows)?
        .buf("q", q, rows)?
        .buf("log_alpha", log_alpha, 1)?
        .float(target_entropy)
        .buf("grad_log_alpha", grad_log_alpha, 1)?
        .buf("stats", stats, STATS_LEN)?
        .int("rows", rows)?
        .int("batch", batch)?
        .run(ONE_BLOCK)
}

/// Values of the step's statistics buffer: critic loss, accuracy, mean positive and negative
/// logits, mean log π, mean Q, α, α's gradient.
pub const STATS_LEN: usize = 8;

/// The critic loss's buffers: `dist` and `coef` are `[rows, n]`, `row_stats` `[rows, 5]`.
#[derive(Clone, Copy, Debug)]
pub struct InfoNce {
    pub dist: Ptr,
    pub coef: Ptr,
    pub row_stats: Ptr,
}

/// Which rows of the whole batch's `[n, n]` logit matrix a loss call computes: `rows` rows of φ from
/// the batch's row `offset`, against all `n` rows of ψ, so the positives sit on the block's shifted
/// diagonal and every mean is over `n`. One process owns them all ([`Rows::square`]); in
/// data-parallel training each rank owns its own batch's rows. The fused CPU loss
/// (`models::fast::heads`) takes the same blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rows {
    pub rows: usize,
    pub offset: usize,
    pub n: usize,
}

impl Rows {
    /// The whole `[batch, batch]` matrix.
    pub fn square(batch: usize) -> Self {
        Rows { rows: batch, offset: 0, n: batch }
    }
}

/// InfoNCE + 0.1·logsumexp² on φ, ψ `[b, dim]`: writes `d_phi`, `d_psi` and `stats[0..4)`.
#[allow(clippy::too_many_arguments)] // the loss's inputs, outputs and scratch
pub fn infonce(
    dev: &mut dyn Device,
    s: &InfoNce,
    phi: Ptr,
    psi: Ptr,
    d_phi: Ptr,
    d_psi: Ptr,
    stats: Ptr,
    b: usize,
    dim: usize,
) -> Result<()> {
    infonce_rows(dev, s, phi, psi, d_phi, d_psi, stats, Rows::square(b), dim)
}

/// The block `r` of the loss: φ `[rows, dim]`, ψ `[n, dim]`; writes dL/dφ for the block's rows,
/// the block's share of dL/dψ `[n, dim]` and of `stats[0..4)` (the blocks of a batch sum to the
/// whole batch's).
#[allow(clippy::too_many_arguments)] // the loss's inputs, outputs and scratch
pub fn infonce_rows(
    dev: &mut dyn Device,
    s: &InfoNce,
    phi: Ptr,
    psi: Ptr,
    d_phi: Ptr,
    d_psi: Ptr,
    stats: Ptr,
    r: Rows,
    dim: usize,
) -> Result<()> {
    if r.rows == 0 || r.offset + r.rows > r.n {
        return Err(KernelError::Shape {
            kernel: "infonce_rows",
            msg: format!("rows {}..{} are not inside a batch of {}", r.offset, r.offset + r.rows, r.n),
        });
    }
    let (cells, rd, nd) = (r.rows * r.n, r.rows * dim, r.n * dim);
    Call::new(dev, "pair_dist")
        .buf("phi", phi, rd)?
        .buf("psi", psi, nd)?
        .buf("dist", s.dist, cells)?
        .int("rows", r.rows)?
        .int("n", r.n)?
        .int("dim", dim)?
        .run(geometry::elementwise("pair_dist", cells)?)?;
    Call::new(dev, "infonce_rows")
        .buf("dist", s.dist, cells)?
        .buf("coef", s.coef, cells)?
        .buf("row_stats", s.row_stats, 5 * r.rows)?
        .int("rows", r.rows)?
        .int("n", r.n)?
        .int("offset", r.offset)?
        .run(geometry::per_row("infonce_rows", r.rows, r.n)?)?;
    Call::new(dev, "infonce_reduce")
        .buf("row_stats", s.row_stats, 5 * r.rows)?
        .buf("stats", stats, STATS_LEN)?
        .int("rows", r.rows)?
        .int("n", r.n)?
        .run(ONE_BLOCK)?;
    for (kernel, out, len) in [("pair_grads_phi", d_phi, rd), ("pair_grads_psi", d_psi, nd)] {
        Call::new(dev, kernel)
            .buf("coef", s.coef, cells)?
            .buf("phi", phi, rd)?
            .buf("psi", psi, nd)?
            .buf("out", out, len)?
            .int("rows", r.rows)?
            .int("n", r.n)?
            .int("dim", dim)?
            .run(geometry::elementwise(kernel, len)?)?;
    }
    Ok(())
}

/// Checks a product's operands against their buffers, and that C overlaps neither input.
fn gemm_checked(dev: &mut dyn Device, g: Gemm) -> Result<()> {
    const K: &str = "gemm";
    let (sa, sb, sc) = g.spans();
    check_range(&*dev, "A", K, g.a, sa)?;
    check_range(&*dev, "B", K, g.b, sb)?;
    check_range(&*dev, "C", K, g.c, sc)?;
    let overlaps = |p: Ptr, n: usize| p.buf == g.c.buf && p.off < g.c.off + sc && g.c.off < p.off + n;
    if overlaps(g.a, sa) || overlaps(g.b, sb) {
        return Err(KernelError::Shape { kernel: K, msg: "the output overlaps an input".into() });
    }
    dev.gemm(&g)
}

/// `y[batch, n_out] = x[batch, n_in] · w[n_out, n_in]ᵀ` (a Linear without its bias).
pub fn linear_forward(
    dev: &mut dyn Device,
    x: Ptr,
    w: Ptr,
    y: Ptr,
    batch: usize,
    n_out: usize,
    n_in: usize,
) -> Result<()> {
    gemm_checked(
        dev,
        Gemm {
            m: batch,
            n: n_out,
            k: n_in,
            a: x,
            lda: n_in,
            trans_a: false,
            b: w,
            ldb: n_in,
            trans_b: true,
            c: y,
            ldc: n_out,
            alpha: 1.0,
            beta: 0.0,
        },
    )
}

/// `dw[n_out, n_in] = dyᵀ · x` (overwritten).
pub fn linear_weight_grad(
    dev: &mut dyn Device,
    dy: Ptr,
    x: Ptr,
    dw: Ptr,
    batch: usize,
    n_out: usize,
    n_in: usize,
) -> Result<()> {
    gemm_checked(
        dev,
        Gemm {
            m: n_out,
            n: n_in,
            k: batch,
            a: dy,
            lda: n_out,
            trans_a: true,
            b: x,
            ldb: n_in,
            trans_b: false,
            c: dw,
            ldc: n_in,
            alpha: 1.0,
            beta: 0.0,
        },
    )
}

/// `dx[batch, n_in] = dy · w`.
pub fn linear_input_grad(
    dev: &mut dyn Device,
    dy: Ptr,
    w: Ptr,
    dx: Ptr,
    batch: usize,
    n_out: usize,
    n_in: usize,
) -> Result<()> {
    gemm_checked(
        dev,
        Gemm {
            m: batch,
            n: n_in,
            k: n_out,
            a: dy,
            lda: n_out,
            trans_a: false,
            b: w,
            ldb: n_in,
            trans_b: false,
            c: dx,
            ldc: n_in,
            alpha: 1.0,
            beta: 0.0,
        },
    )
}
