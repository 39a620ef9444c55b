//! The labeling view: the sample fills the window; progress on top, classes below.

use egui::{Color32, Pos2, Rect, RichText, Sense, Vec2};

use super::commands::{Action, Command};
use super::keymap::{Keymap, class_shortcut};
use super::loader::{ImageKey, ImageLoader, ImageState};
use super::screen::{ProjectScreen, View};
use super::session::Session;
use super::state::Persisted;
use super::theme;
use crate::TaskKind;
use crate::project::{ClassId, SampleKind, SampleStatus};

/// What to say when moving away saved `n` toggled classes.
pub fn saved_note(n: usize, keymap: &Keymap) -> Option<String> {
    (n > 0).then(|| {
        let classes = if n == 1 { "class" } else { "classes" };
        format!(
            "Saved the {n} toggled {classes} on leaving the sample ({} undoes)",
            keymap.label(Command::Undo)
        )
    })
}

/// Carries out a labeling action on the current sample; returns a message for the user.
/// (The window handles the commands every view shares, and the exclude prompt.)
pub fn apply(
    p: &mut ProjectScreen,
    action: Action,
    keymap: &Keymap,
) -> anyhow::Result<Option<String>> {
    let session = &mut p.session;
    let message = match action {
        Action::Class(id) => {
            session.class_key(id)?;
            None
        }
        Action::Open(id) => saved_note(session.move_to(id)?, keymap),
        Action::Command(cmd) => match cmd {
            Command::Commit => {
                if session.task() != TaskKind::MultiLabel {
                    Some("Single-label: press a class key to label and advance".to_string())
                } else if !session.commit()? {
                    Some(format!(
                        "Toggle at least one class first (or press {} to skip)",
                        keymap.label(Command::Skip)
                    ))
                } else {
                    None
                }
            }
            Command::Undo => (!session.undo()?).then(|| "Nothing left to undo".to_string()),
            Command::Redo => (!session.redo()?).then(|| "Nothing to redo".to_string()),
            Command::Next => saved_note(session.go_next()?, keymap),
            Command::Previous => saved_note(session.go_previous()?, keymap),
            Command::NextUnlabeled => saved_note(session.next_unlabeled()?, keymap),
            Command::Skip => session.skip().map(|()| None)?,
            Command::Flag => Some(
                if session.toggle_flag()? {
                    "Flagged for review"
                } else {
                    "Flag removed"
                }
                .to_string(),
            ),
            Command::AcceptSuggestion => (!session.accept_suggestion()?)
                .then(|| "This sample has no model suggestion".to_string()),
            Command::ZoomFit => {
                p.image.toggle_zoom();
                None
            }
            _ => None,
        },
    };
    Ok(message)
}

/// Zoom and pan of the image, reset when another sample is shown.
#[derive(Clone, Debug)]
pub struct ViewState {
    /// Show image pixels 1:1 instead of fitting the image to the window.
    pub one_to_one: bool,
    /// Extra zoom on top of fit / 1:1 (mouse wheel).
    pub zoom: f32,
    pub pan: Vec2,
    /// The longest side of the window in physical pixels: images are decoded down to it.
    pub view_px: u32,
    /// The sample whose decoded image was drawn in the last frame (benchmarks check that a
    /// keystroke's next sample was drawn in the very next frame).
    pub drawn: Option<crate::project::SampleId>,
    /// Where that image was drawn on screen (tests turn image pixels into pointer
    /// positions with it).
    pub image_rect: Option<Rect>,
}

impl Default for ViewState {
    fn default() -> Self {
        ViewState {
            one_to_one: false,
            zoom: 1.0,
            pan: Vec2::ZERO,
            view_px: 2048,
            drawn: None,
            image_rect: None,
        }
    }
}

impl ViewState {
    pub fn toggle_zoom(&mut self) {
        self.one_to_one = !self.one_to_one;
        self.zoom = 1.0;
        self.pan = Vec2::ZERO;
    }

    /// Back to the whole image (the fit / 1:1 choice is kept).
    pub fn reset(&mut self) {
        self.zoom = 1.0;
        self.pan = Vec2::ZERO;
    }

    /// Decode size for a window of `size` points: rounded up to 256 px so that small
    /// resizes keep using the decoded images.
    fn set_window(&mut self, size: Vec2, pixels_per_point: f32) {
        let px = (size.x.max(size.y) * pixels_per_point).max(256.0) as u32;
        self.view_px = px.div_ceil(256) * 256;
    }

    fn max_side(&self, original: Option<[u32; 2]>) -> u32 {
        match original {
            Some([w, h]) if self.one_to_one || self.zoom > 1.01 => w.max(h).max(self.view_px),
            _ => self.view_px,
        }
    }
}

/// What the image view says instead of an image that is not shown.
fn unshown(
    ui: &mut egui::Ui,
    rect: Rect,
    title: &str,
    colour: Color32,
    reason: &str,
    advice: &str,
) {
    ui.scope_builder(egui::UiBuilder::new().max_rect(rect.shrink(40.0)), |ui| {
        ui.vertical_centered(|ui| {
            ui.add_space(rect.height() * 0.3);
            ui.label(RichText::new(title).size(22.0).color(colour));
            ui.add(egui::Label::new(RichText::new(reason).size(16.0)).wrap());
            ui.label(RichText::new(advice).size(16.0).color(theme::MUTED));
        });
    });
}

