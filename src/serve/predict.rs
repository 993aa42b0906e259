//! Models and the work done with them, in the server's [`Pool`]: each model is
//! loaded once (again when its file changes), and so is a failure to load one, so
//! a corrupt or hostile file is not parsed again on every request; inference runs
//! on a worker, and a run's test-set predictions (for its confusion matrix) are
//! computed once. So however many predictions are asked for at once, the threads
//! that answer page requests stay free. Only the models used last are kept, so a
//! server left running over a folder of many runs does not grow with each one shown.

use std::future::Future;
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use axum::http::StatusCode;
use burn::prelude::Device;
use lru::LruCache;
use tokio::sync::OnceCell;

use super::ApiError;
use super::pool::Pool;
use crate::config::Activation;
use crate::data::{Checksums, Digits, Missing, Mnist};
use crate::eval::{ConfusionMatrix, Saliency, evaluate, probabilities, saliency};
use crate::fsutil::printable;
use crate::mnist::CLASSES;
use crate::model::layers_text;
use crate::run_files::RunDir;
use crate::weights::load::SavedModel;

/// Models kept loaded: a page compares a few at a time, and each may take tens of MB.
const KEPT_MODELS: NonZeroUsize = NonZeroUsize::new(8).unwrap();

/// Runs whose test-set predictions are kept: each holds its own copy of the
/// 10 000 test digits (7.8 MB), and the confusion page looks at one run at a time.
const KEPT_TEST_PREDICTIONS: NonZeroUsize = NonZeroUsize::new(4).unwrap();

/// Values computed once per model file, by whichever request comes first; the
/// others wait for it. A computation that ends in `Err` keeps nothing: the next
/// request tries again (the server was busy, or the data may have been fetched
/// meanwhile). Past its capacity, the value used longest ago is dropped (and
/// computed again if it is asked for again).
struct OnceMap<T>(Mutex<LruCache<ModelKey, Arc<OnceCell<T>>>>);

impl<T: Clone> OnceMap<T> {
    fn new(capacity: NonZeroUsize) -> Self {
        Self(Mutex::new(LruCache::new(capacity)))
    }

    /// The value for `key`, from `compute` if it is not there; what was kept for
    /// the file before it changed is dropped first, so it does not pile up.
    async fn get<E>(
        &self,
        key: ModelKey,
        compute: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let cell = {
            let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            map.retain(|kept, _| !key.replaces(kept));
            map.get_or_insert(key, Arc::default).clone()
        };
        cell.get_or_try_init(|| compute).await.cloned()
    }
}

/// A model file as it was when loaded: a retrained or replaced file gets a new key.
#[derive(Clone, PartialEq, Eq, Hash)]
struct ModelKey {
    weights: PathBuf,
    /// Modification time and length, when the file exists.
    stamp: Option<(SystemTime, u64)>,
    activation: Option<Activation>,
}

impl ModelKey {
    /// Whether `older` is this file as it was before it changed.
    fn replaces(&self, older: &Self) -> bool {
        older.weights == self.weights && older.stamp != self.stamp
    }
}

/// A model, or why it does not load: both are kept until the file changes.
type Loaded = Result<Arc<SavedModel>, String>;

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
    pub saliency: Saliency,
    pub model: String,
}

/// Every model the server has loaded, and what it has computed with them.
pub struct Models {
    device: Device,
    pool: Arc<Pool>,
    data_dir: Option<PathBuf>,
    loaded: OnceMap<Loaded>,
    tested: OnceMap<Arc<TestPredictions>>,
}

impl Models {
    /// `data_dir` overrides the data folder of every run's config; the work runs in `pool`.
    pub fn new(device: Device, data_dir: Option<PathBuf>, pool: Arc<Pool>) -> Self {
        Self {
            device,
            pool,
            data_dir,
            loaded: OnceMap::new(KEPT_MODELS),
            tested: OnceMap::new(KEPT_TEST_PREDICTIONS),
        }
    }

    /// The key of the model in `target` (a run folder or weights file) as its file is now.
    fn key(target: &Path, activation: Option<Activation>) -> ModelKey {
        let weights = if target.is_dir() {
            RunDir::at(target).weights()
        } else {
            target.to_path_buf()
        };
        let stamp = std::fs::metadata(&weights)
            .and_then(|m| Ok((m.modified()?, m.len())))
            .ok();
        ModelKey {
            weights,
            stamp,
            activation,
        }
    }

    /// The model in `target` (a run folder or weights file inside the root);
    /// a model that fails to load is a 422 carrying the loader's message.
    pub async fn load(
        &self,
        target: &Path,
        activation: Option<Activation>,
    ) -> Result<Arc<SavedModel>, ApiError> {
        let key = Self::key(target, activation);
        let (target, device) = (target.to_path_buf(), self.device.clone());
        let load = self
            .pool
            .run(move || load_once(&target, activation, &device));
        self.loaded.get(key, load).await?.map_err(model_error)
    }

