#!/usr/bin/env python3
"""Which test images a committee's members get wrong, alone and together: each member's
errors, the committee's (the argmax of the mean probabilities, as `eval --ensemble`), how many
errors each pair of members shares, and the images that defeat every member, which no
average can fix. NumPy forward passes over each model.safetensors. A report, for seeing why
a committee helps or does not; choosing members by it would be choosing on the test set.

Usage: scripts/committee_errors.py artifacts/record artifacts/record_s43 [MORE_RUNS…] [--data-dir data]
Needs: pip install numpy safetensors
"""
import argparse
import itertools
import os
import sys

from check_safetensors import committee_logits, numpy_logits, test_set, weights_file


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="two or more run folders (or model.safetensors)")
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR", "data"))
    args = parser.parse_args()
    if len(args.runs) < 2:
        print("error: a committee needs two or more runs", file=sys.stderr)
        return 2
    images, labels = test_set(args.data_dir)
    logits = [numpy_logits(weights_file(run), images) for run in args.runs]
    wrong = [set((z.argmax(axis=1) != labels).nonzero()[0]) for z in logits]
    for run, errors in zip(args.runs, wrong):
        print(f"{run}: {len(errors)} errors")
    committee = set((committee_logits(logits).argmax(axis=1) != labels).nonzero()[0])
    accuracy = 100.0 * (len(labels) - len(committee)) / len(labels)
    print(f"committee of {len(args.runs)}: {len(committee)} errors, test accuracy {accuracy:.2f}%")
    shared = [len(a & b) for a, b in itertools.combinations(wrong, 2)]
    print(f"each pair of members shares {min(shared)}–{max(shared)} errors")
    everyone = sorted(set.intersection(*wrong))
    print(f"{len(everyone)} images defeat every member, {len(committee.intersection(everyone))} "
          f"of them among the committee's errors: {' '.join(map(str, everyone))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
