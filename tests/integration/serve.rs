//! `mnist-mlp serve` over HTTP, on tiny runs the real binary trains on generated
//! data: pages and JSON, refusals (traversal, symlinks out of the folder, foreign
//! Host names, other sites' requests, wrong content types, oversize bodies,
//! declared or chunked, malformed ones, unknown runs, broken models, remembered),
//! the token beyond loopback, stalled clients, the live view of a training in
//! progress, and 1 000 predictions from 16 clients.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::BIN;
use crate::common::server::{Server, slow_config, train, write_config};
use crate::common::synthetic::{synthetic, write_dataset};

const TEST: usize = 40;

/// A temporary folder with generated data and one finished run, `artifacts/tiny`.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Self {
        let project = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        write_dataset(&project.data(), 120, TEST);
        let config = write_config(project.path(), &project.data(), "tiny", "epochs = 2\n");
        train(&config, &project.artifacts(), &[]);
        project
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn data(&self) -> PathBuf {
        self.path().join("data")
    }

    fn artifacts(&self) -> PathBuf {
        self.path().join("artifacts")
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// Status and body of a GET.
fn get(url: &str) -> (u16, Vec<u8>) {
    let mut response = agent().get(url).call().unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_vec().unwrap())
}

fn get_json(url: &str) -> (u16, Value) {
    let (status, body) = get(url);
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("{url}: not JSON: {}", String::from_utf8_lossy(&body)));
    (status, json)
}

fn post(agent: &ureq::Agent, url: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
    post_with(agent, url, &[("content-type", content_type)], body)
}

/// A POST with these headers: the status and the JSON answer.
fn post_with(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    let mut request = agent.post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.send(body).unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{url}: not JSON: {text}"));
    (status, json)
}

/// The error message of an error answer; panics unless its status is `status`.
fn refused(answer: (u16, Value), status: u16) -> String {
    assert_eq!(answer.0, status, "{}", answer.1);
    answer.1["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message: {}", answer.1))
        .to_string()
}

/// A connection that has sent `head` byte for byte (clients tidy `..` away).
fn send(addr: &str, head: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream
}

/// A request sent byte for byte: the whole answer.
fn exchange(addr: &str, head: &str) -> String {
    let mut stream = send(addr, head);
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// As [`exchange`]: the status and body.
fn raw(addr: &str, head: &str) -> (u16, String) {
    status_and_body(&exchange(addr, head))
}

fn status_and_body(response: &str) -> (u16, String) {
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string());
    (status, body)
}

/// `head`, then `body` sent from another thread while this one reads the answer,
/// which may come (and the connection close) before the body is all sent.
fn raw_streamed(addr: &str, head: &str, body: Vec<u8>) -> (u16, String) {
    let mut stream = send(addr, head);
    let mut writer = stream.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        let _ = writer.write_all(&body);
    });
    let mut response = Vec::new();
    // A reset after the answer (the server closing on an unread body) is no failure.
    let _ = stream.read_to_end(&mut response);
    sending.join().unwrap();
    status_and_body(&String::from_utf8_lossy(&response))
}

/// `length` bytes of zeros, chunk-encoded in 64 KiB chunks.
fn chunked_zeros(length: usize) -> Vec<u8> {
    let chunk = [0u8; 64 << 10];
    let mut body = Vec::new();
    for start in (0..length).step_by(chunk.len()) {
        let size = chunk.len().min(length - start);
        body.extend(format!("{size:x}\r\n").bytes());
        body.extend(&chunk[..size]);
        body.extend(b"\r\n");
    }
    body.extend(b"0\r\n\r\n");
    body
}