/// The loader key of the current sample's image (`None` for a text sample).
pub fn image_key(session: &Session, view: &ViewState) -> Option<ImageKey> {
    let cur = session.current.as_ref()?;
    key_for(session, &cur.sample, view)
}

fn key_for(
    session: &Session,
    sample: &crate::project::Sample,
    view: &ViewState,
) -> Option<ImageKey> {
    (sample.kind == SampleKind::Image).then(|| ImageKey {
        sample: sample.id,
        path: session.project.resolve(&sample.path),
        max_side: view.max_side(sample.width.zip(sample.height).map(|(w, h)| [w, h])),
    })
}

/// Draws the labeling view (or the grid in its place, under the same bars); returns the
/// actions its buttons sent.
pub fn show(
    p: &mut ProjectScreen,
    loader: &mut ImageLoader,
    persisted: &Persisted,
    ui: &mut egui::Ui,
) -> Vec<Action> {
    let mut actions = Vec::new();
    let grid_mode = matches!(p.view, View::Grid);
    let ProjectScreen {
        session,
        grid,
        image: view,
        damage,
        boxes,
        hub,
        ..
    } = p;
    let hub_state = hub.as_ref().map(|h| h.state());
    let ctx = ui.ctx().clone();
    view.drawn = None;
    view.set_window(ctx.content_rect().size(), ctx.pixels_per_point());

    // Current first, then ahead, then behind; stale queued work is dropped by the loader.
    let keys: Vec<ImageKey> = session
        .prefetch_order()
        .into_iter()
        .filter_map(|s| {
            let v = if Some(s.id) == session.current_id() {
                view.clone()
            } else {
                ViewState {
                    zoom: 1.0,
                    one_to_one: false,
                    ..view.clone()
                }
            };
            key_for(session, s, &v)
        })
        .collect();
    loader.prefetch(&keys);

    let keymap = &persisted.keymap;
    top_bar(
        ui,
        session,
        damage,
        hub_state.as_ref(),
        keymap,
        &mut actions,
    );
    class_bar(ui, session, boxes.as_ref(), keymap, grid_mode, &mut actions);
    super::set_toast_floor(ui);
    let is_text = session
        .current
        .as_ref()
        .is_some_and(|c| c.sample.kind == SampleKind::Text);
    if !grid_mode && (persisted.show_info || is_text) {
        info_panel(ui, session, persisted.show_info);
    }
    egui::CentralPanel::default()
        .frame(egui::Frame::NONE.fill(theme::BACKGROUND))
        .show(ui, |ui| {
            if grid_mode {
                egui::Frame::NONE
                    .inner_margin(egui::Margin::same(8))
                    .show(ui, |ui| {
                        for a in grid.show(ui, &session.project) {
                            match a {
                                super::grid::GridAction::Open(id) => actions.push(Action::Open(id)),
                            }
                        }
                    });
                return;
            }
            match &session.current {
                None => {
                    ui.vertical_centered(|ui| {
                        ui.add_space(ui.available_height() * 0.35);
                        ui.label(
                            RichText::new("This project has no samples yet")
                                .size(20.0)
                                .color(theme::MUTED),
                        );
                        ui.add_space(8.0);
                        let key = keymap.label(Command::ManageProject);
                        if ui
                            .button(RichText::new(format!("Import samples…  {key}")).size(17.0))
                            .on_hover_text(Command::ManageProject.tooltip())
                            .clicked()
                        {
                            actions.push(Action::Command(Command::ManageProject));
                        }
                    });
                }
                Some(cur) if cur.sample.kind == SampleKind::Text => {
                    text_sample(ui, cur.sample.text.as_deref().unwrap_or(""));
                }
                Some(_) => {
                    if let Some(key) = image_key(session, view) {
                        let editor = boxes.as_mut().map(|e| (e, &*session));
                        image_sample(ui, loader, &key, view, keymap, editor);
                    }
                }
            }
            if session.finished && session.counts.total > 0 {
                // Others may have decided what is left (overlap): say which it is.
                let mine = session.counts.done >= session.counts.total;
                finished_banner(ui, keymap, mine);
            }
        });
    actions
}

fn finished_banner(ui: &mut egui::Ui, keymap: &Keymap, all_yours: bool) {
    let done = if all_yours {
        "Every sample is decided."
    } else {
        "Nothing left for you: the other samples have all the annotators they need."
    };
    let rect = ui.max_rect();
    let pos = Pos2::new(rect.center().x, rect.top() + 16.0);
    egui::Area::new(egui::Id::unique("finished_banner"))
        .fixed_pos(pos)
        .pivot(egui::Align2::CENTER_TOP)
        .interactable(false)
        .show(ui.ctx(), |ui| {
            egui::Frame::popup(ui.style()).show(ui, |ui| {
                ui.add(
                    egui::Label::new(
                        RichText::new(format!(
                            "{done} {} / {} to look back, {} to undo, {} to review, {} to \
                             export.",
                            keymap.label(Command::Previous),
                            keymap.label(Command::Next),
                            keymap.label(Command::Undo),
                            keymap.label(Command::Review),
                            keymap.label(Command::Export)
                        ))
                        .color(theme::OK)
                        .size(17.0),
                    )
                    .wrap_mode(egui::TextWrapMode::Extend),
                );
            });
        });
}

