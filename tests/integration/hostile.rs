//! The hostile inputs measured in issue 19, each through the real binary under a 4 GB
//! address-space limit: refused from its header, in bounded time, with one error line
//! naming the file and the limit, and no panic. Before the limits, each took gigabytes
//! (a 1.7 KB `.pt` 18 GB) or aborted.

use std::io::Write;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::{GzEncoder, ZlibEncoder};
use safetensors::tensor::{Dtype, TensorView};

use crate::common::BIN;
use crate::common::outcome::assert_clean_failure;
use crate::common::server::{Server, train, write_config};
use crate::common::synthetic::write_dataset;
use crate::common::torch::{View, torch_save};

/// Far below what any of these inputs took before its limit, far above what one needs now.
const ADDRESS_SPACE_KB: u64 = 4_000_000;
/// Each is refused in well under a second; this leaves room for a loaded machine.
const DEADLINE: Duration = Duration::from_secs(60);

/// Runs `mnist-mlp ARGS` in `dir` under the address-space limit and checks that it is
/// refused cleanly, in time, with every one of `needles` in its error line. A run that
/// hangs is killed at the deadline (and fails), rather than holding up the suite.
fn assert_refused(dir: &Path, args: &[&str], needles: &[&str]) {
    let started = Instant::now();
    let output: Output = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {ADDRESS_SPACE_KB}; exec timeout {} \"$0\" \"$@\"",
            DEADLINE.as_secs()
        ))
        .arg(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("MNIST_DATA_DIR")
        .output()
        .unwrap();
    let took = started.elapsed();
    for needle in needles {
        assert_clean_failure(&output, needle);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("internal failure") && !stderr.contains("memory allocation"),
        "{stderr}"
    );
    assert!(took < DEADLINE, "{args:?} took {took:?}");
}

#[test]
fn stride_zero_views_in_a_pt_are_refused_before_a_value_is_gathered() {
    let dir = tempfile::tempdir().unwrap();
    let one = [("0", vec![0.0f32])];
    // `torch.zeros(1).expand(3_000_000, 784)` and friends: 2.4 G values from 4 bytes.
    let expanded = [
        View {
            name: "0.weight",
            storage: "0",
            shape: &[3_000_000, 784],
            stride: &[0, 0],
        },
        View {
            name: "0.bias",
            storage: "0",
            shape: &[3_000_000],
            stride: &[0],
        },
        View {
            name: "2.weight",
            storage: "0",
            shape: &[10, 3_000_000],
            stride: &[0, 0],
        },
    ];
    std::fs::write(
        dir.path().join("views.pt"),
        torch_save(&expanded, &one, true),
    )
    .unwrap();
    // Within the parameter limit, still 314 MB out of a file of a few hundred bytes.
    let within = [View {
        name: "0.weight",
        storage: "0",
        shape: &[100_000, 784],
        stride: &[0, 0],
    }];
    std::fs::write(
        dir.path().join("within.pt"),
        torch_save(&within, &one, true),
    )
    .unwrap();
    for command in [&["inspect"][..], &["eval", "--activation", "relu"]] {
        let args = |file| [command, &[file]].concat();
        assert_refused(
            dir.path(),
            &args("views.pt"),
            &["views.pt", "above the limit of 1000000000 parameters"],
        );
        assert_refused(
            dir.path(),
            &args("within.pt"),
            &["within.pt", "313600000 bytes, more than the file's"],
        );
    }
}

/// A `.pt` zip whose `data.pkl` is `pickle`, deflated as `torch.save` does.
fn deflated_pt(pickle: &[u8]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("archive/data.pkl", deflated).unwrap();
    zip.write_all(pickle).unwrap();
    zip.start_file("archive/version", deflated).unwrap();
    zip.write_all(b"3\n").unwrap();
    zip.finish().unwrap().into_inner()
}

/// A safetensors file of `tensors` one-value tensors `i.weight`, `data` bytes of values.
fn safetensors_of(tensors: usize, data: usize) -> Vec<u8> {
    let entries: Vec<String> = (0..tensors)
        .map(|i| {
            format!(
                "\"{i}.weight\":{{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[{},{}]}}",
                4 * i,
                4 * i + 4
            )
        })
        .collect();
    let header = format!("{{{}}}", entries.join(","));
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.resize(out.len() + data, 0);
    out
}

