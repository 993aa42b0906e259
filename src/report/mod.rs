//! Everything a run writes to explain itself.

pub mod classification;
pub mod compare;
pub mod plots;
pub mod run_report;

pub use classification::{ClassificationReport, ConfusionMatrix};
pub use run_report::{RunReport, draw_sample_grid};
