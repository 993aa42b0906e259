//! The sweep's shared outputs, rebuilt together after every trial: leaderboard.csv,
//! leaderboard.md and the figures it shows.

use anyhow::{Context, Result};

use super::Sweep;
use super::folder::SweepDir;
use super::leaderboard::Leaderboard;
use super::plots;
use crate::fsutil::{open_lock, write_atomic};

/// Rebuilds leaderboard.csv, leaderboard.md and the figures from what the folder
/// holds now. Under the folder's lock: trials finishing together take turns, and
/// each rebuild reads the state after its own trial's summary was written, so the
/// last one to finish leaves a complete leaderboard.
pub fn refresh<'a>(sweep: &'a Sweep, dir: &SweepDir) -> Result<Leaderboard<'a>> {
    let lock = open_lock(&dir.leaderboard_lock())?;
    lock.lock()
        .with_context(|| format!("cannot lock {}", dir.leaderboard_lock().display()))?;
    let board = Leaderboard::collect(sweep, dir)?;
    let with_figures = plots::draw(sweep, dir, &board)?;
    write_atomic(&dir.leaderboard_csv(), &board.csv(sweep)?)?;
    write_atomic(
        &dir.leaderboard_md(),
        board.markdown(sweep, with_figures).as_bytes(),
    )?;
    Ok(board)
}
