//! A fuzzer for the five parsers of untrusted input, on stable Rust: the experiment
//! config with its `--set` overrides, IDX files (raw and gzip), weights files
//! (safetensors and `torch.save`'s `.pt`), and pictures. Each starts from real files
//! made here, then feeds it random bytes and mutations of them drawn from a seeded RNG:
//! bit flips, truncations, splices of another seed, integer fields overwritten with huge
//! values, tokens inserted. Every input must come back, accepted or refused, without a
//! panic and within [`SLOWEST`].
//!
//! The suite runs [`DEFAULT_INPUTS`] inputs per parser; a campaign sets more, and another
//! RNG seed to explore elsewhere:
//!
//! ```text
//! MNIST_MLP_FUZZ_ITERATIONS=1000000 MNIST_MLP_FUZZ_SEED=7 \
//!     cargo test --release --all-features --test integration fuzz:: -- --nocapture
//! ```
//!
//! An input that fails is saved under the target's scratch folder and named in the failure.

use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use image::{DynamicImage, ImageFormat, RgbImage};
use mnist_mlp::config::ExperimentConfig;
use mnist_mlp::data::idx::{encode_images, encode_labels, parse_images, parse_labels, read_idx};
use mnist_mlp::data::picture;
use mnist_mlp::report::inspect;
use mnist_mlp::weights::state_dict;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use safetensors::tensor::{Dtype, TensorView};

use crate::common::synthetic::synthetic;
use crate::common::torch::{View, torch_save};

/// Inputs per parser in the suite: about a second each in a release build.
const DEFAULT_INPUTS: usize = 2_000;
/// The longest any one input may take; a real one takes milliseconds.
const SLOWEST: Duration = Duration::from_secs(5);

/// Integers that sizes and offsets go wrong on, written over a field of the input.
const HUGE: [u64; 9] = [
    0,
    1,
    0x7f,
    0xff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    1 << 40,
    u64::MAX,
];

/// Bytes that mean something to a text format, inserted anywhere.
const TOKENS: [&str; 18] = [
    "9223372036854775807",
    "18446744073709551616",
    "-1",
    "1e309",
    "nan",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "'''",
    "=",
    ".",
    "\n[model]\nhidden = [1000000, 1000000]\n",
    "model.hidden=[4294967296, 4294967296]",
    "é",
    "\u{1f600}",
    "\0",
];

/// One parser: its seeds, which it must accept, and a call that must return, accepting
/// or refusing, without panicking.
struct Target {
    name: &'static str,
    seeds: Vec<Vec<u8>>,
    parse: fn(&[u8], &Path) -> anyhow::Result<()>,
}

