//! The review view: the reviewer's queue (disagreements, then flagged samples, then
//! overridden model suggestions) or the samples decided before, each annotator's label side
//! by side, and per-annotator statistics.
//!
//! The list is read on a background thread when the view opens or switches, after an undo
//! and when a team hub's sync brings decisions; each decision is one event written through
//! [`crate::review::queue`] under the window's annotator name (the reviewer), after which
//! the decided sample leaves the queue (or, in the decided list, shows its new verdict).
//! The statistics are read on a background thread after every decision too, so a large
//! project's list and figures never hold up the window or the next key.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use egui::{Color32, Pos2, Rect, RichText, Vec2};

use super::box_editor::BoxEditor;
use super::commands::{Action, Command};
use super::drawing::{self, Overlay, Placed};
use super::jobs::Job;
use super::keymap::Keymap;
use super::loader::{ImageLoader, ImageState};
use super::screen::{ProjectScreen, View};
use super::session::Session;
use super::{labeling, theme};
use crate::TaskKind;
use crate::project::{BoundingBox, ClassId, Project, SampleId, SampleKind, SampleStatus};
use crate::review::annotators::{AnnotatorStats, annotator_stats};
use crate::review::queue::{self, ReviewItem};

/// How many samples a list reads at once; reopen the view for more.
pub const QUEUE_LIMIT: usize = 1000;

/// Which samples the review view lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReviewList {
    /// Waiting for a reviewer.
    Queue,
    /// Decided before (a review decision or a send-back), to revisit.
    Decided,
}

impl ReviewList {
    /// What the view says while the list is read.
    fn reading_text(self) -> &'static str {
        match self {
            ReviewList::Queue => "Reading the samples to review…",
            ReviewList::Decided => "Reading the samples decided before…",
        }
    }

    fn read(self, project: &Project) -> anyhow::Result<Vec<ReviewItem>> {
        match self {
            ReviewList::Queue => queue::review_queue(project, QUEUE_LIMIT),
            ReviewList::Decided => queue::decided(project, QUEUE_LIMIT),
        }
    }
}

type Figures = Result<Vec<AnnotatorStats>, String>;

/// A read of the list: which sample to show when it lands, and whether the list on screen
/// is unusable until then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Reread {
    keep: Keep,
    /// The list shown is not the one asked for (the view just opened or switched lists,
    /// an undo brought a sample back): nothing is decided on it until the read lands.
    blocking: bool,
}

/// Which sample a read shows when it lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keep {
    /// The one on screen then, if it is still listed (else the one now at its place).
    OnScreen,
    /// The list's first.
    First,
    /// This one, if listed (else the first).
    Sample(SampleId),
}

impl Reread {
    /// A read that keeps the list shown usable meanwhile (after a sync brought events, or
    /// a decision overtook a read), and the sample on screen.
    const IN_PLACE: Reread = Reread {
        keep: Keep::OnScreen,
        blocking: false,
    };

    /// A read that replaces the list shown, which waits for it; shows `keep` once read.
    fn replacing(keep: Keep) -> Reread {
        Reread {
            keep,
            blocking: true,
        }
    }

    /// What one read must do when `self` was asked for and then `later`: a read that
    /// replaces the list shown stays one until it lands.
    fn then(self, later: Reread) -> Reread {
        if self.blocking && !later.blocking {
            self
        } else {
            later
        }
    }
}

/// The list's read on a background thread, and the one asked for while it ran (whose
/// result would be out of date: a decision was taken, or a sync brought others).
struct ListRead {
    job: Job<Result<Vec<ReviewItem>, String>>,
    what: Reread,
    again: Option<Reread>,
}

/// The per-annotator statistics: the figures last read, and the background read that
/// replaces them.
pub struct StatsTable {
    path: PathBuf,
    /// `None` until the first read ends.
    pub figures: Option<Figures>,
    job: Option<Job<Figures>>,
    /// Asked again while a read ran: read once more when it ends.
    again: bool,
}

impl StatsTable {
    fn new(path: &Path) -> StatsTable {
        let mut t = StatsTable {
            path: path.to_path_buf(),
            figures: None,
            job: None,
            again: false,
        };
        t.refresh();
        t
    }

