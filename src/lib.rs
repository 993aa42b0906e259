//! mnist-mlp: train, evaluate and explain multilayer perceptrons on MNIST with Burn.
//!
//! Read in this order; each group imports only from the groups above it.

// What MNIST is, the largest input each parser takes, atomic files and locks, the
// devices, two cores on one job, and vector code picked at run time.
pub mod backend;
pub mod cores;
pub mod fsutil;
pub mod limits;
pub mod mnist;
pub mod simd;

// An experiment as TOML, checked.
pub mod config;

// MNIST on disk → verified bytes → Burn batches (and any picture → a digit).
pub mod data;

// The fused CPU kernels, and the MLP built on them.
pub mod fused;
pub mod model;

// A model scored on a split, with sklearn's classification report.
pub mod eval;

// A run folder's layout, its lock, history and summary.
pub mod run_files;

// Model files written, read (ours and PyTorch's) and loaded.
pub mod weights;

// Burn's Learner in our epoch loop, recording metrics.csv.
pub mod train;

// What a run shows a person: report.md, figures, comparisons, inspect.
pub mod report;

// One experiment from config to finished run folder, and its timing.
pub mod bench;
pub mod run;

// Many runs searched, and the local web app over them.
pub mod serve;
pub mod sweep;
