//! A residual trunk's forward and backward on a [`Device`], the device twin of
//! [`crate::fast::TrunkTape`]: the same saved tensors (per layer n̂, r and the activation; per block
//! the residual stream), the same order of operations, the same buffer strides (`B × max_width`
//! per layer, so width-pruned layers use the front of their slot). Every buffer is allocated once,
//! for one batch size, so the calls can be captured into a graph and replayed.

use kernels::device::{Buf, Device, Ptr};
use kernels::ops;

use crate::error::Result;
use crate::layout::{LayerSlot, LinearSlot, TrunkLayout};

/// Saved activations and backward scratch of one trunk at a fixed batch size.
pub struct DeviceTrunk {
    batch: usize,
    n_in: usize,
    width: usize,
    /// Per-layer stride: `batch × max_width`.
    stride: usize,
    /// The trunk's input, as given to the last forward (it must stay valid until backward).
    input: Option<Ptr>,
    nhat: Buf,
    rstd: Buf,
    act: Buf,
    /// `[blocks + 1, B, W]`: the stream before each block, and the output last.
    stream: Buf,
    d_stream: Buf,
    /// Two `[B, max_width]` buffers that trade places layer by layer (the gradient flowing back and
    /// the next one being written).
    d_a: Buf,
    d_b: Buf,
    /// The norm backward's per-block partial sums.
    partial: Buf,
}

/// The weight and bias of a Linear slot in a parameter (or gradient) buffer.
pub(super) fn weight(buf: Buf, s: &LinearSlot) -> Ptr {
    buf.at(s.w)
}

fn bias(buf: Buf, s: &LinearSlot) -> Ptr {
    buf.at(s.b)
}

impl DeviceTrunk {
    pub fn new(dev: &mut dyn Device, layout: &TrunkLayout, batch: usize) -> Result<Self> {
        let (w, m, l) = (layout.width, layout.max_width(), layout.layers.len());
        let stride = batch * m;
        Ok(DeviceTrunk {
            batch,
            n_in: layout.n_in,
            width: w,
            stride,
            input: None,
            nhat: dev.alloc(l * stride)?,
            rstd: dev.alloc(l * batch)?,
            act: dev.alloc(l * stride)?,
            stream: dev.alloc((layout.blocks() + 1) * batch * w)?,
            d_stream: dev.alloc(batch * w)?,
            d_a: dev.alloc(stride)?,
            d_b: dev.alloc(stride)?,
            partial: dev.alloc(ops::ln_partial_len(batch, m))?,
        })
    }

    /// The output `[B, W]` of the last forward.
    pub fn output(&self, layout: &TrunkLayout) -> Ptr {
        self.stream.at(layout.blocks() * self.batch * self.width)
    }

    fn nhat(&self, i: usize) -> Ptr {
        self.nhat.at(i * self.stride)
    }

    fn act(&self, i: usize) -> Ptr {
        self.act.at(i * self.stride)
    }

    fn stream_at(&self, b: usize) -> Ptr {
        self.stream.at(b * self.batch * self.width)
    }

    fn rstd(&self, i: usize) -> Ptr {
        self.rstd.at(i * self.batch)
    }

    /// Runs the trunk on `x [B, n_in]` with the parameters in `params`; returns the output.
    pub fn forward(&mut self, dev: &mut dyn Device, layout: &TrunkLayout, params: Buf, x: Ptr) -> Result<Ptr> {
        let (b, bw) = (self.batch, self.batch * self.width);
        self.input = Some(x);
        for (i, slot) in layout.layers.iter().enumerate() {
            let inp = if i == 0 {
                x
            } else if (i - 1) % 4 == 0 {
                self.stream_at((i - 1) / 4)
            } else {
                self.act(i - 1)
            };
            let (lin, n) = (&slot.linear, slot.linear.n_out);
            ops::linear_forward(dev, inp, weight(params, lin), self.nhat(i), b, n, lin.n_in)?;
            let (gamma, beta) = (params.at(slot.norm.g), params.at(slot.norm.b));
            ops::ln_forward(dev, self.nhat(i), bias(params, lin), gamma, beta, self.rstd(i), self.act(i), b, n)?;
            if i == 0 {
                dev.copy(self.act(0), self.stream_at(0), bw)?;
            } else if i % 4 == 0 {
                let blk = (i - 1) / 4;
                ops::add(dev, self.stream_at(blk + 1), self.stream_at(blk), self.act(i), bw)?;
            }
        }
        Ok(self.output(layout))
    }

    /// Backpropagates `d_out [B, W]`. With `grads`, overwrites the gradient of every trunk
    /// parameter in that buffer (same offsets as the parameters); with `dx`, writes the input's
    /// gradient `[B, n_in]`.
    pub fn backward(
        &mut self,
        dev: &mut dyn Device,
        layout: &TrunkLayout,
        params: Buf,
        d_out: Ptr,
        grads: Option<Buf>,
        dx: Option<Ptr>,
    ) -> Result<()> {
        let (b, bw) = (self.batch, self.batch * self.width);
        let input =
            self.input.ok_or_else(|| crate::error::ModelError::Shape("trunk backward before forward".into()))?;
        dev.copy(d_out, self.d_stream.into(), bw)?;
        // `cur` holds d(activation) of the layer being processed; `next` receives d(its input).
        let (mut cur, mut next) = (self.d_a, self.d_b);
        for blk in (0..layout.blocks()).rev() {
            dev.copy(self.d_stream.into(), cur.into(), bw)?;
            for l in (0..4).rev() {
                let i = 1 + 4 * blk + l;
                let inp = if l == 0 { self.stream_at(blk) } else { self.act(i - 1) };
                self.layer_backward(dev, &layout.layers[i], params, i, inp, cur.into(), grads, next.into())?;
                std::mem::swap(&mut cur, &mut next);
            }
            ops::add(dev, self.d_stream.into(), self.d_stream.into(), cur.into(), bw)?;
        }
        // The input layer: its activation is stream[0], whose gradient is d_stream.
        let slot = &layout.layers[0];
        self.norm_backward(dev, slot, params, 0, self.d_stream.into(), grads)?;
        let d = self.d_stream.into();
        if let Some(g) = grads {
            ops::linear_weight_grad(dev, d, input, weight(g, &slot.linear), b, self.width, self.n_in)?;
        }
        if let Some(dx) = dx {
            ops::linear_input_grad(dev, d, weight(params, &slot.linear), dx, b, self.width, self.n_in)?;
        }
        Ok(())
    }