#[test]
fn weights_containers_are_checked_before_anything_is_unpacked() {
    let dir = tempfile::tempdir().unwrap();
    // 95 MiB of `]` (empty lists) deflate to 100 KB; burn's pickle machine took it past 5 GB.
    let mut lists = vec![0x80, 2, b'('];
    lists.resize(95 << 20, b']');
    lists.extend_from_slice(b"l.");
    std::fs::write(dir.path().join("lists.pt"), deflated_pt(&lists)).unwrap();
    // A tar entry that claims 3 GiB in a file of 1 KiB: burn's tar reader reads entries whole.
    let mut header = tar::Header::new_ustar();
    header.set_path("storages").unwrap();
    header.set_size(3 << 30);
    header.set_cksum();
    let mut tar = header.as_bytes().to_vec();
    tar.resize(1024, 0);
    std::fs::write(dir.path().join("sparse.pt"), tar).unwrap();
    // burn's safetensors store parses the header again for each tensor: n² in their count.
    std::fs::write(
        dir.path().join("many.safetensors"),
        safetensors_of(5000, 20000),
    )
    .unwrap();
    // A header that describes nothing in front of 2 GiB of (sparse) zeros, once read whole.
    let sparse = dir.path().join("sparse.safetensors");
    std::fs::write(&sparse, safetensors_of(0, 0)).unwrap();
    std::fs::File::options()
        .append(true)
        .open(&sparse)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    // A bare pickle (or PyTorch ≤ 1.5's format) has no size written down: its pickle
    // is measured as it is stepped over.
    lists.truncate(16 << 20);
    lists.extend_from_slice(b"l.");
    std::fs::write(dir.path().join("bare.pt"), &lists).unwrap();
    let cases: [(&str, &str); 5] = [
        (
            "bare.pt",
            "its pickle is larger than the 1048576-byte limit",
        ),
        (
            "lists.pt",
            "its pickle is 99614722 bytes, above the 1048576-byte limit",
        ),
        (
            "sparse.pt",
            "unpacks to 3221225472 bytes, more than the file's 1024",
        ),
        (
            "many.safetensors",
            "holds 5000 tensors, above the limit of 1024",
        ),
        (
            "sparse.safetensors",
            "its header describes 10 bytes, the file holds 2147483648",
        ),
    ];
    for (file, needle) in cases {
        for command in [&["inspect"][..], &["eval", "--activation", "relu"]] {
            assert_refused(dir.path(), &[command, &[file]].concat(), &[file, needle]);
        }
    }
}