/// The team hub's state in the top bar: connected, offline, events waiting, events the
/// hub refused.
pub(super) fn hub_indicator(
    ui: &mut egui::Ui,
    h: &super::hub_sync::HubState,
    actions: &mut Vec<Action>,
) {
    let waiting = match h.pending.saturating_sub(h.refused_events) {
        0 => String::new(),
        n => format!(" · {} waiting", crate::plural(n, "event", "events")),
    };
    if let Some(problem) = &h.password {
        let text = match problem {
            crate::hub::PasswordProblem::Missing { .. } => "Hub: password needed",
            crate::hub::PasswordProblem::Refused { .. } => "Hub: password refused",
        };
        let clicked = ui
            .add(
                egui::Label::new(RichText::new(format!("{text}{waiting}")).color(theme::WARN))
                    .sense(egui::Sense::click()),
            )
            .on_hover_text(format!(
                "{}. Click to type the password of “{}”. Every decision stays saved here \
                 and is sent once the hub lets you in.",
                problem,
                problem.login()
            ))
            .clicked();
        if clicked {
            actions.push(Action::Command(Command::HubPassword));
        }
        return;
    }
    let (text, color, tip) = match h.connected {
        _ if h.refused => (
            format!("Hub: sync failed{waiting}"),
            theme::ERROR,
            format!(
                "The team hub refused the sync: {}. Every decision stays saved here.",
                h.error.as_deref().unwrap_or("no reason given")
            ),
        ),
        None => (
            format!("Hub: connecting{waiting}"),
            theme::MUTED,
            format!("Syncing with the team hub project “{}”", h.name),
        ),
        Some(true) => (
            format!("Hub: connected{waiting}"),
            theme::OK,
            format!(
                "Synced with the team hub project “{}”: every decision is saved here first, \
                 then sent",
                h.name
            ),
        ),
        Some(false) => (
            format!("Hub: offline{waiting}"),
            theme::WARN,
            format!(
                "The team hub cannot be reached ({}). Keep labeling: every decision is saved \
                 here and sent when the hub is back.",
                h.error.as_deref().unwrap_or("no answer")
            ),
        ),
    };
    // The top bar lays out right to left: the refusals first, to be read after the state.
    if h.refused_events > 0 {
        let why = h
            .first_refusal
            .as_deref()
            .unwrap_or("the hub gave no reason");
        let (what, stays) = match h.refused_events {
            1 => {
                let mut c = why.chars();
                let first = c.next().map(|f| f.to_uppercase().collect::<String>());
                (
                    first.unwrap_or_default() + c.as_str(),
                    "It stays saved here and is",
                )
            }
            n => (
                format!("The team hub refused {n} events of this replica; the first: {why}"),
                "They stay saved here and are",
            ),
        };
        ui.label(RichText::new(format!("· {} refused", h.refused_events)).color(theme::ERROR))
            .on_hover_text(format!(
                "{what}. {stays} offered to the hub again when the replica next connects, or \
                 at `keylabel sync`."
            ));
    }
    ui.label(RichText::new(text).color(color))
        .on_hover_text(tip);
}

