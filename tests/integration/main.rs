//! The integration suite as one test binary: every module links Burn with all three
//! backends, so a binary per file would cost a link and its disk each.

mod common;

mod browser;
mod cli;
mod fused;
mod fuzz;
mod hostile;
mod interrupt;
mod model;
mod ownership;
mod real_mnist;
mod serve;
mod sweep;
mod weights;
