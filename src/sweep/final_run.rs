//! `--final`: the winner retrained on every training image and evaluated on the test
//! set, once. The test set is looked at only here, so a finished final run is only
//! ever reported again, and one made for an earlier winner is never replaced silently.

use anyhow::{Context, Result, bail};

use super::attempt::train;
use super::folder::{FINAL, SweepDir};
use super::leaderboard::Leaderboard;
use super::stop::Stop;
use super::{Sweep, Trial, publish};
use crate::config::ExperimentConfig;
use crate::fsutil::try_lock;
use crate::limits::MAX_DESCRIPTION_CHARS;
use crate::run_files::RunDir;
use crate::run_files::summary::Summary;

/// What the final run tells its watcher before it returns.
#[derive(Debug)]
pub enum FinalStep<'a> {
    /// The winner was chosen among the `finished` of `of` trials finished so far.
    Provisional { finished: usize, of: usize },
    /// The final run of this winner exists already: it is reported, not retrained.
    AlreadyDone,
    /// An unfinished final run of an earlier winner is started over.
    StartingOver,
    /// Retraining starts.
    Retraining { trial: &'a Trial, epochs: usize },
}

/// The finished final run.
pub struct Retrained<'a> {
    /// The winner it retrained.
    pub trial: &'a Trial,
    pub summary: Summary,
    pub run: RunDir,
}

/// Retrains the winner on every training image for the epochs it was kept at, then
/// evaluates it on the test set, unless that was done already; `None` when Ctrl-C
/// stopped it (it resumes next time).
pub fn retrain_winner<'a>(
    sweep: &'a Sweep,
    dir: &SweepDir,
    stop: &Stop,
    watch: &mut dyn FnMut(FinalStep<'_>),
) -> Result<Option<Retrained<'a>>> {
    let board = Leaderboard::collect(sweep, dir)?;
    let Some((trial, summary)) = board.winner() else {
        match board.failed() {
            0 => bail!(
                "no finished trial in {} yet: run the sweep first, then --final retrains its winner",
                dir.root.display()
            ),
            failed => bail!(
                "no trial in {} has finished: {failed} failed (see {}); fix the cause and run the sweep again, then --final",
                dir.root.display(),
                dir.leaderboard_md().display()
            ),
        }
    };
    let finished = board.finished().count();
    if finished < sweep.trials.len() {
        watch(FinalStep::Provisional {
            finished,
            of: sweep.trials.len(),
        });
    }
    let epochs = final_epochs(&trial.config, summary);
    let config = final_config(sweep, trial, epochs)?;
    let Some(_lock) = try_lock(&dir.final_lock())? else {
        bail!("the final run is running in another process");
    };
    let run = dir.final_run();
    let summary = if run.is_finished() {
        let done = Summary::load(&run)?;
        refuse_another_winners(&done, &config, &run, trial)?;
        watch(FinalStep::AlreadyDone);
        done
    } else {
        let earlier_winners = started_for_another(&run, &config);
        if earlier_winners {
            watch(FinalStep::StartingOver);
        }
        watch(FinalStep::Retraining { trial, epochs });
        let Some(summary) = train(&config, &dir.root, stop, earlier_winners)? else {
            return Ok(None);
        };
        publish::refresh(sweep, dir)?;
        summary
    };
    Ok(Some(Retrained {
        trial,
        summary,
        run,
    }))
}

/// The epoch early stopping kept, else every configured epoch: the final run has no
/// validation images to stop on, so it trains as long as the winner was worth.
pub fn final_epochs(config: &ExperimentConfig, summary: &Summary) -> usize {
    if config.training.early_stopping > 0 && summary.kept_epoch > 0 {
        summary.kept_epoch
    } else {
        config.training.epochs
    }
}

/// The winner's config, on all training images for `epochs` epochs, in `final/`.
pub fn final_config(sweep: &Sweep, trial: &Trial, epochs: usize) -> Result<ExperimentConfig> {
    let description = format!(
        "the winner of sweep {}, trial {} ({})",
        sweep.name, trial.index, trial.label
    );
    // The label repeats the axes' values, a description among them: cut to fit.
    let description: String = description.chars().take(MAX_DESCRIPTION_CHARS).collect();
    let mut overrides = trial.overrides.clone();
    overrides.extend([
        "data.validation=0".to_string(),
        "training.early_stopping=0".to_string(),
        // The test set's one look is at the end: no per-epoch evaluation to peek at.
        "training.evaluate_every_epoch=false".to_string(),
        format!("training.epochs={epochs}"),
        format!("experiment.name={FINAL}"),
        format!(
            "experiment.description={}",
            toml::Value::String(description)
        ),
    ]);
    ExperimentConfig::parse(&sweep.base_config, &overrides)
        .with_context(|| format!("the final run of trial {} ({})", trial.index, trial.label))
}

/// Whether `run` holds an unfinished final run of another config (an earlier
/// winner's, before more trials finished). It has not looked at the test set yet, which
/// it does once at the end, so it may start over for the new winner. The same winner's
/// run, with its data moved since, resumes instead.
fn started_for_another(run: &RunDir, config: &ExperimentConfig) -> bool {
    run.config_text()
        .ok()
        .and_then(|text| ExperimentConfig::parse(&text, &[]).ok())
        .is_some_and(|started| !started.differences(config, &["data.dir"]).is_empty())
}