fn top_bar(
    ui: &mut egui::Ui,
    session: &Session,
    damage: &[String],
    hub: Option<&super::hub_sync::HubState>,
    keymap: &Keymap,
    actions: &mut Vec<Action>,
) {
    egui::Panel::top("status_bar")
        .frame(theme::panel_frame(egui::Margin::symmetric(14, 8)))
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(RichText::new(session.project.name()).strong().size(18.0));
                if session.project.is_read_only() {
                    ui.label(RichText::new("Read-only").color(theme::WARN).strong())
                        .on_hover_text(
                            "The project file, its folder or its disk cannot be written: you \
                             can look, review and export, but not label. Copy the project \
                             somewhere writable to label it.",
                        );
                }
                if !damage.is_empty() {
                    let path = session.project.path().display();
                    ui.label(RichText::new("Damaged file").color(theme::ERROR).strong())
                        .on_hover_text(format!(
                            "SQLite's check of the project file found: {}. What is written to \
                             it may be lost: stop labeling in it, and copy what can be read \
                             into a new file with `keylabel -p {path} recover NEW.keylabel`.",
                            damage.join("; ")
                        ));
                }
                if let Some(cur) = &session.current {
                    ui.label(
                        RichText::new(format!("#{} of {}", cur.position + 1, session.counts.total))
                            .color(theme::MUTED),
                    );
                    ui.add(
                        egui::Label::new(RichText::new(&cur.sample.name).color(theme::TEXT))
                            .truncate(),
                    );
                }
                // Its own id: the widgets before it come and go (the sample's name), which
                // would give the hub's button a new id between a click's press and release.
                ui.push_id("label_bar_right", |ui| {
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        ui.label(RichText::new(&session.annotator).strong())
                            .on_hover_text("Annotator");
                        ui.separator();
                        if let Some(h) = hub {
                            hub_indicator(ui, h, actions);
                            ui.separator();
                        }
                        // Always in place (a dash until five decisions in twenty seconds give a
                        // rate worth showing), so that nothing jumps when they appear.
                        let warming = "Shown after five decisions and twenty seconds";
                        match session.time_left() {
                            Some(left) => ui
                                .label(format!("{} left", human_duration(left)))
                                .on_hover_text("Time to decide the rest at this session's rate"),
                            None => ui
                                .label(RichText::new("– left").color(theme::MUTED))
                                .on_hover_text(warming),
                        };
                        match session.rate_per_hour() {
                            Some(rate) => ui
                                .label(format!("{rate:.0}/h"))
                                .on_hover_text("Decisions per hour in this session"),
                            None => ui
                                .label(RichText::new("–/h").color(theme::MUTED))
                                .on_hover_text(warming),
                        };
                        let (done, total) = (session.counts.done, session.counts.total);
                        let frac = if total > 0 {
                            done as f32 / total as f32
                        } else {
                            0.0
                        };
                        ui.add(
                            egui::ProgressBar::new(frac)
                                .desired_width(180.0)
                                .text(format!("{done} / {total} decided")),
                        )
                        .on_hover_text(
                            "Samples you have decided on: labeled, skipped (to come back to) or \
                         excluded",
                        );
                    });
                });
            });
            ui.add_space(4.0);
            ui.horizontal_wrapped(|ui| {
                ui.spacing_mut().item_spacing.x = 4.0;
                ui.spacing_mut().button_padding = egui::vec2(5.0, 3.0);
                let moves: &[Command] = if session.task().is_detect() {
                    &[
                        Command::Undo,
                        Command::Previous,
                        Command::Next,
                        Command::BoxesDone,
                        Command::NoObjects,
                        Command::CopyPreviousBoxes,
                        Command::Skip,
                        Command::Exclude,
                        Command::Flag,
                    ]
                } else {
                    &[
                        Command::Undo,
                        Command::Previous,
                        Command::Next,
                        Command::NextUnlabeled,
                        Command::Skip,
                        Command::Exclude,
                        Command::Flag,
                    ]
                };
                for &cmd in moves {
                    tool_button(ui, keymap, cmd, actions);
                }
                ui.separator();
                for cmd in [
                    Command::Review,
                    Command::History,
                    Command::Export,
                    Command::ManageProject,
                ] {
                    tool_button(ui, keymap, cmd, actions);
                }
                ui.separator();
                // A detect project's toolbar has more to hold: zoom (Z, the wheel) and the
                // info panel (I) are on their keys only.
                let view_keys = (!session.task().is_detect())
                    .then_some([Command::ZoomFit, Command::ToggleInfo])
                    .into_iter()
                    .flatten();
                for cmd in std::iter::once(Command::ToggleGrid)
                    .chain(view_keys)
                    .chain([
                        Command::CheatSheet,
                        Command::Settings,
                        Command::CloseProject,
                    ])
                {
                    tool_button(ui, keymap, cmd, actions);
                }
            });
        });
}

fn tool_button(ui: &mut egui::Ui, keymap: &Keymap, cmd: Command, actions: &mut Vec<Action>) {
    let key = keymap.label(cmd);
    let text = RichText::new(cmd.toolbar_text()).size(13.5);
    // The key in a smaller, quieter face: readable, yet the toolbar stays one line wide.
    let button = if key.is_empty() {
        egui::Button::new(text)
    } else {
        egui::Button::new((text, RichText::new(&key).size(12.0).color(theme::MUTED)))
    };
    let resp = ui
        .add(button)
        .on_hover_text(format!("{} ({})", cmd.tooltip(), keymap.labels(cmd)));
    // Screen readers hear the command and its key as one name ("Skip  S").
    let name = if key.is_empty() {
        cmd.toolbar_text().to_string()
    } else {
        format!("{}  {key}", cmd.toolbar_text())
    };
    resp.widget_info(|| {
        egui::WidgetInfo::labeled(egui::Role::Button, ui.is_enabled(), name.clone())
    });
    if resp.clicked() {
        actions.push(Action::Command(cmd));
    }
}

