//! `mnist-mlp serve`: the web app over the artifacts folder, until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use mnist_mlp::backend::BackendKind;
use mnist_mlp::run_dir::artifacts_root;
use mnist_mlp::serve::{self, NO_RUNS, ServerState};

#[derive(Args)]
pub struct ServeArgs {
    /// Artifacts folder to show (default: $MNIST_MLP_ARTIFACTS or ./artifacts); only read.
    #[arg(long)]
    artifacts: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free one. Anything but loopback lets other
    /// machines see the runs.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Folder of the MNIST test digits shown for confusion-matrix cells (default:
    /// $MNIST_DATA_DIR, else each run's [data] dir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Backend the models run on (default: flex where compiled in).
    #[arg(long)]
    backend: Option<BackendKind>,
}

pub fn run(args: &ServeArgs) -> Result<()> {
    let artifacts = args.artifacts.clone().unwrap_or_else(artifacts_root);
    let device = BackendKind::resolve(args.backend)?.device();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {}: is another server using it? try --addr 127.0.0.1:0 for any free port",
                    args.addr
                )
            })?;
        let bound = listener.local_addr()?;
        let state = ServerState::new(artifacts.clone(), args.data_dir.clone(), device, bound);
        println!(
            "serving {} at http://{bound}/ (Ctrl-C stops)",
            artifacts.display()
        );
        if !bound.ip().is_loopback() {
            eprintln!(
                "warning: listening on {bound}, not loopback: anyone who can reach this machine can see the runs"
            );
        }
        if serve::discover(&artifacts).runs.is_empty() {
            println!("{NO_RUNS}");
        }
        serve::serve(listener, state, stop_signal())
            .await
            .context("the server failed")?;
        println!("stopped");
        Ok(())
    })
}

/// Ctrl-C, or SIGTERM on Unix.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
