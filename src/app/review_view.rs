//! The review view: the reviewer's queue (disagreements, then flagged samples, then
//! overridden model suggestions), each annotator's label side by side, and per-annotator
//! statistics.
//!
//! The queue and the statistics are read once when the view opens; each decision is one
//! event written through [`crate::review::queue`] under the window's annotator name (the
//! reviewer), after which the decided sample leaves the local list.

use egui::{Color32, Pos2, Rect, RichText, Vec2};

use super::commands::{Action, Command};
use super::keymap::Keymap;
use super::loader::{ImageLoader, ImageState};
use super::screen::{ProjectScreen, View};
use super::session::Session;
use super::{labeling, theme};
use crate::TaskKind;
use crate::project::{ClassId, Project, SampleKind, SampleStatus};
use crate::review::annotators::{AnnotatorStats, annotator_stats};
use crate::review::queue::{self, ReviewItem};

/// How many samples the queue reads at once; reopen the view for more.
pub const QUEUE_LIMIT: usize = 1000;

pub struct ReviewView {
    pub items: Vec<ReviewItem>,
    pub index: usize,
    pub stats: Result<Vec<AnnotatorStats>, String>,
    /// Decisions taken since the view opened.
    pub decided: u64,
    /// Multi-label: the classes toggled for "set another label", committed with Commit.
    pub pending: Vec<ClassId>,
}

impl ReviewView {
    /// Reads the queue and the statistics.
    pub fn open(project: &Project) -> anyhow::Result<ReviewView> {
        let items = queue::review_queue(project, QUEUE_LIMIT)?;
        let stats = annotator_stats(project).map_err(|e| format!("{e:#}"));
        Ok(ReviewView {
            items,
            index: 0,
            stats,
            decided: 0,
            pending: Vec::new(),
        })
    }

    /// Reads the per-annotator statistics again (after a decision changed them).
    pub fn refresh_stats(&mut self, project: &Project) {
        self.stats = annotator_stats(project).map_err(|e| format!("{e:#}"));
    }

    pub fn current(&self) -> Option<&ReviewItem> {
        self.items.get(self.index)
    }
}

/// Carries out a review action on the queue's current sample; returns a message for the
/// user.
pub fn apply(p: &mut ProjectScreen, action: Action) -> anyhow::Result<Option<String>> {
    let ProjectScreen { session, view, .. } = p;
    let View::Review(view) = view else {
        return Ok(None);
    };
    let reviewer = session.annotator.clone();
    let multi = session.task() == TaskKind::MultiLabel;
    if action == Action::Command(Command::Undo) {
        return undo(session, view);
    }
    let Some(item) = view.current().cloned() else {
        return Ok(None);
    };
    let message: String = match action {
        Action::Class(id) => {
            if multi {
                if let Some(p) = view.pending.iter().position(|c| *c == id) {
                    view.pending.remove(p);
                } else {
                    view.pending.push(id);
                }
                return Ok(None);
            }
            session.write_on(item.sample, |p| {
                queue::set_label(p, item.sample, &reviewer, &[id])
            })?;
            let name = class_name(&session.classes, id);
            format!("{}: set to “{name}”", item.name)
        }
        Action::Command(Command::Commit) if multi => {
            let mut labels = view.pending.clone();
            labels.sort_unstable();
            session.write_on(item.sample, |p| {
                queue::set_label(p, item.sample, &reviewer, &labels)
            })?;
            format!("{}: labels set", item.name)
        }
        Action::Command(Command::Commit) => {
            return Ok(Some("A class key sets the label of this sample".into()));
        }
        Action::Command(cmd) if Command::ACCEPT.contains(&cmd) => {
            let n = Command::ACCEPT.iter().position(|c| *c == cmd).unwrap_or(0);
            let Some(d) = item.decisions.get(n) else {
                return Ok(Some(format!("This sample has no annotator {}", n + 1)));
            };
            if d.status != SampleStatus::Labeled {
                return Ok(Some(format!(
                    "{} has no label on this sample to accept",
                    d.annotator
                )));
            }
            session.write_on(item.sample, |p| {
                queue::accept(p, item.sample, &reviewer, &d.annotator)
            })?;
            format!("{}: accepted the label of {}", item.name, d.annotator)
        }
        Action::Command(Command::SendBack) => {
            session.write_on(item.sample, |p| queue::send_back(p, item.sample, &reviewer))?;
            format!("{}: sent back to the annotators", item.name)
        }
        Action::Command(Command::Next | Command::NextUnlabeled) => {
            if view.index + 1 < view.items.len() {
                view.index += 1;
            }
            show_current(session, view)?;
            return Ok(None);
        }
        Action::Command(Command::Previous) => {
            view.index = view.index.saturating_sub(1);
            show_current(session, view)?;
            return Ok(None);
        }
        // Opening a sample from the grid is the labeling view's business.
        Action::Open(_) | Action::Command(_) => return Ok(None),
    };
    // The decided sample leaves the queue.
    view.items.remove(view.index);
    if view.index >= view.items.len() {
        view.index = view.items.len().saturating_sub(1);
    }
    view.decided += 1;
    view.pending.clear();
    view.refresh_stats(&session.project);
    show_current(session, view)?;
    Ok(Some(message))
}