    /// Reads the figures again (after a decision changed them), in the background.
    pub fn refresh(&mut self) {
        if self.job.is_some() {
            self.again = true;
            return;
        }
        let path = self.path.clone();
        self.job = Some(Job::spawn(
            "Reading the annotator statistics",
            None,
            move |_| {
                Project::open_read_only(&path)
                    .and_then(|p| annotator_stats(&p))
                    .map_err(|e| format!("{e:#}"))
            },
        ));
    }

    /// Whether a read is running (the figures shown may be one decision old).
    pub fn updating(&self) -> bool {
        self.job.is_some()
    }

    /// Takes a finished read's figures.
    fn poll(&mut self) {
        let Some(done) = self.job.as_ref().and_then(Job::poll) else {
            return;
        };
        self.figures = Some(done.and_then(|f| f));
        self.job = None;
        if std::mem::take(&mut self.again) {
            self.refresh();
        }
    }
}

pub struct ReviewView {
    pub list: ReviewList,
    /// The list as last read, less the samples decided since.
    pub items: Vec<ReviewItem>,
    pub index: usize,
    /// The list's read in the background, while one runs.
    reading: Option<ListRead>,
    /// Repainted when a read lands.
    ctx: Option<egui::Context>,
    pub stats: StatsTable,
    /// Decisions taken since the view opened.
    pub decided: u64,
    /// Multi-label: the classes toggled for "set another label", committed with Commit.
    pub pending: Vec<ClassId>,
    /// Detect projects: the annotators whose boxes are not overlaid (kept from image to
    /// image).
    pub hidden: BTreeSet<String>,
    /// Detect projects: the reviewer's own set of boxes, while one is edited (see
    /// [`ReviewView::editing`]).
    pub editor: BoxEditor,
    /// Whose boxes the edit started from (`None`: not editing).
    pub editing: Option<EditFrom>,
    /// Where the image is on screen and how it is turned, once decoded (an edit needs it
    /// to start).
    pub placed: Option<Placed>,
}

/// Where a reviewer's edit of a detect image's boxes started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EditFrom {
    /// A copy of this annotator's boxes.
    Annotator(String),
    /// No boxes.
    Nothing,
}

/// What a card asked for with the mouse (applied after the frame's drawing).
enum CardRequest {
    Toggle(String),
    Edit(usize),
}

/// Outline colours of the annotators' boxes in the review view (colour-blind safe), by
/// the annotator's place on the sample's cards.
const ANNOTATOR_COLORS: [Color32; 6] = [
    Color32::from_rgb(0xe6, 0x9f, 0x00),
    Color32::from_rgb(0x56, 0xb4, 0xe9),
    Color32::from_rgb(0xcc, 0x79, 0xa7),
    Color32::from_rgb(0x00, 0x9e, 0x73),
    Color32::from_rgb(0xf0, 0xe4, 0x42),
    Color32::from_rgb(0xd5, 0x5e, 0x00),
];

fn annotator_color(i: usize) -> Color32 {
    ANNOTATOR_COLORS[i % ANNOTATOR_COLORS.len()]
}

impl ReviewView {
    /// Starts reading the queue and the statistics; the queue shows once read.
    pub fn open(project: &Project, ctx: Option<egui::Context>) -> ReviewView {
        let mut view = ReviewView {
            list: ReviewList::Queue,
            items: Vec::new(),
            index: 0,
            reading: None,
            ctx,
            stats: StatsTable::new(project.path()),
            decided: 0,
            pending: Vec::new(),
            hidden: BTreeSet::new(),
            editor: BoxEditor::default(),
            editing: None,
            placed: None,
        };
        view.reread(project, Reread::replacing(Keep::First));
        view
    }

    /// Whether the list on screen waits for a read (the view just opened or switched
    /// lists): nothing can be decided meanwhile.
    pub fn loading(&self) -> bool {
        self.reading
            .as_ref()
            .is_some_and(|r| r.what.blocking || r.again.is_some_and(|a| a.blocking))
    }

    /// Whether a read of the list is running (the list shown may miss what a sync
    /// brought).
    pub fn updating(&self) -> bool {
        self.reading.is_some()
    }