/// Refuses a finished final run made from another config (an earlier winner's):
/// retraining over it would spend the test set's one look twice.
fn refuse_another_winners(
    done: &Summary,
    config: &ExperimentConfig,
    run: &RunDir,
    trial: &Trial,
) -> Result<()> {
    if done.config != *config {
        bail!(
            "{} holds the final run of an earlier winner: delete it to retrain trial {} ({})",
            run.root.display(),
            trial.index,
            trial.label
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::attempt::fixture::{Project, summary, write_summary};

    fn retrain(project: &Project) -> (Result<Option<usize>>, Vec<String>) {
        let stop = Stop::new("stopping", "stopped");
        let mut steps = Vec::new();
        let result = retrain_winner(&project.sweep, &project.dir, &stop, &mut |step| {
            steps.push(format!("{step:?}"))
        });
        (
            result.map(|done| done.map(|retrained| retrained.trial.index)),
            steps,
        )
    }

    fn error(result: Result<Option<usize>>) -> String {
        format!("{:#}", result.expect_err("an error"))
    }

    #[test]
    fn the_final_run_trains_for_the_kept_epoch_only_with_early_stopping() {
        let project = Project::new();
        let mut config = project.sweep.trials[0].config.clone();
        assert_eq!(config.training.epochs, 7);
        config.training.early_stopping = 0;
        assert_eq!(final_epochs(&config, &summary(&config, 90.0, 4)), 7);
        config.training.early_stopping = 2;
        assert_eq!(final_epochs(&config, &summary(&config, 90.0, 4)), 4);
        // An older summary without the kept epoch.
        assert_eq!(final_epochs(&config, &summary(&config, 90.0, 0)), 7);
    }

    #[test]
    fn the_final_config_uses_every_training_image_and_looks_at_the_test_set_once() {
        let project = Project::new();
        let trial = &project.sweep.trials[2];
        let config = final_config(&project.sweep, trial, 3).unwrap();
        assert_eq!(config.data.validation, 0);
        assert_eq!(config.training.early_stopping, 0);
        assert!(!config.training.evaluate_every_epoch);
        assert_eq!(config.training.epochs, 3);
        assert_eq!(config.experiment.name, FINAL);
        assert_eq!(config.optimizer.learning_rate, 0.03);
    }

    #[test]
    fn there_is_no_final_run_without_a_finished_trial() {
        let project = Project::new();
        project.fail(0, "diverged");
        let (result, steps) = retrain(&project);
        let message = error(result);
        assert!(
            message.contains("has finished: 1 failed") && message.contains("leaderboard.md"),
            "{message}"
        );
        assert!(steps.is_empty());
    }

    #[test]
    fn a_finished_final_run_of_the_winner_is_reported_not_retrained() {
        let project = Project::new();
        project.finish(1, 90.0, 7);
        project.finish(3, 95.0, 7);
        let winner = &project.sweep.trials[3];
        let config = final_config(&project.sweep, winner, 7).unwrap();
        write_summary(&project.dir.final_run(), &summary(&config, 0.0, 7));
        let (result, steps) = retrain(&project);
        assert_eq!(result.unwrap(), Some(3));
        assert_eq!(
            steps,
            [
                "Provisional { finished: 2, of: 4 }".to_string(),
                "AlreadyDone".to_string()
            ]
        );
    }

    #[test]
    fn a_final_run_of_an_earlier_winner_is_refused() {
        let project = Project::new();
        project.finish(1, 90.0, 7);
        let earlier = final_config(&project.sweep, &project.sweep.trials[1], 7).unwrap();
        write_summary(&project.dir.final_run(), &summary(&earlier, 0.0, 7));
        project.finish(3, 95.0, 7);
        let (result, steps) = retrain(&project);
        let message = error(result);
        assert!(
            message.contains("holds the final run of an earlier winner")
                && message.contains("retrain trial 3"),
            "{message}"
        );
        assert!(!steps.iter().any(|step| step.starts_with("Retraining")));
    }

    #[test]
    fn an_unfinished_final_run_starts_over_for_a_new_winner_and_resumes_for_its_own() {
        let project = Project::new();
        let config_of =
            |index: usize| final_config(&project.sweep, &project.sweep.trials[index], 7).unwrap();
        let run = project.dir.final_run();
        std::fs::create_dir_all(&run.root).unwrap();
        std::fs::write(run.config(), config_of(1).to_toml()).unwrap();
        assert!(!started_for_another(&run, &config_of(1)));
        assert!(started_for_another(&run, &config_of(3)));
        // The same winner with its data moved since resumes as any run does.
        let mut moved = config_of(1);
        moved.data.dir = "/elsewhere".into();
        assert!(!started_for_another(&run, &moved));
    }

    #[test]
    fn one_final_run_at_a_time() {
        let project = Project::new();
        project.finish(0, 90.0, 7);
        let _held = try_lock(&project.dir.final_lock()).unwrap().unwrap();
        let (result, _) = retrain(&project);
        assert!(error(result).contains("running in another process"));
    }
}
