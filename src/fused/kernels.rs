//! The arithmetic of a fused linear layer on plain f32 buffers: products through
//! the `gemm` crate split over two cores, and the activations with their
//! derivatives in one pass each, vectorised.
// Without flex only the gemm-floor measurement (`matmul`) runs from here.
#![cfg_attr(not(feature = "flex"), allow(dead_code))]

use gemm::{Parallelism, gemm};

use crate::cores;
use crate::simd::vectorised;

/// A configured activation as the kernels apply it after a layer; `Identity` for the
/// output layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelActivation {
    Identity,
    Relu,
    Sigmoid,
    Tanh,
}

impl KernelActivation {
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Self {
        [Self::Identity, Self::Relu, Self::Sigmoid, Self::Tanh][usize::from(code)]
    }
}

/// A read-only matrix anywhere in memory: `rows × cols`, element (r, c) at
/// `data[offset + r·row_stride + c·col_stride]`.
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub row_stride: isize,
    pub col_stride: isize,
}

impl<'a> MatRef<'a> {
    /// A row-major, contiguous matrix.
    pub fn dense(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert_eq!(data.len(), rows * cols, "a {rows}×{cols} matrix");
        Self {
            data,
            offset: 0,
            rows,
            cols,
            row_stride: cols as isize,
            col_stride: 1,
        }
    }

    /// The transpose, as a view (no copy).
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// Whether every element the view names lies inside `data`.
    fn in_bounds(&self) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return true;
        }
        let corner = |r: usize, c: usize| {
            self.offset as isize + r as isize * self.row_stride + c as isize * self.col_stride
        };
        let corners = [
            corner(0, 0),
            corner(self.rows - 1, 0),
            corner(0, self.cols - 1),
            corner(self.rows - 1, self.cols - 1),
        ];
        corners
            .iter()
            .all(|&i| i >= 0 && (i as usize) < self.data.len())
    }

    /// The columns `start..start + count`, as a view.
    fn columns(self, start: usize, count: usize) -> Self {
        Self {
            offset: (self.offset as isize + start as isize * self.col_stride) as usize,
            cols: count,
            ..self
        }
    }
}

/// Products smaller than this (multiply-adds) stay on one thread: the split's
/// hand-off would cost more than it saves.
const SPLIT_ABOVE: usize = 32 * 1024;

/// What each core does to its own columns of a product right after gemm wrote them,
/// while they are still in its cache.
#[derive(Debug, Clone, Copy)]
pub enum Epilogue<'a> {
    /// The forward's `act(value + bias)`, one bias per output column, then dropout.
    Activate {
        bias: &'a [f32],
        act: KernelActivation,
        dropout: Option<DropMask>,
    },
    /// dW's `value + decay · w`: the L2 penalty's gradient joins the data's.
    Decay(WeightDecay<'a>),
}

/// Dropout's mask, a pure function of a key and each element's index in the
/// output, so that the backward can draw it again and a resumed run draws the
/// same masks as an unbroken one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DropMask {
    key: u32,
    /// An element is dropped when its hash falls below this: probability p.
    drop_below: u32,
    /// 1 / (1 − p), the kept elements' factor.
    scale: f32,
    /// 1 − p.
    keep: f32,
}

impl DropMask {
    /// Drops each element with probability `p` (in [0, 1)); `None` when p is 0.
    pub fn new(p: f32, key: u64) -> Option<Self> {
        (p > 0.0).then(|| Self {
            key: mix(key as u32 ^ mix((key >> 32) as u32)),
            drop_below: (f64::from(p) * 2f64.powi(32)) as u32,
            scale: 1.0 / (1.0 - p),
            keep: 1.0 - p,
        })
    }

    /// The factor of element `index`: 0 if dropped, else 1 / (1 − p).
    #[inline(always)]
    pub fn factor(&self, index: u32) -> f32 {
        if mix(index ^ self.key) < self.drop_below {
            0.0
        } else {
            self.scale
        }
    }
}

/// murmur3's 32-bit finaliser: a bijection whose every output bit depends on every
/// input bit; 32-bit multiplies, so it vectorises on every x86-64.
#[inline(always)]
fn mix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The L2 penalty (decay/2)·‖w‖² on a layer's weights; its gradient is decay · w.
#[derive(Debug, Clone, Copy)]
pub struct WeightDecay<'a> {
    /// The weights, row-major like dW.
    pub w: &'a [f32],
    pub decay: f32,
}

