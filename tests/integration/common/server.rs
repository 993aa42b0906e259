//! What the web app's tests share: tiny runs trained by the real binary on
//! generated data, and `mnist-mlp serve` started on a free port.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::BIN;

/// Writes a config for the generated dataset in `data`, named `name`, with `extra` TOML appended.
pub fn write_config(dir: &Path, data: &Path, name: &str, extra: &str) -> PathBuf {
    let text = format!(
        "[experiment]\nname = \"{name}\"\nseed = 1\n\n[data]\ndir = \"{}\"\nverify = false\n\n[model]\nhidden = [16]\nactivation = \"relu\"\n\n[optimizer]\nname = \"sgd\"\nlearning_rate = 0.1\n\n[training]\nbatch_size = 10\nlog_interval = 5\n{extra}",
        data.display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// A run that trains for minutes on generated data (about 0.3 s an epoch on two
/// cores, 300 epochs), for watching a training in progress; writes its data and
/// config into `dir` and returns the config. Its experiment is `slow`.
pub fn slow_config(dir: &Path, write_dataset: impl Fn(&Path, usize, usize)) -> PathBuf {
    let data = dir.join("slow-data");
    write_dataset(&data, 6000, 40);
    let text = format!(
        "[experiment]\nname = \"slow\"\nseed = 1\n\n[data]\ndir = \"{}\"\nverify = false\n\n[model]\nhidden = [128]\n\n[optimizer]\nlearning_rate = 0.01\n\n[training]\nepochs = 300\nbatch_size = 2\nlog_interval = 100\n",
        data.display()
    );
    let path = dir.join("slow.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `mnist-mlp train CONFIG --artifacts ARTIFACTS [ARGS…]`, run to the end; panics with its output on failure.
pub fn train(config: &Path, artifacts: &Path, args: &[&str]) -> Output {
    let output = Command::new(BIN)
        .arg("train")
        .arg(config)
        .arg("--artifacts")
        .arg(artifacts)
        .args(args)
        .env_remove("MNIST_DATA_DIR")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A running `mnist-mlp serve`, stopped when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    /// The token it printed in its address, when it listens beyond loopback.
    pub token: Option<String>,
    /// What the server printed after its address line.
    pub stdout: BufReader<ChildStdout>,
}

impl Server {
    /// Serves `artifacts` on a free loopback port; returns once it listens.
    pub fn start(artifacts: &Path) -> Self {
        Self::start_with(artifacts, &[])
    }

    /// As [`Self::start`], with more `serve` arguments.
    pub fn start_with(artifacts: &Path, args: &[&str]) -> Self {
        Self::start_on("127.0.0.1:0", artifacts, args)
    }

    /// As [`Self::start_with`], listening on `addr`.
    pub fn start_on(addr: &str, artifacts: &Path, args: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .args(["serve", "--addr", addr, "--artifacts"])
            .arg(artifacts)
            .args(args)
            .env_remove("MNIST_DATA_DIR")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let start = line
            .find("http://")
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        let address = line[start..].split_whitespace().next().unwrap();
        let (url, token) = match address.split_once("/?token=") {
            Some((url, token)) => (url, Some(token.to_string())),
            None => (address.trim_end_matches('/'), None),
        };
        Self {
            child,
            url: url.to_string(),
            token,
            stdout,
        }
    }

    /// The most memory it has held so far (VmHWM), in kB.
    pub fn peak_rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// `host:port`.
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// Stops it as Ctrl-C would (SIGTERM) and returns what it printed since its
    /// first lines were read; panics unless it exits within `limit`.
    pub fn stop(&mut self, limit: Duration) -> String {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let start = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                start.elapsed() < limit,
                "the server did not stop within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        rest
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