impl Target {
    /// Checks every seed is accepted (so the mutations start from real files), then
    /// runs the campaign: each input under `catch_unwind` and against the clock.
    fn fuzz(&self) {
        let scratch = tempfile::tempdir().unwrap();
        for (index, seed) in self.seeds.iter().enumerate() {
            if let Err(err) = (self.parse)(seed, scratch.path()) {
                panic!("{} seed {index} is refused: {err:#}", self.name);
            }
        }
        let inputs = env_number("MNIST_MLP_FUZZ_ITERATIONS").unwrap_or(DEFAULT_INPUTS as u64);
        let seed = env_number("MNIST_MLP_FUZZ_SEED").unwrap_or(19);
        let mut rng = StdRng::seed_from_u64(seed ^ fnv(self.name));
        let started = Instant::now();
        let mut slowest = Duration::ZERO;
        for index in 0..inputs {
            let input = mutate(&mut rng, &self.seeds);
            let began = Instant::now();
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                let _ = (self.parse)(&input, scratch.path());
            }));
            let took = began.elapsed();
            slowest = slowest.max(took);
            if outcome.is_err() || took > SLOWEST {
                let saved = self.save(index, &input);
                let what = if outcome.is_err() {
                    "panicked"
                } else {
                    "was slow"
                };
                panic!(
                    "{} {what} on input {index} (RNG seed {seed}, {took:?}), saved as {}",
                    self.name,
                    saved.display()
                );
            }
        }
        eprintln!(
            "fuzz {}: {inputs} inputs in {:.1?}, slowest {slowest:.1?}",
            self.name,
            started.elapsed()
        );
    }

    fn save(&self, index: u64, input: &[u8]) -> PathBuf {
        let path =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-{}-{index}.bin", self.name));
        std::fs::write(&path, input).unwrap();
        path
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

/// A stable hash of the target's name, so each target draws its own stream.
fn fnv(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Random bytes now and then; otherwise a seed changed one to four times.
fn mutate(rng: &mut StdRng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if rng.random_ratio(1, 32) {
        let mut noise = vec![0u8; rng.random_range(0..256)];
        rng.fill(&mut noise[..]);
        return noise;
    }
    let mut bytes = seeds[rng.random_range(0..seeds.len())].clone();
    for _ in 0..rng.random_range(1..=4) {
        let at = rng.random_range(0..=bytes.len());
        match rng.random_range(0..6) {
            0 if at < bytes.len() => bytes[at] ^= 1 << rng.random_range(0..8),
            1 => bytes.truncate(at),
            2 => {
                let other = &seeds[rng.random_range(0..seeds.len())];
                let from = rng.random_range(0..=other.len());
                let len = rng.random_range(0..=(other.len() - from).min(64));
                insert(&mut bytes, at, &other[from..from + len]);
            }
            3 => overwrite_integer(rng, &mut bytes, at),
            4 => insert(
                &mut bytes,
                at,
                TOKENS[rng.random_range(0..TOKENS.len())].as_bytes(),
            ),
            _ => {
                let end = rng.random_range(at..=bytes.len().min(at + 64));
                if rng.random_bool(0.5) {
                    bytes.drain(at..end);
                } else {
                    let chunk = bytes[at..end].to_vec();
                    insert(&mut bytes, at, &chunk);
                }
            }
        }
    }
    bytes
}

fn insert(bytes: &mut Vec<u8>, at: usize, piece: &[u8]) {
    let tail = bytes.split_off(at);
    bytes.extend_from_slice(piece);
    bytes.extend(tail);
}

/// Writes one of [`HUGE`] (or a random value) over 2, 4 or 8 bytes at `at`, either endian.
fn overwrite_integer(rng: &mut StdRng, bytes: &mut [u8], at: usize) {
    let value = match rng.random_ratio(1, 4) {
        true => rng.random(),
        false => HUGE[rng.random_range(0..HUGE.len())],
    };
    let width = [2, 4, 8][rng.random_range(0..3)];
    let field = if rng.random_bool(0.5) {
        value.to_le_bytes()[..width].to_vec()
    } else {
        value.to_be_bytes()[8 - width..].to_vec()
    };
    let end = (at + width).min(bytes.len());
    bytes[at..end].copy_from_slice(&field[..end - at]);
}

/// The shipped configs, some with `--set` overrides after NUL separators.
fn config_seeds() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .map(|path| std::fs::read(path).unwrap())
        .collect();
    seeds.sort();
    let overridden = [
        &seeds[0][..],
        b"\0training.epochs=3\0model.hidden=[32, 16]\0optimizer.name=adam",
    ]
    .concat();
    seeds.push(overridden);
    seeds
}

/// `text\0--set\0--set…`: parsed, and when accepted, written and read back the same.
fn parse_config(input: &[u8], _: &Path) -> anyhow::Result<()> {
    let text = String::from_utf8_lossy(input);
    let mut parts = text.split('\0');
    let toml = parts.next().unwrap_or_default();
    let overrides: Vec<String> = parts.map(str::to_string).collect();
    let config = ExperimentConfig::parse(toml, &overrides)?;
    let again = ExperimentConfig::parse(&config.to_toml(), &[]);
    assert_eq!(again.ok().as_ref(), Some(&config), "the config reads back");
    Ok(())
}

/// Three images and their labels, raw and gzipped.
fn idx_seeds() -> Vec<Vec<u8>> {
    let (images, labels) = synthetic(3, 0);
    let raw = [encode_images(&images), encode_labels(&labels)];
    let gzipped = raw.clone().map(|bytes| {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(&bytes).unwrap();
        encoder.finish().unwrap()
    });
    [raw, gzipped].concat()
}

/// Read as a file is (gunzipped when it is gzip), then parsed as images and as labels;
/// the raw bytes are parsed too. Accepted when the file read is either.
fn parse_idx(input: &[u8], _: &Path) -> anyhow::Result<()> {
    let origin = Path::new("fuzz-idx");
    let _ = parse_images(input, origin);
    let _ = parse_labels(input, 10, origin);
    let bytes = read_idx(input, origin)?;
    let images = parse_images(&bytes, origin).map(drop);
    images.or_else(|_| parse_labels(&bytes, 10, origin).map(drop))
}

/// A 784 → 4 → 10 network as safetensors and as `torch.save` writes it, with and
/// without the zip's checksums.
fn weights_seeds() -> [Vec<u8>; 3] {
    let shapes: [(&str, &[usize], &[usize]); 4] = [
        ("0.weight", &[4, 784], &[784, 1]),
        ("0.bias", &[4], &[1]),
        ("2.weight", &[10, 4], &[4, 1]),
        ("2.bias", &[10], &[1]),
    ];
    let values: Vec<Vec<f32>> = shapes
        .iter()
        .map(|(_, shape, _)| {
            let count = shape.iter().product::<usize>();
            (0..count).map(|i| (i % 7) as f32 / 7.0 - 0.5).collect()
        })
        .collect();
    let data: Vec<Vec<u8>> = values
        .iter()
        .map(|v| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let tensors = shapes.iter().zip(&data).map(|((name, shape, _), bytes)| {
        let view = TensorView::new(Dtype::F32, shape.to_vec(), bytes).unwrap();
        (*name, view)
    });
    let safetensors = safetensors::serialize(tensors, None).unwrap();
    let keys = ["0", "1", "2", "3"];
    let views: Vec<View> = shapes
        .iter()
        .zip(keys)
        .map(|((name, shape, stride), storage)| View {
            name,
            storage,
            shape,
            stride,
        })
        .collect();
    let storages: Vec<(&str, Vec<f32>)> = keys.into_iter().zip(values).collect();
    [
        safetensors,
        torch_save(&views, &storages, true),
        torch_save(&views, &storages, false),
    ]
}

/// Described as `inspect` does, and loaded as `eval` loads a model.
fn parse_weights(input: &[u8], scratch: &Path) -> anyhow::Result<()> {
    let path = scratch.join("input.weights");
    std::fs::write(&path, input)?;
    let _ = inspect::describe(&path);
    state_dict::read(&path).map(drop)
}

/// A digit drawn in every format `predict` reads.
fn picture_seeds() -> Vec<Vec<u8>> {
    let digit = RgbImage::from_fn(30, 24, |x, y| {
        let ink = (10..14).contains(&x) && (4..20).contains(&y);
        image::Rgb(if ink { [250, 250, 250] } else { [10, 20, 30] })
    });
    let digit = DynamicImage::ImageRgb8(digit);
    let formats = [
        ImageFormat::Png,
        ImageFormat::Jpeg,
        ImageFormat::Gif,
        ImageFormat::Bmp,
        ImageFormat::WebP,
    ];
    let mut seeds: Vec<Vec<u8>> = formats
        .iter()
        .map(|&format| {
            let mut bytes = std::io::Cursor::new(Vec::new());
            digit.write_to(&mut bytes, format).unwrap();
            bytes.into_inner()
        })
        .collect();
    let mut gray = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageLuma8(digit.to_luma8())
        .write_to(&mut gray, ImageFormat::Png)
        .unwrap();
    seeds.push(gray.into_inner());
    seeds
}

fn parse_picture(input: &[u8], _: &Path) -> anyhow::Result<()> {
    picture::decode_digit(input).map(drop)
}

#[test]
fn the_config_parser_survives_fuzzing() {
    let target = Target {
        name: "config",
        seeds: config_seeds(),
        parse: parse_config,
    };
    target.fuzz();
}

#[test]
fn the_idx_reader_survives_fuzzing() {
    let target = Target {
        name: "idx",
        seeds: idx_seeds(),
        parse: parse_idx,
    };
    target.fuzz();
}

#[test]
fn the_safetensors_reader_survives_fuzzing() {
    let [safetensors, ..] = weights_seeds();
    let target = Target {
        name: "safetensors",
        seeds: vec![safetensors],
        parse: parse_weights,
    };
    target.fuzz();
}

#[test]
fn the_pytorch_reader_survives_fuzzing() {
    let [_, pickles @ ..] = weights_seeds();
    let target = Target {
        name: "pytorch",
        seeds: pickles.to_vec(),
        parse: parse_weights,
    };
    target.fuzz();
}

#[test]
fn the_picture_decoder_survives_fuzzing() {
    let target = Target {
        name: "picture",
        seeds: picture_seeds(),
        parse: parse_picture,
    };
    target.fuzz();
}
