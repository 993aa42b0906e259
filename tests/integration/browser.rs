//! The web app in a real browser: headless Chromium driven through Debian's
//! `chromedriver` (WebDriver), against `mnist-mlp serve` on tiny runs trained on
//! generated data. It opens the runs list and a run page (every image loads, no
//! SEVERE console entry), draws a stroke on the pad with pointer events and reads
//! the answer, uploads pictures the page or the server refuses, opens the
//! comparison, and watches a live run's epoch table grow.
//!
//! Without `chromedriver` on PATH the test says so loudly and passes, unless
//! `MNIST_MLP_REQUIRE_BROWSER=1` (CI sets it after installing chromium and
//! chromium-driver). `readme_screenshots` (ignored) takes the README's pictures.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::Method;
use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::common::BIN;
use crate::common::server::{Server, slow_config, train, write_config};
use crate::common::synthetic::write_dataset;

/// How long any one thing may take to appear (slow CI machines, two cores).
const PATIENCE: Duration = Duration::from_secs(180);

/// `name` on PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// The chromedriver to use, or `None` after a loud skip message (a failure when
/// the browser is required).
fn chromedriver() -> Option<PathBuf> {
    let found = on_path("chromedriver");
    if found.is_none() {
        let message = "chromedriver is not on PATH: install Debian's `chromium chromium-driver` to run the browser tests";
        if std::env::var("MNIST_MLP_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!("{message} (MNIST_MLP_REQUIRE_BROWSER=1)");
        }
        // Straight to stderr, past the test harness's capture, so it is seen.
        let _ = writeln!(
            std::io::stderr(),
            "\n**********\nSKIPPED the browser tests: {message}\n**********\n"
        );
    }
    found
}

