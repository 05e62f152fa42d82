//! Weight matrices laid out for the batch-1 product, so that it reads them as one sequential stream.
//!
//! [`super::matvec`] keeps eight accumulators busy by walking eight weight rows side by side. On a
//! row-major matrix that is eight streams 4 KiB apart (a 1024-wide f32 row), which the hardware
//! prefetchers follow poorly once the weights no longer fit in L2: at depth 64 (17 MB of f32
//! weights) the eight-row kernel was slower than a one-row loop. Packed, each group of eight rows
//! is stored sixteen columns at a time, interleaved, so the same walk is a single forward stream.
//!
//! Layout of an `n × k` matrix: for each group of [`GROUP`] rows, the [`CHUNK`]-column chunks of
//! its rows interleaved (`chunk 0 of rows 0..8, chunk 1 of rows 0..8, …`), then the group's last
//! `k % CHUNK` columns row by row; the `n % GROUP` rows left over follow as plain rows.

use super::matvec::{Bf16, Weight, F16};
#[cfg(target_arch = "x86_64")]
use super::matvec::{Load, Vector, Ymm, Zmm};

use super::half::HalfKind;
use super::isa::{active, Isa};
use crate::layout::TrunkLayout;

/// Rows streamed together.
pub const GROUP: usize = 8;
/// Columns of one row stored contiguously: one cache line of f32.
pub const CHUNK: usize = 16;

/// An `n × k` matrix in the packed layout.
#[derive(Clone, Debug, PartialEq)]
pub struct Packed<W> {
    n: usize,
    k: usize,
    data: Vec<W>,
}

impl<W: Weight> Packed<W> {
    /// Packs the row-major `n × k` matrix `w`.
    pub fn new(n: usize, k: usize, w: &[W]) -> Self {
        assert_eq!(w.len(), n * k, "Packed::new: {} values for a {n} × {k} matrix", w.len());
        let (groups, chunks) = (n / GROUP, k / CHUNK);
        let mut data = Vec::with_capacity(n * k);
        for g in 0..groups {
            let rows = g * GROUP..(g + 1) * GROUP;
            for c in 0..chunks {
                for j in rows.clone() {
                    data.extend_from_slice(&w[j * k + c * CHUNK..j * k + (c + 1) * CHUNK]);
                }
            }
            for j in rows {
                data.extend_from_slice(&w[j * k + chunks * CHUNK..(j + 1) * k]);
            }
        }
        data.extend_from_slice(&w[groups * GROUP * k..]);
        Packed { n, k, data }
    }

    pub fn rows(&self) -> usize {
        self.n
    }

    pub fn cols(&self) -> usize {
        self.k
    }
}

/// The packed product for each weight format on each instruction set.
pub trait PackedSimd: Weight + Sized {
    /// `y[m, n] = x[m, k] · wᵀ` on the widest kernel [`active`] allows.
    fn x_wt(p: &Packed<Self>, m: usize, x: &[f32], y: &mut [f32]) {
        Self::x_wt_on(active(), p, m, x, y)
    }

    /// As [`PackedSimd::x_wt`] on a given level, which must not exceed what the CPU has.
    fn x_wt_on(isa: Isa, p: &Packed<Self>, m: usize, x: &[f32], y: &mut [f32]);
}

impl<W: Weight + Kernels> PackedSimd for W {
    fn x_wt_on(isa: Isa, p: &Packed<W>, m: usize, x: &[f32], y: &mut [f32]) {
        let (n, k) = (p.n, p.k);
        assert!(x.len() >= m * k && y.len() >= m * n, "Packed::x_wt: buffer too small");
        assert!(isa <= super::isa::detected(), "Packed::x_wt_on: {isa} is not available on this CPU");
        for i in 0..m {
            let (xi, yi) = (&x[i * k..(i + 1) * k], &mut y[i * n..(i + 1) * n]);
            match isa {
                // SAFETY: the level is available (asserted above); `Packed::new` made `data` n·k
                // long and the slices hold k inputs and n outputs.
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => unsafe { W::avx512(n, k, &p.data, xi, yi) },
                // SAFETY: as above.
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => unsafe { W::avx2(n, k, &p.data, xi, yi) },
                _ => portable(n, k, &p.data, xi, yi),
            }
        }
    }
}

