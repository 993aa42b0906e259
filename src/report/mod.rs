//! Everything a run writes to explain itself.

pub mod classification;

pub use classification::{ClassificationReport, ConfusionMatrix};