fn raw_get(addr: &str, path: &str) -> (u16, String) {
    raw(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
}

/// Test digit `index` of the generated set, as the JSON endpoint takes it.
fn test_digit(index: usize) -> Vec<u8> {
    let (images, _) = synthetic(index + 1, 3);
    images.pixels[index * 784..(index + 1) * 784].to_vec()
}

#[test]
fn serves_the_app_the_runs_and_their_files() {
    let project = Project::new();
    let server = Server::start(&project.artifacts());
    let (status, page) = get(&format!("{}/", server.url));
    assert_eq!(status, 200);
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("/assets/app.js"), "{page}");
    for asset in ["app.js", "style.css", "favicon.svg"] {
        assert_eq!(
            get(&format!("{}/assets/{asset}", server.url)).0,
            200,
            "{asset}"
        );
    }

    let (status, runs) = get_json(&format!("{}/api/runs", server.url));
    assert_eq!(status, 200);
    let row = &runs["runs"][0];
    assert_eq!(row["name"], "tiny");
    assert_eq!(row["status"], "finished");
    assert_eq!(row["activation"], "relu");
    assert_eq!(row["optimizer"], "sgd");
    assert_eq!(row["epochs_done"], 2);
    assert!(row["test_accuracy"].as_f64().unwrap() > 50.0, "{row}");
    assert!(runs["hint"].is_null());

    let (status, run) = get_json(&format!("{}/api/runs/tiny", server.url));
    assert_eq!(status, 200);
    assert_eq!(run["history"]["epochs"].as_array().unwrap().len(), 2);
    assert!(
        run["config_toml"]
            .as_str()
            .unwrap()
            .contains("[experiment]")
    );
    assert_eq!(
        run["summary"]["classification_report"]["classes"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    let figures = run["figures"].as_array().unwrap();
    assert_eq!(figures.len(), 8, "{run}");
    for figure in figures {
        let (status, png) = get(&format!(
            "{}{}",
            server.url,
            figure["url"].as_str().unwrap()
        ));
        assert_eq!(status, 200);
        assert!(image::load_from_memory(&png).is_ok(), "{figure}");
    }

    // The confusion matrix of the test set, a cell's digits, and one digit as PNG.
    let (status, confusion) = get_json(&format!("{}/api/runs/tiny/confusion", server.url));
    assert_eq!(status, 200, "{confusion}");
    let matrix: Vec<Vec<usize>> = serde_json::from_value(confusion["matrix"].clone()).unwrap();
    assert_eq!(matrix.iter().flatten().sum::<usize>(), TEST);
    let (status, cell) = get_json(&format!("{}/api/runs/tiny/confusion/3/3", server.url));
    assert_eq!(status, 200);
    assert_eq!(cell["count"].as_u64().unwrap() as usize, matrix[3][3]);
    let first = cell["indices"][0].as_u64().unwrap();
    let (status, png) = get(&format!("{}/api/runs/tiny/digits/{first}", server.url));
    assert_eq!(status, 200);
    let digit = image::load_from_memory(&png).unwrap().to_luma8();
    assert_eq!(digit.dimensions(), (28, 28));
    assert_eq!(digit.into_raw(), test_digit(first as usize));
    let message = refused(
        get_json(&format!("{}/api/runs/tiny/confusion/3/10", server.url)),
        400,
    );
    assert!(message.contains("0 to 9"), "{message}");
    refused(
        get_json(&format!("{}/api/runs/tiny/digits/{TEST}", server.url)),
        404,
    );

    let (_, models) = get_json(&format!("{}/api/models", server.url));
    assert_eq!(models[0]["id"], "tiny");
    assert_eq!(models[0]["kind"], "run");
}

#[test]
fn a_large_file_is_streamed_without_the_server_holding_it() {
    let project = Project::new();
    // Sparse: 512 MiB to read, nothing on the disk.
    let big = project.artifacts().join("tiny/big.bin");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(512 << 20)
        .unwrap();
    let server = Server::start(&project.artifacts());
    let url = format!("{}/files/tiny/big.bin", server.url);
    let mut response = agent().get(&url).call().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let mut body = response.body_mut().as_reader();
    let read = std::io::copy(&mut body, &mut std::io::sink()).unwrap();
    assert_eq!(read, 512 << 20);
    let peak = server.peak_rss_kb();
    assert!(
        peak < 128 << 10,
        "the server held {peak} kB to serve 512 MiB"
    );
}

#[test]
fn traversal_symlinks_and_foreign_hosts_are_refused() {
    let project = Project::new();
    std::fs::write(project.path().join("secret.txt"), "secret").unwrap();
    let artifacts = project.artifacts();
    std::os::unix::fs::symlink(
        project.path().join("secret.txt"),
        artifacts.join("tiny/leak.txt"),
    )
    .unwrap();
    std::os::unix::fs::symlink(project.path(), artifacts.join("outside")).unwrap();
    let server = Server::start(&artifacts);
    let addr = server.addr();

    assert_eq!(raw_get(addr, "/files/tiny/summary.json").0, 200);
    for path in [
        "/files/../secret.txt",
        "/files/tiny/../../secret.txt",
        "/files/%2e%2e/secret.txt",
        "/files/%2E%2E/secret.txt",
        "/files/tiny/%2e%2e/%2e%2e/secret.txt",
        "/files/..%2fsecret.txt",
        "/files/tiny%2f..%2f..%2fsecret.txt",
        "/files/tiny/leak.txt",
        "/files/outside/secret.txt",
        "/api/runs/..%2F..%2Fsecret.txt",
        "/api/runs/outside",
    ] {
        let (status, body) = raw_get(addr, path);
        assert!(status == 403 || status == 404, "{path}: {status} {body}");
        assert_ne!(body, "secret", "{path} leaked the file");
        assert!(body.contains("\"error\""), "{path}: no message: {body}");
    }
    for path in [
        "/files/../secret.txt",
        "/files/%2e%2e/secret.txt",
        "/files/tiny/leak.txt",
    ] {
        let (status, body) = raw_get(addr, path);
        assert_eq!(status, 403, "{path}: {body}");
    }
    // A path that decodes to no text is refused in JSON like the rest.
    let (status, body) = raw_get(addr, "/files/tiny/%ff");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"error\""), "{body}");
    // The symlinked folder is never listed as runs or models either.
    let (_, runs) = get_json(&format!("{}/api/runs", server.url));
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs}");

    // A page elsewhere that resolves its own name to 127.0.0.1 is refused; nor does it
    // pass with a second Host, or one hidden behind an absolute address.
    let port = addr.rsplit(':').next().unwrap();
    let own_name = format!("Host: localhost:{port}\r\n");
    for (head, wanted, needle) in [
        ("Host: attacker.example:80\r\n", 403, "localhost"),
        (own_name.as_str(), 200, ""),
        (
            "Host: localhost\r\nHost: attacker.example\r\n",
            400,
            "more than one Host",
        ),
        ("", 400, "needs a Host header"),
    ] {
        let request = format!("GET /api/runs HTTP/1.1\r\n{head}Connection: close\r\n\r\n");
        let (status, body) = raw(addr, &request);
        assert_eq!(status, wanted, "{head}: {body}");
        assert!(body.contains(needle), "{head}: {body}");
    }
    let (status, body) = raw(
        addr,
        "GET http://attacker.example/api/runs HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("attacker.example"), "{body}");
    let (status, _) = raw(addr, "GET /api/runs HTTP/1.0\r\n\r\n");
    assert_eq!(status, 200);
    // Read-only: nothing is written into the artifacts folder.
    assert_eq!(raw_get(addr, "/files/tiny/summary.json").0, 200);
    let (status, _) = raw(
        addr,
        "PUT /files/tiny/new.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx",
    );
    assert_eq!(status, 405);
    assert!(!artifacts.join("tiny/new.txt").exists());
    // A 405 says so in JSON, as every other refusal does.
    let (status, body) = raw(
        addr,
        "OPTIONS /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 405);
    assert!(body.contains("does not take OPTIONS requests"), "{body}");

    // A run's model.safetensors that is a link (to a model outside) is not loaded.
    let model = artifacts.join("tiny/model.safetensors");
    let outside = project.path().join("outside.safetensors");
    std::fs::rename(&model, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &model).unwrap();
    for path in ["/api/runs/tiny/confusion", "/api/runs/tiny/confusion/0/0"] {
        let (status, body) = raw_get(addr, path);
        assert_eq!(status, 422, "{path}: {body}");
        assert!(body.contains("symbolic link"), "{path}: {body}");
    }
}

#[test]
fn oversize_malformed_and_misdirected_requests_get_a_4xx_with_a_message() {
    let project = Project::new();
    let server = Server::start(&project.artifacts());
    let (url, agent) = (&server.url, agent());
    let predict = format!("{url}/api/predict");
    let image = format!("{url}/api/predict/image?model=tiny");

    // Declared too large: refused before a byte of it is read.
    let (status, body) = raw(
        server.addr(),
        &format!(
            "POST /api/predict/image?model=tiny HTTP/1.1\r\nHost: {}\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            server.addr(),
            9 << 20
        ),
    );
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("8 MiB limit"), "{body}");
    // Only the POST endpoints take a body: any other request's is kept small.
    let (status, body) = raw(
        server.addr(),
        &format!(
            "GET /api/runs HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            server.addr(),
            1 << 20
        ),
    );
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("64 KiB limit of this GET request"), "{body}");
    // POST to anywhere but the two prediction endpoints is held to the same.
    let (status, body) = raw(
        server.addr(),
        &format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            server.addr(),
            200 << 10
        ),
    );
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("64 KiB limit of this POST request"), "{body}");
    // Chunked, so no length declares it too large: refused once reading passes the limit.
    let chunked = format!(
        "POST /api/predict/image?model=tiny HTTP/1.1\r\nHost: {}\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        server.addr()
    );
    let (status, body) = raw_streamed(server.addr(), &chunked, chunked_zeros(9 << 20));
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("8 MiB limit"), "{body}");
    let (status, body) = raw_streamed(server.addr(), &chunked, b"zz\r\nbroken\r\n".to_vec());
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("cannot read the request body"), "{body}");

    for (body, needle) in [
        (&b"{not json"[..], "malformed JSON"),
        (b"", "malformed JSON"),
        (br#"{"model": "tiny"}"#, "pixels"),
        (br#"{"model": "tiny", "pixels": [1, 2, 3]}"#, "784"),
        (br#"{"model": "tiny", "pixels": [300]}"#, "malformed JSON"),
        (br#"{"model": "tiny", "pixel": []}"#, "unknown field"),
    ] {
        let message = refused(post(&agent, &predict, "application/json", body), 400);
        assert!(message.contains(needle), "{message}");
    }
    let digit = test_digit(0);
    let with = |model: &str, activation: &str| {
        serde_json::to_vec(&json!({"model": model, "activation": activation, "pixels": digit}))
            .unwrap()
    };
    let message = refused(
        post(&agent, &predict, "application/json", &with("tiny", "swish")),
        400,
    );
    assert!(message.contains("relu, tanh or sigmoid"), "{message}");
    refused(
        post(&agent, &predict, "application/json", &with("nothing", "")),
        404,
    );
    refused(
        post(&agent, &predict, "application/json", &with("../tiny", "")),
        403,
    );

    for (body, needle) in [
        (&b"definitely not a picture"[..], "not a usable image"),
        (
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR broken",
            "not a usable image",
        ),
        (b"", "empty"),
    ] {
        let message = refused(post(&agent, &image, "image/png", body), 400);
        assert!(message.contains(needle), "{message}");
    }
    let blank = {
        let mut png = Vec::new();
        image::GrayImage::new(50, 50)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        png
    };
    let message = refused(post(&agent, &image, "image/png", &blank), 400);
    assert!(message.contains("blank"), "{message}");
    let message = refused(
        post(
            &agent,
            &format!("{url}/api/predict/image"),
            "image/png",
            &blank,
        ),
        400,
    );
    assert!(message.contains("model"), "{message}");

    refused(get_json(&format!("{url}/api/runs/nothing")), 404);
    refused(get_json(&format!("{url}/api/runs/nothing/live")), 404);
    refused(get_json(&format!("{url}/no/such/page")), 404);
}

/// Adds `broken`, a copy of the run `tiny` whose weights are damaged.
fn add_broken_run(artifacts: &Path) {
    std::fs::create_dir_all(artifacts.join("broken")).unwrap();
    for file in ["config.toml", "metrics.csv", "summary.json"] {
        std::fs::copy(
            artifacts.join("tiny").join(file),
            artifacts.join("broken").join(file),
        )
        .unwrap();
    }
    std::fs::write(artifacts.join("broken/model.safetensors"), b"not weights").unwrap();
}

/// The server's console lines that say a model failed to load.
fn failed_loads(console: &str) -> usize {
    console
        .lines()
        .filter(|line| line.contains("did not load"))
        .count()
}

/// A prediction request for test digit 1.
fn pixels_body(model: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"model": model, "pixels": test_digit(1)})).unwrap()
}

