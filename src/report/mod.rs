//! Everything a run writes to explain itself.

pub mod compare;
pub mod diagnostics;
pub mod heatmaps;
pub mod inspect;
pub mod markdown;
pub mod plots;
pub mod run_report;

pub use run_report::{RunReport, draw_sample_grid};