fn class_bar(
    ui: &mut egui::Ui,
    session: &Session,
    boxes: Option<&super::box_editor::BoxEditor>,
    keymap: &Keymap,
    grid_mode: bool,
    actions: &mut Vec<Action>,
) {
    let Some(cur) = &session.current else {
        return;
    };
    let multi = session.task() == TaskKind::MultiLabel;
    // Drawing: the class of the selected box, else the class boxes are drawn in.
    let drawing: Vec<ClassId> = boxes
        .and_then(|e| match e.selected() {
            Some(super::box_editor::Pick::Box(i)) => e.boxes().get(i).map(|b| b.class),
            _ => e.class,
        })
        .into_iter()
        .collect();
    let chosen: &[ClassId] = if boxes.is_some() && !grid_mode {
        &drawing
    } else if multi {
        &session.pending
    } else {
        cur.decision
            .as_ref()
            .map(|d| d.labels.as_slice())
            .unwrap_or(&[])
    };
    egui::Panel::bottom("class_bar")
        .frame(theme::panel_frame(egui::Margin::symmetric(14, 10)))
        .show(ui, |ui| {
            // What this annotator decided, and what to do next. One height whatever it
            // holds, so the image above does not rescale when a suggestion appears.
            ui.horizontal(|ui| {
                ui.set_min_height(30.0);
                let state = match &cur.decision {
                    None => RichText::new("Not decided yet").color(theme::MUTED),
                    Some(d) => match d.status {
                        SampleStatus::Labeled if d.boxes.is_some() => {
                            match d.boxes.as_deref().unwrap_or_default().len() {
                                0 => RichText::new("You decided: no objects").color(theme::OK),
                                n => RichText::new(format!(
                                    "Your boxes: {}",
                                    crate::plural(n as u64, "box", "boxes")
                                ))
                                .color(theme::OK),
                            }
                        }
                        SampleStatus::Labeled => {
                            let names: Vec<&str> = d
                                .labels
                                .iter()
                                .filter_map(|id| session.class(*id).map(|c| c.name.as_str()))
                                .collect();
                            RichText::new(format!("You labeled: {}", names.join(", ")))
                                .color(theme::OK)
                        }
                        SampleStatus::Skipped => {
                            RichText::new("You skipped this").color(theme::WARN)
                        }
                        SampleStatus::Excluded => {
                            RichText::new("You excluded this").color(theme::ERROR)
                        }
                        SampleStatus::Unlabeled => RichText::new("Not decided yet"),
                    },
                };
                ui.label(state.size(15.0));
                if let Some(pending) = session.unsaved() {
                    let text = if pending.is_empty() {
                        "Nothing selected, not saved".to_string()
                    } else {
                        format!(
                            "{} selected, not saved: {} saves (moving on saves too)",
                            pending.len(),
                            keymap.label(Command::Commit)
                        )
                    };
                    ui.label(RichText::new(text).color(theme::WARN).size(15.0));
                }
                if cur.flagged {
                    ui.label(RichText::new("Flagged for review").color(theme::WARN));
                }
                if let Some(editor) = boxes.filter(|_| !grid_mode) {
                    suggestion_row(ui, session, editor, keymap, actions);
                } else if let Some((labels, score)) = &cur.suggestion {
                    let names: Vec<&str> = labels
                        .iter()
                        .filter_map(|id| session.class(*id).map(|c| c.name.as_str()))
                        .collect();
                    if !names.is_empty() {
                        ui.separator();
                        let score = score.map(|s| format!(" ({s:.2})")).unwrap_or_default();
                        let text = format!(
                            "Model suggests {}{score} — {} to accept",
                            names.join(", "),
                            keymap.label(Command::AcceptSuggestion)
                        );
                        if ui
                            .button(RichText::new(text).color(theme::ACCENT))
                            .on_hover_text(Command::AcceptSuggestion.tooltip())
                            .clicked()
                        {
                            actions.push(Action::Command(Command::AcceptSuggestion));
                        }
                    }
                }
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    let hint = if grid_mode && session.task().is_detect() {
                        format!(
                            "Click or {} opens an image to draw its boxes · Ctrl/Shift+click, \
                             drag or {} selects · {} back",
                            keymap.label(Command::GridOpen),
                            keymap.label(Command::SelectAll),
                            keymap.label(Command::ToggleGrid)
                        )
                    } else if grid_mode {
                        format!(
                            "Click or {} opens a sample · Ctrl/Shift+click, drag or {} selects, \
                             then a class key labels them all · {} back",
                            keymap.label(Command::GridOpen),
                            keymap.label(Command::SelectAll),
                            keymap.label(Command::ToggleGrid)
                        )
                    } else if session.task().is_detect() {
                        format!(
                            "Class key, then drag · {} next box · {} no objects · {} done · {} \
                             all keys",
                            keymap.label(Command::BoxNext),
                            keymap.label(Command::NoObjects),
                            keymap.label(Command::BoxesDone),
                            keymap.label(Command::CheatSheet)
                        )
                    } else if multi {
                        format!(
                            "Toggle classes, {} to save · {} skip · {} all keys",
                            keymap.label(Command::Commit),
                            keymap.label(Command::Skip),
                            keymap.label(Command::CheatSheet)
                        )
                    } else {
                        format!(
                            "Press a class key to label · {} skip · {} undo · {} all keys",
                            keymap.label(Command::Skip),
                            keymap.label(Command::Undo),
                            keymap.label(Command::CheatSheet)
                        )
                    };
                    ui.label(RichText::new(hint).color(theme::MUTED));
                });
            });
            ui.add_space(6.0);
            ui.horizontal_wrapped(|ui| {
                for class in &session.classes {
                    let on = chosen.contains(&class.id);
                    let color = theme::parse_color(&class.color);
                    let count = session
                        .counts
                        .per_class
                        .get(&class.id)
                        .copied()
                        .unwrap_or(0);
                    let key = class_shortcut(class)
                        .map(|s| s.to_string())
                        .unwrap_or_default();
                    let mut job = egui::text::LayoutJob::default();
                    let fmt = |size: f32, c: Color32, strong: bool| egui::TextFormat {
                        font_id: egui::FontId::proportional(size),
                        color: c,
                        valign: egui::Align::Center,
                        extra_letter_spacing: if strong { 0.3 } else { 0.0 },
                        ..Default::default()
                    };
                    if !key.is_empty() {
                        job.append(&key, 0.0, fmt(15.0, color, true));
                        job.append("  ", 0.0, fmt(15.0, theme::MUTED, false));
                    }
                    job.append(&class.name, 0.0, fmt(18.0, theme::TEXT, true));
                    job.append(&format!("  {count}"), 0.0, fmt(14.0, theme::MUTED, false));
                    let fill = if on {
                        color.gamma_multiply(0.45)
                    } else {
                        theme::BACKGROUND
                    };
                    let stroke = if on {
                        egui::Stroke::new(2.5, color)
                    } else {
                        egui::Stroke::new(1.0, color.gamma_multiply(0.6))
                    };
                    let verb = if boxes.is_some() {
                        "Draw boxes of"
                    } else if multi {
                        "Toggle"
                    } else {
                        "Label as"
                    };
                    let resp = ui
                        .add(
                            egui::Button::new(job)
                                .fill(fill)
                                .stroke(stroke)
                                .min_size(Vec2::new(120.0, 40.0))
                                .corner_radius(6.0),
                        )
                        .on_hover_text(format!("{verb} “{}” ({key})", class.name));
                    if resp.clicked() {
                        actions.push(Action::Class(class.id));
                    }
                }
                if multi {
                    let resp = ui
                        .add(
                            egui::Button::new(
                                RichText::new(format!("Save  {}", keymap.label(Command::Commit)))
                                    .size(17.0),
                            )
                            .min_size(Vec2::new(100.0, 40.0)),
                        )
                        .on_hover_text(Command::Commit.tooltip());
                    if resp.clicked() {
                        actions.push(Action::Command(Command::Commit));
                    }
                }
            });
        });
}

