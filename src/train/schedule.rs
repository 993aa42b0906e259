//! The learning rate over a run: burn-optim's schedulers, stepped by the Learner
//! before every batch, with the config's epochs turned into batches. The
//! scheduler's state is part of every checkpoint, so a resumed run continues the
//! same curve.

use anyhow::{Result, anyhow};
use burn::optim::lr_scheduler::LrSchedulerConfig;
use burn::optim::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::optim::lr_scheduler::linear::LinearLrSchedulerConfig;
use burn::optim::lr_scheduler::module_lr_scheduler::{ModuleLrScheduler, ModuleLrSchedulerConfig};
use burn::optim::lr_scheduler::sequential::SequentialLrSchedulerConfig;
use burn::optim::lr_scheduler::step::StepLrSchedulerConfig;

use crate::config::{ExperimentConfig, ScheduleKind};

/// Warm-up starts at this fraction of the learning rate.
const WARMUP_START: f64 = 0.01;

/// The scheduler `config` describes, for `batches_per_epoch` batches an epoch.
pub fn scheduler(config: &ExperimentConfig, batches_per_epoch: usize) -> Result<ModuleLrScheduler> {
    let schedule = &config.schedule;
    let lr = config.optimizer.learning_rate;
    let warmup = schedule.warmup_epochs * batches_per_epoch;
    let after_warmup = (config.training.epochs - schedule.warmup_epochs) * batches_per_epoch;
    let main: LrSchedulerConfig = match schedule.kind {
        ScheduleKind::Constant => LrSchedulerConfig::Constant(lr),
        ScheduleKind::Step => {
            StepLrSchedulerConfig::new(lr, schedule.step_epochs * batches_per_epoch)
                .with_gamma(schedule.gamma)
                .into()
        }
        ScheduleKind::Cosine => CosineAnnealingLrSchedulerConfig::new(lr, after_warmup)
            .with_min_lr(schedule.min_lr)
            .into(),
    };
    let whole = if warmup == 0 {
        main
    } else {
        let ramp = LinearLrSchedulerConfig::new(lr * WARMUP_START, lr, warmup);
        SequentialLrSchedulerConfig::new(vec![ramp.into(), main], vec![warmup]).into()
    };
    ModuleLrSchedulerConfig::new(whole)
        .init()
        .map_err(|message| anyhow!("[schedule] cannot be built: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rates of steps 1..=steps.
    fn rates(overrides: &[&str], batches_per_epoch: usize, steps: usize) -> Vec<f64> {
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        let config = ExperimentConfig::parse("[experiment]\nname = \"t\"\n", &overrides).unwrap();
        let mut scheduler = scheduler(&config, batches_per_epoch).unwrap();
        (0..steps).map(|_| scheduler.step().base()).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1e-12)
    }

    #[test]
    fn constant_is_the_learning_rate_throughout() {
        assert!(rates(&[], 10, 150).iter().all(|&r| r == 0.01));
    }

    #[test]
    fn step_decays_every_step_epochs() {
        let r = rates(
            &[
                "schedule.kind=step",
                "schedule.step_epochs=2",
                "schedule.gamma=0.5",
            ],
            10,
            60,
        );
        // Epochs 1–2 (steps 1–20) at 0.01, epochs 3–4 at 0.005, epochs 5–6 at 0.0025.
        assert!(r[..20].iter().all(|&x| close(x, 0.01)), "{r:?}");
        assert!(r[20..40].iter().all(|&x| close(x, 0.005)), "{r:?}");
        assert!(r[40..60].iter().all(|&x| close(x, 0.0025)), "{r:?}");
    }

    #[test]
    fn cosine_falls_from_the_rate_to_min_lr() {
        let r = rates(
            &[
                "schedule.kind=cosine",
                "schedule.min_lr=0.001",
                "training.epochs=10",
            ],
            10,
            100,
        );
        assert!(close(r[0], 0.01), "{}", r[0]);
        // Half-way (step 51 is iteration 50 of 100) the curve is at the mean of the two.
        assert!(close(r[50], 0.0055), "{}", r[50]);
        assert!(r.windows(2).all(|w| w[1] <= w[0]));
        assert!(r[99] > 0.001 && r[99] < 0.00101, "{}", r[99]);
    }

    #[test]
    fn warmup_ramps_linearly_then_hands_over() {
        let r = rates(
            &[
                "schedule.kind=cosine",
                "schedule.warmup_epochs=1",
                "training.epochs=3",
            ],
            10,
            30,
        );
        assert!(close(r[0], 0.0001), "{}", r[0]);
        assert!(r[..10].windows(2).all(|w| w[1] > w[0]), "{r:?}");
        assert!(
            close(r[10], 0.01),
            "cosine starts at the full rate: {}",
            r[10]
        );
        assert!(close(r[20], 0.005), "{}", r[20]);
    }
}