/// A chromedriver process on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(binary: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Its own process group, which the browsers it starts join: dropping the
        // driver ends them too, even when a test fails before closing its session.
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        while ureq::get(&format!("{url}/status")).call().is_err() {
            assert!(start.elapsed() < PATIENCE, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { child, url }
    }

    /// A new headless Chromium session, `width` × `height` CSS pixels.
    async fn browser(&self, width: u32, height: u32) -> Client {
        let mut args = vec![
            "--headless=new".to_string(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--hide-scrollbars".into(),
            format!("--window-size={width},{height}"),
        ];
        // Chromium refuses to run as root with its sandbox on.
        if Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0"))
        {
            args.push("--no-sandbox".into());
        }
        let mut options = json!({ "args": args });
        if let Some(chromium) = on_path("chromium") {
            options["binary"] = json!(chromium);
        }
        let mut capabilities = Capabilities::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), options);
        capabilities.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chromedriver's console log (`goog:loggingPrefs`): the entries since the last call.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (Method, Option<String>) {
        (Method::POST, Some(r#"{"type": "browser"}"#.into()))
    }
}

/// The SEVERE console entries (errors, failed loads) since the last look: their messages.
async fn severe_console_entries(client: &Client) -> Vec<String> {
    let log = client.issue_cmd(BrowserLog).await.expect("the browser log");
    log.as_array()
        .expect("log entries")
        .iter()
        .filter(|entry| entry["level"] == "SEVERE")
        .map(|entry| entry["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Fails on any SEVERE console entry since the last look.
async fn assert_clean_console(client: &Client, page: &str) {
    let severe = severe_console_entries(client).await;
    assert!(severe.is_empty(), "{page}: console errors: {severe:#?}");
}

/// Uploads a picture too large for the server (refused in the page, never sent) and
/// a blank one (sent, refused by the server): each refusal is shown under the pad.
async fn assert_uploads_refused(client: &Client) {
    let pictures = tempfile::tempdir().unwrap();
    let (oversize, blank) = (
        pictures.path().join("huge.png"),
        pictures.path().join("blank.png"),
    );
    std::fs::write(&oversize, vec![0u8; 9 << 20]).unwrap();
    image::GrayImage::new(50, 50).save(&blank).unwrap();
    for (picture, shown) in [
        (&oversize, "huge.png is larger than the 8 MiB limit"),
        (&blank, "blank"),
    ] {
        let upload = client.find(Locator::Css("#upload")).await.unwrap();
        upload.send_keys(picture.to_str().unwrap()).await.unwrap();
        until(
            client,
            shown,
            &format!(
                "return document.querySelector('#predict-error').textContent.includes({shown:?})"
            ),
        )
        .await;
    }
    let severe = severe_console_entries(client).await;
    assert!(
        severe.len() == 1 && severe[0].contains("status of 400"),
        "only the blank picture reached the server: {severe:#?}"
    );
}

/// Runs `script` (a function body returning a value) until its result is truthy.
async fn until(client: &Client, what: &str, script: &str) -> Value {
    let start = Instant::now();
    loop {
        let value = client
            .execute(script, vec![])
            .await
            .expect("the script runs");
        let truthy = !matches!(&value, Value::Null | Value::Bool(false))
            && value != json!(0)
            && value != json!("");
        if truthy {
            return value;
        }
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until every `<img>` has loaded, then checks each has a picture.
async fn assert_images_load(client: &Client, page: &str) -> usize {
    until(
        client,
        &format!("the images of {page}"),
        "return [...document.images].every(i => i.complete)",
    )
    .await;
    let images = client
        .execute(
            "return [...document.images].map(i => [i.src, i.naturalWidth])",
            vec![],
        )
        .await
        .unwrap();
    let images = images.as_array().unwrap();
    for image in images {
        assert!(
            image[1].as_u64().unwrap() > 0,
            "{page}: {image} did not load"
        );
    }
    images.len()
}

/// Draws a 7 on the pad with pointer events: a bar, then the down-stroke.
async fn draw_seven(client: &Client) {
    let pad = client.find(Locator::Css("#pad")).await.unwrap();
    let step = Some(Duration::from_millis(60));
    let stroke = MouseActions::new("pen".into())
        .then(PointerAction::MoveToElement {
            element: pad,
            duration: None,
            x: -70.0,
            y: -85.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::MoveBy {
            duration: step,
            x: 70.0,
            y: 0.0,
        })
        .then(PointerAction::MoveBy {
            duration: step,
            x: 70.0,
            y: 0.0,
        })
        .then(PointerAction::MoveBy {
            duration: step,
            x: -40.0,
            y: 85.0,
        })
        .then(PointerAction::MoveBy {
            duration: step,
            x: -40.0,
            y: 85.0,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    client.perform_actions(stroke).await.unwrap();
}

/// The pad's answer once it came: the digit and the ten probabilities shown.
async fn read_answer(client: &Client) -> (u64, Vec<f64>) {
    let answer = until(
        client,
        "the pad's answer",
        "const a = document.querySelector('#answer'); \
         return a && a.dataset.digit !== undefined && \
           [a.dataset.digit, [...document.querySelectorAll('#bars .prob')].map(r => r.dataset.p)]",
    )
    .await;
    let digit = answer[0].as_str().unwrap().parse().unwrap();
    let probabilities = answer[1]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().parse().unwrap())
        .collect();
    (digit, probabilities)
}

/// Rows of the epoch table on the page.
const EPOCH_ROWS: &str = "document.querySelectorAll('#epochs tbody tr').length";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_in_headless_chromium() {
    let Some(chromedriver) = chromedriver() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (data, artifacts) = (dir.path().join("data"), dir.path().join("artifacts"));
    write_dataset(&data, 120, 40);
    let config = write_config(dir.path(), &data, "tiny", "epochs = 3\n");
    train(&config, &artifacts, &[]);
    let server = Server::start(&artifacts);
    let driver = Driver::start(&chromedriver);
    let client = driver.browser(1000, 900).await;

    // The console log is really read: a probe error shows up in it.
    client.goto(&format!("{}/#/", server.url)).await.unwrap();
    client
        .execute("console.error('probe from the test')", vec![])
        .await
        .unwrap();
    let log = client.issue_cmd(BrowserLog).await.unwrap();
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["level"] == "SEVERE"
                && e["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("probe from the test")),
        "the console probe is missing from {log}"
    );

    // The runs list.
    until(
        &client,
        "the runs table",
        "return document.querySelector('#runs tbody tr[data-run=\"tiny\"]')",
    )
    .await;
    assert_images_load(&client, "the runs list").await;
    assert_clean_console(&client, "the runs list").await;

    // A run page: figures, report, confusion matrix; a cell shows its digits.
    client
        .find(Locator::Css("a.run-link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        &client,
        "the epoch table",
        &format!("return {EPOCH_ROWS} === 3"),
    )
    .await;
    until(
        &client,
        "the confusion matrix",
        "return document.querySelector('#confusion td.clickable')",
    )
    .await;
    client
        .find(Locator::Css("#confusion td.clickable"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        &client,
        "the cell's digits",
        "return document.querySelectorAll('#cell-digits img').length",
    )
    .await;
    let images = assert_images_load(&client, "the run page").await;
    assert!(images >= 9, "eight figures and a digit at least: {images}");
    for figure in ["diagnostics.png", "first_layer.png"] {
        let shown = client
            .execute(
                &format!("return !!document.querySelector('img[src$=\"{figure}\"]')"),
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(shown, json!(true), "the run page shows {figure}");
    }
    // A digit of the cell, clicked, gets its saliency map beside it.
    client
        .find(Locator::Css("#cell-digits figure.digit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let peak = until(
        &client,
        "a cell digit's saliency map",
        "const m = document.querySelector('#cell-digits canvas.saliency-cell'); return m && Number(m.dataset.peak)",
    )
    .await;
    assert!(peak.as_f64().unwrap() > 0.0, "a gradient to show: {peak}");
    let report_rows = client
        .execute(
            "return document.querySelectorAll('#report tbody tr').length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(report_rows, json!(13), "ten digits, two averages, accuracy");
    assert_clean_console(&client, "the run page").await;

    // The pad: a stroke drawn with pointer events gets a digit and ten probabilities.
    client
        .goto(&format!("{}/#/draw", server.url))
        .await
        .unwrap();
    until(&client, "the pad", "return document.querySelector('#pad')").await;
    draw_seven(&client).await;
    let (digit, probabilities) = read_answer(&client).await;
    assert!(digit < 10);
    assert_eq!(probabilities.len(), 10);
    let sum: f64 = probabilities.iter().sum();
    assert!((sum - 1.0).abs() < 1e-3, "probabilities sum to {sum}");
    let best = (0..10)
        .max_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b]))
        .unwrap();
    assert_eq!(best as u64, digit);
    let ink = client
        .execute(
            "const c = document.querySelector('#input28').getContext('2d'); \
             return [...c.getImageData(0, 0, 28, 28).data].filter((v, i) => i % 4 === 0 && v > 0).length",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        ink.as_u64().unwrap() > 20,
        "the 28×28 input shows the stroke: {ink}"
    );
    // Beside it, which pixels decided: coloured (not white) where the gradient is.
    for map in ["#saliency", "#saliency-product"] {
        let coloured = client
            .execute(
                &format!(
                    "const c = document.querySelector('{map}'); \
                     const d = c.getContext('2d').getImageData(0, 0, 28, 28).data; \
                     let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 230 || d[i + 2] < 230) n++; \
                     return [n, Number(c.dataset.peak)]"
                ),
                vec![],
            )
            .await
            .unwrap();
        assert!(
            coloured[0].as_u64().unwrap() > 20 && coloured[1].as_f64().unwrap() > 0.0,
            "{map} shows a heatmap: {coloured}"
        );
    }
    assert_clean_console(&client, "the draw page").await;
    assert_uploads_refused(&client).await;

    // Compare: the curves are drawn and the table lists the run.
    client
        .goto(&format!("{}/#/compare?runs=tiny", server.url))
        .await
        .unwrap();
    until(
        &client,
        "the comparison",
        "return document.querySelector('#comparison tbody tr[data-run=\"tiny\"]')",
    )
    .await;
    let drawn = client
        .execute(
            "const c = document.querySelector('#compare-accuracy'); \
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
             let coloured = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && d[i + 2] > d[i] + 60) coloured++; \
             return coloured",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        drawn.as_u64().unwrap() > 50,
        "the accuracy curve is drawn: {drawn}"
    );
    let overlaid = client
        .execute(
            "return Number(document.querySelector('#compare-gradient').dataset.series)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        overlaid,
        json!(1),
        "the first layer's gradient of the run is overlaid"
    );
    assert_clean_console(&client, "the compare page").await;

    // Live: a training in another process; its page's epoch table grows.
    let slow = slow_config(dir.path(), write_dataset);
    let mut training = Command::new(BIN)
        .arg("train")
        .arg(&slow)
        .arg("--artifacts")
        .arg(&artifacts)
        .env_remove("MNIST_DATA_DIR")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !artifacts.join("slow/config.toml").is_file() {
        assert!(started.elapsed() < PATIENCE, "the training did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client
        .goto(&format!("{}/#/run/slow", server.url))
        .await
        .unwrap();
    // The page may open before progress.json exists: reload until it shows the live block.
    let started = Instant::now();
    loop {
        let live = client
            .execute("return !!document.querySelector('#live')", vec![])
            .await
            .unwrap();
        if live == json!(true) {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "the live view did not appear");
        tokio::time::sleep(Duration::from_millis(500)).await;
        client.refresh().await.unwrap();
    }
    let rows = until(
        &client,
        "a first epoch row",
        &format!("return {EPOCH_ROWS} >= 1 && {EPOCH_ROWS}"),
    )
    .await;
    until(
        &client,
        "the epoch table to grow",
        &format!("return {EPOCH_ROWS} > {rows}"),
    )
    .await;
    until(
        &client,
        "the progress text",
        "return document.querySelector('.progress-text').textContent.includes('epoch')",
    )
    .await;
    assert_clean_console(&client, "the live page").await;
    let _ = training.kill();
    let _ = training.wait();
    client.close().await.unwrap();
}

/// Listening beyond loopback, the page opened at the printed address (its token
/// in the query) works: the token goes into a cookie and out of the address bar,
/// and the page's own requests (the pad's PNG with its type, the figures) carry it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_loopback_the_page_works_with_its_token() {
    let Some(chromedriver) = chromedriver() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (data, artifacts) = (dir.path().join("data"), dir.path().join("artifacts"));
    write_dataset(&data, 120, 40);
    let config = write_config(dir.path(), &data, "tiny", "epochs = 2\n");
    train(&config, &artifacts, &[]);
    let server = Server::start_on("0.0.0.0:0", &artifacts, &[]);
    let token = server.token.clone().expect("a token beyond loopback");
    let driver = Driver::start(&chromedriver);
    let client = driver.browser(1000, 900).await;

    client.goto(&format!("{}/#/", server.url)).await.unwrap();
    let refusal = client
        .execute("return document.body.innerText", vec![])
        .await
        .unwrap();
    assert!(
        refusal.as_str().unwrap_or_default().contains("token"),
        "without the token: {refusal}"
    );
    client
        .goto(&format!("{}/?token={token}#/draw", server.url))
        .await
        .unwrap();
    let address = client.current_url().await.unwrap();
    assert!(!address.as_str().contains(&token), "{address}");
    assert_eq!(address.fragment(), Some("/draw"), "{address}");
    // The refused page's console errors (its 401s) are not this page's.
    client.issue_cmd(BrowserLog).await.unwrap();

    until(&client, "the pad", "return document.querySelector('#pad')").await;
    draw_seven(&client).await;
    let (digit, probabilities) = read_answer(&client).await;
    assert!(digit < 10);
    assert_eq!(probabilities.len(), 10);
    assert_clean_console(&client, "the draw page").await;

    client
        .goto(&format!("{}/#/run/tiny", server.url))
        .await
        .unwrap();
    until(
        &client,
        "the run's figures",
        "return document.querySelectorAll('figure img').length >= 6",
    )
    .await;
    assert_images_load(&client, "the run page").await;
    assert_clean_console(&client, "the run page").await;
    client.close().await.unwrap();
}

/// The README's screenshots, from real runs: `MNIST_MLP_SCREENSHOTS=<artifacts>`
/// (finished runs and sweeps, copied; a live run is trained beside them with
/// `$MNIST_DATA_DIR`). Writes docs/screenshots/*.png and prints what the pad answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "takes the README's screenshots from real runs"]
async fn readme_screenshots() {
    let source = PathBuf::from(
        std::env::var("MNIST_MLP_SCREENSHOTS").expect("MNIST_MLP_SCREENSHOTS=<artifacts>"),
    );
    let chromedriver = chromedriver().expect("chromedriver");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    std::fs::create_dir_all(&out).unwrap();
    let data = std::env::var("MNIST_DATA_DIR").expect("MNIST_DATA_DIR=<the real MNIST>");
    let server = Server::start_with(&source, &["--data-dir", &data]);
    let driver = Driver::start(&chromedriver);
    let client = driver.browser(1000, 860).await;
    let shoot = |name: &'static str| {
        let (client, out) = (&client, &out);
        async move {
            assert_images_load(client, name).await;
            // Each page from its top, but the confusion matrix, scrolled to on purpose.
            if name != "confusion" {
                client
                    .execute("window.scrollTo(0, 0)", vec![])
                    .await
                    .unwrap();
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            std::fs::write(
                out.join(format!("{name}.png")),
                client.screenshot().await.unwrap(),
            )
            .unwrap();
        }
    };
    client.goto(&format!("{}/#/", server.url)).await.unwrap();
    until(
        &client,
        "runs",
        "return document.querySelector('#runs tbody tr')",
    )
    .await;
    shoot("runs").await;

    client
        .goto(&format!("{}/#/run/relu", server.url))
        .await
        .unwrap();
    until(
        &client,
        "the run",
        "return document.querySelector('#confusion td.clickable')",
    )
    .await;
    shoot("run").await;
    client
        .execute(
            "document.querySelector('#confusion').scrollIntoView()",
            vec![],
        )
        .await
        .unwrap();
    client
        .find(Locator::Css("#confusion td[data-t='4'][data-p='9']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        &client,
        "the cell's digits",
        "return document.querySelectorAll('#cell-digits img').length",
    )
    .await;
    // The first few digits of the cell explained: which pixels made them a 9.
    client
        .execute(
            "[...document.querySelectorAll('#cell-digits figure.digit')].slice(0, 6).forEach(f => f.click())",
            vec![],
        )
        .await
        .unwrap();
    until(
        &client,
        "their saliency maps",
        "return document.querySelectorAll('#cell-digits canvas.saliency-cell').length >= 6",
    )
    .await;
    client
        .execute(
            "document.querySelector('#confusion').scrollIntoView()",
            vec![],
        )
        .await
        .unwrap();
    shoot("confusion").await;

    let runs = std::env::var("MNIST_MLP_SCREENSHOTS_COMPARE")
        .unwrap_or("baseline,tanh,relu,relu_adam,relu_l2".into());
    client
        .goto(&format!("{}/#/compare?runs={runs}", server.url))
        .await
        .unwrap();
    until(
        &client,
        "the comparison",
        "return document.querySelector('#comparison tbody tr')",
    )
    .await;
    client
        .execute("document.querySelector('.charts').scrollIntoView()", vec![])
        .await
        .unwrap();
    shoot("compare").await;

    client
        .goto(&format!("{}/#/draw?model=relu", server.url))
        .await
        .unwrap();
    until(&client, "the pad", "return document.querySelector('#pad')").await;
    draw_seven(&client).await;
    let (digit, probabilities) = read_answer(&client).await;
    println!("the pad, a 7 drawn: answered {digit}, probabilities {probabilities:?}");
    shoot("draw").await;

    client
        .goto(&format!("{}/#/sweeps", server.url))
        .await
        .unwrap();
    until(&client, "sweeps", "return document.querySelector('.sweep')").await;
    shoot("sweeps").await;

    // Live: a real run trained into a scratch folder, caught after its fourth epoch.
    let scratch = tempfile::tempdir().unwrap();
    let live_server = Server::start(scratch.path());
    let mut training = Command::new(BIN)
        .args([
            "train",
            "config/relu.toml",
            "--set",
            "experiment.name=relu-live",
            "--artifacts",
        ])
        .arg(scratch.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !scratch.path().join("relu-live/progress.json").is_file() {
        assert!(started.elapsed() < PATIENCE, "the training did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client
        .goto(&format!("{}/#/run/relu-live", live_server.url))
        .await
        .unwrap();
    until(
        &client,
        "four epochs and a third of the next",
        &format!(
            "const bar = document.querySelector('#progress .bar-fill'); \
             const width = bar ? parseFloat(bar.style.width) : 0; \
             return {EPOCH_ROWS} >= 4 && width > 33 && width < 90 && \
               document.querySelector('.progress-text').textContent.includes('training')"
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    shoot("live").await;
    let _ = training.kill();
    let _ = training.wait();
    client.close().await.unwrap();
}