impl Epilogue<'_> {
    /// Checks that it fits a `[rows, cols]` output.
    fn check(&self, rows: usize, cols: usize) {
        match self {
            Self::Activate { bias, .. } => {
                assert_eq!(bias.len(), cols, "one bias per output column")
            }
            Self::Decay(WeightDecay { w, .. }) => {
                assert_eq!(w.len(), rows * cols, "one weight per output element")
            }
        }
    }

    /// Applies to `values`, the columns `first..first + values.len()` of row `row`
    /// of a `[rows, cols]` output.
    fn apply(&self, values: &mut [f32], row: usize, first: usize, cols: usize) {
        match *self {
            Self::Activate { bias, act, dropout } => {
                let bias = &bias[first..first + values.len()];
                match act {
                    KernelActivation::Identity => map(values, bias, |v| v),
                    KernelActivation::Relu => map(values, bias, |v| v.max(0.0)),
                    KernelActivation::Sigmoid => map(values, bias, sigmoid),
                    KernelActivation::Tanh => map(values, bias, tanh),
                }
                if let Some(mask) = dropout {
                    drop_out(values, (row * cols + first) as u32, mask);
                }
            }
            Self::Decay(WeightDecay { w, decay }) => {
                let start = row * cols + first;
                add_scaled(values, &w[start..start + values.len()], decay);
            }
        }
    }
}

/// `out = lhs · rhs`, `out` row-major `[lhs.rows, rhs.cols]`, the columns split
/// between two cores.
pub fn matmul(out: &mut [f32], lhs: MatRef, rhs: MatRef) {
    assert_eq!(out.len(), lhs.rows * rhs.cols, "output size");
    // SAFETY: `out` is a live buffer of exactly the product's size.
    unsafe { matmul_raw(out.as_mut_ptr(), lhs, rhs, None) };
}

/// `epilogue(lhs · rhs)` (or just the product) in a new row-major buffer. The
/// buffer is never zero-filled first: gemm writes every element, so zeroing it would
/// be one more pass over memory for nothing.
pub fn product(lhs: MatRef, rhs: MatRef, epilogue: Option<Epilogue>) -> Vec<f32> {
    let (len, cols) = (lhs.rows * rhs.cols, rhs.cols);
    if lhs.cols == 0 {
        // An empty sum, which gemm would leave unwritten.
        let mut out = vec![0.0; len];
        if let Some(epilogue) = epilogue {
            epilogue.check(lhs.rows, cols);
            for (row, values) in out.chunks_exact_mut(cols).enumerate() {
                epilogue.apply(values, row, 0, cols);
            }
        }
        return out;
    }
    let mut out = Vec::with_capacity(len);
    // SAFETY: the spare capacity holds `len` writable elements; with an inner dimension
    // of at least one, gemm (not reading `dst`) stores all `len` of them before any
    // epilogue reads them, so they are initialised before `set_len`.
    unsafe {
        matmul_raw(out.as_mut_ptr(), lhs, rhs, epilogue);
        out.set_len(len);
    }
    out
}

/// [`matmul`] through a raw pointer, with an optional per-core epilogue. gemm only
/// writes `out`, which may then point at uninitialised memory.
///
/// # Safety
/// SAFETY: callers keep `out` valid for writes of `lhs.rows · rhs.cols` elements, with
/// no other reference to them in use during the call.
unsafe fn matmul_raw(out: *mut f32, lhs: MatRef, rhs: MatRef, epilogue: Option<Epilogue>) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.rows, k, "inner dimensions");
    assert!(
        lhs.in_bounds() && rhs.in_bounds(),
        "views inside their buffers"
    );
    if let Some(epilogue) = epilogue {
        epilogue.check(m, n);
    }
    let out = SendPtr(out);
    if m * n * k < SPLIT_ABOVE || n < 32 {
        // SAFETY: the caller's contract; all columns, on this thread.
        unsafe { matmul_columns(out, n, 0, lhs, rhs, epilogue) };
        return;
    }
    // The helper takes the right-hand block of columns, 16-aligned for the kernels.
    let left = (n / 2).next_multiple_of(16).min(n);
    cores::join(
        // SAFETY: the caller's contract; this half writes only columns 0..left of `out`,
        // the other only left..n, and `join` returns after both.
        || unsafe { matmul_columns(out, n, 0, lhs, rhs.columns(0, left), epilogue) },
        // SAFETY: as above.
        || unsafe { matmul_columns(out, n, left, lhs, rhs.columns(left, n - left), epilogue) },
    );
}