/// A PNG whose header declares `width × height` pixels of `depth`-bit `color` type,
/// followed by a few bytes of image data: what a 1 MB hostile upload amounts to.
fn png_declaring(width: u32, height: u32, depth: u8, color: u8) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = [width.to_be_bytes(), height.to_be_bytes()].concat();
    header.extend_from_slice(&[depth, color, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &header);
    let mut data = ZlibEncoder::new(Vec::new(), Compression::default());
    data.write_all(&[0; 1024]).unwrap();
    chunk(&mut out, b"IDAT", &data.finish().unwrap());
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A 784 → 4 → 10 network of zeros in PyTorch's layout, to predict with.
fn write_model(path: &Path) {
    write_model_where(path, |_, _| 0.0);
}

/// A 784-4-10 model whose tensor `name` holds `value(name, index)` at each index.
fn write_model_where(path: &Path, value: impl Fn(&str, usize) -> f32) {
    let shapes: [(&str, Vec<usize>); 4] = [
        ("0.weight", vec![4, 784]),
        ("0.bias", vec![4]),
        ("2.weight", vec![10, 4]),
        ("2.bias", vec![10]),
    ];
    let data: Vec<Vec<u8>> = shapes
        .iter()
        .map(|(name, shape)| {
            let count = shape.iter().product::<usize>();
            (0..count)
                .flat_map(|index| value(name, index).to_le_bytes())
                .collect()
        })
        .collect();
    let views = shapes.iter().zip(&data).map(|((name, shape), bytes)| {
        (
            *name,
            TensorView::new(Dtype::F32, shape.clone(), bytes).unwrap(),
        )
    });
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

/// `mnist-mlp inspect FILE` in `dir`, checked to succeed: inspect shows a file it cannot use.
fn inspect_output(dir: &Path, file: &str) -> Output {
    let output = Command::new(BIN)
        .args(["inspect", file])
        .current_dir(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    output
}

#[test]
fn a_file_cannot_drive_the_terminal_or_flood_it_through_inspect_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    // An escape sequence in a tensor's name and in a metadata value (clear the screen,
    // retitle the window), and a 16 MiB metadata value.
    let bias = [0u8; 40];
    let views = [(
        "0.bias\u{1b}[2J".to_string(),
        TensorView::new(Dtype::F32, vec![10], &bias).unwrap(),
    )];
    let metadata = [
        ("note".to_string(), "\u{1b}]0;retitled\u{7}".to_string()),
        ("long".to_string(), "#".repeat(16 << 20)),
    ];
    let bytes = safetensors::serialize(views, Some(metadata.into())).unwrap();
    std::fs::write(dir.path().join("hostile.safetensors"), bytes).unwrap();
    let inspect = inspect_output(dir.path(), "hostile.safetensors");
    let shown = String::from_utf8_lossy(&inspect.stdout);
    assert!(
        !inspect.stdout.contains(&0x1b) && !inspect.stdout.contains(&0x07),
        "{shown}"
    );
    assert!(shown.contains("0.bias\\u{1b}[2J") && shown.contains("more bytes, not shown"));
    assert!(
        inspect.stdout.len() < 64 << 10,
        "{} bytes shown",
        inspect.stdout.len()
    );
    let eval = ["eval", "hostile.safetensors", "--activation", "relu"];
    assert_refused(dir.path(), &eval, &["0.bias\\u{1b}[2J"]);
}

#[test]
fn a_picture_declaring_more_pixels_than_a_photo_is_refused_from_its_header() {
    let dir = tempfile::tempdir().unwrap();
    write_model(&dir.path().join("model.safetensors"));
    // 16384² RGB: 805 MB to decode; the same sides in any colour type.
    std::fs::write(
        dir.path().join("huge.png"),
        png_declaring(16384, 16384, 8, 2),
    )
    .unwrap();
    // Within the sides, 8000² in 16-bit RGBA: 512 MB to decode.
    std::fs::write(
        dir.path().join("deep.png"),
        png_declaring(8000, 8000, 16, 6),
    )
    .unwrap();
    let predict = |file| ["predict", "model.safetensors", "--activation", "relu", file];
    assert_refused(
        dir.path(),
        &predict("huge.png"),
        &["huge.png", "limit of 8192 pixels"],
    );
    assert_refused(
        dir.path(),
        &predict("deep.png"),
        &["deep.png", "limit of 64 MiB"],
    );
}

#[test]
fn a_gzip_bomb_is_refused_once_it_passes_what_its_header_declares() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_dataset(&data, 20, 10);
    let header: Vec<u8> = [0x803u32, 60_000, 28, 28]
        .iter()
        .flat_map(|word| word.to_be_bytes())
        .collect();
    // MNIST's header, then 128 MiB of zeros (the measured bomb held 5 GB) in 128 KB.
    let mut bomb = GzEncoder::new(Vec::new(), Compression::best());
    bomb.write_all(&header).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..128 {
        bomb.write_all(&zeros).unwrap();
    }
    std::fs::remove_file(data.join("train-images-idx3-ubyte")).unwrap();
    std::fs::write(
        data.join("train-images-idx3-ubyte.gz"),
        bomb.finish().unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("bomb.toml"),
        "[experiment]\nname = \"bomb\"\n[data]\ndir = \"data\"\nverify = false\n[model]\nhidden = [4]\n",
    )
    .unwrap();
    assert_refused(
        dir.path(),
        &["train", "bomb.toml", "--artifacts", "artifacts"],
        &[
            "train-images-idx3-ubyte.gz",
            "header promises 47040000 data bytes",
        ],
    );
}

#[test]
fn a_random_sweep_of_a_hundred_million_trials_is_refused_unplanned() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("base.toml"),
        "[experiment]\nname = \"base\"\n[model]\nhidden = [16]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("many.toml"),
        "[sweep]\nbase = \"base.toml\"\nmode = \"random\"\ntrials = 100000000\n[axes]\n\"optimizer.l2\" = { min = 0.0, max = 1.0 }\n",
    )
    .unwrap();
    assert_refused(
        dir.path(),
        &["sweep", "many.toml", "--list"],
        &["many.toml", "limit of 10000 trials"],
    );
}

