//! The real `keylabel` binary, run as a user would type it, with a clean environment: no
//! `KEYLABEL_*` variable of the calling shell leaks into a test.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A command line: the binary, the project (`-p`), the folder it runs in and its
/// environment.
#[derive(Clone, Debug)]
pub struct Cli {
    bin: PathBuf,
    project: Option<PathBuf>,
    cwd: Option<PathBuf>,
    env: Vec<(OsString, OsString)>,
}

impl Cli {
    /// The binary at `bin` (in a test: `env!("CARGO_BIN_EXE_keylabel")`).
    pub fn new(bin: impl Into<PathBuf>) -> Cli {
        Cli {
            bin: bin.into(),
            project: None,
            cwd: None,
            env: Vec::new(),
        }
    }

    /// Every run passes `-p project` first.
    pub fn project(mut self, project: impl AsRef<Path>) -> Cli {
        self.project = Some(project.as_ref().to_path_buf());
        self
    }

    /// Runs in `dir`.
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Cli {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Sets one variable for the runs (on top of the clean environment).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Cli {
        self.env.push((key.into(), value.into()));
        self
    }

    /// `KEYLABEL_ANNOTATOR`, as a user's shell would set it.
    pub fn annotator(self, name: &str) -> Cli {
        self.env("KEYLABEL_ANNOTATOR", name)
    }

    /// The process for `args`, not yet started (for stdin or other settings).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("KEYLABEL_") {
                c.env_remove(key);
            }
        }
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(d) = &self.cwd {
            c.current_dir(d);
        }
        if let Some(p) = &self.project {
            c.arg("-p").arg(p);
        }
        c.args(args);
        c
    }

    /// Runs `args` to the end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .unwrap_or_else(|e| panic!("run {} {args:?}: {e}", self.bin.display()))
    }

    /// Runs `args` and asserts it succeeded (the panic shows both outputs).
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "keylabel {args:?} failed ({:?})\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs `args` to the end, killing it and failing if it runs longer than `limit` (for
    /// inputs that could make a command wait forever).
    pub fn run_within(&self, args: &[&str], limit: std::time::Duration) -> Output {
        let mut child = self
            .command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("run {} {args:?}: {e}", self.bin.display()));
        let start = std::time::Instant::now();
        while child.try_wait().expect("wait").is_none() {
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("keylabel {args:?} still running after {limit:?}");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.wait_with_output().expect("output")
    }

    /// Runs `args`, asserts it succeeded, and parses its standard output as JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        json_of(&self.run(args))
    }
}

/// The JSON on a finished run's standard output, asserting that the run succeeded (the
/// panic shows both outputs); for runs started with [`Cli::command`].
pub fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "keylabel failed ({:?})\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// Standard output as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