/// A raw pointer the two halves of a split share; each writes its own columns.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: used only to hand one buffer to two threads writing disjoint columns.
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

/// One thread: columns `first..first + rhs.cols` of `out` (row stride `out_cols`).
///
/// # Safety
/// SAFETY: as [`matmul_raw`] for `lhs.rows · out_cols` elements, with
/// `first + rhs.cols <= out_cols`; nothing else may touch those columns meanwhile.
unsafe fn matmul_columns(
    out: SendPtr,
    out_cols: usize,
    first: usize,
    lhs: MatRef,
    rhs: MatRef,
    epilogue: Option<Epilogue>,
) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    if m == 0 || n == 0 {
        return;
    }
    assert!(first + n <= out_cols, "columns inside the output");
    // SAFETY: the caller keeps `out` writable for m · out_cols elements; `matmul_raw` checked
    // that gemm's indices into the (immutably borrowed) input views stay inside their
    // buffers. With `read_dst` false, gemm only writes `out`.
    unsafe {
        gemm(
            m,
            n,
            k,
            out.0.add(first),
            1,
            out_cols as isize,
            false,
            lhs.data.as_ptr().add(lhs.offset),
            lhs.col_stride,
            lhs.row_stride,
            rhs.data.as_ptr().add(rhs.offset),
            rhs.col_stride,
            rhs.row_stride,
            0.0,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
    if let Some(epilogue) = epilogue {
        for row in 0..m {
            // SAFETY: this row's columns first..first + n, inside `out` as asserted,
            // which gemm has just written and which no other thread touches.
            let values =
                unsafe { std::slice::from_raw_parts_mut(out.0.add(row * out_cols + first), n) };
            epilogue.apply(values, row, first, out_cols);
        }
    }
}

/// Forward: `out[m, n] = act(x · w + b)`, each element then kept (× 1/(1 − p)) or
/// dropped as `dropout` says.
pub fn linear_forward(
    x: MatRef,
    w: MatRef,
    bias: &[f32],
    act: KernelActivation,
    dropout: Option<DropMask>,
) -> Vec<f32> {
    let epilogue = Epilogue::Activate { bias, act, dropout };
    product(x, w, Some(epilogue))
}

/// The parts of a linear layer's backward besides the inputs and the output's gradient.
#[derive(Debug, Clone, Copy)]
pub struct Backward<'a> {
    pub act: KernelActivation,
    /// The forward's dropout, drawn again.
    pub dropout: Option<DropMask>,
    /// Whether dx is wanted (not for the first layer).
    pub want_dx: bool,
    /// The gradient of this penalty is added to dw in the pass that writes it.
    pub decay: Option<WeightDecay<'a>>,
}

/// Gradients of the forward given its output `out` and the output's gradient
/// `grad`: `(dx, dw, db)`, with `dx` only when asked for.
pub fn linear_backward(
    x: MatRef,
    w: MatRef,
    out: &[f32],
    mut grad: Vec<f32>,
    backward: Backward,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let Backward {
        act,
        dropout,
        want_dx,
        decay,
    } = backward;
    let (m, n) = (x.rows, w.cols);
    assert_eq!(grad.len(), m * n, "gradient of the output");
    assert_eq!(out.len(), m * n, "the layer's output");
    let before_dropout;
    let out = match dropout {
        Some(mask) => {
            // grad becomes the gradient of act(z), out act(z) itself (to rounding).
            before_dropout = undo_dropout(&mut grad, out, mask);
            &before_dropout[..]
        }
        None => out,
    };
    let mut db = vec![0.0; n];
    if n > 0 {
        output_gradient(&mut grad, out, act, &mut db); // grad becomes dz = grad ⊙ act'(z)
    }
    let dz = MatRef::dense(&grad, m, n);
    let dw = product(x.t(), dz, decay.map(Epilogue::Decay));
    let dx = want_dx.then(|| product(dz, w.t(), None));
    (dx, dw, db)
}

