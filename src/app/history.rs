//! The history panel: every event of the current sample (who, what, when, source, and
//! whether a later undo withdrew it), newest last.
//!
//! The events are read with one query when the current sample changes or after a decision
//! marks the panel stale, never every frame.

use egui::RichText;

use super::screen::ProjectScreen;
use super::theme;
use crate::project::{Event, SampleId};

pub struct HistoryPanel {
    sample: Option<SampleId>,
    pub events: Vec<Event>,
    error: Option<String>,
    /// Set after a decision: re-read the events on the next frame.
    pub stale: bool,
}

impl Default for HistoryPanel {
    /// A panel that reads its events on the first frame.
    fn default() -> HistoryPanel {
        HistoryPanel {
            sample: None,
            events: Vec::new(),
            error: None,
            stale: true,
        }
    }
}

/// Draws the panel (at the window's right edge) when it is open.
pub fn show(p: &mut ProjectScreen, ui: &mut egui::Ui) {
    let (session, Some(panel)) = (&p.session, p.history.as_mut()) else {
        return;
    };
    let current = session.current_id();
    if panel.stale || panel.sample != current {
        panel.sample = current;
        panel.stale = false;
        match current.map(|id| session.project.history(Some(id))) {
            None => {
                panel.events.clear();
                panel.error = None;
            }
            Some(Ok(events)) => {
                panel.events = events;
                panel.error = None;
            }
            Some(Err(e)) => {
                panel.events.clear();
                panel.error = Some(format!("could not read the history: {e:#}"));
            }
        }
    }
    egui::Panel::right("history_panel")
        .default_size(320.0)
        .size_range(240.0..=640.0)
        .frame(theme::panel_frame(egui::Margin::same(12)))
        .show(ui, |ui| {
            ui.label(RichText::new("History").strong().size(16.0));
            if let Some(e) = &panel.error {
                ui.label(RichText::new(e).color(theme::ERROR));
            }
            if panel.events.is_empty() && panel.error.is_none() {
                ui.label(RichText::new("No events on this sample yet").color(theme::MUTED));
            }
            egui::ScrollArea::vertical().show(ui, |ui| {
                for e in &panel.events {
                    ui.separator();
                    event_row(ui, e);
                }
            });
        });
}

fn event_row(ui: &mut egui::Ui, e: &Event) {
    let mut what = RichText::new(describe(e)).size(15.0);
    if e.undone {
        what = what.strikethrough().color(theme::MUTED);
    }
    ui.horizontal_wrapped(|ui| {
        ui.label(what);
        if e.undone {
            ui.label(RichText::new("undone").color(theme::WARN).size(13.0));
        }
    });
    let mut meta = format!(
        "{} · {} · {}",
        e.annotator,
        super::review_view::short_time(&e.at),
        e.source.as_str()
    );
    if let Some(ms) = e.spent_ms {
        meta.push_str(&format!(" · {:.1} s", ms as f64 / 1000.0));
    }
    ui.label(RichText::new(meta).color(theme::MUTED).size(13.0));
    if let Some(note) = &e.note {
        ui.add(egui::Label::new(RichText::new(note).italics().size(13.0)).wrap());
    }
}

/// `label: cat`, `review: dog`, `skip`, …
fn describe(e: &Event) -> String {
    let mut s = e.kind.as_str().to_string();
    if !e.labels.is_empty() {
        s.push_str(": ");
        s.push_str(&e.labels.join(", "));
    }
    if let Some(score) = e.score {
        s.push_str(&format!(" ({score:.2})"));
    }
    s
}