/// Takes back the reviewer's last decision: the queue is read again (the sample is back
/// in it) and shows that sample.
fn undo(session: &mut Session, view: &mut ReviewView) -> anyhow::Result<Option<String>> {
    let reviewer = session.annotator.clone();
    let Some((_, sample)) = session.project.last_undoable(&reviewer)? else {
        return Ok(Some("Nothing left to undo".into()));
    };
    session.write_on(sample, |p| p.undo_last(&reviewer))?;
    let fresh = ReviewView::open(&session.project)?;
    view.items = fresh.items;
    view.stats = fresh.stats;
    view.decided = view.decided.saturating_sub(1);
    view.pending.clear();
    view.index = view
        .items
        .iter()
        .position(|i| i.sample == sample)
        .unwrap_or(0);
    session.go_to(sample)?;
    let name = session
        .current
        .as_ref()
        .map(|c| c.sample.name.clone())
        .unwrap_or_default();
    Ok(Some(format!("{name}: your last decision is undone")))
}

/// Makes the session show the review view's current sample (its image, its history).
fn show_current(session: &mut Session, view: &mut ReviewView) -> anyhow::Result<()> {
    if let Some(item) = view.items.get(view.index)
        && session.current_id() != Some(item.sample)
    {
        session.go_to(item.sample)?;
        view.pending.clear();
    }
    Ok(())
}

fn class_name(classes: &[crate::project::Class], id: ClassId) -> String {
    classes
        .iter()
        .find(|c| c.id == id)
        .map(|c| c.name.clone())
        .unwrap_or_else(|| format!("#{id}"))
}

