//! The largest input each parser accepts, each following from what an MLP on MNIST can
//! be, so that a hostile file is refused from its header, before anything is allocated
//! for it, and memory stays bounded by what a real input needs.

use crate::mnist::IMAGE_PIXELS;

/// Largest parameter count of a model, in a config or in a weights file: 1 G f32
/// parameters is 4 GB before gradients and optimizer state, far past anything an MLP on
/// MNIST needs (the assignment's 784 → 500 → 250 → 100 → 10 has 0.5 M).
pub const MAX_PARAMETERS: usize = 1_000_000_000;

/// Most hidden layers a config may ask for: a model of more has more tensors than
/// [`MAX_TENSORS`] (a weight and a bias each), so `eval`, `inspect` and `export` could
/// not read back the weights it saved.
pub const MAX_HIDDEN_LAYERS: usize = MAX_TENSORS / 2 - 1;

/// Most epochs a config may ask for: the run's history keeps a record of every epoch
/// in memory, and the record run's 700 are far below it.
pub const MAX_EPOCHS: usize = 100_000;

/// Most tensors a weights file may hold: an MLP of 512 layers. Burn's safetensors store
/// parses the whole header again for each tensor it reads, so reading n tensors costs
/// n² (5 000 took 18 s).
pub const MAX_TENSORS: usize = 1024;

/// Most bytes the pickle of a PyTorch file may hold (all its pickles, in the legacy
/// format): an MLP's state_dict pickles to a few KB, and burn's pickle machine keeps every object a pickle makes (tens of bytes
/// for each byte of pickle), so 95 MiB of `]` took it past 5 GB.
pub const MAX_PICKLE_BYTES: u64 = 1 << 20;

/// Most bytes the tensors of a weights file may take: [`MAX_PARAMETERS`] in f64, the
/// widest float a state_dict stores.
pub const MAX_WEIGHT_BYTES: u64 = MAX_PARAMETERS as u64 * 8;

/// Longest side of a picture to read a digit from: a phone photo (4032 × 3024 at
/// 12 MP, 8064 × 6048 at 48 MP) fits either way up; the digit ends up 20 px tall anyway.
pub const MAX_PICTURE_SIDE: u32 = 8192;

/// Most bytes a picture may decode to, which caps its pixels at 64 M in grey and 16 M
/// in RGBA: a 12 MP phone photo decodes to 37 MB in RGB (49 MB in RGBA). Four uploads
/// decoding at once in `serve` stay within a few hundred MB.
pub const MAX_PICTURE_BYTES: u64 = 64 << 20;

/// Most images (or labels) an IDX file may declare: MNIST has 60 000, and the largest
/// dataset in its format, EMNIST ByClass, 697 932.
pub const MAX_IDX_ITEMS: usize = 1_000_000;

/// Most data bytes an IDX file may declare: [`MAX_IDX_ITEMS`] images of 28 × 28.
pub const MAX_IDX_BYTES: usize = MAX_IDX_ITEMS * IMAGE_PIXELS;

/// Most trials a sweep may plan, grid or random: at seconds to minutes a trial, more is a
/// slip, and each planned trial holds its whole config.
pub const MAX_TRIALS: usize = 10_000;

/// Most bytes a config or sweep file may hold: the shipped ones are under 2 KiB, and a
/// grid of every setting spelled out would not reach a hundredth of this.
pub const MAX_TEXT_BYTES: u64 = 1 << 20;

/// Most bytes a file a run or sweep writes for itself may hold when read back
/// (metrics.csv, diagnostics.csv, progress, a sweep's plan and leaderboard): the
/// record run's 700 epochs wrote 0.55 MB of both logs, so a run of [`MAX_EPOCHS`]
/// such epochs stays under it.
pub const MAX_RECORD_BYTES: u64 = 128 << 20;

/// Most cost rows (one every `log_interval` batches) a run may log: at 64 bytes each,
/// more than a row takes, metrics.csv stays within [`MAX_RECORD_BYTES`], which it is
/// read back with.
pub const MAX_COST_ROWS: u64 = MAX_RECORD_BYTES / 64;

/// Longest experiment description: a sweep copies it into each of its trials' configs
/// (up to [`MAX_TRIALS`] of them), its plan and its leaderboard, so a long one is
/// written thousands of times.
pub const MAX_DESCRIPTION_CHARS: usize = 1000;

/// Longest path a config may name: Linux's `PATH_MAX`.
pub const MAX_PATH_BYTES: usize = 4096;

/// Longest run or sweep name: file systems stop at 255 bytes a name, and a name
/// this long is already a slip.
pub const MAX_NAME_CHARS: usize = 100;