/// Test digit `index` as a PNG.
fn digit_png(index: usize) -> Vec<u8> {
    let mut png = Vec::new();
    image::GrayImage::from_raw(28, 28, test_digit(index))
        .unwrap()
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

#[test]
fn a_model_that_fails_to_load_is_an_error_answer_remembered_until_its_file_changes() {
    let project = Project::new();
    let artifacts = project.artifacts();
    add_broken_run(&artifacts);
    let mut server = Server::start(&artifacts);
    let agent = agent();
    let predict = format!("{}/api/predict", server.url);
    let message = refused(
        post(&agent, &predict, "application/json", &pixels_body("broken")),
        422,
    );
    assert!(message.contains("cannot load the model"), "{message}");
    let message = refused(
        get_json(&format!("{}/api/runs/broken/confusion", server.url)),
        422,
    );
    assert!(message.contains("cannot load the model"), "{message}");
    // Still serving: the list, the page of the broken run, the good model.
    let (status, runs) = get_json(&format!("{}/api/runs", server.url));
    assert_eq!(status, 200);
    assert_eq!(runs["runs"].as_array().unwrap().len(), 2);
    assert_eq!(get_json(&format!("{}/api/runs/broken", server.url)).0, 200);
    let (status, answer) = post(&agent, &predict, "application/json", &pixels_body("tiny"));
    assert_eq!(status, 200, "{answer}");
    // Asked again, the same answer, from memory: the file is not parsed again.
    for _ in 0..3 {
        let again = refused(
            post(&agent, &predict, "application/json", &pixels_body("broken")),
            422,
        );
        assert_eq!(again, message);
    }
    // Once the file changes, it is loaded again.
    std::fs::copy(
        artifacts.join("tiny/model.safetensors"),
        artifacts.join("broken/model.safetensors"),
    )
    .unwrap();
    let (status, fixed) = post(&agent, &predict, "application/json", &pixels_body("broken"));
    assert_eq!(status, 200, "{fixed}");
    assert_eq!(fixed["digit"], answer["digit"]);
    let console = server.stop(Duration::from_secs(20));
    assert_eq!(failed_loads(&console), 1, "{console}");
}

#[test]
fn other_sites_and_wrong_content_types_are_refused_before_any_model_loads() {
    let project = Project::new();
    let artifacts = project.artifacts();
    add_broken_run(&artifacts);
    let agent = agent();

    // A page on another site: a form or a fetch without preflight (text/plain),
    // or a CORS fetch; and an <img> or <iframe>, which sends no Origin.
    let mut server = Server::start(&artifacts);
    let (url, addr) = (server.url.clone(), server.addr().to_string());
    let predict = format!("{url}/api/predict");
    let image = format!("{url}/api/predict/image?model=broken");
    for (content_type, origin) in [
        ("text/plain", "http://attacker.example"),
        ("application/json", "http://attacker.example"),
        ("application/json", "null"),
        ("application/json", "http://127.0.0.1:1"),
    ] {
        let headers = [("content-type", content_type), ("origin", origin)];
        let message = refused(
            post_with(&agent, &predict, &headers, &pixels_body("broken")),
            403,
        );
        assert!(message.contains("another web site"), "{origin}: {message}");
    }
    let headers = [
        ("content-type", "image/png"),
        ("origin", "http://attacker.example"),
    ];
    refused(post_with(&agent, &image, &headers, &digit_png(1)), 403);
    for dest in ["image", "iframe"] {
        let (status, body) = raw(
            &addr,
            &format!(
                "GET /api/runs/broken/confusion HTTP/1.1\r\nHost: {addr}\r\nSec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: no-cors\r\nSec-Fetch-Dest: {dest}\r\nConnection: close\r\n\r\n"
            ),
        );
        assert_eq!(status, 403, "{dest}: {body}");
    }
    // Following a link from another site opens the app.
    let (status, body) = raw(
        &addr,
        &format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nSec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: navigate\r\nSec-Fetch-Dest: document\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(status, 200, "{body}");

    // Only the real content types.
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let message = refused(
            post(&agent, &predict, content_type, &pixels_body("broken")),
            415,
        );
        assert!(message.contains("application/json"), "{message}");
    }
    for content_type in ["text/plain", "application/octet-stream", "application/json"] {
        let message = refused(post(&agent, &image, content_type, &digit_png(1)), 415);
        assert!(message.contains("image/"), "{message}");
    }
    let (status, body) = raw(
        &addr,
        &format!(
            "POST /api/predict HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        ),
    );
    assert_eq!(status, 415, "{body}");
    assert!(body.contains("not none"), "{body}");
    // Not one of those requests reached the broken model.
    assert_eq!(failed_loads(&server.stop(Duration::from_secs(20))), 0);

    // The app's own pages (their Origin is the server) and clients without one.
    let mut server = Server::start(&artifacts);
    let (url, addr) = (server.url.clone(), server.addr().to_string());
    let predict = format!("{url}/api/predict");
    let own = format!("http://{addr}");
    for content_type in ["application/json", "application/json; charset=utf-8"] {
        let headers = [("content-type", content_type), ("origin", own.as_str())];
        let (status, answer) = post_with(&agent, &predict, &headers, &pixels_body("tiny"));
        assert_eq!(status, 200, "{answer}");
    }
    let image = format!("{url}/api/predict/image?model=tiny");
    let headers = [
        ("content-type", "image/png"),
        ("sec-fetch-site", "same-origin"),
    ];
    let (status, answer) = post_with(&agent, &image, &headers, &digit_png(1));
    assert_eq!(status, 200, "{answer}");
    // The broken model, asked for properly, is loaded (and fails), which is what
    // the refusals above would have shown.
    refused(
        post(&agent, &predict, "application/json", &pixels_body("broken")),
        422,
    );
    assert_eq!(failed_loads(&server.stop(Duration::from_secs(20))), 1);
}

#[test]
fn beyond_loopback_every_request_needs_the_token_it_printed() {
    let project = Project::new();
    let server = Server::start_on(
        "0.0.0.0:0",
        &project.artifacts(),
        &["--allow-host", "MyBox.test"],
    );
    let token = server
        .token
        .clone()
        .expect("a token in the printed address");
    assert!(
        token.len() >= 32 && token.bytes().all(|b| b.is_ascii_hexdigit()),
        "{token}"
    );
    assert!(
        server.url.starts_with("http://127.0.0.1:"),
        "{}",
        server.url
    );
    let (url, addr) = (server.url.clone(), server.addr().to_string());
    let port = addr.rsplit(':').next().unwrap().to_string();

    let runs = format!("{url}/api/runs");
    let message = refused(get_json(&runs), 401);
    assert!(message.contains("token"), "{message}");
    let wrong = "f".repeat(token.len());
    refused(get_json(&format!("{runs}?token={wrong}")), 401);
    assert_eq!(get_json(&format!("{runs}?token={token}")).0, 200);
    let get_runs = |host: &str, headers: &str| {
        raw(
            &addr,
            &format!(
                "GET /api/runs HTTP/1.1\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n"
            ),
        )
    };
    let bearer = format!("Authorization: Bearer {token}\r\n");
    let cookie = format!("Cookie: other=1; mnist-mlp-token-{port}={token}\r\n");
    assert_eq!(get_runs(&addr, &bearer).0, 200);
    // The scheme's name is case-insensitive.
    let lowercase = format!("Authorization: bearer {token}\r\n");
    assert_eq!(get_runs(&addr, &lowercase).0, 200);
    assert_eq!(get_runs(&addr, &cookie).0, 200);
    assert_eq!(get_runs(&addr, "Authorization: Bearer nope\r\n").0, 401);
    let elsewhere = format!("Cookie: mnist-mlp-token-1={token}\r\n");
    assert_eq!(
        get_runs(&addr, &elsewhere).0,
        401,
        "another server's cookie"
    );

    // Opening the printed address sets the cookie and sends the page to `/`, so
    // the token leaves the address bar.
    let answer = exchange(
        &addr,
        &format!("GET /?token={token} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    );
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("\r\nlocation: /\r\n"),
        "{answer}"
    );
    let set = format!("mnist-mlp-token-{port}={token}; Path=/; HttpOnly; SameSite=Lax");
    assert!(answer.contains(&set), "{answer}");

    // The page's own prediction, with its cookie, its Origin and its type.
    let own = format!("http://{addr}");
    let cookie_value = format!("mnist-mlp-token-{port}={token}");
    let headers = [
        ("content-type", "application/json"),
        ("origin", own.as_str()),
        ("cookie", cookie_value.as_str()),
    ];
    let predict = format!("{url}/api/predict");
    let (status, answer) = post_with(&agent(), &predict, &headers, &pixels_body("tiny"));
    assert_eq!(status, 200, "{answer}");
    refused(
        post(&agent(), &predict, "application/json", &pixels_body("tiny")),
        401,
    );

    // Other machines name it by an IP address, or by a name given with --allow-host;
    // neither spares the token.
    for host in [
        format!("192.0.2.7:{port}"),
        format!("mybox.test:{port}"),
        "MYBOX.TEST".into(),
    ] {
        assert_eq!(get_runs(&host, &bearer).0, 200, "{host}");
        assert_eq!(get_runs(&host, "").0, 401, "{host}");
    }
    let (status, body) = get_runs(&format!("elsewhere.test:{port}"), &bearer);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("--allow-host"), "{body}");
}

#[test]
fn allowed_host_names_are_answered_on_loopback_and_nothing_else_is() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("absent");
    let server = Server::start_with(
        &artifacts,
        &["--allow-host", "mybox.test", "--allow-host", "other.test"],
    );
    assert!(server.token.is_none(), "no token on loopback");
    let addr = server.addr();
    let get_runs = |host: &str| {
        raw(
            addr,
            &format!("GET /api/runs HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        )
    };
    for host in ["mybox.test", "MyBox.Test:8080", "other.test", "localhost"] {
        assert_eq!(get_runs(host).0, 200, "{host}");
    }
    for host in [
        "attacker.example",
        "192.0.2.7",
        "mybox.test.attacker.example",
    ] {
        let (status, body) = get_runs(host);
        assert_eq!(status, 403, "{host}: {body}");
        assert!(body.contains("mybox.test, other.test"), "{body}");
    }
    let bad = Command::new(BIN)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--allow-host",
            "http://mybox.test:80",
        ])
        .arg("--artifacts")
        .arg(&artifacts)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("not a host name"), "{stderr}");
}

