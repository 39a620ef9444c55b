//! What the integration tests share beyond `keylabel-testkit`: the binary under test.

pub use keylabel_testkit::fixtures::{image_sample, image_sample_of, text_row, text_sample};
pub use keylabel_testkit::window;
pub use keylabel_testkit::{Cli, images};

/// The `keylabel` binary of this build, with a clean environment.
pub fn cli() -> Cli {
    Cli::new(env!("CARGO_BIN_EXE_keylabel"))
}

/// The Python interpreter that the environment variable `var` names, for a reference check
/// with a real tool. Without it the check is skipped with a notice naming `needs`, unless
/// `require` is set to `1` (as CI sets it), when a missing interpreter fails the test.
pub fn reference_python(var: &str, require: &str, needs: &str) -> Option<std::ffi::OsString> {
    if let Some(python) = std::env::var_os(var) {
        return Some(python);
    }
    if std::env::var(require).as_deref() == Ok("1") {
        panic!("{require}=1 but {var} is not set");
    }
    eprintln!("NOTICE: skipping a reference check: set {var} to a Python with {needs}");
    None
}

/// Runs TensorFlow Data Validation (`tests/python/check_tfdv.py`, under the interpreter
/// that `KEYLABEL_TFDV_PYTHON` names) over TFRecord export folders: statistics of each
/// split must show no anomaly against the folder's `schema.pbtxt`. Returns what it printed.
pub fn check_with_tfdv(dirs: &[std::path::PathBuf]) -> Option<String> {
    let python = reference_python(
        "KEYLABEL_TFDV_PYTHON",
        "KEYLABEL_REQUIRE_TFDV",
        "tensorflow-data-validation (see .ci/requirements-tfdv.txt)",
    )?;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_tfdv.py");
    let out = std::process::Command::new(&python)
        .arg(&script)
        .args(dirs)
        .env("TF_CPP_MIN_LOG_LEVEL", "2")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "could not run {}: {e}",
                std::path::Path::new(&python).display()
            )
        });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "check_tfdv.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("OK ").count(), dirs.len(), "{stdout}");
    Some(stdout)
}