/// Detect: the model's suggested boxes still offered on this image, the key that accepts
/// them, and the score threshold (a project setting) it uses.
fn suggestion_row(
    ui: &mut egui::Ui,
    session: &Session,
    editor: &super::box_editor::BoxEditor,
    keymap: &Keymap,
    actions: &mut Vec<Action>,
) {
    let offered = editor.suggestions();
    if offered.is_empty() {
        return;
    }
    ui.separator();
    let Ok(mut settings) = session.project.settings() else {
        return;
    };
    // While the slider is dragged its value lives in the window's memory, and the setting
    // is written once, when the drag ends (not a write per frame).
    let dragged_id = egui::Id::unique("suggestion_threshold_dragged");
    let dragged: Option<f64> = ui.data(|d| d.get_temp(dragged_id));
    let threshold = dragged.unwrap_or(settings.suggestion_threshold);
    let above = offered
        .iter()
        .filter(|(_, g)| g.score.is_none_or(|s| s >= threshold))
        .count();
    let text = format!(
        "Model suggests {} — {} accepts the {above} scored ≥",
        crate::plural(offered.len() as u64, "box", "boxes"),
        keymap.label(Command::AcceptSuggestion)
    );
    if ui
        .button(RichText::new(text).color(theme::ACCENT))
        .on_hover_text("Accept every suggested box scored at or above the threshold; a click on one accepts that one")
        .clicked()
    {
        actions.push(Action::Command(Command::AcceptSuggestion));
    }
    let mut t = threshold;
    let writable = !session.project.is_read_only();
    let resp = ui
        .add_enabled(
            writable,
            egui::Slider::new(&mut t, 0.0..=1.0).fixed_decimals(2),
        )
        .on_hover_text(
            "Score threshold of the accept key (the project's suggestion-threshold setting)",
        );
    if resp.dragged() {
        ui.data_mut(|d| d.insert_temp(dragged_id, t));
        return;
    }
    if dragged.is_some() {
        ui.data_mut(|d| d.remove::<f64>(dragged_id));
    }
    if (t - settings.suggestion_threshold).abs() > f64::EPSILON {
        settings.suggestion_threshold = t;
        if let Err(e) = session.project.set_settings(&settings) {
            ui.label(RichText::new(format!("Not saved: {e:#}")).color(theme::ERROR));
        }
    }
}

fn info_panel(ui: &mut egui::Ui, session: &Session, show_info: bool) {
    let Some(cur) = &session.current else {
        return;
    };
    egui::Panel::right("info_panel")
        .default_size(340.0)
        .size_range(240.0..=720.0)
        .frame(theme::panel_frame(egui::Margin::same(12)))
        .show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                let s = &cur.sample;
                let row = |ui: &mut egui::Ui, k: &str, v: String| {
                    ui.label(RichText::new(k).color(theme::MUTED).size(13.0));
                    ui.add(egui::Label::new(v).wrap_mode(egui::TextWrapMode::Wrap));
                    ui.add_space(4.0);
                };
                if columns_list(ui, session, s) {
                    ui.add_space(10.0);
                }
                if show_info {
                    ui.label(RichText::new("Sample").strong());
                    ui.add_space(4.0);
                    row(ui, "name", s.name.clone());
                    if !cur.aliases.is_empty() {
                        row(ui, "also imported as", cur.aliases.join("\n"));
                    }
                    row(
                        ui,
                        "path",
                        session.project.resolve(&s.path).display().to_string(),
                    );
                    if let (Some(w), Some(h)) = (s.width, s.height) {
                        row(ui, "size", format!("{w} × {h} px"));
                    }
                    if let Some(f) = &s.format {
                        row(ui, "format", f.clone());
                    }
                    row(ui, "file size", human_bytes(s.bytes));
                    if let Some(r) = s.row {
                        row(ui, "row", r.to_string());
                    }
                    row(ui, "imported", s.imported_at.clone());
                }
            });
        });
}

