//! Hand-written forward and backward of a residual trunk on contiguous buffers.
//!
//! Forward saves, per layer, n̂ (the normalised Linear output) and r (its inverse std) and the
//! layer's activation, which is the next layer's input; per block it saves the residual stream. That
//! is everything backward needs: no op-by-op graph, no per-step allocation once the tape has grown to
//! the batch size.
//!
//! Layers inside a block may be narrower than the stream (width-pruned models, see
//! [`crate::layout`]). Every per-layer buffer keeps a stride of `B × max_width` (the stream width), and
//! each layer reads and writes only the first `B × n` values of its slot, with `n` its own width. So
//! the uniform network runs exactly the code it ran before, and a narrow layer costs per-layer
//! slicing, never a per-element branch.
#![allow(clippy::too_many_arguments)] // kernel signatures name every buffer explicitly, like BLAS

use gemm::Parallelism;

use super::matmul::{dy_w, dyt_x, x_wt, x_wt_small, SMALL_BATCH};
use super::norm_act::{self, NormGrads};
use super::packed::PackedTrunk;
use crate::layout::{LayerSlot, LinearSlot, TrunkLayout};

/// Saved activations of one trunk forward, reused across steps.
#[derive(Default, Debug)]
pub struct TrunkTape {
    batch: usize,
    n_in: usize,
    /// The stream width W (the trunk's output width).
    width: usize,
    /// The stride of the per-layer buffers: the widest layer, W unless a layout was built by hand.
    stride: usize,
    layers: usize,
    input: Vec<f32>,
    /// `[layers, B, W]`: n̂ of each layer (layer i's first `B × n_out(i)` values).
    nhat: Vec<f32>,
    /// `[layers, B]`.
    rstd: Vec<f32>,
    /// `[layers, B, W]`: each layer's activation (as `nhat`).
    act: Vec<f32>,
    /// `[blocks + 1, B, W]`: the residual stream before block b (entry 0 = input layer output) and
    /// the trunk output (last entry).
    stream: Vec<f32>,
    /// Backward scratch, `[B, W]` each (a narrower layer uses the front).
    d_stream: Vec<f32>,
    d_branch: Vec<f32>,
    d_tmp: Vec<f32>,
    /// Per-thread partial sums of the norm and bias gradients.
    norm_scratch: Vec<f32>,
}

fn grow(v: &mut Vec<f32>, n: usize) {
    if v.len() != n {
        v.resize(n, 0.0);
    }
}

/// Threading for one trunk pass: gemm's own split plus a split of the row-wise passes.
#[derive(Clone, Copy, Debug)]
pub struct Threads {
    pub gemm: Parallelism,
    pub rows: bool,
}

impl Threads {
    pub const ONE: Threads = Threads { gemm: Parallelism::None, rows: false };

    pub fn new(n: usize) -> Threads {
        if n > 1 {
            Threads { gemm: Parallelism::Rayon(n), rows: true }
        } else {
            Threads::ONE
        }
    }
}

/// The span of `layer`'s slot in a flat buffer, as a pair of slices.
fn lin<'a>(p: &'a [f32], s: &LinearSlot) -> (&'a [f32], &'a [f32]) {
    (&p[s.w..s.w + s.n_in * s.n_out], &p[s.b..s.b + s.n_out])
}

impl TrunkTape {
    fn prepare(&mut self, layout: &TrunkLayout, batch: usize) {
        let (w, m, l) = (layout.width, layout.max_width(), layout.layers.len());
        self.batch = batch;
        self.n_in = layout.n_in;
        self.width = w;
        self.stride = m;
        self.layers = l;
        grow(&mut self.input, batch * layout.n_in);
        grow(&mut self.nhat, l * batch * m);
        grow(&mut self.rstd, l * batch);
        grow(&mut self.act, l * batch * m);
        grow(&mut self.stream, (layout.blocks() + 1) * batch * w);
        for v in [&mut self.d_stream, &mut self.d_branch, &mut self.d_tmp] {
            grow(v, batch * m);
        }
    }

