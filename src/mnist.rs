//! What MNIST is: 28 × 28 grey digits in ten classes, 60 000 of them to train on.
//! Every layer sizes its inputs, outputs and checks from these.

pub const IMAGE_SIDE: usize = 28;
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
pub const CLASSES: usize = 10;
pub const TRAIN_IMAGES: usize = 60_000;