    /// Starts the reviewer's edit of the current image's boxes from `from` (an index into
    /// its decisions, or nothing); refused with the reason while the image is not shown.
    fn start_edit(&mut self, from: Option<usize>) -> Result<(), String> {
        let Some(item) = self.items.get(self.index) else {
            return Err("Nothing to review".into());
        };
        let Some(turn) = self.placed.map(|p| p.turn) else {
            return Err("The image is not shown yet".into());
        };
        let (what, boxes): (EditFrom, &[BoundingBox]) = match from {
            None => (EditFrom::Nothing, &[]),
            Some(i) => {
                let d = item
                    .decisions
                    .get(i)
                    .filter(|d| d.status == SampleStatus::Labeled)
                    .ok_or_else(|| format!("This image has no boxes of annotator {}", i + 1))?;
                (
                    EditFrom::Annotator(d.annotator.clone()),
                    d.boxes.as_deref().unwrap_or(&[]),
                )
            }
        };
        let source = match &what {
            EditFrom::Annotator(a) => format!("review edit of {a}"),
            EditFrom::Nothing => "review edit".into(),
        };
        self.editor.clear();
        self.editor
            .show(item.sample, Some(&source), turn, boxes, &[]);
        self.editing = Some(what);
        Ok(())
    }

    /// Drops the edit (a decision was taken, the reviewer moved on or pressed Escape).
    fn stop_edit(&mut self) {
        self.editing = None;
        self.editor.clear();
    }

    /// The sample the reviewer decides on; none while a list is read in place of the one
    /// shown.
    pub fn current(&self) -> Option<&ReviewItem> {
        self.items.get(self.index).filter(|_| !self.loading())
    }

    /// Takes in decisions that arrived from elsewhere (a team hub's sync): the list is read
    /// again in the background, keeping the sample on screen when it is still in it, and
    /// the figures too.
    pub fn catch_up(&mut self, project: &Project) {
        self.reread(project, Reread::IN_PLACE);
        self.stats.refresh();
    }

    /// Starts reading the list again; a read already running finishes first, and its
    /// result, out of date by then, gives way to this one.
    fn reread(&mut self, project: &Project, what: Reread) {
        if let Some(r) = &mut self.reading {
            r.again = Some(r.again.map_or(what, |a| a.then(what)));
            return;
        }
        let (path, list) = (project.path().to_path_buf(), self.list);
        let job = Job::spawn("Reading the review list", self.ctx.clone(), move |_| {
            Project::open_read_only(&path)
                .and_then(|p| list.read(&p))
                .map_err(|e| format!("{e:#}"))
        });
        self.reading = Some(ListRead {
            job,
            what,
            again: None,
        });
    }

    /// A decision was taken on the list shown: a read running now would bring the sample
    /// back, so its result gives way to another read.
    fn decided_meanwhile(&mut self, project: &Project) {
        if self.reading.is_some() {
            self.reread(project, Reread::IN_PLACE);
        }
    }

    /// Takes a finished read's list, and shows the sample it was asked to (on the session
    /// too), or the one on screen when it is still listed.
    pub fn poll(&mut self, session: &mut Session) -> anyhow::Result<()> {
        let Some(r) = &self.reading else {
            return Ok(());
        };
        let Some(done) = r.job.poll() else {
            return Ok(());
        };
        let ListRead { what, again, .. } = self.reading.take().expect("a read was running");
        if let Some(again) = again {
            self.reread(&session.project, what.then(again));
            return Ok(());
        }
        let items = done.and_then(|r| r).map_err(anyhow::Error::msg)?;
        let on_screen = self.current().map(|i| i.sample);
        let (keep, otherwise) = match what.keep {
            Keep::OnScreen => (on_screen, self.index),
            Keep::First => (None, 0),
            Keep::Sample(s) => (Some(s), 0),
        };
        self.items = items;
        self.index = keep
            .and_then(|s| self.items.iter().position(|i| i.sample == s))
            .unwrap_or(otherwise)
            .min(self.items.len().saturating_sub(1));
        if self.current().map(|i| i.sample) != on_screen {
            self.pending.clear();
        }
        show_current(session, self)
    }
}

