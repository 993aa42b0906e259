//! Models and the work done with them, off the async threads: each model is
//! loaded once (again when its file changes), inference runs on blocking threads
//! behind a semaphore of one permit per core, and a run's test-set predictions
//! (for its confusion matrix) are computed once. So however many predictions
//! are asked for at once, the threads that answer page requests stay free.

use std::collections::HashMap;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::http::StatusCode;
use burn::prelude::Device;
use tokio::sync::{OnceCell, Semaphore};

use super::ApiError;
use crate::config::ActivationKind;
use crate::data::{CLASSES, Checksums, Digits, Mnist};
use crate::eval::evaluate;
use crate::predict::probabilities;
use crate::report::ConfusionMatrix;
use crate::run_dir::RunDir;
use crate::saved::{self, SavedModel};

/// What a slow computation gives: a value shared by every request, or why not.
type Shared<T> = Result<Arc<T>, String>;

/// Values computed once per key, by whichever request comes first; the others
/// wait for it. A failure is not kept: the next request tries again (the data
/// may have been fetched meanwhile).
struct OnceMap<K, T>(Mutex<HashMap<K, Arc<OnceCell<Arc<T>>>>>);

impl<K: Eq + Hash + Clone, T: Send + Sync + 'static> OnceMap<K, T> {
    fn new() -> Self {
        Self(Mutex::new(HashMap::new()))
    }

    /// The value for `key`, computing it on a blocking thread if it is not there;
    /// entries for which `stale` holds are dropped first.
    async fn get(
        &self,
        key: K,
        stale: impl Fn(&K) -> bool,
        compute: impl FnOnce() -> Shared<T> + Send + 'static,
    ) -> Shared<T> {
        let cell = {
            let mut map = self.0.lock().expect("cache lock");
            map.retain(|k, _| !stale(k));
            map.entry(key).or_default().clone()
        };
        cell.get_or_try_init(|| async {
            tokio::task::spawn_blocking(compute)
                .await
                .unwrap_or_else(|_| {
                    Err("internal failure while computing; see the server's console".into())
                })
        })
        .await
        .cloned()
    }
}

/// A model file as it was when loaded: a retrained run gets a new key.
#[derive(Clone, PartialEq, Eq, Hash)]
struct ModelKey {
    weights: PathBuf,
    modified: Option<SystemTime>,
    activation: Option<ActivationKind>,
}

/// A run's model applied to its test set.
pub struct TestPredictions {
    pub test: Digits,
    pub predictions: Vec<u8>,
    pub confusion: ConfusionMatrix,
    pub data_dir: PathBuf,
}

/// One digit's answer.
pub struct Answer {
    pub digit: usize,
    pub probabilities: Vec<f32>,
    pub model: String,
}

pub struct Models {
    device: Device,
    /// Inference and evaluation at once: one per core.
    permits: Arc<Semaphore>,
    cores: u32,
    data_dir: Option<PathBuf>,
    loaded: OnceMap<ModelKey, SavedModel>,
    tested: OnceMap<ModelKey, TestPredictions>,
}

impl Models {
    /// `data_dir` overrides the data folder of every run's config.
    pub fn new(device: Device, data_dir: Option<PathBuf>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            device,
            permits: Arc::new(Semaphore::new(cores)),
            cores: cores as u32,
            data_dir,
            loaded: OnceMap::new(),
            tested: OnceMap::new(),
        }
    }

    fn key(target: &Path, activation: Option<ActivationKind>) -> ModelKey {
        let weights = if target.is_dir() {
            RunDir::at(target).weights()
        } else {
            target.to_path_buf()
        };
        let modified = std::fs::metadata(&weights).and_then(|m| m.modified()).ok();
        ModelKey {
            weights,
            modified,
            activation,
        }
    }

    /// The model in `target` (a run folder or weights file inside the root);
    /// a model that fails to load is a 422 carrying the loader's message.
    pub async fn load(
        &self,
        target: &Path,
        activation: Option<ActivationKind>,
    ) -> Result<Arc<SavedModel>, ApiError> {
        let key = Self::key(target, activation);
        let (target, device) = (target.to_path_buf(), self.device.clone());
        let fresh = key.clone();
        self.loaded
            .get(
                key,
                move |k| k.weights == fresh.weights && k.modified != fresh.modified,
                move || {
                    saved::load(&target, activation, &device)
                        .map(Arc::new)
                        .map_err(|err| format!("{err:#}"))
                },
            )
            .await
            .map_err(model_error)
    }

    /// The digit in `pixels` (784 bytes, MNIST's form) and all ten probabilities,
    /// from the model in `target`, which the answer names `id`.
    pub async fn predict(
        &self,
        id: &str,
        target: &Path,
        activation: Option<ActivationKind>,
        pixels: Vec<u8>,
    ) -> Result<Answer, ApiError> {
        let saved = self.load(target, activation).await?;
        let id = id.to_string();
        let permit = self.permits.clone().acquire_owned().await;
        let device = self.device.clone();
        let answer = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let probs = probabilities(&saved.model, &[pixels], &device).remove(0);
            let digit = (0..probs.len())
                .max_by(|&a, &b| probs[a].total_cmp(&probs[b]))
                .unwrap_or_default();
            Answer {
                digit,
                probabilities: probs,
                model: describe(&id, &saved),
            }
        })
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the prediction failed; see the server's console".into(),
            )
        })?;
        Ok(answer)
    }

    /// The test-set predictions of the run in `run`, computed once per model file.
    /// Missing data is a 422 whose message says how to fetch it.
    pub async fn test_predictions(&self, run: &Path) -> Result<Arc<TestPredictions>, ApiError> {
        let saved = self.load(run, None).await?;
        let data_dir = self.data_dir.clone().unwrap_or_else(|| saved.data_dir());
        let checksums = Checksums::verify_if(saved.verify_data());
        let key = Self::key(run, None);
        let fresh = key.clone();
        let (device, permits, cores) = (self.device.clone(), self.permits.clone(), self.cores);
        self.tested
            .get(
                key,
                move |k| k.weights == fresh.weights && k.modified != fresh.modified,
                move || {
                    let test = Mnist::load_test(&data_dir, checksums).map_err(|err| {
                        format!(
                            "{err:#}. The server reads the test digits from {}: fetch them with `mnist-mlp fetch` (or `MNIST_DATA_DIR=… mnist-mlp fetch`), or start the server with --data-dir",
                            data_dir.display()
                        )
                    })?;
                    // Evaluation takes every core for a moment: wait for them.
                    let _permits = tokio::runtime::Handle::current()
                        .block_on(permits.acquire_many(cores));
                    let evaluation = evaluate(&saved.model, &test, &device);
                    let confusion =
                        ConfusionMatrix::new(&evaluation.labels, &evaluation.predictions, CLASSES);
                    Ok(Arc::new(TestPredictions {
                        test,
                        predictions: evaluation.predictions,
                        confusion,
                        data_dir,
                    }))
                },
            )
            .await
            .map_err(|message| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message))
    }
}

/// The model as the page names it: its id under the artifacts folder (not a path
/// on the server's disk), and what it is.
fn describe(id: &str, saved: &SavedModel) -> String {
    let sizes: Vec<String> = saved.layer_sizes.iter().map(usize::to_string).collect();
    let network = format!("{}, {}", sizes.join("→"), saved.activation);
    match &saved.config {
        Some(config) => format!("{id} ({network}, {} epochs)", config.training.epochs),
        None => format!("{id} ({} state_dict: {network})", saved.format),
    }
}

fn model_error(message: String) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!("cannot load the model: {message}"),
    )
}