    /// The digit in `pixels` (784 bytes, MNIST's form), all ten probabilities and
    /// the saliency map, from the model in `target`, which the answer names `id`.
    pub async fn predict(
        &self,
        id: &str,
        target: &Path,
        activation: Option<Activation>,
        pixels: Vec<u8>,
    ) -> Result<Answer, ApiError> {
        let saved = self.load(target, activation).await?;
        let id = id.to_string();
        let device = self.device.clone();
        self.pool
            .run(move || {
                let digits = [pixels];
                let explained = saliency(&saved.model, &digits, &device).remove(0);
                Answer {
                    digit: explained.digit,
                    probabilities: probabilities(&saved.model, &digits, &device).remove(0),
                    saliency: explained,
                    model: describe(&id, &saved),
                }
            })
            .await
    }

    /// The test-set predictions of the run in `run`, computed once per model file.
    /// Missing data is a 422 whose message says how to fetch it.
    pub async fn test_predictions(&self, run: &Path) -> Result<Arc<TestPredictions>, ApiError> {
        let saved = self.load(run, None).await?;
        let data_dir = self.data_dir.clone().unwrap_or_else(|| saved.data_dir());
        let checksums = Checksums::verify_if(saved.verify_data());
        let key = Self::key(run, None);
        let device = self.device.clone();
        // Evaluation takes every core for a moment.
        let evaluated = self.pool.run_alone(move || -> Result<_, String> {
            let test = Mnist::load_test(&data_dir, Missing::Fail, checksums).map_err(|err| {
                format!(
                    "{err:#}. The server reads the test digits from {}: fetch them with `mnist-mlp fetch` (or `MNIST_DATA_DIR=… mnist-mlp fetch`), or start the server with --data-dir",
                    data_dir.display()
                )
            })?;
            let evaluation = evaluate(&saved.model, &test, &device);
            let confusion =
                ConfusionMatrix::new(&evaluation.labels, &evaluation.predictions, CLASSES);
            Ok(Arc::new(TestPredictions {
                test,
                predictions: evaluation.predictions,
                confusion,
                data_dir,
            }))
        });
        let evaluated = async {
            evaluated
                .await?
                .map_err(|message| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message))
        };
        self.tested.get(key, evaluated).await
    }
}

/// Loads the model in `target`, saying on the console when it fails: the failure
/// is kept, so the line appears once per version of the file. A loader that
/// panics on a hostile file counts as a failure too.
fn load_once(target: &Path, activation: Option<Activation>, device: &Device) -> Loaded {
    let message = match catch_unwind(AssertUnwindSafe(|| {
        SavedModel::load(target, activation, device)
    })) {
        Ok(Ok(saved)) => return Ok(Arc::new(saved)),
        Ok(Err(err)) => format!("{err:#}"),
        Err(_) => "the loader failed unexpectedly on this file".to_string(),
    };
    // The path and the loader's message may hold a file's control characters.
    println!(
        "{} did not load ({}); the failure is remembered until the file changes",
        printable(&target.display().to_string(), None),
        printable(&message, None)
    );
    Err(message)
}

/// The model as the page names it: its id under the artifacts folder (not a path
/// on the server's disk), and what it is.
fn describe(id: &str, saved: &SavedModel) -> String {
    let network = format!("{}, {}", layers_text(&saved.layer_sizes), saved.activation);
    match &saved.config {
        Some(config) => format!("{id} ({network}, {} epochs)", config.training.epochs),
        None => format!("{id} ({} state_dict: {network})", saved.format),
    }
}

/// A model that does not load: the request is fine, the file is not.
fn model_error(message: String) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!("cannot load the model: {message}"),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn key(file: &str, modified_s: u64) -> ModelKey {
        ModelKey {
            weights: PathBuf::from(file),
            stamp: Some((
                SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(modified_s),
                1,
            )),
            activation: None,
        }
    }

    /// The value for `key`, counting in `computed` each time it is computed.
    async fn get(map: &OnceMap<String>, key: ModelKey, computed: &AtomicUsize) -> String {
        let modified = key.stamp.expect("a stamp").0;
        let modified_s = modified.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        let value = format!("{}@{}", key.weights.display(), modified_s.as_secs());
        map.get(key, async {
            computed.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(value)
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn keeps_the_values_used_last_and_computes_a_dropped_one_again() {
        let map = OnceMap::new(NonZeroUsize::new(2).unwrap());
        let computed = AtomicUsize::new(0);
        get(&map, key("a", 0), &computed).await;
        get(&map, key("b", 0), &computed).await;
        // Using "a" again makes "b" the one used longest ago, so "c" drops "b".
        get(&map, key("a", 0), &computed).await;
        get(&map, key("c", 0), &computed).await;
        assert_eq!(computed.load(Ordering::SeqCst), 3);
        get(&map, key("a", 0), &computed).await;
        assert_eq!(computed.load(Ordering::SeqCst), 3, "a is kept");
        get(&map, key("b", 0), &computed).await;
        assert_eq!(computed.load(Ordering::SeqCst), 4, "b was dropped");
    }

    #[tokio::test]
    async fn a_changed_file_drops_what_was_kept_for_its_old_version() {
        let map = OnceMap::new(NonZeroUsize::new(8).unwrap());
        let computed = AtomicUsize::new(0);
        get(&map, key("a", 0), &computed).await;
        assert_eq!(get(&map, key("a", 5), &computed).await, "a@5");
        assert_eq!(computed.load(Ordering::SeqCst), 2);
        assert_eq!(map.0.lock().unwrap().len(), 1);
    }
}