/// Carries out a review action on the list's current sample; returns a message for the
/// user.
pub fn apply(
    p: &mut ProjectScreen,
    action: Action,
    keymap: &Keymap,
) -> anyhow::Result<Option<String>> {
    let ProjectScreen {
        session, view, hub, ..
    } = p;
    let View::Review(view) = view else {
        return Ok(None);
    };
    let reviewer = session.annotator.clone();
    // On a replica whose login is an annotator, the hub would refuse every review decision
    // (it would stay here only, pending for ever): said at once instead.
    let decides = match action {
        Action::Class(_) => true,
        Action::Command(c) => {
            matches!(c, Command::Commit | Command::SendBack) || Command::ACCEPT.contains(&c)
        }
        _ => false,
    };
    if decides && hub.as_ref().and_then(|h| h.state().role) == Some(crate::hub::Role::Annotator) {
        return Ok(Some(format!(
            "Review decisions are a reviewer's: your hub login `{reviewer}` is an annotator \
             (ask the hub's admin for the reviewer role)"
        )));
    }
    let multi = session.task() == TaskKind::MultiLabel;
    let detect = session.task().is_detect();
    match action {
        Action::Command(Command::Undo) => return undo(session, view),
        Action::Command(Command::ReviewDecided) => {
            view.list = match view.list {
                ReviewList::Queue => ReviewList::Decided,
                ReviewList::Decided => ReviewList::Queue,
            };
            view.items.clear();
            view.index = 0;
            view.pending.clear();
            view.reread(&session.project, Reread::replacing(Keep::First));
            return Ok(None);
        }
        _ => {}
    }
    if view.loading() {
        return Ok(Some(view.list.reading_text().into()));
    }
    let Some(item) = view.current().cloned() else {
        return Ok(None);
    };
    let message: String = match action {
        Action::Class(id) if detect => {
            if view.editing.is_none() {
                if let Err(why) = view.start_edit(None) {
                    return Ok(Some(why));
                }
                view.editor.class = Some(id);
                return Ok(Some(format!(
                    "Draw the boxes of “{}”; {} saves them as the decision",
                    class_name(&session.classes, id),
                    keymap.label(Command::Commit)
                )));
            }
            // With a box selected, its class changes; else new boxes get this class.
            let _ = view.editor.class_key(id);
            return Ok(None);
        }
        Action::Command(Command::Commit) if detect => {
            let Some(edit) = view.editing.as_ref().and(view.editor.edit()) else {
                return Ok(Some(
                    "Accept one annotator's boxes, or edit them (Edit on their card) or press \
                     a class key to draw your own; then this saves them"
                        .into(),
                ));
            };
            let n = edit.boxes.len();
            session.write_on(item.sample, |p| {
                queue::set_boxes(p, item.sample, &reviewer, edit.boxes)
            })?;
            format!(
                "{}: set to your {}",
                item.name,
                crate::plural(n as u64, "box", "boxes")
            )
        }
        Action::Command(Command::BoxDelete) => {
            let _ = view.editor.delete();
            return Ok(None);
        }
        Action::Command(Command::BoxDeselect) => {
            if view.editing.is_some() && !view.editor.deselect() {
                view.stop_edit();
                return Ok(Some("Your edit is dropped".into()));
            }
            return Ok(None);
        }
        Action::Command(Command::ToggleBoxes) => {
            let everyone: BTreeSet<String> =
                item.decisions.iter().map(|d| d.annotator.clone()).collect();
            if view.hidden.is_superset(&everyone) {
                view.hidden.retain(|a| !everyone.contains(a));
            } else {
                view.hidden.extend(everyone);
            }
            return Ok(None);
        }
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
    match view.list {
        // The decided sample leaves the queue.
        ReviewList::Queue => {
            view.items.remove(view.index);
            if view.index >= view.items.len() {
                view.index = view.items.len().saturating_sub(1);
            }
            view.pending.clear();
        }
        // A revisited sample stays, with its new verdict.
        ReviewList::Decided => {
            if let Some(again) = queue::item(&session.project, item.sample, item.reason)? {
                view.items[view.index] = again;
            }
            view.pending.clear();
        }
    }
    view.decided_meanwhile(&session.project);
    view.decided += 1;
    view.stats.refresh();
    view.stop_edit();
    show_current(session, view)?;
    Ok(Some(message))
}

/// Takes back the reviewer's last decision: the list is read again (in the queue, the
/// sample is back in it) and shows that sample.
fn undo(session: &mut Session, view: &mut ReviewView) -> anyhow::Result<Option<String>> {
    let reviewer = session.annotator.clone();
    let Some((_, sample)) = session.project.last_undoable(&reviewer)? else {
        return Ok(Some("Nothing left to undo".into()));
    };
    session.write_on(sample, |p| p.undo_last(&reviewer))?;
    // The sample is back in the list once read again; till then the list waits.
    view.stop_edit();
    view.reread(&session.project, Reread::replacing(Keep::Sample(sample)));
    view.stats.refresh();
    view.decided = view.decided.saturating_sub(1);
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
        hub,
        ..
    } = p;
    let hub_state = hub.as_ref().map(|h| h.state());
    let View::Review(view) = view else {
        return actions;
    };
    view.stats.poll();
    if view.stats.updating() || view.updating() {
        ui.ctx().request_repaint_after(Duration::from_millis(100));
    }
    // An edit belongs to the image it started on.
    let on_screen = view.current().map(|i| i.sample);
    if view.editing.is_some() && view.editor.sample() != on_screen {
        view.stop_edit();
    }
    if session.current_id() != on_screen {
        view.placed = None;
    }
    let detect = session.task().is_detect();
    let mut requests = Vec::new();
    // A list being read in place of the one shown is not shown.
    let loading = view.loading();
    let item = view.items.get(view.index).filter(|_| !loading);

    egui::Panel::top("review_bar")
        .frame(theme::panel_frame(egui::Margin::symmetric(14, 8)))
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(RichText::new("Review").strong().size(18.0));
                let key = keymap.label(Command::ReviewDecided);
                for (list, text) in [
                    (ReviewList::Queue, "To review"),
                    (ReviewList::Decided, "Decided"),
                ] {
                    if ui
                        .selectable_label(view.list == list, text)
                        .on_hover_text(format!("{} ({key})", Command::ReviewDecided.tooltip()))
                        .clicked()
                        && view.list != list
                    {
                        actions.push(Command::ReviewDecided.into());
                    }
                }
                let listed = match view.list {
                    ReviewList::Queue => "in the queue",
                    ReviewList::Decided => "decided before",
                };
                let count = if loading {
                    "…".to_string()
                } else {
                    view.items.len().to_string()
                };
                ui.label(
                    RichText::new(format!("{count} {listed} · {} decided now", view.decided))
                        .color(theme::MUTED),
                );
                if view.updating() {
                    ui.spinner()
                        .on_hover_text("Reading the list again (decisions came in)");
                }
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
                // Its own id: the widgets before it come and go (the spinner, the sample's
                // name once read), which would give these buttons new ids between a
                // click's press and its release.
                ui.push_id("review_bar_right", |ui| {
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
                        ui.label(
                            RichText::new(format!("Reviewer: {}", session.annotator)).strong(),
                        );
                        // Decisions arrive live from the hub: whether they can, and whether this
                        // reviewer's reach it, is said here as in the labeling view.
                        if let Some(h) = &hub_state {
                            ui.separator();
                            super::labeling::hub_indicator(ui, h, &mut actions);
                        }
                    });
                });
            });
        });

    egui::Panel::bottom("review_stats")
        .resizable(true)
        .default_size(170.0)
        .frame(theme::panel_frame(egui::Margin::symmetric(14, 8)))
        .show(ui, |ui| stats_table(ui, &view.stats, session.task()));
    let empty = match view.list {
        _ if loading => view.list.reading_text(),
        ReviewList::Queue => {
            "Nothing to review: no disagreements, flags or overridden suggestions."
        }
        ReviewList::Decided => "No sample has a review decision yet.",
    };

    let Some(item) = item else {
        super::set_toast_floor(ui);
        egui::CentralPanel::default()
            .frame(egui::Frame::NONE.fill(theme::BACKGROUND))
            .show(ui, |ui| {
                ui.centered_and_justified(|ui| {
                    ui.label(RichText::new(empty).size(20.0).color(theme::MUTED));
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
            decision_cards(ui, session, view, item, keymap, &mut actions, &mut requests);
        });
    super::set_toast_floor(ui);

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
                ImageState::Failed(reason) | ImageState::Away(reason) => {
                    ui.put(
                        rect,
                        egui::Label::new(RichText::new(reason).color(theme::ERROR)).wrap(),
                    );
                }
                ImageState::Ready {
                    texture,
                    original_size,
                    turn,
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
                    if detect {
                        let placed = Placed {
                            clip: rect,
                            image: img,
                            turn,
                        };
                        view.placed = Some(placed);
                        let editing = view.editing.as_ref().map(|from| (from, &mut view.editor));
                        review_boxes(ui, session, item, &view.hidden, editing, placed, keymap);
                    }
                }
            }
        });
    for r in requests {
        match r {
            CardRequest::Toggle(who) => {
                if !view.hidden.remove(&who) {
                    view.hidden.insert(who);
                }
            }
            // Offered only for a labeled card of an image on screen, so it starts.
            CardRequest::Edit(i) => {
                let _ = view.start_edit(Some(i));
            }
        }
    }
    actions
}

