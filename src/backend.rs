//! The one place where cargo features become a Burn `Device`.
//!
//! Features: `flex` (default, pure-Rust CPU), `ndarray` (the older CPU backend),
//! `wgpu` (GPU through Vulkan/Metal/DX12). When several are compiled in, the GPU wins.

use burn::prelude::Device;

#[cfg(not(any(feature = "flex", feature = "ndarray", feature = "wgpu")))]
compile_error!("enable one backend feature: flex (default), ndarray or wgpu");

/// The device training and evaluation run on.
pub fn device() -> Device {
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
