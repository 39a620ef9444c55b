//! Set-up shared by the integration tests.

// Each test binary uses only some of these.
#![allow(dead_code)]

use keylabel::project::{NewSample, SampleKind};
use serde_json::{Map, Value};

/// Row `row` (from 1) of the table file `file`, named as the importer names it
/// (`file#row`), with its text and typed columns. Its content hash is the BLAKE3 of the
/// text, so rows with the same text are duplicates.
pub fn text_row(
    file: &str,
    row: usize,
    text: &str,
    features: Option<Map<String, Value>>,
) -> NewSample {
    NewSample {
        kind: SampleKind::Text,
        name: format!("{file}#{row}"),
        path: file.into(),
        row: Some(row as i64),
        hash: blake3::hash(text.as_bytes()).to_hex().to_string(),
        bytes: text.len() as u64,
        width: None,
        height: None,
        format: None,
        text: Some(text.to_string()),
        features,
    }
}

pub mod window {
    //! Driving the real `App` in an `egui_kittest` harness, as the window tests do.

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
    pub fn wait_until(
        h: &mut Harness<'_, App>,
        what: &str,
        mut cond: impl FnMut(&mut App) -> bool,
    ) {
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

    pub fn press(h: &mut Harness<'_, App>, key: Key) {
        h.key_press(key);
        h.step();
        h.step();
    }

    pub fn press_mod(h: &mut Harness<'_, App>, m: Modifiers, key: Key) {
        h.key_press_modifiers(m, key);
        h.step();
        h.step();
    }

    /// The sample the labeling view shows.
    pub fn current(h: &Harness<'_, App>) -> SampleId {
        h.state().session().unwrap().current_id().unwrap()
    }
}