/// Sends `sent` and nothing more: what the server answers before it closes the
/// connection, which must come after the 1-second timeout and well before 10 s.
fn answer_to_a_stall(addr: &str, sent: &str) -> String {
    let mut stream = send(addr, sent);
    let start = Instant::now();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(10),
        "{sent:?}: closed after {waited:?}"
    );
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn a_client_that_stalls_or_trickles_a_body_is_cut_off_and_the_server_still_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_with(&dir.path().join("absent"), &["--header-timeout", "1"]);
    let addr = server.addr().to_string();
    // Half a request's headers, then nothing; and a connection that sends nothing.
    for sent in ["GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ", ""] {
        let answer = answer_to_a_stall(&addr, sent);
        assert!(answer.is_empty(), "{answer}");
    }
    // Headers in time, then a tenth of the body they declare, and nothing more.
    let trickle = format!(
        "POST /api/predict HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"model\":"
    );
    let answer = answer_to_a_stall(&addr, &trickle);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive within 1 s"), "{answer}");
    // A request sent in time is answered.
    assert_eq!(raw_get(&addr, "/api/runs").0, 200);
    // Stopping with a connection open and idle.
    let _idle = TcpStream::connect(&addr).unwrap();
    let console = server.stop(Duration::from_secs(10));
    assert!(console.contains("stopped"), "{console}");
}