    /// The trunk's output `[B, W]` from the last forward.
    pub fn output(&self) -> &[f32] {
        let bw = self.batch * self.width;
        &self.stream[self.stream.len() - bw..]
    }

    /// The residual stream `[B, W]` before each block, then the trunk's output, from the last
    /// forward: blocks + 1 slices.
    pub fn streams(&self) -> impl Iterator<Item = &[f32]> {
        self.stream.chunks_exact((self.batch * self.width).max(1))
    }

    /// Runs the trunk on `x [B, n_in]`, saving what backward needs; returns the output `[B, W]`.
    pub fn forward(&mut self, layout: &TrunkLayout, params: &[f32], x: &[f32], batch: usize, th: Threads) -> &[f32] {
        self.prepare(layout, batch);
        self.input.copy_from_slice(&x[..batch * layout.n_in]);
        let (bw, bs) = (batch * layout.width, batch * self.stride);
        for (i, slot) in layout.layers.iter().enumerate() {
            let (n_in, n_out) = (batch * slot.linear.n_in, batch * slot.linear.n_out);
            let (acts_before, acts_rest) = self.act.split_at_mut(i * bs);
            let inp: &[f32] = if i == 0 {
                &self.input
            } else if (i - 1) % 4 == 0 {
                let b = (i - 1) / 4;
                &self.stream[b * bw..(b + 1) * bw]
            } else {
                &acts_before[(i - 1) * bs..(i - 1) * bs + n_in]
            };
            let z = &mut self.nhat[i * bs..i * bs + n_out];
            layer_forward(
                slot,
                params,
                inp,
                z,
                &mut self.rstd[i * batch..(i + 1) * batch],
                &mut acts_rest[..n_out],
                batch,
                th,
            );
            if i == 0 {
                self.stream[..bw].copy_from_slice(&acts_rest[..bw]);
            } else if i % 4 == 0 {
                // Block output: stream[b + 1] = stream[b] + act[i].
                let b = (i - 1) / 4;
                let (before, after) = self.stream.split_at_mut((b + 1) * bw);
                let prev = &before[b * bw..];
                for ((o, p), a) in after[..bw].iter_mut().zip(prev).zip(&acts_rest[..bw]) {
                    *o = p + a;
                }
            }
        }
        self.output()
    }

    /// Backpropagates `d_out [B, W]` (the gradient of the trunk output). With `grads`, overwrites
    /// the gradient of every trunk parameter in that flat buffer; with `dx`, writes the gradient of
    /// the input `[B, n_in]`.
    pub fn backward(
        &mut self,
        layout: &TrunkLayout,
        params: &[f32],
        d_out: &[f32],
        mut grads: Option<&mut [f32]>,
        dx: Option<&mut [f32]>,
        th: Threads,
    ) {
        let (batch, w) = (self.batch, self.width);
        let bw = batch * w;
        self.d_stream[..bw].copy_from_slice(&d_out[..bw]);
        for blk in (0..layout.blocks()).rev() {
            self.d_branch[..bw].copy_from_slice(&self.d_stream[..bw]);
            for l in (0..4).rev() {
                let i = 1 + 4 * blk + l;
                let inp = if l == 0 { InputRef::Stream(blk) } else { InputRef::Act(i - 1) };
                self.layer_backward(&layout.layers[i], params, i, inp, grads.as_deref_mut(), th);
            }
            for (s, b) in self.d_stream[..bw].iter_mut().zip(&self.d_branch[..bw]) {
                *s += b;
            }
        }
        // Input layer: its activation is stream[0], whose gradient is d_stream.
        std::mem::swap(&mut self.d_branch, &mut self.d_stream);
        let slot = &layout.layers[0];
        let rows = batch;
        {
            let g = grads.as_deref_mut();
            norm_backward(
                slot,
                params,
                &mut self.d_branch[..bw],
                &self.nhat[..bw],
                &self.rstd[..rows],
                g,
                th,
                &mut self.norm_scratch,
            );
        }
        if let Some(g) = grads {
            dyt_x(
                batch,
                w,
                self.n_in,
                &self.d_branch[..bw],
                &self.input,
                &mut g[slot.linear.w..slot.linear.w + w * self.n_in],
                th.gemm,
            );
        }
        if let Some(dx) = dx {
            dy_w(batch, w, self.n_in, &self.d_branch[..bw], lin(params, &slot.linear).0, dx, th.gemm);
        }
    }