    /// Layer `i` backward: `d` holds d(activation) and becomes d(z) in place; then the weight
    /// gradient and d(input) into `d_in`.
    #[allow(clippy::too_many_arguments)] // the layer's buffers, named
    fn layer_backward(
        &self,
        dev: &mut dyn Device,
        slot: &LayerSlot,
        params: Buf,
        i: usize,
        inp: Ptr,
        d: Ptr,
        grads: Option<Buf>,
        d_in: Ptr,
    ) -> Result<()> {
        let (k, n) = (slot.linear.n_in, slot.linear.n_out);
        self.norm_backward(dev, slot, params, i, d, grads)?;
        if let Some(g) = grads {
            ops::linear_weight_grad(dev, d, inp, weight(g, &slot.linear), self.batch, n, k)?;
        }
        ops::linear_input_grad(dev, d, weight(params, &slot.linear), d_in, self.batch, n, k)?;
        Ok(())
    }

    fn norm_backward(
        &self,
        dev: &mut dyn Device,
        slot: &LayerSlot,
        params: Buf,
        i: usize,
        d: Ptr,
        grads: Option<Buf>,
    ) -> Result<()> {
        let n = slot.norm.dim;
        // The layout keeps a layer's Linear bias, norm scale and norm bias back to back, the order
        // the kernel writes its three sums in.
        debug_assert!(slot.norm.g == slot.linear.b + n && slot.norm.b == slot.norm.g + n);
        let sums = grads.map(|g| (self.partial.into(), g.at(slot.linear.b)));
        ops::ln_backward(
            dev,
            d,
            self.nhat(i),
            self.rstd(i),
            params.at(slot.norm.g),
            params.at(slot.norm.b),
            sums,
            self.batch,
            n,
        )?;
        Ok(())
    }
}

/// `y = x Wᵀ + b` for a head.
pub(super) fn head_forward(
    dev: &mut dyn Device,
    s: &LinearSlot,
    params: Buf,
    x: Ptr,
    y: Ptr,
    batch: usize,
) -> Result<()> {
    ops::linear_forward(dev, x, weight(params, s), y, batch, s.n_out, s.n_in)?;
    ops::add_bias(dev, y, bias(params, s), batch, s.n_out)?;
    Ok(())
}

/// A head's weight and bias gradients (overwritten in `grads`).
pub(super) fn head_param_grads(
    dev: &mut dyn Device,
    s: &LinearSlot,
    x: Ptr,
    dy: Ptr,
    batch: usize,
    grads: Buf,
) -> Result<()> {
    ops::linear_weight_grad(dev, dy, x, weight(grads, s), batch, s.n_out, s.n_in)?;
    ops::sum_partials(dev, dy, bias(grads, s), batch, s.n_out)?;
    Ok(())
}

/// `dx = dy W` for a head.
pub(super) fn head_input_grad(
    dev: &mut dyn Device,
    s: &LinearSlot,
    params: Buf,
    dy: Ptr,
    dx: Ptr,
    batch: usize,
) -> Result<()> {
    ops::linear_input_grad(dev, dy, weight(params, s), dx, batch, s.n_out, s.n_in)?;
    Ok(())
}

/// The norm before the actor's heads on a device ([`crate::fast::head_norm`]'s twin): n̂ and r of
/// the trunk's output `[rows, width]`, kept for the backward.
pub(super) struct DeviceHeadNorm {
    rows: usize,
    width: usize,
    nhat: Buf,
    rstd: Buf,
}

impl DeviceHeadNorm {
    /// One when `lay` normalises its heads' input, else none.
    pub fn for_layout(dev: &mut dyn Device, lay: &crate::layout::ActorLayout, rows: usize) -> Result<Option<Self>> {
        if !lay.head_norm {
            return Ok(None);
        }
        let width = lay.trunk.width;
        Ok(Some(DeviceHeadNorm { rows, width, nhat: dev.alloc(rows * width)?, rstd: dev.alloc(rows)? }))
    }

    /// Normalises `x` and returns where n̂ is.
    pub fn forward(&self, dev: &mut dyn Device, x: Ptr) -> Result<Ptr> {
        ops::ln_plain_forward(dev, x, self.nhat.into(), self.rstd.into(), self.rows, self.width)?;
        Ok(self.nhat.into())
    }

    /// n̂ from the last forward.
    pub fn output(&self) -> Ptr {
        self.nhat.into()
    }

    /// `d`, the gradient of n̂, becomes the gradient of the trunk's output.
    pub fn backward(&self, dev: &mut dyn Device, d: Ptr) -> Result<()> {
        ops::ln_plain_backward(dev, d, self.nhat.into(), self.rstd.into(), self.rows, self.width)?;
        Ok(())
    }
}