#[test]
fn a_picture_gets_the_answer_mnist_mlp_predict_gives() {
    let project = Project::new();
    // Test digit 2 drawn dark on light paper at 4× size, as a photo would be.
    let plain = image::GrayImage::from_raw(28, 28, test_digit(2)).unwrap();
    let mut photo = image::imageops::resize(&plain, 112, 112, image::imageops::FilterType::Nearest);
    image::imageops::invert(&mut photo);
    let file = project.path().join("photo.png");
    photo.save(&file).unwrap();
    let cli = Command::new(BIN)
        .arg("predict")
        .arg(project.artifacts().join("tiny"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(cli.status.success());
    let cli = String::from_utf8(cli.stdout).unwrap();

    let server = Server::start(&project.artifacts());
    let (status, answer) = post(
        &agent(),
        &format!("{}/api/predict/image?model=tiny", server.url),
        "image/png",
        &std::fs::read(&file).unwrap(),
    );
    assert_eq!(status, 200, "{answer}");
    let probabilities: Vec<f32> = serde_json::from_value(answer["probabilities"].clone()).unwrap();
    let all: Vec<String> = probabilities
        .iter()
        .enumerate()
        .map(|(d, p)| format!("{d}: {p:.4}"))
        .collect();
    assert!(
        cli.contains(&format!(": {} (probability", answer["digit"])),
        "{cli} vs {answer}"
    );
    assert!(cli.contains(&all.join("  ")), "{cli} vs {all:?}");
    let input: Vec<u8> = serde_json::from_value(answer["input"].clone()).unwrap();
    assert_eq!(input.len(), 784);
    // Which pixels decided: ∂p/∂x for each, and input × gradient.
    let saliency: Vec<f32> = serde_json::from_value(answer["saliency"].clone()).unwrap();
    let product: Vec<f32> = serde_json::from_value(answer["input_times_gradient"].clone()).unwrap();
    assert_eq!(saliency.len(), 784);
    assert!(
        saliency.iter().any(|g| g.abs() > 1e-6),
        "a gradient: {saliency:?}"
    );
    for ((&x, g), p) in input.iter().zip(&saliency).zip(&product) {
        assert!((f32::from(x) / 255.0 * g - p).abs() <= 1e-6 * g.abs().max(1e-3));
    }
    // The run page's live data carries the diagnostics: epochs 0 to 2, two layers each.
    let (status, live) = get_json(&format!("{}/api/runs/tiny/live", server.url));
    assert_eq!(status, 200);
    let rows = live["diagnostics"].as_array().unwrap();
    assert_eq!(rows.len(), 6, "{live}");
    assert_eq!(rows[5]["epoch"], 2);
    assert!(rows[0]["weight_grad_norm"].as_f64().unwrap() > 0.0);
}

#[test]
fn a_thousand_predictions_from_sixteen_clients_are_all_answered_and_pages_keep_coming() {
    let project = Project::new();
    let server = Server::start(&project.artifacts());
    let predict = format!("{}/api/predict", server.url);
    let agent = agent();
    // Each of the ten distinct test digits answered once, alone: the reference.
    let bodies: Vec<Vec<u8>> = (0..10)
        .map(|i| serde_json::to_vec(&json!({"model": "tiny", "pixels": test_digit(i)})).unwrap())
        .collect();
    let reference: Vec<Value> = bodies
        .iter()
        .map(|body| {
            let (status, answer) = post(&agent, &predict, "application/json", body);
            assert_eq!(status, 200, "{answer}");
            let sum: f64 = answer["probabilities"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_f64().unwrap())
                .sum();
            assert!((sum - 1.0).abs() < 1e-3, "{answer}");
            answer
        })
        .collect();

    let (clients, total) = (16, 1000);
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let bodies = Arc::new(bodies);
    let reference = Arc::new(reference);
    // Pages asked for all along must keep being answered.
    let pages = {
        let (url, done) = (server.url.clone(), done.clone());
        std::thread::spawn(move || {
            let agent = self::agent();
            let mut answered = 0;
            while !done.load(Ordering::SeqCst) || answered < 3 {
                for page in ["/", "/api/runs", "/api/runs/tiny"] {
                    let response = agent.get(&format!("{url}{page}")).call().unwrap();
                    assert_eq!(response.status().as_u16(), 200, "{page}");
                }
                answered += 1;
            }
            answered
        })
    };
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (predict, next) = (predict.clone(), next.clone());
            let (bodies, reference) = (bodies.clone(), reference.clone());
            std::thread::spawn(move || {
                let agent = self::agent();
                let mut answered = 0;
                loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    if k >= total {
                        return answered;
                    }
                    let (status, answer) =
                        post(&agent, &predict, "application/json", &bodies[k % 10]);
                    assert_eq!(status, 200, "request {k}: {answer}");
                    let expected = &reference[k % 10];
                    assert_eq!(answer["digit"], expected["digit"], "request {k}");
                    assert_eq!(answer["input"], expected["input"], "request {k}");
                    let probabilities = |a: &Value| -> Vec<f64> {
                        serde_json::from_value(a["probabilities"].clone()).unwrap()
                    };
                    for (p, q) in probabilities(&answer).iter().zip(probabilities(expected)) {
                        assert!((p - q).abs() < 1e-6, "request {k}: {answer} vs {expected}");
                    }
                    answered += 1;
                }
            })
        })
        .collect();
    let answered: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    done.store(true, Ordering::SeqCst);
    assert_eq!(answered, total);
    assert!(pages.join().unwrap() >= 3);
}