/// A detect image in the review view: each annotator's boxes overlaid (those not hidden),
/// and the reviewer's own set, drawn and edited with the mouse, while one is edited.
fn review_boxes(
    ui: &mut egui::Ui,
    session: &Session,
    item: &ReviewItem,
    hidden: &BTreeSet<String>,
    editing: Option<(&EditFrom, &mut BoxEditor)>,
    placed: Placed,
    keymap: &Keymap,
) {
    // The boxes an edit started from are the editor's now.
    let source = match &editing {
        Some((EditFrom::Annotator(a), _)) => Some(a.as_str()),
        _ => None,
    };
    let sets: Vec<Overlay<'_>> = item
        .decisions
        .iter()
        .enumerate()
        .filter(|(_, d)| {
            d.status == SampleStatus::Labeled
                && !hidden.contains(&d.annotator)
                && source != Some(d.annotator.as_str())
        })
        .map(|(i, d)| Overlay {
            boxes: d.boxes.as_deref().unwrap_or(&[]),
            color: annotator_color(i),
            who: &d.annotator,
            tag_below: i % 2 == 1,
        })
        .collect();
    drawing::overlays(ui, placed, &sets, session);
    if let Some((_, editor)) = editing {
        let response = ui.interact(
            placed.image.expand(8.0).intersect(placed.clip),
            ui.scope_id().with("review-boxes"),
            egui::Sense::click_and_drag(),
        );
        drawing::interact(ui, &response, placed, editor, session, keymap);
        // The edit is recorded as one decision when the reviewer saves it.
        editor.outbox.clear();
    }
}