#[test]
fn a_fifo_or_a_device_is_neither_read_nor_replaced() {
    let dir = tempfile::tempdir().unwrap();
    write_model(&dir.path().join("model.safetensors"));
    for fifo in ["pipe", "pipe.onnx"] {
        let made = Command::new("mkfifo").arg(dir.path().join(fifo)).status();
        assert!(made.unwrap().success(), "mkfifo");
    }
    // Opening a FIFO waits for a writer that never comes; /dev/zero never ends.
    let fifo = ["pipe", "it is a FIFO, not a regular file"];
    let device = ["/dev/zero", "it is a device, not a regular file"];
    for [file, kind] in [fifo, device] {
        assert_refused(dir.path(), &[file], &["cannot read config", file, kind]);
        assert_refused(dir.path(), &["sweep", file], &["sweep file", kind]);
        assert_refused(dir.path(), &["inspect", file], &[file, kind]);
        assert_refused(dir.path(), &["eval", file], &[file, kind]);
        let predict = ["predict", "model.safetensors", "--activation", "relu", file];
        assert_refused(dir.path(), &predict, &[file, kind]);
    }
    // Nor is one replaced by an output (a FIFO only: a broken check must not replace a device).
    let export = [
        "export",
        "model.safetensors",
        "--activation",
        "relu",
        "--onnx",
        "pipe.onnx",
    ];
    assert_refused(
        dir.path(),
        &export,
        &["pipe.onnx is a FIFO, not a regular file"],
    );
    assert!(
        std::fs::metadata(dir.path().join("pipe.onnx"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
}

/// A copy of run `from`'s files (not its checkpoints) as run `name`, with its file
/// `replaced` removed for the caller to put something else there.
fn copy_run(artifacts: &Path, from: &str, name: &str, replaced: &str) -> std::path::PathBuf {
    let copy = artifacts.join(name);
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(artifacts.join(from)).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() && entry.file_name() != replaced {
            std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
        }
    }
    copy.join(replaced)
}

#[test]
fn run_logs_that_are_fifos_devices_or_sparse_giants_neither_hang_nor_fill_memory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_dataset(&data, 120, 40);
    let config = write_config(dir.path(), &data, "tiny", "epochs = 1\n");
    let artifacts = dir.path().join("artifacts");
    train(&config, &artifacts, &[]);
    // What someone else may leave in a folder the server is pointed at.
    let fifo = copy_run(&artifacts, "tiny", "fifo", "metrics.csv");
    assert!(Command::new("mkfifo").arg(fifo).status().unwrap().success());
    let device = copy_run(&artifacts, "tiny", "device", "diagnostics.csv");
    std::os::unix::fs::symlink("/dev/zero", device).unwrap();
    let giant = copy_run(&artifacts, "tiny", "giant", "metrics.csv");
    std::fs::File::create(giant)
        .unwrap()
        .set_len(1 << 36)
        .unwrap();
    let leak = copy_run(&artifacts, "tiny", "leak", "config.toml");
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "TOKEN=outside the artifacts folder").unwrap();
    std::os::unix::fs::symlink(&secret, leak).unwrap();

    let fifo = "it is a FIFO, not a regular file";
    assert_refused(
        &artifacts,
        &["compare", "fifo"],
        &["fifo/metrics.csv", fifo],
    );
    let device = "it is a symbolic link, and the program never opens its own files through one";
    assert_refused(
        &artifacts,
        &["compare", "device"],
        &["device/diagnostics.csv", device],
    );
    let giant = "it is longer than 128 MiB";
    assert_refused(
        &artifacts,
        &["compare", "giant"],
        &["giant/metrics.csv", giant],
    );

    // Before, the list waited for ever on the FIFO and read /dev/zero into gigabytes.
    let server = Server::start(&artifacts);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(DEADLINE))
        .build()
        .into();
    let get = |path: &str| -> serde_json::Value {
        let url = format!("{}{path}", server.url);
        let body = agent
            .get(&url)
            .call()
            .unwrap()
            .body_mut()
            .read_to_vec()
            .unwrap();
        serde_json::from_slice(&body).unwrap()
    };
    let runs = get("/api/runs");
    let error_of = |name: &str| {
        let runs = runs["runs"].as_array().unwrap();
        let row = runs.iter().find(|run| run["name"] == name).unwrap();
        row["error"].as_str().unwrap_or_default().to_string()
    };
    assert!(error_of("fifo").contains(fifo), "{runs}");
    assert!(error_of("giant").contains(giant), "{runs}");
    assert_eq!(error_of("tiny"), "");
    // A run's diagnostics that cannot be read cost its page the diagnostics alone.
    // A run's own file linked to one outside the folder shows nothing of it.
    let leak = get("/api/runs/leak");
    assert!(!leak.to_string().contains("TOKEN"), "{leak}");
    assert_eq!(leak["config_toml"], serde_json::Value::Null, "{leak}");
    let live = get("/api/runs/device/live");
    assert_eq!(live["diagnostics"], serde_json::json!([]), "{live}");
    assert_eq!(
        live["history"]["epochs"].as_array().unwrap().len(),
        1,
        "{live}"
    );
    let peak = server.peak_rss_kb();
    assert!(peak < 128 << 10, "the server took {peak} kB");
}