#[test]
fn with_no_runs_it_starts_and_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("absent"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut server.stdout, &mut line).unwrap();
    assert_eq!(
        line.trim(),
        "no runs yet: train one with `mnist-mlp config/relu.toml`"
    );
    let (status, runs) = get_json(&format!("{}/api/runs", server.url));
    assert_eq!(status, 200);
    assert_eq!(runs["runs"].as_array().unwrap().len(), 0);
    assert_eq!(
        runs["hint"],
        "no runs yet: train one with `mnist-mlp config/relu.toml`"
    );
    assert_eq!(get(&format!("{}/", server.url)).0, 200);
    let (_, sweeps) = get_json(&format!("{}/api/sweeps", server.url));
    assert_eq!(sweeps, json!([]));
}

#[test]
fn sweeps_show_their_leaderboard_with_links_to_the_trials() {
    let project = Project::new();
    let sweep = project.artifacts().join("sweeps/l2");
    std::fs::create_dir_all(sweep.join("trials")).unwrap();
    std::fs::write(
        sweep.join("leaderboard.csv"),
        "rank,trial,status,optimizer.l2,validation_accuracy,run\n1,0,finished,0.0,96.08,trials/trial-000\n",
    )
    .unwrap();
    std::fs::copy(
        project.artifacts().join("tiny/accuracy_epochs.png"),
        sweep.join("validation-accuracy-vs-optimizer.l2.png"),
    )
    .unwrap();
    let server = Server::start(&project.artifacts());
    let (status, sweeps) = get_json(&format!("{}/api/sweeps", server.url));
    assert_eq!(status, 200);
    assert_eq!(sweeps[0]["name"], "l2");
    assert_eq!(sweeps[0]["rows"][0][3], "0.0");
    assert_eq!(sweeps[0]["runs"][0], "sweeps/l2/trials/trial-000");
    let figure = sweeps[0]["figures"][0].as_str().unwrap();
    assert_eq!(get(&format!("{}{figure}", server.url)).0, 200);
}