    /// One block layer backward: `d_branch` holds d(activation of layer i) in its first
    /// `B × n_out` values and leaves holding d(input of layer i) in its first `B × n_in`.
    fn layer_backward(
        &mut self,
        slot: &LayerSlot,
        params: &[f32],
        i: usize,
        inp: InputRef,
        grads: Option<&mut [f32]>,
        th: Threads,
    ) {
        let batch = self.batch;
        let (bw, bs) = (batch * self.width, batch * self.stride);
        let (k, n) = (slot.linear.n_in, slot.linear.n_out);
        let (bk, bn) = (batch * k, batch * n);
        let mut grads = grads;
        norm_backward(
            slot,
            params,
            &mut self.d_branch[..bn],
            &self.nhat[i * bs..i * bs + bn],
            &self.rstd[i * batch..(i + 1) * batch],
            grads.as_deref_mut(),
            th,
            &mut self.norm_scratch,
        );
        let inp = match inp {
            InputRef::Stream(b) => &self.stream[b * bw..(b + 1) * bw],
            InputRef::Act(j) => &self.act[j * bs..j * bs + bk],
        };
        let d = &self.d_branch[..bn];
        if let Some(g) = grads {
            dyt_x(batch, n, k, d, inp, &mut g[slot.linear.w..slot.linear.w + n * k], th.gemm);
        }
        dy_w(batch, n, k, d, lin(params, &slot.linear).0, &mut self.d_tmp[..bk], th.gemm);
        std::mem::swap(&mut self.d_branch, &mut self.d_tmp);
    }
}

/// Which saved buffer a layer read as input (kept as an index so backward can borrow the tape).
enum InputRef {
    Stream(usize),
    Act(usize),
}

fn norm_backward(
    slot: &LayerSlot,
    params: &[f32],
    d: &mut [f32],
    nhat: &[f32],
    rstd: &[f32],
    grads: Option<&mut [f32]>,
    th: Threads,
    scratch: &mut Vec<f32>,
) {
    let w = slot.norm.dim;
    let gamma = &params[slot.norm.g..slot.norm.g + w];
    let beta = &params[slot.norm.b..slot.norm.b + w];
    let ng = grads.map(|g| split3(g, slot));
    norm_act::backward(d, nhat, rstd, gamma, beta, w, ng, th.rows, scratch);
}

/// Disjoint mutable views of a layer's γ, β and Linear-bias gradients in the flat buffer. The
/// layout stores them back to back (`linear.bias`, `norm.weight`, `norm.bias`).
fn split3<'a>(g: &'a mut [f32], slot: &LayerSlot) -> NormGrads<'a> {
    let w = slot.norm.dim;
    assert!(
        slot.norm.g == slot.linear.b + w && slot.norm.b == slot.norm.g + w,
        "layout invariant: a layer's bias, norm scale and norm bias are contiguous"
    );
    let (bias, rest) = g[slot.linear.b..slot.linear.b + 3 * w].split_at_mut(w);
    let (gamma, beta) = rest.split_at_mut(w);
    NormGrads { gamma, beta, bias }
}

/// Linear (no bias) then fused bias + LayerNorm + SiLU; `z` receives n̂.
fn layer_forward(
    slot: &LayerSlot,
    params: &[f32],
    inp: &[f32],
    z: &mut [f32],
    rstd: &mut [f32],
    act: &mut [f32],
    batch: usize,
    th: Threads,
) {
    linear_no_bias(slot, params, inp, z, batch, th);
    norm_act_forward(slot, params, z, rstd, act, th);
}