vectorised! {
    /// `v = f(v + b)` over the row and its biases.
    fn map(values: &mut [f32], bias: &[f32], f: impl Fn(f32) -> f32 + Copy) {
        for (v, b) in values.iter_mut().zip(bias) {
            *v = f(*v + b);
        }
    }
}

/// The scalars of one Adam step (burn-optim's and PyTorch's formulation).
#[derive(Debug, Clone, Copy)]
pub struct AdamStep {
    pub beta_1: f32,
    pub beta_2: f32,
    /// √(1 − β₂ᵗ) / (1 − β₁ᵗ).
    pub factor: f32,
    /// ε · √(1 − β₂ᵗ).
    pub epsilon: f32,
    pub lr: f32,
}

/// One parameter's optimizer step: reads `w`, updates the optimizer's state arrays in
/// place (momentum's velocity; Adam's moments m and v), and overwrites each gradient in
/// `g_then_w` with its new weight once read.
pub struct StepBuffers<'a, const STATES: usize> {
    pub w: &'a [f32],
    pub g_then_w: &'a mut [f32],
    pub states: [&'a mut [f32]; STATES],
}

pub type MomentumBuffers<'a> = StepBuffers<'a, 1>;
pub type AdamBuffers<'a> = StepBuffers<'a, 2>;

impl<const STATES: usize> StepBuffers<'_, STATES> {
    /// The first `at` elements and the rest.
    fn split(self, at: usize) -> (Self, Self) {
        let (w_head, w_tail) = self.w.split_at(at);
        let (g_head, g_tail) = self.g_then_w.split_at_mut(at);
        // Each state keeps its head in place and hands out its tail: no allocation per step.
        let mut heads = self.states;
        let tails = heads.each_mut().map(|state| {
            let (head, tail) = std::mem::take(state).split_at_mut(at);
            *state = head;
            tail
        });
        let head = Self {
            w: w_head,
            g_then_w: g_head,
            states: heads,
        };
        let tail = Self {
            w: w_tail,
            g_then_w: g_tail,
            states: tails,
        };
        (head, tail)
    }
}

/// One Adam step. The operations and their order are burn-optim's, so the
/// results are the same to the bit; zero moments give its first step exactly.
/// Large parameters are split between the two cores.
pub fn adam_update(buffers: AdamBuffers, step: AdamStep) {
    let n = buffers.w.len();
    assert!(buffers.g_then_w.len() == n && buffers.states.iter().all(|s| s.len() == n));
    if n < SPLIT_ELEMENTS {
        return adam_one_thread(buffers, step);
    }
    let (mine, theirs) = buffers.split(n / 2);
    cores::join_parts(mine, theirs, |half| adam_one_thread(half, step));
}

/// Element-wise work on fewer elements than this stays on one thread.
const SPLIT_ELEMENTS: usize = 64 * 1024;

/// Plain SGD in the gradient's buffer, `g ← w − lr·g`, large parameters split between the two cores.
pub fn sgd_update(w: &[f32], g_then_w: &mut [f32], lr: f32) {
    let n = w.len();
    assert!(g_then_w.len() == n);
    if n < SPLIT_ELEMENTS {
        return sgd_one_thread(w, g_then_w, lr);
    }
    cores::split_mut(g_then_w, n / 2, |start, g_then_w| {
        sgd_one_thread(&w[start..start + g_then_w.len()], g_then_w, lr);
    });
}

/// The scalars of one step of SGD with momentum μ (PyTorch's, without dampening).
#[derive(Debug, Clone, Copy)]
pub struct MomentumStep {
    pub momentum: f32,
    pub nesterov: bool,
    pub lr: f32,
    /// The first step sets the velocity to the gradient instead of accumulating.
    pub first: bool,
}

/// One step of SGD with momentum, burn-optim's operations in its order, so the
/// results are the same to the bit. Large parameters are split between the two cores.
pub fn momentum_update(buffers: MomentumBuffers, step: MomentumStep) {
    let n = buffers.w.len();
    assert!(buffers.g_then_w.len() == n && buffers.states.iter().all(|s| s.len() == n));
    if n < SPLIT_ELEMENTS {
        return momentum_one_thread(buffers, step);
    }
    let (mine, theirs) = buffers.split(n / 2);
    cores::join_parts(mine, theirs, |half| momentum_one_thread(half, step));
}