/// Polls `check` every 100 ms until it returns a value; panics after `limit`.
fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(start.elapsed() < limit, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_live_view_follows_a_training_in_another_process() {
    let project = Project::new();
    let config = slow_config(project.path(), write_dataset);
    let server = Server::start(&project.artifacts());
    let mut training = Command::new(BIN)
        .arg("train")
        .arg(&config)
        .arg("--artifacts")
        .arg(project.artifacts())
        .env_remove("MNIST_DATA_DIR")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let live = format!("{}/api/runs/slow/live", server.url);
    let limit = Duration::from_secs(300);
    let first = wait_for(limit, "the run in progress", || {
        let (status, state) = get_json(&live);
        (status == 200 && state["status"] == "running" && !state["progress"].is_null())
            .then_some(state)
    });
    let progress = &first["progress"];
    assert_eq!(progress["total_epochs"], 300);
    assert!(progress["images_total"].as_u64().unwrap() > 0, "{progress}");
    let epochs = |state: &Value| state["history"]["epochs"].as_array().unwrap().len();
    let seen = epochs(&first);
    wait_for(limit, "another epoch", || {
        let (_, state) = get_json(&live);
        (epochs(&state) > seen).then_some(())
    });
    let (_, runs) = get_json(&format!("{}/api/runs", server.url));
    let row = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "slow")
        .unwrap()
        .clone();
    assert!(
        row["status"] == "running" || row["status"] == "finished",
        "{row}"
    );
    let _ = training.kill();
    let _ = training.wait();
}

#[test]
fn a_header_timeout_up_to_an_hour_serves_and_a_longer_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A deadline is an instant plus the timeout: u64::MAX seconds used to overflow it and
    // kill the server at its first request.
    let server = Server::start_with(&dir.path().join("absent"), &["--header-timeout", "3600"]);
    assert_eq!(get_json(&format!("{}/api/runs", server.url)).0, 200);
    let too_long = Command::new(BIN)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--header-timeout",
            "18446744073709551615",
        ])
        .output()
        .unwrap();
    // clap's own refusal: its error line, then where to find help.
    let stderr = String::from_utf8_lossy(&too_long.stderr);
    assert_eq!(too_long.status.code(), Some(2), "{stderr}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("error: ") && first.contains("is not in 1..=3600"),
        "{stderr}"
    );
}
