//! The integration suite as one test binary. Every module links Burn with all three backends,
//! so one binary per file cost a link and about half a gigabyte of disk each; CI ran out of
//! disk linking them.

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