/// `w` rounded to `kind` and packed as the format `wrap` makes of the bits.
fn pack<H: Weight>(n: usize, k: usize, kind: HalfKind, w: &[f32], wrap: fn(u16) -> H) -> Packed<H> {
    let bits: Vec<H> = kind.encode(w).into_iter().map(wrap).collect();
    Packed::new(n, k, &bits)
}

/// The packed product in plain Rust: the reference, and the path without AVX2.
fn portable<W: Weight>(n: usize, k: usize, data: &[W], x: &[f32], y: &mut [f32]) {
    let (groups, chunks) = (n / GROUP, k / CHUNK);
    let kt = chunks * CHUNK;
    for g in 0..groups {
        let block = &data[g * GROUP * k..(g + 1) * GROUP * k];
        let out = &mut y[g * GROUP..(g + 1) * GROUP];
        out.fill(0.0);
        for (c, tile) in block[..GROUP * kt].chunks_exact(GROUP * CHUNK).enumerate() {
            let xc = &x[c * CHUNK..(c + 1) * CHUNK];
            for (o, row) in out.iter_mut().zip(tile.chunks_exact(CHUNK)) {
                *o += row.iter().zip(xc).map(|(w, v)| w.to_f32() * v).sum::<f32>();
            }
        }
        for (r, o) in out.iter_mut().enumerate() {
            let row = &block[GROUP * kt + r * (k - kt)..GROUP * kt + (r + 1) * (k - kt)];
            *o += row.iter().zip(&x[kt..k]).map(|(w, v)| w.to_f32() * v).sum::<f32>();
        }
    }
    for j in groups * GROUP..n {
        let row = &data[j * k..(j + 1) * k];
        y[j] = row.iter().zip(x).map(|(w, v)| w.to_f32() * v).sum();
    }
}

/// One input row against a packed matrix: each group's accumulators fed from one forward stream.
///
/// # Safety
/// The CPU must support `V`'s instruction set; `data.len() == n·k`, `x.len() >= k`, `y.len() >= n`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn packed_row<V: Vector, W: Load<V>>(n: usize, k: usize, data: &[W], x: &[f32], y: &mut [f32]) {
    debug_assert!(data.len() == n * k && x.len() >= k && y.len() >= n);
    let (groups, chunks) = (n / GROUP, k / CHUNK);
    let kt = chunks * CHUNK;
    let xp = x.as_ptr();
    for g in 0..groups {
        let block = &data[g * GROUP * k..(g + 1) * GROUP * k];
        let bp = block.as_ptr();
        // SAFETY: the caller guarantees the instruction set.
        let mut acc = [unsafe { V::zero() }; GROUP];
        for c in 0..chunks {
            for h in (0..CHUNK).step_by(V::LANES) {
                // SAFETY: c·CHUNK + h + LANES <= kt <= k inputs; the tile of chunk c is GROUP·CHUNK
                // values from c·GROUP·CHUNK, inside the block's first GROUP·kt.
                let xv = unsafe { V::load(xp.add(c * CHUNK + h)) };
                for (r, a) in acc.iter_mut().enumerate() {
                    // SAFETY: as for `xv`.
                    *a = unsafe { V::fmadd(W::load(bp.add((c * GROUP + r) * CHUNK + h)), xv, *a) };
                }
            }
        }
        for (r, a) in acc.iter().enumerate() {
            let row = &block[GROUP * kt + r * (k - kt)..GROUP * kt + (r + 1) * (k - kt)];
            let tail: f32 = row.iter().zip(&x[kt..k]).map(|(w, v)| w.to_f32() * v).sum();
            // SAFETY: the caller guarantees the instruction set.
            y[g * GROUP + r] = unsafe { V::sum(*a) } + tail;
        }
    }
    let done = groups * GROUP;
    // SAFETY: the rows left over are stored plain, n − done rows of k values.
    unsafe { super::matvec::matvec::<V, W>(n - done, k, x, &data[done * k..], &mut y[done..]) }
}