/// Draws the review view; returns the actions its buttons ask for.
pub fn show(
    p: &mut ProjectScreen,
    loader: &mut ImageLoader,
    keymap: &Keymap,
    ui: &mut egui::Ui,
) -> Vec<Action> {
    let mut actions = Vec::new();
    let ProjectScreen {
        session,
        view,
        image: image_view,
        ..
    } = p;
    let View::Review(view) = view else {
        return actions;
    };
    let item = view.current();

    egui::Panel::top("review_bar")
        .frame(theme::panel_frame(egui::Margin::symmetric(14, 8)))
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(RichText::new("Review").strong().size(18.0));
                ui.label(
                    RichText::new(format!(
                        "{} in the queue · {} decided",
                        view.items.len(),
                        view.decided
                    ))
                    .color(theme::MUTED),
                );
                if let Some(item) = item {
                    ui.separator();
                    ui.label(
                        RichText::new(format!("#{} of {}", view.index + 1, view.items.len()))
                            .color(theme::MUTED),
                    );
                    ui.label(RichText::new(item.reason.as_str()).color(theme::WARN))
                        .on_hover_text("Why this sample is in the queue");
                    ui.add(egui::Label::new(RichText::new(&item.name)).truncate());
                }
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    let back = ui
                        .button(format!(
                            "Back to labeling ({})",
                            keymap.label(Command::Review)
                        ))
                        .on_hover_text(Command::Review.tooltip());
                    if back.clicked() {
                        actions.push(Command::Review.into());
                    }
                    ui.label(RichText::new(format!("Reviewer: {}", session.annotator)).strong());
                });
            });
        });

    egui::Panel::bottom("review_stats")
        .resizable(true)
        .default_size(170.0)
        .frame(theme::panel_frame(egui::Margin::symmetric(14, 8)))
        .show(ui, |ui| stats_table(ui, &view.stats));

    let Some(item) = item else {
        egui::CentralPanel::default()
            .frame(egui::Frame::NONE.fill(theme::BACKGROUND))
            .show(ui, |ui| {
                ui.centered_and_justified(|ui| {
                    ui.label(
                        RichText::new(
                            "Nothing to review: no disagreements, flags or overridden \
                             suggestions.",
                        )
                        .size(20.0)
                        .color(theme::MUTED),
                    );
                });
            });
        return actions;
    };

    egui::Panel::bottom("review_decisions")
        .frame(
            egui::Frame::NONE
                .fill(theme::BACKGROUND)
                .inner_margin(egui::Margin::symmetric(14, 10)),
        )
        .show(ui, |ui| {
            decision_cards(ui, session, view, item, keymap, &mut actions);
        });

    egui::CentralPanel::default()
        .frame(egui::Frame::NONE.fill(theme::BACKGROUND))
        .show(ui, |ui| {
            let Some(cur) = session
                .current
                .as_ref()
                .filter(|c| c.sample.id == item.sample)
            else {
                return;
            };
            if cur.sample.kind == SampleKind::Text {
                // The row's other columns beside its text, as in labeling.
                if cur.sample.features.as_ref().is_some_and(|f| !f.is_empty()) {
                    egui::Panel::right("review_columns")
                        .default_size(320.0)
                        .frame(theme::panel_frame(egui::Margin::same(12)))
                        .show(ui, |ui| {
                            egui::ScrollArea::vertical()
                                .show(ui, |ui| labeling::columns_list(ui, session, &cur.sample));
                        });
                }
                egui::ScrollArea::vertical().show(ui, |ui| {
                    egui::Frame::NONE
                        .inner_margin(egui::Margin::symmetric(48, 24))
                        .show(ui, |ui| {
                            ui.set_max_width(900.0);
                            ui.add(
                                egui::Label::new(
                                    RichText::new(cur.sample.text.as_deref().unwrap_or(""))
                                        .size(22.0),
                                )
                                .wrap(),
                            );
                        });
                });
                return;
            }
            let Some(key) = labeling::image_key(session, image_view) else {
                return;
            };
            loader.prefetch(std::slice::from_ref(&key));
            let rect = ui.max_rect();
            match loader.get(&key) {
                ImageState::Pending => {
                    ui.put(rect, egui::Spinner::new().size(32.0));
                }
                ImageState::Failed(reason) => {
                    ui.put(
                        rect,
                        egui::Label::new(RichText::new(reason).color(theme::ERROR)).wrap(),
                    );
                }
                ImageState::Ready {
                    texture,
                    original_size,
                } => {
                    let orig = Vec2::new(original_size[0] as f32, original_size[1] as f32);
                    let avail = rect.shrink(12.0).size();
                    let scale = (avail.x / orig.x).min(avail.y / orig.y);
                    let img = Rect::from_center_size(rect.center(), orig * scale);
                    ui.painter().image(
                        texture.id(),
                        img,
                        Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
                        Color32::WHITE,
                    );
                }
            }
        });
    actions
}

