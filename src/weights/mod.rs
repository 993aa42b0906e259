//! Model files, each direction in its own module: [`save`] writes a run's
//! `model.safetensors` in PyTorch's layout; [`state_dict`] reads any MLP state_dict
//! (ours, or PyTorch's `.safetensors`, `.pt`, `.pth`), [`pytorch_file`] checking a
//! `.pt` before its pickle runs ([`pickle_scan`] measuring a bare one); [`load`] turns a run folder or
//! a file into a model with its config; [`checkpoint`] reads the Learner's
//! per-epoch checkpoints back; [`onnx`] exports a model as ONNX.

pub mod checkpoint;
pub mod load;
pub mod onnx;
mod pickle_scan;
pub mod pytorch_file;
pub mod save;
pub mod state_dict;