fn linear_no_bias(slot: &LayerSlot, params: &[f32], inp: &[f32], z: &mut [f32], batch: usize, th: Threads) {
    let (n_in, n_out) = (slot.linear.n_in, slot.linear.n_out);
    let w = lin(params, &slot.linear).0;
    if batch <= SMALL_BATCH {
        x_wt_small(batch, n_out, n_in, inp, w, z);
    } else {
        x_wt(batch, n_out, n_in, inp, w, z, th.gemm);
    }
}

fn norm_act_forward(slot: &LayerSlot, params: &[f32], z: &mut [f32], rstd: &mut [f32], act: &mut [f32], th: Threads) {
    let n = slot.linear.n_out;
    let bias = lin(params, &slot.linear).1;
    let gamma = &params[slot.norm.g..slot.norm.g + n];
    let beta = &params[slot.norm.b..slot.norm.b + n];
    norm_act::forward(z, bias, gamma, beta, rstd, act, n, th.rows);
}

/// Where [`forward_no_tape`] reads the Linear weights of small batches: the f32 parameters, or a
/// copy packed for the batch-1 product ([`PackedTrunk`], f32 or half precision).
#[derive(Clone, Copy, Debug)]
pub enum LinearWeights<'a> {
    Params,
    Packed(&'a PackedTrunk),
}

impl LinearWeights<'_> {
    /// `z = inp · Wᵀ` for trunk layer `layer`. Packed weights serve a few rows; larger batches use
    /// the f32 parameters through gemm, which an owner of half-precision weights must hold rounded
    /// to the same values (as [`crate::infer::ActorInfer`] does), so every batch size sees the same
    /// weights.
    #[allow(clippy::too_many_arguments)]
    fn linear(
        self,
        layer: usize,
        slot: &LayerSlot,
        params: &[f32],
        inp: &[f32],
        z: &mut [f32],
        batch: usize,
        th: Threads,
    ) {
        match self {
            LinearWeights::Packed(p) if batch <= SMALL_BATCH => p.x_wt(layer, batch, inp, z),
            _ => linear_no_bias(slot, params, inp, z, batch, th),
        }
    }
}

/// Scratch buffers for [`forward_no_tape`], grown to the largest batch seen.
#[derive(Clone, Default, Debug)]
pub struct InferScratch {
    z: Vec<f32>,
    a: Vec<f32>,
    rstd: Vec<f32>,
}

/// Forward of a trunk without saving anything (inference): writes the output `[B, W]` to `out`.
/// The scratch is sized by the widest layer; each layer uses the front `B × n_out` of it.
pub fn forward_no_tape(
    layout: &TrunkLayout,
    params: &[f32],
    weights: LinearWeights,
    x: &[f32],
    batch: usize,
    out: &mut [f32],
    s: &mut InferScratch,
    th: Threads,
) {
    let bw = batch * layout.width;
    let bm = batch * layout.max_width();
    grow(&mut s.z, bm);
    grow(&mut s.a, bm);
    grow(&mut s.rstd, batch);
    let out = &mut out[..bw];
    let slot0 = &layout.layers[0];
    weights.linear(0, slot0, params, x, &mut s.z[..bw], batch, th);
    norm_act_forward(slot0, params, &mut s.z[..bw], &mut s.rstd, out, th);
    for blk in 0..layout.blocks() {
        for l in 0..4 {
            let layer = 1 + 4 * blk + l;
            let slot = &layout.layers[layer];
            let bn = batch * slot.linear.n_out;
            // Layers 1..3 read layer l−1's activation, which is the front of `a` (its width is
            // this layer's n_in); `a` is rewritten only after `z` is complete.
            let inp: &[f32] = if l == 0 { out } else { &s.a };
            weights.linear(layer, slot, params, inp, &mut s.z[..bn], batch, th);
            norm_act_forward(slot, params, &mut s.z[..bn], &mut s.rstd, &mut s.a[..bn], th);
        }
        for (o, v) in out.iter_mut().zip(&s.a[..bw]) {
            *o += v;
        }
    }
}