/// Each annotator's decision side by side, with its accept key, then the other actions.
fn decision_cards(
    ui: &mut egui::Ui,
    session: &super::session::Session,
    view: &ReviewView,
    item: &ReviewItem,
    keymap: &Keymap,
    actions: &mut Vec<Action>,
) {
    ui.horizontal_wrapped(|ui| {
        for (i, d) in item.decisions.iter().enumerate() {
            let cmd = Command::ACCEPT.get(i).copied();
            egui::Frame::group(ui.style())
                .fill(theme::PANEL)
                .inner_margin(egui::Margin::same(10))
                .show(ui, |ui| {
                    ui.set_min_width(200.0);
                    ui.vertical(|ui| {
                        ui.label(RichText::new(&d.annotator).strong().size(16.0));
                        let labels = match d.status {
                            SampleStatus::Labeled => d.label_names.join(", "),
                            other => format!("({})", other.as_str()),
                        };
                        ui.label(RichText::new(labels).size(20.0).color(theme::ACCENT));
                        let mut when = short_time(&d.at);
                        if let Some(ms) = d.spent_ms {
                            when.push_str(&format!(" · {:.1} s", ms as f64 / 1000.0));
                        }
                        ui.label(RichText::new(when).color(theme::MUTED).size(13.0));
                        if let Some(cmd) = cmd
                            && d.status == SampleStatus::Labeled
                        {
                            let b = ui
                                .button(format!("Accept {} ({})", d.annotator, keymap.label(cmd)))
                                .on_hover_text(cmd.tooltip());
                            if b.clicked() {
                                actions.push(cmd.into());
                            }
                        }
                    });
                });
        }
        if let Some((labels, score)) = &item.suggestion {
            egui::Frame::group(ui.style())
                .inner_margin(egui::Margin::same(10))
                .show(ui, |ui| {
                    ui.vertical(|ui| {
                        ui.label(RichText::new("Model suggestion").strong());
                        let names: Vec<String> = labels
                            .iter()
                            .map(|id| class_name(&session.classes, *id))
                            .collect();
                        ui.label(RichText::new(names.join(", ")).size(18.0));
                        if let Some(s) = score {
                            ui.label(RichText::new(format!("score {s:.2}")).color(theme::MUTED));
                        }
                    });
                });
        }
    });
    ui.add_space(6.0);
    ui.horizontal_wrapped(|ui| {
        let multi = session.task() == TaskKind::MultiLabel;
        let hint = if multi {
            format!(
                "Class keys toggle another label, {} sets it",
                keymap.label(Command::Commit)
            )
        } else {
            "A class key sets another label".to_string()
        };
        ui.label(RichText::new(hint).color(theme::MUTED));
        for c in &session.classes {
            let on = view.pending.contains(&c.id);
            let text = match &c.key {
                Some(k) => format!("{k} {}", c.name),
                None => c.name.clone(),
            };
            if ui
                .selectable_label(on, text)
                .on_hover_text(format!("Set the label to “{}”", c.name))
                .clicked()
            {
                actions.push(Action::Class(c.id));
            }
        }
        ui.separator();
        if ui
            .button(format!("Send back ({})", keymap.label(Command::SendBack)))
            .on_hover_text(Command::SendBack.tooltip())
            .clicked()
        {
            actions.push(Command::SendBack.into());
        }
        ui.label(
            RichText::new(format!(
                "{} / {} move through the queue",
                keymap.label(Command::Previous),
                keymap.label(Command::Next)
            ))
            .color(theme::MUTED),
        );
    });
}

/// `2026-11-29T16:24:36.123Z` → `2026-11-29 16:24`.
pub fn short_time(at: &str) -> String {
    let t = at.replacen('T', " ", 1);
    t.get(..16).map(str::to_string).unwrap_or(t)
}

fn stats_table(ui: &mut egui::Ui, stats: &Result<Vec<AnnotatorStats>, String>) {
    ui.label(RichText::new("Annotators").strong());
    let stats = match stats {
        Ok(s) => s,
        Err(e) => {
            ui.label(RichText::new(e).color(theme::ERROR));
            return;
        }
    };
    if stats.is_empty() {
        ui.label(RichText::new("No labels yet").color(theme::MUTED));
        return;
    }
    egui::ScrollArea::vertical().show(ui, |ui| {
        egui::Grid::new("annotator_stats")
            .striped(true)
            .spacing([24.0, 4.0])
            .show(ui, |ui| {
                for h in [
                    "Annotator",
                    "Labels",
                    "Median s/item",
                    "Labels/hour",
                    "κ vs final",
                    "Reviews",
                    "Most confused (given > final)",
                ] {
                    ui.label(RichText::new(h).color(theme::MUTED));
                }
                ui.end_row();
                for s in stats {
                    ui.label(RichText::new(&s.name).strong());
                    ui.label(s.labels.to_string());
                    ui.label(opt(s.median_seconds, 1));
                    ui.label(opt(s.labels_per_hour, 0));
                    match &s.kappa_vs_final {
                        Ok(k) => ui.label(format!("{k:.3} ({} items)", s.kappa_items)),
                        Err(e) => ui
                            .label(RichText::new("n/a").color(theme::MUTED))
                            .on_hover_text(e.to_string()),
                    };
                    ui.label(s.reviews.to_string());
                    let confused: Vec<String> = s
                        .confused
                        .iter()
                        .take(3)
                        .map(|c| format!("{} > {} ({})", c.given, c.final_label, c.count))
                        .collect();
                    ui.label(if confused.is_empty() {
                        "–".to_string()
                    } else {
                        confused.join(", ")
                    });
                    ui.end_row();
                }
            });
    });
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(x) => format!("{x:.decimals$}"),
        None => "–".into(),
    }
}
