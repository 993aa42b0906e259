//! The one place where a backend name becomes a Burn `Device`.
//!
//! Cargo features decide which backends are compiled in: `flex` (default,
//! pure-Rust CPU), `ndarray` (the older CPU backend), `wgpu` (GPU through
//! Vulkan/Metal/DX12). Burn's dispatch `Device` then lets one binary holding
//! several pick one at run time (`--backend`, or `[training] backend`).

use std::fmt;

use anyhow::{Result, bail};
use burn::prelude::Device;
use serde::{Deserialize, Serialize};

#[cfg(not(any(feature = "flex", feature = "ndarray", feature = "wgpu")))]
compile_error!("enable one backend feature: flex (default), ndarray or wgpu");

/// A Burn backend this program can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Burn's pure-Rust CPU backend (the default feature).
    Flex,
    /// The older ndarray CPU backend.
    Ndarray,
    /// The GPU through wgpu (Vulkan, Metal or DX12).
    Wgpu,
}

impl BackendKind {
    pub const ALL: [Self; 3] = [Self::Flex, Self::Ndarray, Self::Wgpu];

    /// Whether this binary was built with the backend's cargo feature.
    pub fn is_compiled(self) -> bool {
        match self {
            Self::Flex => cfg!(feature = "flex"),
            Self::Ndarray => cfg!(feature = "ndarray"),
            Self::Wgpu => cfg!(feature = "wgpu"),
        }
    }

    /// The backends this binary holds.
    pub fn compiled() -> Vec<Self> {
        Self::ALL.into_iter().filter(|b| b.is_compiled()).collect()
    }

    /// What runs when none is asked for: flex where it is compiled in (the
    /// tested CPU default), else the only other backend the build holds.
    pub fn default_compiled() -> Self {
        Self::compiled()[0]
    }

    /// `asked`, or the default; refuses one this binary was built without.
    pub fn resolve(asked: Option<Self>) -> Result<Self> {
        let backend = asked.unwrap_or_else(Self::default_compiled);
        if !backend.is_compiled() {
            let compiled: Vec<String> = Self::compiled().iter().map(|b| b.to_string()).collect();
            bail!(
                "backend `{backend}` is not compiled into this binary (it has {}): rebuild with `cargo build --release --features {backend}`",
                compiled.join(", ")
            );
        }
        Ok(backend)
    }

    /// The device training and evaluation run on.
    pub fn device(self) -> Device {
        match self {
            #[cfg(feature = "flex")]
            Self::Flex => Device::flex(),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            // kept working because the design card names burn-ndarray
            Self::Ndarray => Device::ndarray(),
            #[cfg(feature = "wgpu")]
            Self::Wgpu => Device::wgpu(Default::default()),
            #[allow(unreachable_patterns)] // every backend compiled in
            other => unreachable!("{other} is not compiled in; `resolve` refuses it"),
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Flex => "flex",
            Self::Ndarray => "ndarray",
            Self::Wgpu => "wgpu",
        })
    }
}

/// Runs `work` (a training loop) on one CPU thread that treats denormal floats as zero.
///
/// One thread: flex splits every matmul above 192³ multiply-adds across rayon workers,
/// and for the batch-64 products of a step the fork/join costs more than the second
/// core gives (the fused kernels use both cores their own way). Evaluation's
/// 1000-image products do gain from threads, so only training is confined.
///
/// Denormals as zero: Adam's second moments and ReLU's rare tiny gradients decay into
/// the denormal range, where x86 arithmetic is about 100× slower. PyTorch offers the
/// same switch (`torch.set_flush_denormal`) and GPUs flush by default; the effect on
/// results is below f32 resolution.
pub fn on_training_thread<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    match rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .start_handler(|_| set_ftz_daz())
        .build()
    {
        Ok(pool) => pool.install(work),
        Err(_) => {
            set_ftz_daz();
            work()
        }
    }
}

/// Sets MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6) flags.
pub(crate) fn set_ftz_daz() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: only changes how this thread's SSE unit rounds denormals; SSE2 is part of x86-64.
    #[allow(deprecated)] // _mm_setcsr is the only stable way to reach MXCSR
    unsafe {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        _mm_setcsr(_mm_getcsr() | 0x8040);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_compiled_in_and_flex_wins_where_present() {
        let default = BackendKind::default_compiled();
        assert!(default.is_compiled());
        assert_eq!(default == BackendKind::Flex, cfg!(feature = "flex"));
        assert_eq!(BackendKind::resolve(None).unwrap(), default);
    }

    #[test]
    fn a_backend_left_out_of_the_build_names_its_feature() {
        for backend in BackendKind::ALL {
            match BackendKind::resolve(Some(backend)) {
                Ok(resolved) => assert!(resolved.is_compiled() && resolved == backend),
                Err(err) => {
                    assert!(!backend.is_compiled());
                    assert!(err.to_string().contains(&format!("--features {backend}")));
                }
            }
        }
    }
}
