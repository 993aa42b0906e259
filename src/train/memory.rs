//! Refuses a model too large for the memory this process may use, before anything
//! is allocated for it: past that, Linux's OOM killer ends the run part-way without
//! a word (or ends another process instead), and other systems abort the allocation.

use anyhow::{Result, bail};
use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System};

use crate::config::{ExperimentConfig, OptimizerKind};
use crate::eval::EVAL_BATCH;

const GIB: f64 = (1u64 << 30) as f64;

/// Refuses `config` when training it needs more memory than is available now.
pub fn refuse_if_too_large(config: &ExperimentConfig) -> Result<()> {
    refuse_beyond(config, available_bytes())
}

/// Refuses `config` when it needs more than `available` bytes (unknown: never).
fn refuse_beyond(config: &ExperimentConfig, available: Option<u64>) -> Result<()> {
    let needed = least_training_bytes(config);
    match available {
        Some(available) if needed > available => bail!(
            "[model] hidden = {:?} needs at least {:.1} GiB to train (weights, gradients and optimizer state in f32, and an evaluation batch's activations), more than the {:.1} GiB of memory available now: use narrower layers, or free memory",
            config.model.hidden,
            needed as f64 / GIB,
            available as f64 / GIB
        ),
        _ => Ok(()),
    }
}

/// A lower bound of what training `config` holds at once: four bytes for each
/// parameter, its gradient and each word of optimizer state, and the widest layer's
/// input and output for an evaluation batch.
fn least_training_bytes(config: &ExperimentConfig) -> u64 {
    let state_words = match config.optimizer.name {
        OptimizerKind::Sgd if config.optimizer.momentum == 0.0 => 0,
        OptimizerKind::Sgd => 1,
        OptimizerKind::Adam | OptimizerKind::Adamw => 2,
    };
    let parameters = config.parameter_count().unwrap_or(usize::MAX) as u64;
    let widest = config.layer_sizes().into_iter().max().unwrap_or(0) as u64;
    let batch = EVAL_BATCH.max(config.training.batch_size) as u64;
    let words = parameters.saturating_mul(2 + state_words) + 2 * batch * widest;
    words.saturating_mul(4)
}

/// The memory this process may still take: the machine's available memory, or what
/// its cgroup (a container, a Slurm job) leaves it when that is less; `None` where the
/// system does not say.
fn available_bytes() -> Option<u64> {
    let mut system = System::new();
    system.refresh_memory();
    let machine = Some(system.available_memory()).filter(|&bytes| bytes > 0)?;
    let cgroup = sysinfo::get_current_pid().ok().and_then(|pid| {
        system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[pid]),
            false,
            ProcessRefreshKind::nothing(),
        );
        system.process(pid)?.cgroup_limits()
    });
    // A cgroup that reads as full is more likely misread than true: the machine's figure stands.
    let cgroup = cgroup.filter(|limits| limits.free_memory > 0);
    Some(cgroup.map_or(machine, |limits| limits.free_memory.min(machine)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(hidden: &[usize], optimizer: &str) -> ExperimentConfig {
        let text = format!(
            "[experiment]\nname = \"big\"\n[model]\nhidden = {hidden:?}\n[optimizer]\nname = \"{optimizer}\"\n"
        );
        ExperimentConfig::parse(&text, &[]).unwrap()
    }

    #[test]
    fn the_bound_counts_each_parameters_words_and_the_widest_evaluation_batch() {
        // 784·100 + 100 + 100·10 + 10 parameters, widest layer 784.
        let parameters = 79_510;
        let batch = 2 * 1000 * 784;
        let sgd = config(&[100], "sgd");
        assert_eq!(least_training_bytes(&sgd), 4 * (2 * parameters + batch));
        let adam = config(&[100], "adam");
        assert_eq!(least_training_bytes(&adam), 4 * (4 * parameters + batch));
    }

    #[test]
    fn a_model_beyond_the_available_memory_is_refused() {
        // 784·1 000 000 + … ≈ 0.8 G parameters, four words each, and 2 · 1000 · 10⁶
        // activations: 19.3 GiB at least.
        let huge = config(&[1_000_000], "adam");
        let err = refuse_beyond(&huge, Some(16 << 30))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("needs at least 19.3 GiB to train")
                && err.contains("more than the 16.0 GiB of memory available now"),
            "{err}"
        );
        refuse_beyond(&huge, Some(20 << 30)).unwrap();
        refuse_beyond(&huge, None).unwrap();
        // This machine says how much it has, and the assignment's model fits in it.
        assert!(available_bytes().is_some());
        refuse_if_too_large(&config(&[500, 250, 100], "adam")).unwrap();
    }
}
