//! mnist-mlp: train, evaluate and explain multilayer perceptrons on MNIST with Burn.
//!
//! Data flows one way: [`config`] → [`data`] → [`model`] → [`train`] (Burn's
//! Learner in our epoch loop, recording metrics.csv) → [`eval`] → [`report`] →
//! [`run`] (the run folder under `artifacts/`).

pub mod backend;
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod eval;
pub mod fsutil;
pub mod fused;
pub mod history;
pub mod inspect;
pub mod limits;
pub mod model;
pub mod predict;
pub mod report;
pub mod run;
pub mod run_dir;
pub mod run_lock;
pub mod saved;
pub mod schedule;
pub mod serve;
pub mod state_dict;
pub mod sweep;
pub mod train;
pub mod weights;