/// The packed kernel of each weight format compiled for each instruction set.
pub trait Kernels: Weight {
    /// # Safety
    /// avx512f must be available; the slices as [`packed_row`] requires.
    #[cfg(target_arch = "x86_64")]
    unsafe fn avx512(n: usize, k: usize, data: &[Self], x: &[f32], y: &mut [f32]);
    /// # Safety
    /// avx2, fma and f16c must be available; the slices as [`packed_row`] requires.
    #[cfg(target_arch = "x86_64")]
    unsafe fn avx2(n: usize, k: usize, data: &[Self], x: &[f32], y: &mut [f32]);
}

macro_rules! kernels_for {
    ($($t:ty),*) => {$(
        impl Kernels for $t {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx2,fma,f16c")]
            unsafe fn avx512(n: usize, k: usize, data: &[Self], x: &[f32], y: &mut [f32]) {
                // SAFETY: forwarded from the caller.
                unsafe { packed_row::<Zmm, $t>(n, k, data, x, y) }
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma,f16c")]
            unsafe fn avx2(n: usize, k: usize, data: &[Self], x: &[f32], y: &mut [f32]) {
                // SAFETY: forwarded from the caller.
                unsafe { packed_row::<Ymm, $t>(n, k, data, x, y) }
            }
        }
    )*};
}
kernels_for!(f32, Bf16, F16);

/// A trunk's Linear weights packed for small batches, in one storage format, one matrix per
/// layer in [`TrunkLayout::layers`] order.
#[derive(Clone, Debug, PartialEq)]
pub enum PackedTrunk {
    F32(Vec<Packed<f32>>),
    Bf16(Vec<Packed<Bf16>>),
    F16(Vec<Packed<F16>>),
}

impl PackedTrunk {
    /// Packs the Linear weights of `layout` from `params`, stored as f32 (`None`) or rounded to
    /// `half` (to nearest, ties to even).
    pub fn new(layout: &TrunkLayout, params: &[f32], half: Option<HalfKind>) -> Self {
        let weights = layout.layers.iter().map(|l| {
            let s = &l.linear;
            (s.n_out, s.n_in, &params[s.w..s.w + s.n_in * s.n_out])
        });
        match half {
            None => PackedTrunk::F32(weights.map(|(n, k, w)| Packed::new(n, k, w)).collect()),
            Some(kind @ HalfKind::Bf16) => {
                PackedTrunk::Bf16(weights.map(|(n, k, w)| pack(n, k, kind, w, Bf16)).collect())
            }
            Some(kind @ HalfKind::F16) => PackedTrunk::F16(weights.map(|(n, k, w)| pack(n, k, kind, w, F16)).collect()),
        }
    }

    /// `y[m, n] = x[m, k] · W_layerᵀ`.
    pub fn x_wt(&self, layer: usize, m: usize, x: &[f32], y: &mut [f32]) {
        match self {
            PackedTrunk::F32(ws) => PackedSimd::x_wt(&ws[layer], m, x, y),
            PackedTrunk::Bf16(ws) => PackedSimd::x_wt(&ws[layer], m, x, y),
            PackedTrunk::F16(ws) => PackedSimd::x_wt(&ws[layer], m, x, y),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::isa::detected;
    use crate::fast::naive_product;

    /// Every format on every level this CPU has (the portable loop included), against an f64
    /// product of the decoded row-major weights.
    #[test]
    fn packed_products_match_the_decoded_weights() {
        let levels: Vec<Isa> =
            [Isa::Portable, Isa::Avx2, Isa::Avx512].into_iter().filter(|&i| i <= detected()).collect();
        // Groups and leftover rows (19 = 2·8 + 3, 5 < one group, 16 exact), whole chunks and tails
        // (48, 20, 6: a point maze's first layer, all tail), and a serving-sized layer.
        for (m, n, k) in [(1, 19, 48), (3, 19, 20), (1, 5, 6), (2, 16, 16), (1, 256, 256)] {
            let x: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
            let w: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.71).cos() * 0.1).collect();
            for &isa in &levels {
                check(isa, m, n, k, &x, &Packed::new(n, k, &w), |v| v);
                check(isa, m, n, k, &x, &pack(n, k, HalfKind::Bf16, &w, Bf16), |b| b.to_f32());
                check(isa, m, n, k, &x, &pack(n, k, HalfKind::F16, &w, F16), |h| h.to_f32());
            }
        }
    }

    fn check<W: Weight + PackedSimd>(
        isa: Isa,
        m: usize,
        n: usize,
        k: usize,
        x: &[f32],
        p: &Packed<W>,
        f: fn(W) -> f32,
    ) {
        // Unpack by reading the layout back: the packing must be a permutation of the matrix.
        let decoded = unpack(p).into_iter().map(f).collect::<Vec<_>>();
        let want = naive_product(m, n, k, |i, l| x[i * k + l], |l, j| decoded[j * k + l]);
        let mut y = vec![f32::NAN; m * n];
        W::x_wt_on(isa, p, m, x, &mut y);
        let err = y.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        let kind = std::any::type_name::<W>();
        assert!(err < 1e-5, "{kind} on {isa} ({m},{n},{k}): error {err:e}");
    }

    /// The row-major matrix back from a packed one, following the layout in the module docs.
    fn unpack<W: Weight>(p: &Packed<W>) -> Vec<W> {
        let (n, k) = (p.n, p.k);
        let (groups, chunks) = (n / GROUP, k / CHUNK);
        let kt = chunks * CHUNK;
        let mut out = Vec::with_capacity(n * k);
        for j in 0..n {
            let (g, r) = (j / GROUP, j % GROUP);
            for c in 0..k {
                let at = if g < groups {
                    let block = g * GROUP * k;
                    if c < kt {
                        block + ((c / CHUNK) * GROUP + r) * CHUNK + c % CHUNK
                    } else {
                        block + GROUP * kt + r * (k - kt) + (c - kt)
                    }
                } else {
                    j * k + c
                };
                out.push(p.data[at]);
            }
        }
        out
    }

    #[test]
    fn packing_is_a_permutation_of_the_rows() {
        for (n, k) in [(19, 48), (3, 20), (16, 16), (9, 6)] {
            let w: Vec<f32> = (0..n * k).map(|i| i as f32).collect();
            let p = Packed::new(n, k, &w);
            assert_eq!((p.rows(), p.cols(), p.data.len()), (n, k, n * k));
            assert_eq!(unpack(&p), w, "{n} × {k}");
        }
    }

    #[test]
    fn a_packed_trunk_holds_every_layer_at_its_precision() {
        let model = crate::Model::init(&crate::ModelConfig::point_maze(8).with_width(32), 3).unwrap();
        let trunk = &model.layout.actor.trunk;
        let x: Vec<f32> = (0..trunk.n_in).map(|i| i as f32 * 0.1).collect();
        for half in [None, Some(HalfKind::Bf16), Some(HalfKind::F16)] {
            let packed = PackedTrunk::new(trunk, &model.params, half);
            let s = &trunk.layers[0].linear;
            let w = &model.params[s.w..s.w + s.n_in * s.n_out];
            let w: Vec<f32> = match half {
                Some(kind) => kind.encode(w).into_iter().map(|b| kind.decode(b)).collect(),
                None => w.to_vec(),
            };
            let want = naive_product(1, s.n_out, s.n_in, |_, l| x[l], |l, j| w[j * s.n_in + l]);
            let mut y = vec![f32::NAN; s.n_out];
            packed.x_wt(0, 1, &x, &mut y);
            let err = y.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(err < 1e-5, "{half:?}: error {err:e}");
        }
    }
}