/// A table row's other columns, in the file's order, under a "Columns" heading; returns
/// whether there were any.
pub fn columns_list(ui: &mut egui::Ui, session: &Session, sample: &crate::project::Sample) -> bool {
    let columns = session.columns_of(sample);
    if columns.is_empty() {
        return false;
    }
    ui.label(RichText::new("Columns").strong());
    ui.add_space(4.0);
    for (k, v) in columns {
        let v = match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        ui.label(RichText::new(k).color(theme::MUTED).size(13.0));
        ui.add(egui::Label::new(v).wrap_mode(egui::TextWrapMode::Wrap));
        ui.add_space(4.0);
    }
    true
}

fn text_sample(ui: &mut egui::Ui, text: &str) {
    egui::ScrollArea::vertical().show(ui, |ui| {
        egui::Frame::NONE
            .inner_margin(egui::Margin::symmetric(48, 36))
            .show(ui, |ui| {
                ui.set_max_width(900.0);
                ui.add(egui::Label::new(RichText::new(text).size(24.0).color(theme::TEXT)).wrap());
            });
    });
}

/// The image, zoomed and panned; in a detect project (`boxes`), with its boxes over it.
fn image_sample(
    ui: &mut egui::Ui,
    loader: &mut ImageLoader,
    key: &ImageKey,
    view: &mut ViewState,
    keymap: &Keymap,
    boxes: Option<(&mut super::box_editor::BoxEditor, &Session)>,
) {
    let rect = ui.max_rect();
    let response = ui.allocate_rect(rect, Sense::click_and_drag());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "Sample image"));
    match loader.get(key) {
        ImageState::Pending => {
            ui.put(rect, egui::Spinner::new().size(32.0));
        }
        ImageState::Failed(reason) => {
            let advice = format!(
                "Press {} to exclude it as unusable, or {} to skip it.",
                keymap.label(Command::Exclude),
                keymap.label(Command::Skip)
            );
            unshown(
                ui,
                rect,
                "This image cannot be shown",
                theme::ERROR,
                &reason,
                &advice,
            );
        }
        ImageState::Away(reason) => {
            // A file the hub cannot send now is not unusable: it is worth waiting for.
            let advice = format!(
                "Press {} to skip it for now and come back to it later.",
                keymap.label(Command::Skip)
            );
            unshown(
                ui,
                rect,
                "This image is not here yet",
                theme::WARN,
                &reason,
                &advice,
            );
        }
        ImageState::Ready {
            texture,
            original_size,
            turn,
        } => {
            let ppp = ui.ctx().pixels_per_point();
            let orig = Vec2::new(original_size[0] as f32, original_size[1] as f32);
            let avail = rect.shrink(8.0).size();
            let fit = (avail.x / orig.x).min(avail.y / orig.y);
            let base = if view.one_to_one { 1.0 / ppp } else { fit };
            // Zooming out stops where the whole image fits; further out only shrinks it
            // into a corner of the window.
            let min_zoom = (fit / base).min(1.0);
            // Wheel zoom around the pointer; drag to pan; double-click to reset.
            if response.hovered() {
                let scroll = ui.input(|i| i.smooth_scroll_delta.y + i.zoom_delta().ln() * 200.0);
                if scroll.abs() > 0.0 {
                    let factor = (scroll / 200.0).exp();
                    let new_zoom = (view.zoom * factor).clamp(min_zoom, 64.0);
                    let f = new_zoom / view.zoom;
                    if let Some(p) = response.hover_pos() {
                        let from_center = p - rect.center() - view.pan;
                        view.pan -= from_center * (f - 1.0);
                    }
                    view.zoom = new_zoom;
                }
            }
            // Drawing takes the primary button; the others pan.
            let pans = if boxes.is_some() {
                response.dragged_by(egui::PointerButton::Secondary)
                    || response.dragged_by(egui::PointerButton::Middle)
            } else {
                response.dragged()
            };
            if pans {
                view.pan += response.drag_delta();
            }
            if boxes.is_none() && response.double_clicked() {
                view.reset();
            }
            view.drawn = Some(key.sample);
            let size = orig * base * view.zoom;
            view.pan = clamp_pan(view.pan, size, rect.size());
            let img_rect = Rect::from_center_size(rect.center() + view.pan, size);
            view.image_rect = Some(img_rect);
            ui.painter().with_clip_rect(rect).image(
                texture.id(),
                img_rect,
                Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
                Color32::WHITE,
            );
            if let Some((editor, session)) = boxes {
                let placed = super::drawing::Placed {
                    clip: rect,
                    image: img_rect,
                    turn,
                };
                super::drawing::layer(ui, &response, placed, editor, session, keymap);
            }
            let scale = size.x * ppp / orig.x;
            if (scale - 1.0).abs() > 0.01 || view.one_to_one {
                let label = format!("{:.0}%", scale * 100.0);
                ui.painter().text(
                    rect.right_bottom() - Vec2::new(10.0, 8.0),
                    egui::Align2::RIGHT_BOTTOM,
                    label,
                    egui::FontId::proportional(13.0),
                    theme::MUTED,
                );
            }
        }
    }
}

/// Keeps a zoomed image over the view: an image smaller than the view stays centred on
/// that axis, a larger one cannot be dragged past its edges (no drifting off-centre).
fn clamp_pan(pan: Vec2, image: Vec2, view: Vec2) -> Vec2 {
    let room = ((image - view) / 2.0).max(Vec2::ZERO);
    Vec2::new(pan.x.clamp(-room.x, room.x), pan.y.clamp(-room.y, room.y))
}

