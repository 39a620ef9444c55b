//! A program run measured as the benchmarks report it: wall time, CPU time and the peak
//! resident memory of exactly that process (from `wait4`).

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a finished child process cost.
pub struct Run {
    pub wall: Duration,
    /// User plus system CPU time: steadier than wall time on a shared machine.
    pub cpu: Duration,
    /// The child's peak resident memory, as `wait4` reports it. Linux counts the
    /// spawning process's own peak in it (the child starts on the parent's memory until
    /// it execs), so it is the child's only when above [`Run::parent_peak_bytes`], and
    /// otherwise an upper bound of it.
    pub max_rss_bytes: u64,
    /// This (the measuring) process's peak resident memory when the child started.
    pub parent_peak_bytes: u64,
    pub stdout: String,
}

impl Run {
    /// Whether [`Run::max_rss_bytes`] is the child's own peak, not the parent's.
    pub fn peak_is_own(&self) -> bool {
        self.max_rss_bytes > self.parent_peak_bytes
    }
}

/// This process's peak resident memory (`VmHWM`), 0 where there is no `/proc`.
fn own_peak_bytes() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Runs `bin` with `args` in `dir` and measures it; panics when it fails.
#[cfg(unix)]
pub fn run(bin: &str, dir: &Path, args: &[&str]) -> Run {
    let out_path = dir.join("stdout.txt");
    let out = fs::File::create(&out_path).expect("stdout file");
    let parent_peak_bytes = own_peak_bytes();
    let start = Instant::now();
    // Reaped by `wait4` below, which `Child::wait` cannot replace: it alone reports the
    // child's own peak memory.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(bin)
        .current_dir(dir)
        .args(args)
        .stdout(out)
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn keylabel");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain syscall on our own child with valid out-pointers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(waited, pid, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{bin} {args:?} failed with status {status}"
    );
    // Linux reports ru_maxrss in kilobytes.
    let max_rss_bytes = usage.ru_maxrss as u64 * 1024;
    let secs = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Run {
        wall,
        cpu: secs(usage.ru_utime) + secs(usage.ru_stime),
        max_rss_bytes,
        parent_peak_bytes,
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
    }
}

/// A benchmark's size setting: the number in the environment variable `key`, else
/// `default`.
pub fn env_num(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `target/<name>` of the keylabel workspace, made if needed: where a benchmark keeps the
/// data it generates.
pub fn bench_dir(name: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target")
        .join(name);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot make {}: {e}", dir.display()));
    dir
}
