//! sklearn's `classification_report` and `confusion_matrix`, for our ten classes.

use serde::{Deserialize, Serialize};

use crate::mnist::CLASSES;

/// `matrix[true][predicted]` counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    pub matrix: Vec<Vec<usize>>,
}

impl ConfusionMatrix {
    pub fn new(labels: &[u8], predictions: &[u8], classes: usize) -> Self {
        let mut matrix = vec![vec![0; classes]; classes];
        for (&truth, &predicted) in labels.iter().zip(predictions) {
            matrix[truth as usize][predicted as usize] += 1;
        }
        Self { matrix }
    }

    pub fn classes(&self) -> usize {
        self.matrix.len()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationReport {
    /// One entry per class, index = digit.
    pub classes: Vec<ClassScores>,
    pub accuracy: f64,
    pub macro_avg: ClassScores,
    pub weighted_avg: ClassScores,
}

impl ClassificationReport {
    /// As sklearn: a class never predicted has precision 0, never present recall 0,
    /// and F1 0 when precision + recall is 0. The macro average, too, is sklearn's:
    /// over the classes found in the labels or the predictions, so a test set without
    /// some digit is not marked down for the zeros of a class nobody asked about.
    pub fn from_confusion(confusion: &ConfusionMatrix) -> Self {
        let n = confusion.classes();
        let m = &confusion.matrix;
        let total: usize = m.iter().flatten().sum();
        let ratio = |num: usize, den: usize| {
            if den == 0 {
                0.0
            } else {
                num as f64 / den as f64
            }
        };
        let predicted = |c: usize| (0..n).map(|t| m[t][c]).sum::<usize>();
        let classes: Vec<ClassScores> = (0..n)
            .map(|c| {
                let true_positive = m[c][c];
                let support: usize = m[c].iter().sum();
                let precision = ratio(true_positive, predicted(c));
                let recall = ratio(true_positive, support);
                let f1 = if precision + recall == 0.0 {
                    0.0
                } else {
                    2.0 * precision * recall / (precision + recall)
                };
                ClassScores {
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect();
        let correct: usize = (0..n).map(|c| m[c][c]).sum();
        let present: Vec<f64> = (0..n)
            .map(|c| f64::from(classes[c].support > 0 || predicted(c) > 0))
            .collect();
        let average = |weight: &dyn Fn(usize) -> f64| {
            let weights: f64 = (0..n).map(weight).sum();
            let mean = |value: &dyn Fn(&ClassScores) -> f64| {
                if weights == 0.0 {
                    0.0
                } else {
                    let sum: f64 = (0..n).map(|c| weight(c) * value(&classes[c])).sum();
                    sum / weights
                }
            };
            ClassScores {
                precision: mean(&|s| s.precision),
                recall: mean(&|s| s.recall),
                f1: mean(&|s| s.f1),
                support: total,
            }
        };
        Self {
            accuracy: ratio(correct, total),
            macro_avg: average(&|c| present[c]),
            weighted_avg: average(&|c| classes[c].support as f64),
            classes,
        }
    }

    pub fn from_predictions(labels: &[u8], predictions: &[u8]) -> Self {
        Self::from_confusion(&ConfusionMatrix::new(labels, predictions, CLASSES))
    }

    /// The table as sklearn prints it (two decimals).
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{:>12} {:>9} {:>9} {:>9} {:>9}\n\n",
            "", "precision", "recall", "f1-score", "support"
        );
        for (class, s) in self.classes.iter().enumerate() {
            out += &format!(
                "{class:>12} {:>9.2} {:>9.2} {:>9.2} {:>9}\n",
                s.precision, s.recall, s.f1, s.support
            );
        }
        let total = self.macro_avg.support;
        out += &format!(
            "\n{:>12} {:>9} {:>9} {:>9.2} {total:>9}\n",
            "accuracy", "", "", self.accuracy
        );
        for (name, s) in [
            ("macro avg", &self.macro_avg),
            ("weighted avg", &self.weighted_avg),
        ] {
            out += &format!(
                "{name:>12} {:>9.2} {:>9.2} {:>9.2} {:>9}\n",
                s.precision, s.recall, s.f1, s.support
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn confusion_counts_true_by_predicted() {
        let confusion = ConfusionMatrix::new(&[0, 0, 1, 2], &[0, 1, 1, 1], 3);
        assert_eq!(
            confusion.matrix,
            vec![vec![1, 1, 0], vec![0, 1, 0], vec![0, 1, 0]]
        );
    }

    #[test]
    fn hand_computed_report_with_a_never_predicted_class() {
        // truth:     0 0 0 1 1 2
        // predicted: 0 0 1 1 1 1   → class 2 is never predicted.
        let confusion = ConfusionMatrix::new(&[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 1, 1], 3);
        let report = ClassificationReport::from_confusion(&confusion);
        let [c0, c1, c2] = [&report.classes[0], &report.classes[1], &report.classes[2]];
        assert!(close(c0.precision, 1.0) && close(c0.recall, 2.0 / 3.0) && close(c0.f1, 0.8));
        assert_eq!(c0.support, 3);
        assert!(close(c1.precision, 0.5) && close(c1.recall, 1.0) && close(c1.f1, 2.0 / 3.0));
        assert_eq!(c1.support, 2);
        assert!(close(c2.precision, 0.0) && close(c2.recall, 0.0) && close(c2.f1, 0.0));
        assert!(close(report.accuracy, 4.0 / 6.0));
        assert!(close(report.macro_avg.precision, 0.5));
        assert!(close(report.macro_avg.recall, (2.0 / 3.0 + 1.0) / 3.0));
        assert!(close(report.macro_avg.f1, (0.8 + 2.0 / 3.0) / 3.0));
        assert!(close(
            report.weighted_avg.precision,
            (3.0 * 1.0 + 2.0 * 0.5) / 6.0
        ));
        assert!(close(
            report.weighted_avg.recall,
            (3.0 * 2.0 / 3.0 + 2.0 * 1.0) / 6.0
        ));
        assert!(close(
            report.weighted_avg.f1,
            (3.0 * 0.8 + 2.0 * 2.0 / 3.0) / 6.0
        ));
        assert_eq!(report.weighted_avg.support, 6);
    }

    #[test]
    fn the_macro_average_leaves_out_a_class_neither_present_nor_predicted() {
        // Class 2 is absent from both; class 3 is predicted once but never present.
        let confusion = ConfusionMatrix::new(&[0, 0, 1, 1], &[0, 0, 1, 3], 4);
        let report = ClassificationReport::from_confusion(&confusion);
        // sklearn: classes 0, 1 and 3; precision (1 + 1 + 0) / 3, recall (1 + 0.5 + 0) / 3.
        assert!(close(report.macro_avg.precision, 2.0 / 3.0));
        assert!(close(report.macro_avg.recall, 0.5));
        assert!(close(report.macro_avg.f1, (1.0 + 2.0 / 3.0) / 3.0));
        assert!(close(report.weighted_avg.recall, 0.75));
    }

    #[test]
    fn text_layout_matches_sklearn() {
        let report = ClassificationReport::from_predictions(&[0, 1, 1], &[0, 1, 0]);
        let text = report.to_text();
        assert!(
            text.contains("precision    recall  f1-score   support"),
            "{text}"
        );
        assert!(
            text.contains("    accuracy                          0.67         3"),
            "{text}"
        );
        assert!(text.contains("   macro avg"), "{text}");
        assert_eq!(text.lines().count(), 2 + CLASSES + 4);
    }
}
