//! How tests judge a run of the real binary: success with its output, or one
//! clear error line and no panic.

use std::process::Output;

/// Exit 0; returns stdout. On failure it shows what the program said.
pub fn assert_success(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Non-zero exit, one `error:` line closing stderr that contains `needle`, no panic.
pub fn assert_clean_failure(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "succeeded; stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let errors: Vec<&&str> = lines.iter().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "want one error line, got: {stderr}");
    // Progress notes (e.g. "trying npm") may come first; the error closes the output.
    let last = lines.last().expect("an error line");
    assert!(last.starts_with("error: "), "{stderr}");
    assert!(last.contains(needle), "missing {needle:?}: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
}