vectorised! {
    /// `grad ← dz = grad ⊙ act'` (written in terms of the activation's output `out`) and
    /// `db = Σ_rows dz`, for `[rows, db.len()]` matrices, a row at a time.
    fn output_gradient(grad: &mut [f32], out: &[f32], act: KernelActivation, db: &mut [f32]) {
        let n = db.len();
        for (grad, out) in grad.chunks_exact_mut(n).zip(out.chunks_exact(n)) {
            let pairs = grad.iter_mut().zip(out);
            match act {
                KernelActivation::Identity => {}
                KernelActivation::Relu => pairs.for_each(|(g, &y)| *g = if y > 0.0 { *g } else { 0.0 }),
                KernelActivation::Sigmoid => pairs.for_each(|(g, &y)| *g *= y * (1.0 - y)),
                KernelActivation::Tanh => pairs.for_each(|(g, &y)| *g *= 1.0 - y * y),
            }
            for (sum, g) in db.iter_mut().zip(grad.iter()) {
                *sum += g;
            }
        }
    }
}

vectorised! {
    /// `v ← v × factor` for the elements `first..` of a layer's output.
    fn drop_out(values: &mut [f32], first: u32, mask: DropMask) {
        for (offset, v) in (0u32..).zip(values.iter_mut()) {
            *v *= mask.factor(first + offset);
        }
    }
}

vectorised! {
    /// Backward through dropout: `grad ← grad × factor`, and returns the output
    /// before dropout (`out × (1 − p)` where kept, 0 where dropped, where no
    /// gradient flows anyway).
    fn undo_dropout(grad: &mut [f32], out: &[f32], mask: DropMask) -> Vec<f32> {
        let mut before = vec![0.0; out.len()];
        for (index, ((g, &y), a)) in (0u32..).zip(grad.iter_mut().zip(out).zip(&mut before)) {
            *g *= mask.factor(index);
            *a = y * mask.keep;
        }
        before
    }
}

vectorised! {
    /// `v ← v + scale·w`.
    fn add_scaled(values: &mut [f32], w: &[f32], scale: f32) {
        for (v, w) in values.iter_mut().zip(w) {
            *v += scale * w;
        }
    }
}

vectorised! {
    /// `g ← w − lr·g`, on this thread.
    fn sgd_one_thread(w: &[f32], g_then_w: &mut [f32], lr: f32) {
        for (x, w) in g_then_w.iter_mut().zip(w) {
            *x = w - *x * lr;
        }
    }
}

vectorised! {
    /// One momentum step on this thread: `v ← g + μ·v` (`v ← g` at first), then
    /// `w ← w − lr·(g + μ·v)` with Nesterov or `w ← w − lr·v` without.
    fn momentum_one_thread(buffers: MomentumBuffers, step: MomentumStep) {
        let MomentumStep { momentum, nesterov, lr, first } = step;
        let MomentumBuffers {
            w,
            g_then_w,
            states: [velocity],
        } = buffers;
        let n = w.len();
        let (x, v) = (&mut g_then_w[..n], &mut velocity[..n]);
        for i in 0..n {
            let g = x[i];
            v[i] = if first { g } else { g + v[i] * momentum };
            let direction = if nesterov { v[i] * momentum + g } else { v[i] };
            x[i] = w[i] - direction * lr;
        }
    }
}

vectorised! {
    /// One Adam step on this thread, burn-optim's operations in its order.
    fn adam_one_thread(buffers: AdamBuffers, step: AdamStep) {
        let AdamStep {
            beta_1,
            beta_2,
            factor,
            epsilon,
            lr,
        } = step;
        let AdamBuffers {
            w,
            g_then_w,
            states: [m, v],
        } = buffers;
        let n = w.len();
        let (x, m, v) = (&mut g_then_w[..n], &mut m[..n], &mut v[..n]);
        for i in 0..n {
            let g = x[i];
            m[i] = m[i] * beta_1 + g * (1.0 - beta_1);
            v[i] = v[i] * beta_2 + (g * g) * (1.0 - beta_2);
            x[i] = w[i] - ((m[i] * factor) / (v[i].sqrt() + epsilon)) * lr;
        }
    }
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// tanh(x) = 1 − 2 / (1 + e^{2x}); exact to f32 rounding away from 0, and within
/// 1e-7 absolute near 0.
#[inline(always)]
fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (1.0 + exp(2.0 * x))
}