/// What the hub password prompt holds: the password typed so far (never shown), and
/// whether to save it in the password file once the hub takes it.
#[derive(Clone, Debug, Default)]
pub struct PasswordPrompt {
    pub typed: String,
    pub save: bool,
    /// The password field has had the keyboard focus: from then on `Tab` may move it (to
    /// the save box, say).
    focused: bool,
}

/// The prompt for the password the team hub asks for (`problem`: why it asks).
/// `Some(true)`: connect with it, `Some(false)`: cancelled.
pub fn hub_password_prompt(
    ctx: &egui::Context,
    prompt: &mut PasswordPrompt,
    problem: Option<&crate::hub::PasswordProblem>,
    hub: &str,
) -> Option<bool> {
    let typed = &mut prompt.typed;
    let mut out = None;
    let modal = egui::Modal::new(egui::Id::unique("hub_password_prompt")).show(ctx, |ui| {
        // Enter connects wherever the focus is (taken first, so that it does not also
        // tick the save box when that has the focus).
        let enter = ui.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::Enter));
        ui.set_min_width(460.0);
        ui.heading("Team hub password");
        let login = problem.map_or("", |p| p.login());
        ui.label(format!(
            "The team hub project “{hub}” asks for the password of “{login}”."
        ));
        if let Some(crate::hub::PasswordProblem::Refused { .. }) = problem {
            ui.label(
                RichText::new("The hub refused the password given: type it again.")
                    .color(theme::ERROR),
            );
        }
        let label = ui.label("Password");
        let edit = ui.add(
            egui::TextEdit::singleline(typed)
                .password(true)
                .desired_width(f32::INFINITY),
        );
        let edit = edit.labelled_by(label.id);
        if edit.has_focus() {
            prompt.focused = true;
        } else if !prompt.focused {
            edit.request_focus();
        }
        let file = crate::hub::password::password_file()
            .map_or_else(|| "~/.pgpass".to_string(), |f| f.display().to_string());
        ui.checkbox(
            &mut prompt.save,
            format!("Save it in {file} once the hub takes it (Tab, Space)"),
        )
        .on_hover_text(
            "The password file PostgreSQL's own tools read, readable by you only: keylabel \
             and psql then ask no more for this login.",
        );
        ui.label(
            RichText::new(if prompt.save {
                "Saved for this login only, in place of an older one there."
            } else {
                "Kept in memory until the window closes, never written."
            })
            .color(theme::MUTED),
        );
        if enter && !typed.is_empty() {
            out = Some(true);
        }
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!typed.is_empty(), egui::Button::new("Connect (Enter)"))
                .clicked()
            {
                out = Some(true);
            }
            if ui.button("Not now (Esc)").clicked() {
                out = Some(false);
            }
        });
    });
    if out.is_none() && modal.should_close() {
        out = Some(false);
    }
    out
}

/// The exclude prompt. `Some(true)`: confirmed, `Some(false)`: cancelled.
pub fn exclude_prompt(ctx: &egui::Context, reason: &mut String) -> Option<bool> {
    let mut out = None;
    let modal = egui::Modal::new(egui::Id::unique("exclude_prompt")).show(ctx, |ui| {
        ui.set_min_width(420.0);
        ui.heading("Exclude this sample");
        ui.label(
            RichText::new("It will never be exported. Why is it unusable?").color(theme::MUTED),
        );
        let label = ui.label("Reason");
        let edit = ui.add(
            egui::TextEdit::singleline(reason)
                .hint_text("unusable")
                .desired_width(f32::INFINITY),
        );
        let edit = edit.labelled_by(label.id);
        if !edit.has_focus() && !edit.lost_focus() {
            edit.request_focus();
        }
        ui.horizontal_wrapped(|ui| {
            for quick in [
                "blurry",
                "corrupt",
                "wrong content",
                "duplicate",
                "ambiguous",
            ] {
                if ui.small_button(quick).clicked() {
                    *reason = quick.to_string();
                }
            }
        });
        if edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
            out = Some(true);
        }
        ui.horizontal(|ui| {
            if ui.button("Exclude (Enter)").clicked() {
                out = Some(true);
            }
            if ui.button("Cancel (Esc)").clicked() {
                out = Some(false);
            }
        });
    });
    if out.is_none() && modal.should_close() {
        out = Some(false);
    }
    out
}

fn human_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

fn human_bytes(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{:.1} MB", b as f64 / (1u64 << 20) as f64)
    } else if b >= 1 << 10 {
        format!("{:.1} KB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
}

#[cfg(test)]
mod tests {
    use super::clamp_pan;
    use egui::Vec2;

    #[test]
    fn a_zoomed_image_stays_over_the_view() {
        let view = Vec2::new(800.0, 600.0);
        // Smaller than the view: centred, whatever the drag.
        assert_eq!(
            clamp_pan(Vec2::new(300.0, -50.0), Vec2::new(400.0, 300.0), view),
            Vec2::ZERO
        );
        // Larger: dragged at most to its edges.
        assert_eq!(
            clamp_pan(Vec2::new(900.0, -900.0), Vec2::new(1600.0, 1200.0), view),
            Vec2::new(400.0, -300.0)
        );
        assert_eq!(
            clamp_pan(Vec2::new(10.0, 20.0), Vec2::new(1600.0, 1200.0), view),
            Vec2::new(10.0, 20.0)
        );
    }
}
