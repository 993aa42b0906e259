//! Vector code for the hot loops on every x86-64 CPU: one function compiled for
//! AVX-512, for AVX2 + FMA and for the baseline, picked at run time. The fused
//! kernels and the elastic distortions' Gaussian use it.

/// Defines a function whose loop is compiled three times, for AVX-512, for AVX2 + FMA and
/// for baseline x86-64, and runs the widest the CPU has (checked at run time, cached).
/// On aarch64 the loop is compiled once: NEON is part of that target's baseline, so
/// the compiler's vectorised loop is already NEON code on every ARM CPU.
macro_rules! vectorised {
    ($(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn avx512($($arg: $ty),*) $(-> $ret)? $body
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) $(-> $ret)? $body
                if is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU supports the features `avx512` is compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU supports the features `avx2` is compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body
        }
    };
}

pub(crate) use vectorised;
