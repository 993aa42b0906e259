//! The one place where cargo features become a Burn `Device`.
//!
//! Features: `flex` (default, pure-Rust CPU), `ndarray` (the older CPU backend),
//! `wgpu` (GPU through Vulkan/Metal/DX12). When several are compiled in, the GPU wins.

use burn::prelude::Device;

#[cfg(not(any(feature = "flex", feature = "ndarray", feature = "wgpu")))]
compile_error!("enable one backend feature: flex (default), ndarray or wgpu");

/// The device training and evaluation run on.
pub fn device() -> Device {
    flush_denormals_to_zero();
    #[cfg(feature = "wgpu")]
    return Device::wgpu(Default::default());
    #[cfg(all(feature = "flex", not(feature = "wgpu")))]
    return Device::flex();
    #[cfg(all(feature = "ndarray", not(any(feature = "flex", feature = "wgpu"))))]
    #[allow(deprecated)] // kept working because the design card names burn-ndarray
    return Device::ndarray();
}

/// The backend's name, as recorded in `summary.json`.
pub fn name() -> &'static str {
    if cfg!(feature = "wgpu") {
        "wgpu"
    } else if cfg!(feature = "flex") {
        "flex"
    } else {
        "ndarray"
    }
}

/// Runs `work` (a training loop) on one CPU thread.
///
/// Measured on 2 cores (`mnist-mlp bench`, ReLU/SGD): flex splits every matmul above
/// 192³ multiply-adds across rayon workers, and for this model's batch-64 products the
/// fork/join and wake-ups cost more than the second core gives: 2.42 s/epoch on two
/// threads, 2.24 s on one, 1.69 s on one with AVX-512 kernels. Evaluation's 1000-image
/// products do gain from threads, so only training is confined. Upstream fix: a size-
/// and core-aware parallel threshold in burn-flex's matmul.
pub fn on_training_thread<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    match rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .start_handler(|_| set_ftz_daz())
        .build()
    {
        Ok(pool) => pool.install(work),
        Err(_) => work(),
    }
}

/// Makes the CPU treat denormal floats as zero, on this thread and on the rayon
/// workers Burn's CPU backends compute on.
///
/// Adam's second moments and ReLU's rare tiny gradients decay into the denormal range
/// (below 1.2e-38), where x86 arithmetic is ~100× slower: ReLU+Adam ran at 15.6 s/epoch
/// instead of 3.8 s. PyTorch offers the same switch (`torch.set_flush_denormal`), and
/// GPUs flush by default; the effect on results is below f32 resolution.
pub fn flush_denormals_to_zero() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    set_ftz_daz();
    ONCE.call_once(|| {
        // Fails harmlessly if the global pool already exists (its workers then keep the default).
        let _ = rayon::ThreadPoolBuilder::new()
            .start_handler(|_| set_ftz_daz())
            .build_global();
    });
}

/// Sets MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6) flags.
fn set_ftz_daz() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: only changes how this thread's SSE unit rounds denormals; SSE2 is part of x86-64.
    #[allow(deprecated)] // _mm_setcsr is the only stable way to reach MXCSR
    unsafe {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        _mm_setcsr(_mm_getcsr() | 0x8040);
    }
}
