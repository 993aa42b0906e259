//! Interrupting real training: SIGKILL mid-epoch then `--resume` ends where an
//! unbroken run ends, and Ctrl-C (SIGINT) stops cleanly with a resumable checkpoint.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mnist-mlp");

/// A short real-MNIST config: a small ReLU net for 3 epochs.
fn write_config(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data =
        std::env::var("MNIST_DATA_DIR").unwrap_or_else(|_| root.join("data").display().to_string());
    let text = format!(
        "[experiment]\nname = \"short\"\nseed = 5\n[data]\ndir = \"{data}\"\n[model]\nhidden = [128, 64]\n[optimizer]\nlearning_rate = 0.05\n[training]\nepochs = 3\nbatch_size = 64\n"
    );
    let path = dir.join("short.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .current_dir(dir)
        .args(args)
        .env_remove("MNIST_MLP_ARTIFACTS");
    command
}

fn finish(output: Output) -> f64 {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.contains("Accuracy on the test data"))
        .expect("accuracy line");
    line.rsplit(' ')
        .next()
        .unwrap()
        .trim_end_matches('%')
        .parse()
        .unwrap()
}

/// Waits until the run has completed and checkpointed `epochs` epochs, then a little into the next.
fn wait_for_epochs(child: &mut Child, run_dir: &Path, epochs: usize) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let done = std::fs::read_to_string(run_dir.join("metrics.csv"))
            .map(|m| m.lines().filter(|l| l.starts_with("epoch,")).count())
            .unwrap_or(0);
        // The Learner checkpoints after the epoch's metrics; the scheduler's file comes last.
        let saved = run_dir
            .join(format!("checkpoint/scheduler-{epochs}.bpk"))
            .is_file();
        if done >= epochs && saved {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be interrupted"
        );
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
}

#[test]
fn sigkill_mid_epoch_then_resume_matches_an_unbroken_run() {
    let unbroken_dir = tempfile::tempdir().unwrap();
    write_config(unbroken_dir.path());
    let unbroken = finish(
        command(unbroken_dir.path(), &["short.toml"])
            .output()
            .unwrap(),
    );

    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path());
    let run_dir = dir.path().join("artifacts/short");
    let mut child = command(dir.path(), &["short.toml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_epochs(&mut child, &run_dir, 1);
    child.kill().unwrap(); // SIGKILL, in epoch 2
    child.wait().unwrap();
    assert!(!run_dir.join("summary.json").exists(), "killed too late");

    let resumed = command(dir.path(), &["short.toml", "--resume"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&resumed.stdout).to_string();
    let accuracy = finish(resumed);
    assert!(
        !stdout.contains("Training for epoch 1/3"),
        "restarted from scratch: {stdout}"
    );
    assert!(stdout.contains("Training for epoch 3/3"), "{stdout}");
    let metrics = std::fs::read_to_string(run_dir.join("metrics.csv")).unwrap();
    assert_eq!(
        metrics.lines().filter(|l| l.starts_with("epoch,")).count(),
        3,
        "{metrics}"
    );
    assert!(
        (accuracy - unbroken).abs() <= 0.3,
        "resumed {accuracy}% vs unbroken {unbroken}%"
    );
}

#[test]
fn sigint_stops_with_a_resumable_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path());
    let run_dir = dir.path().join("artifacts/short");
    let mut child = command(dir.path(), &["short.toml"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_epochs(&mut child, &run_dir, 1);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("interrupted") && stderr.contains("--resume"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(run_dir.join("checkpoint/model-1.bpk").is_file());
    finish(
        command(dir.path(), &["short.toml", "--resume"])
            .output()
            .unwrap(),
    );
}