/// e^x with relative error below 3e-7, branch-free so that loops vectorise:
/// e^x = 2^n · e^r with n = round(x / ln 2) and r = x − n·ln 2 (ln 2 in two parts,
/// so r stays exact), e^r ∈ [e^−0.35, e^0.35] by its degree-7 Taylor polynomial,
/// and 2^n built in the exponent bits.
///
/// n is rounded by adding 1.5·2²³ (the sum's last bits are then n, ties to even) and
/// read back from those bits: a float-to-int `as` cast saturates, which the compiler
/// does one lane at a time. The result is the same to the bit as with
/// `round_ties_even` and `as i32` (checked over every f32).
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2²³
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r / 5040.0))))));
    // n + 127 in the exponent field; n ∈ [−126, 127] after the clamp.
    let biased = shifted
        .to_bits()
        .wrapping_sub(ROUND.to_bits())
        .wrapping_add(127);
    p * f32::from_bits(biased << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_sigmoid_and_tanh_match_the_standard_library() {
        for i in -2000..=2000 {
            let x = i as f32 * 0.02;
            let rel = |a: f32, b: f32| (a - b).abs() / b.abs().max(1e-30);
            assert!(rel(exp(x), x.exp()) < 5e-7, "exp({x})");
            assert!(
                (sigmoid(x) - 1.0 / (1.0 + (-x).exp())).abs() < 1e-6,
                "sigmoid({x})"
            );
            assert!((tanh(x) - x.tanh()).abs() < 1e-6, "tanh({x})");
        }
        assert!(exp(-200.0) < 1e-37 && exp(200.0).is_finite());
    }

    /// The plain triple loop, for checking.
    fn naive(lhs: &[f32], rhs: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for r in 0..m {
            for c in 0..n {
                out[r * n + c] = (0..k).map(|i| lhs[r * k + i] * rhs[i * n + c]).sum();
            }
        }
        out
    }

    #[test]
    fn split_products_match_the_triple_loop_with_transposes() {
        let (m, k, n) = (37, 300, 203); // odd shapes, above the split threshold
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 10.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 10.0)
            .collect();
        let mut out = vec![0.0; m * n];
        matmul(&mut out, MatRef::dense(&a, m, k), MatRef::dense(&b, k, n));
        let expected = naive(&a, &b, m, k, n);
        for (o, e) in out.iter().zip(&expected) {
            assert!((o - e).abs() < 1e-3, "{o} vs {e}");
        }
        // aᵀ·(a·b) through transposed views equals the same with explicit copies.
        let a_t: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
        // (`product` writes a buffer that was never initialised.)
        let via_view = product(MatRef::dense(&a, m, k).t(), MatRef::dense(&out, m, n), None);
        let via_copy = naive(&a_t, &out, k, m, n);
        for (v, c) in via_view.iter().zip(&via_copy) {
            assert!((v - c).abs() < 1e-2 * c.abs().max(1.0), "{v} vs {c}");
        }
    }

    #[test]
    fn a_product_over_an_empty_inner_dimension_is_zero_then_its_epilogue() {
        let (a, b) = (vec![], vec![]);
        let out = product(MatRef::dense(&a, 3, 0), MatRef::dense(&b, 0, 40), None);
        assert_eq!(out, vec![0.0; 120]);
        let bias: Vec<f32> = (0..40).map(|c| c as f32 - 20.0).collect();
        let epilogue = Epilogue::Activate {
            bias: &bias,
            act: KernelActivation::Relu,
            dropout: None,
        };
        let out = product(
            MatRef::dense(&a, 3, 0),
            MatRef::dense(&b, 0, 40),
            Some(epilogue),
        );
        let relu_bias: Vec<f32> = bias.iter().map(|b| b.max(0.0)).collect();
        assert_eq!(out, relu_bias.repeat(3));
    }

    #[test]
    fn dropout_masks_drop_the_asked_share_and_change_with_the_key() {
        for p in [0.1f32, 0.5] {
            let mask = DropMask::new(p, 42).unwrap();
            let factors: Vec<f32> = (0..1_000_000).map(|i| mask.factor(i)).collect();
            let dropped = factors.iter().filter(|&&f| f == 0.0).count() as f32 / 1e6;
            assert!((dropped - p).abs() < 0.002, "p {p}: dropped {dropped}");
            assert!(factors.iter().all(|&f| f == 0.0 || f == 1.0 / (1.0 - p)));
            let other = DropMask::new(p, 43).unwrap();
            let same = (0..10_000)
                .filter(|&i| mask.factor(i) == other.factor(i))
                .count();
            let expected = 10_000.0 * (p * p + (1.0 - p) * (1.0 - p));
            assert!(
                (same as f32 - expected).abs() < 300.0,
                "keys 42 and 43 agree {same} times"
            );
        }
        assert_eq!(DropMask::new(0.0, 42), None);
    }

    #[test]
    fn a_decay_epilogue_adds_decay_times_w_on_both_cores() {
        let (m, k, n) = (784, 64, 500); // a first layer's dW: split across the cores
        let value = |i: usize| ((i * 37 % 101) as f32 - 50.0) / 50.0;
        let a: Vec<f32> = (0..m * k).map(value).collect();
        let b: Vec<f32> = (0..k * n).map(|i| value(i + 3)).collect();
        let w: Vec<f32> = (0..m * n).map(|i| value(i + 5)).collect();
        let (lhs, rhs) = (MatRef::dense(&a, m, k), MatRef::dense(&b, k, n));
        let decay = WeightDecay {
            w: &w,
            decay: 0.0125,
        };
        let decayed = product(lhs, rhs, Some(Epilogue::Decay(decay)));
        let expected: Vec<f32> = product(lhs, rhs, None)
            .iter()
            .zip(&w)
            .map(|(p, w)| p + 0.0125 * w)
            .collect();
        assert_eq!(decayed, expected);
    }

    #[test]
    fn updates_split_over_two_cores_equal_the_one_thread_updates() {
        let step = AdamStep {
            beta_1: 0.9,
            beta_2: 0.999,
            factor: 0.7,
            epsilon: 1e-8,
            lr: 0.01,
        };
        let len = 3 * SPLIT_ELEMENTS / 2 + 5; // split, and odd
        let value = |i: usize, scale: f32| ((i * 37 % 101) as f32 - 50.0) * scale;
        let w: Vec<f32> = (0..len).map(|i| value(i, 0.01)).collect();
        let g: Vec<f32> = (0..len).map(|i| value(i + 7, 0.001)).collect();
        let m: Vec<f32> = (0..len).map(|i| value(i + 3, 0.0001)).collect();
        let v: Vec<f32> = (0..len).map(|i| value(i + 5, 1e-6).abs()).collect();
        let adam = |split: bool| {
            let (mut x, mut m, mut v) = (g.clone(), m.clone(), v.clone());
            let buffers = AdamBuffers {
                w: &w,
                g_then_w: &mut x,
                states: [&mut m, &mut v],
            };
            if split {
                adam_update(buffers, step);
            } else {
                adam_one_thread(buffers, step);
            }
            [x, m, v]
        };
        assert_eq!(adam(true), adam(false), "adam");
        let mut split = g.clone();
        sgd_update(&w, &mut split, 0.01);
        let mut whole = g.clone();
        sgd_one_thread(&w, &mut whole, 0.01);
        assert_eq!(split, whole, "sgd");
        for (first, nesterov) in [(true, true), (false, true), (false, false)] {
            let step = MomentumStep {
                momentum: 0.9,
                nesterov,
                lr: 0.01,
                first,
            };
            let momentum = |split: bool| {
                let (mut x, mut velocity) = (g.clone(), m.clone());
                let buffers = MomentumBuffers {
                    w: &w,
                    g_then_w: &mut x,
                    states: [&mut velocity],
                };
                if split {
                    momentum_update(buffers, step);
                } else {
                    momentum_one_thread(buffers, step);
                }
                [x, velocity]
            };
            assert_eq!(momentum(true), momentum(false), "{step:?}");
        }
    }
}