/// Each annotator's decision side by side, with its accept key, then the other actions.
fn decision_cards(
    ui: &mut egui::Ui,
    session: &super::session::Session,
    view: &ReviewView,
    item: &ReviewItem,
    keymap: &Keymap,
    actions: &mut Vec<Action>,
    requests: &mut Vec<CardRequest>,
) {
    let detect = session.task().is_detect();
    if let Some(v) = &item.verdict {
        let what = match &v.labels {
            Some(labels) => format!("Decided by {}: {}", v.reviewer, labels.join(", ")),
            None => format!("Sent back by {}", v.reviewer),
        };
        ui.horizontal(|ui| {
            ui.label(RichText::new(what).strong().color(theme::ACCENT));
            ui.label(RichText::new(short_time(&v.at)).color(theme::MUTED));
            ui.label(
                RichText::new("a new decision replaces it; undo takes yours back")
                    .color(theme::MUTED),
            );
        });
        ui.add_space(4.0);
    }
    if item.decisions.is_empty() {
        let when = if item.verdict.is_some() {
            "since"
        } else {
            "yet"
        };
        ui.label(RichText::new(format!("No annotator has labeled it {when}")).color(theme::MUTED));
    }
    ui.horizontal_wrapped(|ui| {
        for (i, d) in item.decisions.iter().enumerate() {
            let cmd = Command::ACCEPT.get(i).copied();
            egui::Frame::group(ui.style())
                .fill(theme::PANEL)
                .inner_margin(egui::Margin::same(10))
                .show(ui, |ui| {
                    ui.set_min_width(200.0);
                    ui.vertical(|ui| {
                        if detect && d.status == SampleStatus::Labeled {
                            let mut shown = !view.hidden.contains(&d.annotator);
                            let name = RichText::new(&d.annotator)
                                .strong()
                                .size(16.0)
                                .color(annotator_color(i));
                            if ui
                                .checkbox(&mut shown, name)
                                .on_hover_text(format!(
                                    "Show or hide {}'s boxes ({} all)",
                                    d.annotator,
                                    keymap.label(Command::ToggleBoxes)
                                ))
                                .changed()
                            {
                                requests.push(CardRequest::Toggle(d.annotator.clone()));
                            }
                        } else {
                            ui.label(RichText::new(&d.annotator).strong().size(16.0));
                        }
                        let labels = match (d.status, &d.boxes) {
                            (SampleStatus::Labeled, Some(b)) => boxes_summary(session, b),
                            (SampleStatus::Labeled, None) => d.label_names.join(", "),
                            (other, _) => format!("({})", other.as_str()),
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
                        if detect && d.status == SampleStatus::Labeled && view.placed.is_some() {
                            let editing_this =
                                view.editing == Some(EditFrom::Annotator(d.annotator.clone()));
                            if ui
                                .add_enabled(!editing_this, egui::Button::new("Edit"))
                                .on_hover_text(format!(
                                    "Start from {}'s boxes and change them; {} saves them as \
                                     the decision",
                                    d.annotator,
                                    keymap.label(Command::Commit)
                                ))
                                .clicked()
                            {
                                requests.push(CardRequest::Edit(i));
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
        let hint = if detect {
            match &view.editing {
                Some(from) => {
                    let from = match from {
                        EditFrom::Annotator(a) => format!("{a}'s boxes"),
                        EditFrom::Nothing => "no boxes".into(),
                    };
                    format!(
                        "Editing {from} · {} deletes · {} saves · {} drops the edit",
                        keymap.label(Command::BoxDelete),
                        keymap.label(Command::Commit),
                        keymap.label(Command::BoxDeselect)
                    )
                }
                None => format!(
                    "A class key starts your own boxes · {} shows / hides every annotator's",
                    keymap.label(Command::ToggleBoxes)
                ),
            }
        } else if multi {
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
                "{} / {} move through the list · {} queue / decided",
                keymap.label(Command::Previous),
                keymap.label(Command::Next),
                keymap.label(Command::ReviewDecided)
            ))
            .color(theme::MUTED),
        );
    });
}

/// A detect decision on a card: "no objects", or how many boxes of which classes.
fn boxes_summary(session: &Session, boxes: &[BoundingBox]) -> String {
    if boxes.is_empty() {
        return "no objects".into();
    }
    let mut per_class: Vec<(ClassId, usize)> = Vec::new();
    for b in boxes {
        match per_class.iter_mut().find(|(c, _)| *c == b.class) {
            Some((_, n)) => *n += 1,
            None => per_class.push((b.class, 1)),
        }
    }
    per_class
        .iter()
        .map(|(c, n)| format!("{n} {}", class_name(&session.classes, *c)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `2026-11-29T16:24:36.123Z` → `2026-11-29 16:24`.
pub fn short_time(at: &str) -> String {
    let t = at.replacen('T', " ", 1);
    t.get(..16).map(str::to_string).unwrap_or(t)
}

fn stats_table(ui: &mut egui::Ui, table: &StatsTable, task: crate::project::TaskKind) {
    ui.horizontal(|ui| {
        ui.label(RichText::new("Annotators").strong());
        if table.updating() {
            ui.add(egui::Spinner::new().size(12.0));
            ui.label(RichText::new("updating").color(theme::MUTED));
        }
    });
    let stats = match &table.figures {
        None => return,
        Some(Ok(s)) => s,
        Some(Err(e)) => {
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
                    if task.is_detect() {
                        "Box F1 vs final"
                    } else {
                        "κ vs final"
                    },
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
                    let (one, many) = if task.is_detect() {
                        ("image", "images")
                    } else {
                        ("item", "items")
                    };
                    match s.vs_final(task) {
                        (Ok(k), n) => {
                            let n = crate::plural(n, one, many);
                            let shown = ui.label(format!("{k:.3} ({n})"));
                            if let Some(v) = &s.boxes_vs_final {
                                shown.on_hover_text(boxes_vs_final_hover(v));
                            }
                        }
                        (Err(e), _) => {
                            ui.label(RichText::new("n/a").color(theme::MUTED))
                                .on_hover_text(e.to_string());
                        }
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

/// What lies behind a detect annotator's box F1: their boxes against the final ones.
fn boxes_vs_final_hover(v: &crate::review::box_agreement::VsFinal) -> String {
    let iou = match v.mean_iou {
        Ok(m) => format!("mean IoU {m:.2}"),
        Err(e) => e.to_string(),
    };
    format!(
        "{} of their {} boxes match one of the {} final boxes (IoU ≥ {}); {iou}",
        v.matched,
        v.given,
        v.in_final,
        crate::review::box_agreement::DEFAULT_IOU
    )
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(x) => format!("{x:.decimals$}"),
        None => "–".into(),
    }
}