#[test]
fn a_config_longer_than_any_config_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    // One line of 2 MiB, as a log or a dataset given by mistake might be.
    std::fs::write(dir.path().join("long.toml"), vec![b'a'; 2 << 20]).unwrap();
    assert_refused(
        dir.path(),
        &["long.toml"],
        &["cannot read config long.toml", "longer than 1 MiB"],
    );
}

#[test]
fn a_model_holding_nan_is_refused_for_use_and_shown_by_inspect() {
    let dir = tempfile::tempdir().unwrap();
    // What a diverged PyTorch training saves: one NaN and one infinity in the last layer.
    write_model_where(&dir.path().join("nan.safetensors"), |name, index| {
        match (name, index) {
            ("2.weight", 3) => f32::NAN,
            ("2.weight", 7) => f32::INFINITY,
            _ => 0.01,
        }
    });
    let refusal = [
        "nan.safetensors",
        "`2.weight` holds 2 NaN or infinite values",
    ];
    let relu = ["--activation", "relu"];
    assert_refused(
        dir.path(),
        &[&["eval", "nan.safetensors"][..], &relu].concat(),
        &refusal,
    );
    let predict = [
        "predict",
        "nan.safetensors",
        "--activation",
        "relu",
        "--index",
        "0",
    ];
    assert_refused(dir.path(), &predict, &refusal);
    let export = [
        "export",
        "nan.safetensors",
        "--activation",
        "relu",
        "--onnx",
        "m.onnx",
    ];
    assert_refused(dir.path(), &export, &refusal);
    assert!(!dir.path().join("m.onnx").exists());
    // inspect is for looking at such a file: it shows the tensors and says why it cannot be used.
    let output = inspect_output(dir.path(), "nan.safetensors");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("not loadable as an MNIST MLP"), "{stdout}");
    assert!(stdout.contains("2 NaN or infinite values"), "{stdout}");
}

#[test]
fn a_file_that_is_not_toml_is_refused_before_a_line_of_it_is_quoted() {
    // A parse error quotes the line it stopped at: from /proc/self/environ, the secrets.
    let dir = tempfile::tempdir().unwrap();
    let secret = "API_TOKEN=hunter2-do-not-print";
    std::fs::write(dir.path().join(".env"), format!("{secret}\n")).unwrap();
    let sweep = "[sweep]\nname = \"s\"\nbase = \".env\"\nmode = \"grid\"\n[axes]\n\"training.epochs\" = [1]\n";
    std::fs::write(dir.path().join("s.toml"), sweep).unwrap();
    for (args, refusal) in [
        (&[".env"][..], ".env is not a .toml file: a config is TOML"),
        (
            &["sweep", "s.toml"],
            ".env is not a .toml file: a base config is TOML",
        ),
        (
            &["sweep", ".env"],
            ".env is not a .toml file: a sweep file is TOML",
        ),
    ] {
        let output = Command::new(BIN)
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_clean_failure(&output, refusal);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
}
