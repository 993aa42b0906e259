//! What bounds the optimizer's pass: Adam's and SGD's per-parameter loops, as
//! `src/fused/kernels.rs` writes them (`adam_one_thread`, `sgd_one_thread`, AVX-512
//! variant), timed on one core at working sets from L1 to beyond L3, beside Adam's
//! loop with its square root and division replaced by a multiply.
//!
//! A measuring instrument, not part of the crate:
//!   rustc -O --edition 2021 bench/optimizer_loops.rs -o /tmp/optimizer_loops
//!   taskset -c 1 /tmp/optimizer_loops
use std::time::Instant;

type AdamScalars = (f32, f32, f32, f32, f32);

#[target_feature(enable = "avx512f")]
fn adam(w: &[f32], x: &mut [f32], m: &mut [f32], v: &mut [f32], s: AdamScalars) {
    let (beta_1, beta_2, factor, epsilon, lr) = s;
    let n = w.len();
    let (x, m, v) = (&mut x[..n], &mut m[..n], &mut v[..n]);
    for i in 0..n {
        let g = x[i];
        m[i] = m[i] * beta_1 + g * (1.0 - beta_1);
        v[i] = v[i] * beta_2 + (g * g) * (1.0 - beta_2);
        x[i] = w[i] - ((m[i] * factor) / (v[i].sqrt() + epsilon)) * lr;
    }
}

/// Adam's loop with `/ (sqrt(v) + ε)` turned into `· (v + ε)`: the same loads, stores
/// and dependency chain, without the divider.
#[target_feature(enable = "avx512f")]
fn adam_without_divider(w: &[f32], x: &mut [f32], m: &mut [f32], v: &mut [f32], s: AdamScalars) {
    let (beta_1, beta_2, factor, epsilon, lr) = s;
    let n = w.len();
    let (x, m, v) = (&mut x[..n], &mut m[..n], &mut v[..n]);
    for i in 0..n {
        let g = x[i];
        m[i] = m[i] * beta_1 + g * (1.0 - beta_1);
        v[i] = v[i] * beta_2 + (g * g) * (1.0 - beta_2);
        x[i] = w[i] - ((m[i] * factor) * (v[i] + epsilon)) * lr;
    }
}

#[target_feature(enable = "avx512f")]
fn sgd(w: &[f32], x: &mut [f32], lr: f32) {
    for (x, w) in x.iter_mut().zip(w) {
        *x = w - *x * lr;
    }
}

fn main() {
    assert!(is_x86_feature_detected!("avx512f"), "this instrument needs AVX-512");
    println!("| parameters | Adam's 4 arrays | Adam ns/param | without √ and ÷ | SGD ns/param |");
    println!("|---|---|---|---|---|");
    // 543 860 parameters are the assignment model's, 3 184 010 the record model's.
    for n in [2_048usize, 32_768, 543_860, 3_184_010] {
        let w = vec![0.5f32; n];
        let mut x = vec![0.01f32; n];
        let (mut m, mut v) = (vec![0.001f32; n], vec![0.0001f32; n]);
        let reps = (400_000_000 / n).max(20);
        let best = |f: &mut dyn FnMut()| {
            (0..5)
                .map(|_| {
                    let started = Instant::now();
                    (0..reps).for_each(|_| f());
                    started.elapsed().as_secs_f64() * 1e9 / (reps * n) as f64
                })
                .fold(f64::INFINITY, f64::min)
        };
        let s = (0.9, 0.999, 1.0, 1e-8, 1e-3);
        // SAFETY: main checked that the CPU has AVX-512F.
        let with = best(&mut || unsafe { adam(&w, &mut x, &mut m, &mut v, s) });
        // SAFETY: as above.
        let without = best(&mut || unsafe { adam_without_divider(&w, &mut x, &mut m, &mut v, s) });
        // SAFETY: as above.
        let plain = best(&mut || unsafe { sgd(&w, &mut x, 1e-3) });
        let kib = n * 16 / 1024;
        println!("| {n} | {kib} KiB | {with:.3} | {without:.3} | {plain:.3} |");
    }
}
