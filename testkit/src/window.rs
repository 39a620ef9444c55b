//! The real `App` in an `egui_kittest` harness, as the window tests and benchmarks drive it.

use std::time::{Duration, Instant};

use egui::{Key, Modifiers};
use egui_kittest::Harness;
use keylabel::app::App;
use keylabel::project::SampleId;

/// The app at the default window size.
pub fn harness<'a>(app: App) -> Harness<'a, App> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .with_max_steps(64)
        .build_ui_state(|ui, app: &mut App| app.ui(ui), app)
}

/// Steps frames until `cond` holds (decoding, opening and jobs run on other threads).
pub fn wait_until(h: &mut Harness<'_, App>, what: &str, mut cond: impl FnMut(&mut App) -> bool) {
    let start = Instant::now();
    loop {
        h.step();
        if cond(h.state_mut()) {
            h.step();
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Types `text` into the text field labelled `label`, as a user would: focus, then keys.
pub fn type_into(h: &mut Harness<'_, App>, label: &str, text: &str) {
    use egui_kittest::kittest::Queryable;
    h.get_by_label(label).focus();
    h.run();
    h.get_by_label(label).type_text(text);
    h.run();
    assert_eq!(h.get_by_label(label).value().as_deref(), Some(text));
}

/// Steps frames until the widget whose rectangle `rect` gives has stayed put for three
/// frames (a panel still filling in moves what is below it), so that a pointer click made
/// next lands on it.
pub fn until_still(
    h: &mut Harness<'_, App>,
    what: &str,
    rect: impl Fn(&Harness<'_, App>) -> egui::Rect,
) {
    let start = Instant::now();
    let (mut last, mut still) = (rect(h), 0);
    while still < 3 {
        h.step();
        let now = rect(h);
        still = if now == last { still + 1 } else { 0 };
        last = now;
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} kept moving for 60 s"
        );
    }
}

/// Steps frames until the review view is open and neither its list nor its statistics
/// is being read (both are read in the background).
pub fn review_ready(h: &mut Harness<'_, App>) {
    wait_until(h, "the review view's list and statistics", |app| {
        app.project()
            .and_then(|p| p.review())
            .is_some_and(|v| !v.updating() && !v.stats.updating())
    });
}

/// Presses `key` and lets two frames run.
pub fn press(h: &mut Harness<'_, App>, key: Key) {
    h.key_press(key);
    h.step();
    h.step();
}

/// Presses `key` with modifiers and lets two frames run.
pub fn press_mod(h: &mut Harness<'_, App>, m: Modifiers, key: Key) {
    h.key_press_modifiers(m, key);
    h.step();
    h.step();
}

/// The sample the labeling view shows.
pub fn current(h: &Harness<'_, App>) -> SampleId {
    h.state()
        .session()
        .expect("a project is open")
        .current_id()
        .expect("a sample is shown")
}

/// CPU time of the calling thread (the UI thread): what a frame costs, without the time
/// other threads took the cores away. Elsewhere than Unix, the wall clock stands in.
pub fn thread_cpu() -> Duration {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant of the OS.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        if rc == 0 {
            return Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
        }
        Duration::ZERO
    }
    #[cfg(not(unix))]
    {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        START.get_or_init(Instant::now).elapsed()
    }
}
