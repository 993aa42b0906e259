//! `mnist-mlp serve`: the web app over the artifacts folder, until Ctrl-C.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use mnist_mlp::backend::BackendKind;
use mnist_mlp::run_files::artifacts_root;
use mnist_mlp::run_files::discover::discover;
use mnist_mlp::serve::{self, NO_RUNS, ServerState};

#[derive(Args)]
pub struct ServeArgs {
    /// Artifacts folder to show (default: $MNIST_MLP_ARTIFACTS or ./artifacts); only read.
    #[arg(long, value_parser = super::user_path)]
    artifacts: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free one. Anything but loopback lets other
    /// machines see the runs, with the token the server prints.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Another name the server answers to, e.g. the machine's own on the network
    /// (it answers to localhost and, beyond loopback, IP addresses); repeatable.
    #[arg(long = "allow-host", value_name = "NAME", value_parser = host_name)]
    allow_hosts: Vec<String>,
    /// Seconds a client has to send a request's headers, and as long again for its body
    /// (idle connections are closed after as long); at most an hour.
    #[arg(long, value_name = "SECONDS", default_value_t = serve::HEADER_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=MAX_HEADER_TIMEOUT_SECS))]
    header_timeout: u64,
    /// Folder of the MNIST test digits shown for confusion-matrix cells (default:
    /// $MNIST_DATA_DIR, else each run's [data] dir).
    #[arg(long, value_parser = super::user_path)]
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
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .map_err(|err| cannot_listen(args.addr, &err))?;
        let bound = listener.local_addr()?;
        let state = ServerState::new(
            artifacts.clone(),
            args.data_dir.clone(),
            device,
            bound,
            &args.allow_hosts,
        );
        let query = state.token().map_or(String::new(), |t| format!("?token={t}"));
        println!(
            "serving {} at http://{}/{query} (Ctrl-C stops)",
            artifacts.display(),
            local(bound)
        );
        if !bound.ip().is_loopback() {
            eprintln!(
                "warning: listening on {bound}, not loopback: anyone who can reach this machine and has the token can see the runs; from elsewhere open http://<this machine's address>:{}/{query} (a name rather than an address needs --allow-host NAME)",
                bound.port()
            );
        }
        if discover(&artifacts).map_or(true, |found| found.runs.is_empty()) {
            println!("{NO_RUNS}");
        }
        let header_timeout = Duration::from_secs(args.header_timeout);
        serve::serve(listener, state, header_timeout, stop_signal())
            .await
            .context("the server failed")?;
        println!("stopped");
        Ok(())
    });
    // Work stuck on a file (a network disk that hangs) must not keep the process from
    // ending once the server has stopped.
    runtime.shutdown_timeout(Duration::from_secs(1));
    served
}

/// `--header-timeout`'s ceiling: a deadline is an instant plus this, and a client may
/// hold a connection open that long.
const MAX_HEADER_TIMEOUT_SECS: u64 = 3600;

/// Why `addr` cannot be listened on, and what to give instead.
fn cannot_listen(addr: SocketAddr, err: &std::io::Error) -> anyhow::Error {
    use std::io::ErrorKind::{AddrInUse, AddrNotAvailable, PermissionDenied};
    let fix = match err.kind() {
        AddrInUse => "another server holds that port: try --addr 127.0.0.1:0 for any free one",
        AddrNotAvailable => {
            "this machine has no such address: give 127.0.0.1, 0.0.0.0 or one of its own"
        }
        PermissionDenied => "ports below 1024 need privileges: choose a port of 1024 or more",
        _ => "try --addr 127.0.0.1:0 for any free port",
    };
    anyhow::anyhow!("cannot listen on {addr} ({err}): {fix}")
}

/// The address to open on this machine: the bound one, or loopback when bound to all.
fn local(bound: SocketAddr) -> SocketAddr {
    let ip = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bound.port())
}

/// `--allow-host`: a bare name, as the `Host` header carries it without its port.
fn host_name(name: &str) -> Result<String, String> {
    let plain = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'));
    if plain {
        Ok(name.to_ascii_lowercase())
    } else {
        Err(format!(
            "{name:?} is not a host name: give one like mybox.lan, without scheme, port or path"
        ))
    }
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
