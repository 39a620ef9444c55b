//! The labeling window (eframe/egui). A thin front end: every action goes through the core
//! library.
//!
//! Structure (after rerun's viewer): every user action is a [`commands::Command`] (or a
//! class of the project); keys, buttons and menus only *send* [`commands::Action`]s, and
//! [`App::apply`] is the one place that carries them out. What fills the window is one
//! value, [`Screen`]; an open project shows exactly one [`View`], and one routing table
//! ([`commands::Command::views`]) says which views act on each command. State saved between runs
//! ([`state::Persisted`]) is kept apart from runtime state; background work
//! ([`jobs::Job`]) is polled each frame, never waited for, and belongs to the screen it
//! was started from.

pub mod box_editor;
pub mod cheatsheet;
pub mod commands;
pub mod drawing;
pub mod export_view;
pub mod grid;
pub mod history;
pub mod hub_sync;
pub mod jobs;
pub mod keymap;
pub mod labeling;
pub mod loader;
pub mod path_field;
pub mod project_dialog;
pub mod review_view;
pub mod screen;
pub mod session;
pub mod settings_view;
pub mod start;
pub mod state;
pub mod theme;
pub mod thumbs;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use commands::{Action, Command};
use jobs::Job;
use keymap::{Keymap, Shortcut};
pub use screen::{BulkLabel, Opened, ProjectScreen, Screen, View, ViewKind};
use session::{Counts, Session};
use state::Persisted;

use crate::Project;
use crate::hub::classes::Change;

/// Default texture memory budget of the image loader.
pub const TEXTURE_CAP_BYTES: usize = 512 << 20;

/// Opens the window on `project`, or the start screen without one.
pub fn run(project: Option<PathBuf>, annotator: String) -> anyhow::Result<()> {
    let settings = state::default_settings_path();
    // The project's name joins the title once it is open (the real-window test waits
    // for exactly that).
    let title = match &project {
        Some(p) => format!("Opening {} - keylabel", project_name(p)),
        None => window_title(""),
    };
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(title)
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([640.0, 400.0]),
        ..Default::default()
    };
    eframe::run_native(
        "keylabel",
        options,
        Box::new(move |cc| {
            let mut app = App::new(Some(settings), annotator);
            app.ctx = Some(cc.egui_ctx.clone());
            if let Some(p) = project {
                app.open_project(&p);
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("could not open the window: {e}"))?;
    // The window is gone (and the app with it): let the replicas' sync threads give their
    // claims on the hub up before the process ends.
    hub_sync::finish_closing(hub_sync::RELEASE_WAIT);
    Ok(())
}

/// Opens the window on the built-in demo project (made in the user data folder on first
/// run).
pub fn run_demo(annotator: String) -> anyhow::Result<()> {
    let path = crate::demo::ensure_demo_project(&crate::demo::default_data_dir())?;
    run(Some(path), annotator)
}

fn project_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The window title: `keylabel` and the project's name.
pub fn window_title(project: &str) -> String {
    if project.is_empty() {
        "keylabel".into()
    } else {
        format!("{project} - keylabel")
    }
}

/// A dialog over the current screen.
pub enum Overlay {
    None,
    CheatSheet,
    Settings(settings_view::SettingsView),
    /// Exclude prompt, with the reason typed so far.
    Exclude(String),
    /// Import samples, edit classes.
    Project(Box<project_dialog::ProjectDialog>),
    /// The team hub's password, with what was typed so far.
    HubPassword(labeling::PasswordPrompt),
}

/// A message shown for a few seconds.
pub struct Toast {
    pub text: String,
    pub error: bool,
    pub at: Instant,
}

pub struct App {
    pub persisted: Persisted,
    settings_path: Option<PathBuf>,
    pub annotator: String,
    pub screen: Screen,
    pub overlay: Overlay,
    pub loader: Option<loader::ImageLoader>,
    pub toast: Option<Toast>,
    ctx: Option<egui::Context>,
    themed: bool,
    title: String,
}

/// Selections larger than this are labeled on a background thread.
pub const BULK_IN_BACKGROUND: usize = 2_000;

/// Labels `ids` with `class` for `annotator`, in transactions of a few thousand events
/// (so that the window's own single-label commits are never held up for long), reporting
/// progress. Each chunk is complete or absent: a failure or a cancel leaves whole chunks
/// only.
fn bulk_label(
    path: &std::path::Path,
    annotator: &str,
    ids: &[crate::project::SampleId],
    class: crate::project::ClassId,
    progress: &jobs::JobProgress,
) -> anyhow::Result<usize> {
    const CHUNK: usize = 2_000;
    let mut project = Project::open(path)?;
    let total = ids.len() as u64;
    let mut done = 0u64;
    progress.set(0, total);
    for chunk in ids.chunks(CHUNK) {
        if jobs::Progress::cancelled(progress) {
            anyhow::bail!("cancelled when the project was closed");
        }
        session::label_all(&mut project, annotator, chunk, class)?;
        done += chunk.len() as u64;
        progress.set(done, total);
    }
    Ok(ids.len())
}

impl App {
    /// A window without a project (the start screen). `settings_path` `None` keeps the
    /// settings in memory only (tests).
    pub fn new(settings_path: Option<PathBuf>, annotator: String) -> App {
        let (persisted, problem) = match &settings_path {
            Some(p) => Persisted::load(p),
            None => (Persisted::default(), None),
        };
        let mut app = App {
            persisted,
            settings_path,
            annotator,
            screen: Screen::Start(Box::default()),
            overlay: Overlay::None,
            loader: None,
            toast: None,
            ctx: None,
            themed: false,
            title: String::new(),
        };
        if let Some(p) = problem {
            app.error(p);
        }
        app
    }

    /// Opens `path` in the background; the start screen (with a progress bar) shows until
    /// it is ready.
    pub fn open_project(&mut self, path: &Path) {
        let path = path.to_path_buf();
        let annotator = self.annotator.clone();
        let what = format!("Opening {}", path.display());
        self.screen = Screen::Busy(Job::spawn(what, self.ctx.clone(), move |_| {
            open_session(&path, annotator)
                .map(|session| Opened {
                    session,
                    note: None,
                })
                .map_err(|e| format!("{e:#}"))
        }));
    }

    /// Makes the demo project on first use (in the user data folder) and opens it.
    pub fn open_demo(&mut self) {
        let annotator = self.annotator.clone();
        self.screen = Screen::Busy(Job::spawn(
            "Preparing the demo project",
            self.ctx.clone(),
            move |_| {
                let path = crate::demo::ensure_demo_project(&crate::demo::default_data_dir())
                    .map_err(|e| format!("{e:#}"))?;
                open_session(&path, annotator)
                    .map(|session| Opened {
                        session,
                        note: None,
                    })
                    .map_err(|e| format!("{e:#}"))
            },
        ));
    }

    /// Creates a project and imports its samples in the background.
    fn create_project(&mut self, spec: start::NewProject) {
        let annotator = self.annotator.clone();
        let what = format!("Creating {}", spec.file.display());
        self.screen = Screen::Busy(Job::spawn(what, self.ctx.clone(), move |progress| {
            let mut project = Project::create(&spec.file, &spec.classes, spec.task)
                .map_err(|e| format!("{e:#}"))?;
            let note = if spec.sources.is_empty() {
                None
            } else {
                let options = crate::ingest::ImportOptions {
                    text_column: spec.text_column.clone(),
                    annotator: annotator.clone(),
                    ..Default::default()
                };
                let report = crate::ingest::import(&mut project, &spec.sources, &options, progress)
                    .map_err(|e| format!("the project was created, but import failed: {e:#}"))?;
                Some(import_note(&report))
            };
            drop(project);
            open_session(&spec.file, annotator)
                .map(|session| Opened { session, note })
                .map_err(|e| format!("{e:#}"))
        }));
    }

    /// The open project, if any.
    pub fn project(&self) -> Option<&ProjectScreen> {
        match &self.screen {
            Screen::Project(p) => Some(p),
            _ => None,
        }
    }

    pub fn project_mut(&mut self) -> Option<&mut ProjectScreen> {
        match &mut self.screen {
            Screen::Project(p) => Some(p),
            _ => None,
        }
    }

    pub fn session(&self) -> Option<&Session> {
        self.project().map(|p| &p.session)
    }

    pub fn session_mut(&mut self) -> Option<&mut Session> {
        self.project_mut().map(|p| &mut p.session)
    }

    /// The view of the open project.
    pub fn view_kind(&self) -> Option<ViewKind> {
        self.project().map(|p| p.view_kind())
    }

    pub fn is_busy(&self) -> bool {
        matches!(self.screen, Screen::Busy(_))
    }

    fn save_settings(&mut self) {
        if let Some(p) = &self.settings_path
            && let Err(e) = self.persisted.save(p)
        {
            let msg = format!("could not save settings to `{}`: {e:#}", p.display());
            self.error(msg);
        }
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.toast = Some(Toast {
            text: text.into(),
            error: false,
            at: Instant::now(),
        });
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.toast = Some(Toast {
            text: text.into(),
            error: true,
            at: Instant::now(),
        });
    }

    /// Carries out one action. The single place where commands take effect.
    pub fn apply(&mut self, action: Action) {
        let result = self.try_apply(action);
        self.report(result);
        // A decision goes to the team hub at once (it is in the replica already).
        if let Some(hub) = self.project_mut().and_then(|p| p.hub.as_ref()) {
            hub.poke();
        }
    }

    /// Records the changes the mouse made to boxes in this frame (the box editor's outbox).
    fn record_box_edits(&mut self) {
        // The reviewer's edit is saved as one decision; only its notes are shown.
        if let Some(p) = self.project_mut()
            && let screen::View::Review(v) = &mut p.view
            && let Some(note) = v.editor.note.take()
        {
            self.info(note);
        }
        let Some(editor) = self.project_mut().and_then(|p| p.boxes.as_mut()) else {
            return;
        };
        let edits = std::mem::take(&mut editor.outbox);
        if let Some(note) = editor.note.take() {
            self.info(note);
        }
        for edit in edits {
            let Some(p) = self.project_mut() else {
                return;
            };
            let result = p.session.save_boxes(edit).map(|()| None);
            self.report(result);
        }
    }

    /// Tells the user the outcome of an action: its message, or what went wrong.
    fn report(&mut self, result: anyhow::Result<Option<String>>) {
        match result {
            Ok(Some(message)) => self.info(message),
            Ok(None) => {}
            Err(e) => {
                use crate::project::StorageTrouble;
                // A box change that was not recorded must not stay on screen: the editor
                // reads the image's decision again.
                if let Some(editor) = self.project_mut().and_then(|p| p.boxes.as_mut()) {
                    editor.clear();
                }
                let path = self.session().map(|s| s.project.path().to_path_buf());
                let trouble = path.as_deref().and_then(|p| StorageTrouble::of(&e, p));
                let path = path.map(|p| p.display().to_string());
                match (trouble, path) {
                    (Some(StorageTrouble::ReadOnly), Some(path)) => self.error(format!(
                        "Not saved: `{path}` cannot be written (the file, its folder or its \
                         disk is read-only). Copy the project file somewhere writable to \
                         label it."
                    )),
                    (Some(StorageTrouble::Full), Some(path)) => self.error(format!(
                        "Not saved: the disk holding `{path}` is full. Everything saved \
                         before is safe; free some space and do it again."
                    )),
                    _ => self.error(format!("{e:#}")),
                }
            }
        }
        if let Some(h) = self.project_mut().and_then(|p| p.history.as_mut()) {
            h.stale = true;
        }
    }

    /// Routes `action` to the window, the project screen or the current view; returns a
    /// message for the user.
    fn try_apply(&mut self, action: Action) -> anyhow::Result<Option<String>> {
        let Some(kind) = self.view_kind() else {
            return Ok(None);
        };
        if let Action::Command(cmd) = action
            && !kind.takes(cmd)
        {
            return Ok(refusal(kind, cmd, &self.persisted.keymap));
        }
        // What the window itself does, in every view that takes it.
        if let Action::Command(cmd) = action {
            match cmd {
                Command::CheatSheet => {
                    self.overlay = match self.overlay {
                        Overlay::CheatSheet => Overlay::None,
                        _ => Overlay::CheatSheet,
                    };
                    return Ok(None);
                }
                Command::Settings => {
                    self.overlay = Overlay::Settings(settings_view::SettingsView::default());
                    return Ok(None);
                }
                Command::ToggleInfo => {
                    self.persisted.show_info = !self.persisted.show_info;
                    self.save_settings();
                    return Ok(None);
                }
                Command::CloseProject => return Ok(self.close_project()),
                Command::HubPassword => {
                    if self.project().is_some_and(|p| p.hub.is_none()) {
                        return Ok(Some("This project is not linked to a team hub".into()));
                    }
                    self.overlay = Overlay::HubPassword(Default::default());
                    return Ok(None);
                }
                Command::ManageProject => {
                    self.overlay = Overlay::Project(Box::default());
                    return Ok(None);
                }
                Command::Exclude => {
                    let reason = self.current_image_error().map(|_| "unreadable".to_string());
                    self.overlay = Overlay::Exclude(reason.unwrap_or_default());
                    return Ok(None);
                }
                _ => {}
            }
        }
        let ctx = self.ctx.clone();
        let keymap = self.persisted.keymap.clone();
        let Screen::Project(p) = &mut self.screen else {
            return Ok(None);
        };
        let before = p.session.current_id();
        let message = match action {
            Action::Command(Command::ToggleGrid) => p.toggle_view(ViewKind::Grid, ctx)?,
            Action::Command(Command::Review) => p.toggle_view(ViewKind::Review, ctx)?,
            Action::Command(Command::Export) => p.toggle_view(ViewKind::Export, ctx)?,
            Action::Command(Command::History) => {
                p.history = match p.history.take() {
                    Some(_) => None,
                    None => Some(history::HistoryPanel::default()),
                };
                None
            }
            _ => match kind {
                ViewKind::Label => labeling::apply(p, action, &keymap)?,
                ViewKind::Draw => drawing::apply(p, action, &keymap)?,
                ViewKind::Grid => p.grid_apply(action, ctx)?,
                ViewKind::Review => review_view::apply(p, action, &keymap)?,
                ViewKind::Export => None,
            },
        };
        if p.session.current_id() != before {
            p.image.reset();
        }
        Ok(message)
    }

    /// Back to the start screen. The project screen, and every job it owns, is dropped: a
    /// bulk label stops after the chunk it is writing.
    fn close_project(&mut self) -> Option<String> {
        let p = self.project_mut()?;
        if p.export_running() {
            return Some("An export is running; cancel it first".into());
        }
        if let Err(e) = p.session.save_unsaved() {
            return Some(format!("The toggled classes could not be saved: {e:#}"));
        }
        let note = p.bulk.as_ref().map(|b| {
            format!(
                "Labeling “{}” in the background stopped when the project closed, at {}",
                b.class,
                b.job.progress.text()
            )
        });
        self.screen = Screen::Start(Box::default());
        self.overlay = Overlay::None;
        note
    }

    /// The decode error of the current image, if it could not be shown.
    fn current_image_error(&mut self) -> Option<String> {
        let Screen::Project(p) = &self.screen else {
            return None;
        };
        let key = labeling::image_key(&p.session, &p.image)?;
        match self.loader.as_mut()?.get(&key) {
            loader::ImageState::Failed(e) | loader::ImageState::Away(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the current sample's image is decoded and on the GPU (tests, benchmarks).
    pub fn current_image_ready(&mut self) -> bool {
        let Screen::Project(p) = &self.screen else {
            return false;
        };
        let Some(key) = labeling::image_key(&p.session, &p.image) else {
            return true; // a text sample is always ready
        };
        matches!(
            self.loader.as_mut().map(|l| l.get(&key)),
            Some(
                loader::ImageState::Ready { .. }
                    | loader::ImageState::Failed(_)
                    | loader::ImageState::Away(_)
            )
        )
    }

    fn apply_settings_request(&mut self, req: settings_view::Request) {
        use settings_view::{Request, Target};
        let classes = self
            .session()
            .map(|s| s.project.classes().unwrap_or_default())
            .unwrap_or_default();
        let result: Result<String, String> = match req {
            Request::Bind(Target::Command(cmd, i), sc) => self
                .persisted
                .keymap
                .bind(cmd, i, sc, &classes)
                .map(|()| format!("{sc} now means “{}”", cmd.text()))
                .map_err(|e| format!("Refused: {e}")),
            Request::Bind(Target::Class(id), sc) => match classes.iter().find(|c| c.id == id) {
                None => Err("that class no longer exists".into()),
                Some(class) => match self.persisted.keymap.check_class_key(class, sc, &classes) {
                    Err(e) => Err(format!("Refused: {e}")),
                    Ok(()) => {
                        let name = class.name.clone();
                        match self.session_mut() {
                            Some(s) => s
                                .project
                                .set_class_key(&name, Some(&sc.to_string()))
                                .and_then(|_| s.reload_classes())
                                .map(|()| format!("{sc} now labels “{name}”"))
                                .map_err(|e| format!("{e:#}")),
                            None => Err("no project is open".into()),
                        }
                    }
                },
            },
            Request::Unbind(cmd, i) => {
                self.persisted.keymap.unbind(cmd, i);
                Ok(format!("Key removed from “{}”", cmd.text()))
            }
            Request::ResetKeymap => {
                let defaults = keymap::Keymap::default();
                let clashes = defaults.clashes(&classes);
                if clashes.is_empty() {
                    self.persisted.keymap = defaults;
                    Ok("Default keys restored".into())
                } else {
                    Err(format!("Refused: {}", clashes.join("; ")))
                }
            }
            Request::Close => {
                self.overlay = Overlay::None;
                return;
            }
        };
        if result.is_ok() {
            self.save_settings();
        }
        if let Overlay::Settings(view) = &mut self.overlay {
            view.message = Some(match result {
                Ok(m) => (m, true),
                Err(m) => (m, false),
            });
        }
    }

    /// Turns this frame's key presses into actions (and removes them, so that no widget
    /// also reacts to them).
    fn keyboard_actions(&mut self, ctx: &egui::Context) -> Vec<Action> {
        let Screen::Project(p) = &self.screen else {
            return Vec::new();
        };
        if !matches!(self.overlay, Overlay::None | Overlay::CheatSheet) {
            return Vec::new();
        }
        // Typing in a text field (the export view, the grid's path filter) is text, not commands.
        if ctx.egui_wants_keyboard_input() {
            return Vec::new();
        }
        let keymap = &self.persisted.keymap;
        if matches!(self.overlay, Overlay::CheatSheet) {
            // With the cheat sheet open, only its own key acts (and Esc closes it).
            let toggle = keymap.shortcuts(Command::CheatSheet);
            return take_keys(ctx, |sc| {
                toggle
                    .contains(&sc)
                    .then_some(Action::Command(Command::CheatSheet))
                    .ok_or(false)
            });
        }
        key_actions(ctx, keymap, &p.session.classes, p.view_kind())
    }

    /// Draws one frame into `ui` (the whole window). Used by eframe and by tests.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        if !self.themed {
            theme::apply(&ctx);
            self.themed = true;
        }
        if self.ctx.is_none() {
            self.ctx = Some(ctx.clone());
        }
        if self.loader.is_none() {
            self.loader = Some(loader::ImageLoader::new(ctx.clone(), TEXTURE_CAP_BYTES));
        }
        // Set again by the view drawn this frame, if it has bottom panels.
        ctx.data_mut(|d| d.remove::<f32>(toast_floor_id()));
        self.poll_opening(&ctx);
        self.poll_bulk(&ctx);
        self.poll_import(&ctx);
        self.poll_class_change(&ctx);
        self.poll_integrity(&ctx);
        self.poll_hub(&ctx);
        self.poll_review();
        self.update_title(&ctx);

        // Keys first: a decision is written and the next sample chosen before this frame
        // draws, so the keystroke's result is visible in this very frame.
        if let Overlay::Settings(view) = &mut self.overlay
            && let Some(req) = view.capture(&ctx)
        {
            self.apply_settings_request(req);
        }
        for a in self.keyboard_actions(&ctx) {
            self.apply(a);
        }

        let mut actions = Vec::new();
        let mut request = None;
        let mut finding = None;
        match &mut self.screen {
            Screen::Start(start) => request = start.show(ui, &self.persisted.recent),
            Screen::Busy(job) => busy_ui(ui, job),
            Screen::Project(p) => {
                history::show(p, ui);
                let Some(loader) = self.loader.as_mut() else {
                    return;
                };
                let keymap = &self.persisted.keymap;
                match &mut p.view {
                    View::Review(_) => actions = review_view::show(p, loader, keymap, ui),
                    View::Export(view) => {
                        let shown = export_view::show(view, keymap, self.ctx.clone(), ui);
                        actions = shown.actions;
                        finding = shown.show_in_grid;
                    }
                    View::Label | View::Grid => {
                        actions = labeling::show(p, loader, &self.persisted, ui)
                    }
                }
            }
        }
        if let Some(req) = request {
            self.start_request(req);
        }
        if let (Some(finding), Some(p)) = (finding, self.project_mut()) {
            p.show_finding_in_grid(finding);
        }
        self.show_overlay(&ctx);
        for a in actions {
            self.apply(a);
        }
        self.record_box_edits();
        self.show_toast(&ctx);

        // Keyboard focus must never rest on a button or a list (Enter / Space would press
        // it, and every shortcut would wait for it to let go): only text fields keep it.
        // The export view is a form, where Tab goes from field to field.
        if self.view_kind().is_some_and(|k| k != ViewKind::Export)
            && matches!(self.overlay, Overlay::None)
            && let Some(id) = ctx.memory(|m| m.focused())
            && egui::TextEdit::load_state(&ctx, id).is_none()
        {
            ctx.memory_mut(|m| m.surrender_focus(id));
        }
    }

    fn show_overlay(&mut self, ctx: &egui::Context) {
        let classes = self
            .session()
            .map(|s| s.classes.clone())
            .unwrap_or_default();
        let detect = self.session().is_some_and(|s| s.task().is_detect());
        let importing = self
            .project()
            .and_then(|p| p.import.as_ref())
            .map(|j| std::sync::Arc::clone(&j.progress));
        // A replica's samples and classes are changed on the hub, by an admin; its password
        // is asked for as the hub says. (Read only for the dialogs that show it.)
        let hub_state = matches!(self.overlay, Overlay::Project(_) | Overlay::HubPassword(_))
            .then(|| self.project())
            .flatten()
            .and_then(|p| p.hub.as_ref())
            .map(|h| h.state());
        let refused = project_dialog::Refused {
            import: hub_state.as_ref().and_then(|s| s.import_refusal()),
            classes: hub_state.as_ref().and_then(|s| s.class_refusal()),
        };
        match &mut self.overlay {
            Overlay::None => {}
            Overlay::HubPassword(prompt) => {
                let hub = hub_state.as_ref().map_or("", |h| h.name.as_str());
                let problem = hub_state.as_ref().and_then(|h| h.password.as_ref());
                match labeling::hub_password_prompt(ctx, prompt, problem, hub) {
                    Some(true) => {
                        let prompt = std::mem::take(prompt);
                        self.overlay = Overlay::None;
                        self.give_hub_password(&prompt.typed, prompt.save);
                    }
                    Some(false) => self.overlay = Overlay::None,
                    None => {}
                }
            }
            Overlay::CheatSheet => {
                if cheatsheet::show(ctx, &self.persisted.keymap, &classes, detect) {
                    self.overlay = Overlay::None;
                }
            }
            Overlay::Settings(view) => {
                let reqs = view.show(ctx, &self.persisted.keymap, &classes);
                for r in reqs {
                    self.apply_settings_request(r);
                }
            }
            Overlay::Project(dialog) => {
                let requests = dialog.show(ctx, &classes, importing.as_deref(), &refused);
                for r in requests {
                    self.apply_project_request(r);
                }
            }
            Overlay::Exclude(reason) => match labeling::exclude_prompt(ctx, reason) {
                Some(true) => {
                    let reason = reason.clone();
                    self.overlay = Overlay::None;
                    if let Some(p) = self.project_mut() {
                        match p.session.exclude(&reason) {
                            Ok(()) => p.image.reset(),
                            Err(e) => self.error(format!("{e:#}")),
                        }
                    }
                }
                Some(false) => self.overlay = Overlay::None,
                None => {}
            },
        }
    }

    /// Connects the open replica's sync with the password typed for its hub login (kept
    /// in this process's memory, and with `save` in the password file once the hub takes
    /// it).
    fn give_hub_password(&mut self, typed: &str, save: bool) {
        let Some(p) = self.project() else {
            return;
        };
        let Some(hub) = &p.hub else {
            return;
        };
        match crate::hub::link_of(&p.session.project) {
            Ok((_, url)) => {
                url.give_password(typed, save);
                hub.password_typed();
                self.info("Connecting to the team hub…".to_string());
            }
            Err(e) => self.error(format!("{e:#}")),
        }
    }

    /// Carries out what the project dialog asked for; its outcome is said in the dialog.
    fn apply_project_request(&mut self, req: project_dialog::Request) {
        use project_dialog::Request;
        let ctx = self.ctx.clone();
        let annotator = self.annotator.clone();
        // A class change on a replica is made on the hub first: while the hub is known to be
        // out of reach, said at once rather than after a connection attempt.
        let class_change = matches!(
            req,
            Request::AddClass(_) | Request::Rename { .. } | Request::Archive(_)
        );
        let offline = self
            .project()
            .and_then(|p| p.hub.as_ref())
            .is_some_and(|h| h.state().connected == Some(false));
        let busy = self.project().is_some_and(|p| p.class_change.is_some());
        if class_change && (offline || busy) {
            if let Overlay::Project(dialog) = &mut self.overlay {
                let why = if busy {
                    "The last change of the classes is still being made on the hub: wait for it"
                } else {
                    "The hub is out of reach: the classes of a hub project are changed on the \
                     hub, for everyone at once; try again when it is back"
                };
                dialog.message = Some((why.into(), false));
            }
            return;
        }
        let Some(p) = self.project_mut() else {
            return;
        };
        // On a replica the change is made on the hub, on a thread of its own with its own
        // connection to the replica; the outcome is taken in by `poll_class_change`.
        if class_change && p.hub.is_some() {
            let path = p.session.project.path().to_path_buf();
            p.class_change = Some(Job::spawn("Changing the classes", ctx, move |_| {
                let mut project = Project::open(&path).map_err(|e| format!("{e:#}"))?;
                class_change_on(&mut project, req)
            }));
            if let Overlay::Project(dialog) = &mut self.overlay {
                dialog.message = Some(("Changing the classes on the hub…".into(), true));
            }
            return;
        }
        let result: Result<String, String> = match req {
            Request::Close => {
                self.overlay = Overlay::None;
                return;
            }
            Request::Import {
                source,
                text_column,
                labels_from_folders,
            } => {
                let path = p.session.project.path().to_path_buf();
                let what = format!("Importing {}", source.display());
                p.import = Some(Job::spawn(what, ctx, move |progress| {
                    let options = crate::ingest::ImportOptions {
                        text_column,
                        labels_from_folders,
                        annotator,
                        ..Default::default()
                    };
                    let mut project = Project::open(&path).map_err(|e| format!("{e:#}"))?;
                    crate::ingest::import(&mut project, &[source], &options, progress)
                        .map_err(|e| format!("{e:#}"))
                }));
                return;
            }
            change => class_change_on(&mut p.session.project, change),
        };
        self.classes_changed(result);
    }

    /// Takes in a change of the classes (made here, or on the hub by `class_change`): the
    /// class bar, the keys and the grid follow, and the dialog says how it went.
    fn classes_changed(&mut self, result: Result<String, String>) {
        let Some(p) = self.project_mut() else {
            return;
        };
        let reloaded = p.session.reload_classes().map_err(|e| format!("{e:#}"));
        p.grid.invalidate();
        let outcome = result.and_then(|m| reloaded.map(|()| m));
        match &mut self.overlay {
            Overlay::Project(dialog) => {
                if outcome.is_ok() {
                    dialog.new_class.clear();
                    dialog.names.clear();
                }
                dialog.message = Some(match outcome {
                    Ok(m) => (m, true),
                    Err(e) => (e, false),
                });
            }
            // The dialog was closed meanwhile: said in a toast.
            _ => match outcome {
                Ok(m) => self.info(m),
                Err(e) => self.error(e),
            },
        }
    }

    /// Picks up a change of a replica's classes made on the hub when it is done.
    fn poll_class_change(&mut self, ctx: &egui::Context) {
        let Some(p) = self.project_mut() else {
            return;
        };
        let Some(job) = &p.class_change else {
            return;
        };
        let Some(result) = job.poll() else {
            ctx.request_repaint_after(Duration::from_millis(100));
            return;
        };
        p.class_change = None;
        self.classes_changed(result.and_then(|r| r));
    }

    /// Catches up with what the team hub's sync brought (counts, the sample on screen, the
    /// grid), and keeps the hub's state in the top bar fresh.
    fn poll_hub(&mut self, ctx: &egui::Context) {
        // A password typed to be saved, taken by the hub: saved, or why not.
        match crate::hub::password::take_save_outcome() {
            Some(Ok(file)) => self.info(format!("Hub password saved in {}", file.display())),
            Some(Err(why)) => self.error(why),
            None => {}
        }
        let Screen::Project(p) = &mut self.screen else {
            return;
        };
        let Some(hub) = &p.hub else {
            return;
        };
        ctx.request_repaint_after(Duration::from_millis(500));
        // The hub wants a password (or refused the one typed): asked for at once, unless
        // another dialog is open (the top bar offers it then).
        if hub.take_password_news() && matches!(self.overlay, Overlay::None) {
            self.overlay = Overlay::HubPassword(Default::default());
        }
        if hub.take_back() {
            p.grid.forget_failed();
            if let Some(loader) = &mut self.loader {
                loader.forget_failed();
            }
        }
        let labeling = matches!(p.view, View::Label);
        hub.set_claiming(labeling);
        let claimed = hub.state().claimed;
        let pulled = hub.take_pulled();
        let samples = hub.take_samples();
        // An admin changed the hub project's classes or settings: the class bar, the keys,
        // the grid's colours and blind labeling follow.
        let project_changed = hub.take_project_changed();
        let mut result = p.session.set_claimed(&claimed).and_then(|first| {
            // The window opened on a sample of the local queue before the hub answered:
            // when nothing has been done on it, the hub's first claim takes its place, so
            // that two annotators opening at once do not start on the same sample.
            let elsewhere = p
                .session
                .current_id()
                .is_some_and(|c| !claimed.contains(&c));
            let drawing = p.boxes.as_ref().is_some_and(|b| b.gesture().is_some());
            if first && labeling && elsewhere && !drawing && p.session.untouched() {
                p.session.go_to(claimed[0])?;
            }
            Ok(())
        });
        if project_changed && result.is_ok() {
            result = p.session.reload_project_rules();
        }
        // An admin added samples: the counts, the queue and the grid take them in.
        if samples > 0 && result.is_ok() {
            result = p.session.after_import();
            p.grid.invalidate();
        }
        // Once the hub's claims are in, the sample on screen is claimed too, whichever way
        // the annotator came to it (the grid, looking back): the hub hands it to nobody
        // else meanwhile.
        hub.set_showing(
            (labeling && p.session.claims_arrived())
                .then(|| p.session.current_id())
                .flatten(),
        );
        if (pulled == 0 && !project_changed) || result.is_err() {
            self.report(result.map(|()| None));
            return;
        }
        result = p.session.after_bulk_label(0);
        p.grid.invalidate();
        // Live review: the list and the figures take in the annotators' new decisions.
        if let View::Review(v) = &mut p.view
            && result.is_ok()
        {
            v.catch_up(&p.session.project);
        }
        self.report(result.map(|()| None));
    }

    /// Picks up the review view's list when its background read lands.
    fn poll_review(&mut self) {
        let Some(p) = self.project_mut() else {
            return;
        };
        let View::Review(v) = &mut p.view else {
            return;
        };
        let result = v.poll(&mut p.session);
        self.report(result.map(|()| None));
    }

    /// Picks up the background check of the project file: damage is said at once, and the
    /// top bar keeps saying it.
    fn poll_integrity(&mut self, ctx: &egui::Context) {
        let Some(p) = self.project_mut() else {
            return;
        };
        let Some(job) = &p.integrity else {
            return;
        };
        let Some(result) = job.poll() else {
            ctx.request_repaint_after(Duration::from_millis(200));
            return;
        };
        p.integrity = None;
        // A check that could not run (the file vanished, a lock) says nothing about damage.
        if let Ok(Ok(damage)) = result
            && !damage.is_empty()
        {
            p.damage = damage;
            let path = p.session.project.path().display().to_string();
            self.error(format!(
                "`{path}` is damaged: what is written to it may be lost. Stop labeling in it; \
                 `keylabel -p {path} recover NEW.keylabel` copies what can be read into a new \
                 file (see `keylabel check`)."
            ));
        }
    }

    /// Picks up an import into the open project when it is done.
    fn poll_import(&mut self, ctx: &egui::Context) {
        let Some(p) = self.project_mut() else {
            return;
        };
        let Some(job) = &p.import else {
            return;
        };
        let Some(result) = job.poll() else {
            ctx.request_repaint_after(Duration::from_millis(100));
            return;
        };
        p.import = None;
        let outcome = result.and_then(|r| r).and_then(|report| {
            p.session
                .after_import()
                .map(|()| report)
                .map_err(|e| format!("{e:#}"))
        });
        p.grid.invalidate();
        p.image.reset();
        let message = match outcome {
            Ok(report) => (import_note(&report), true),
            Err(e) => (format!("Import failed: {e}"), false),
        };
        match &mut self.overlay {
            Overlay::Project(dialog) => dialog.message = Some(message),
            _ if message.1 => self.info(message.0),
            _ => self.error(message.0),
        }
    }

    fn start_request(&mut self, req: start::Request) {
        match req {
            start::Request::Open(p) => self.open_project(&p),
            start::Request::Demo => self.open_demo(),
            start::Request::Create(spec) => self.create_project(spec),
        }
    }

    /// Shows a running bulk label's progress, and catches up when it is done.
    fn poll_bulk(&mut self, ctx: &egui::Context) {
        let Some(p) = self.project_mut() else {
            return;
        };
        let Some(bulk) = &p.bulk else {
            return;
        };
        let Some(result) = bulk.job.poll() else {
            let text = format!("Labeling “{}”: {}", bulk.class, bulk.job.progress.text());
            ctx.request_repaint_after(Duration::from_millis(100));
            self.info(text);
            return;
        };
        let name = bulk.class.clone();
        let reached = bulk.job.progress.text();
        p.bulk = None;
        let outcome = result.and_then(|r| r);
        // Also after a failure: the chunks written before it are in the file.
        let caught_up = p
            .session
            .after_bulk_label(*outcome.as_ref().unwrap_or(&0))
            .map_err(|e| format!("{e:#}"));
        p.grid.invalidate();
        match outcome.and_then(|n| caught_up.map(|()| n)) {
            Ok(n) => self.info(format!("Labeled {n} samples “{name}”")),
            Err(e) => self.error(format!("Bulk labeling stopped at {reached}: {e}")),
        }
    }

    /// Shows the project once it has opened in the background.
    fn poll_opening(&mut self, ctx: &egui::Context) {
        let Screen::Busy(job) = &self.screen else {
            return;
        };
        match job.poll() {
            None => ctx.request_repaint_after(Duration::from_millis(100)),
            Some(Ok(Ok(Opened { session, note }))) => {
                self.persisted.remember(session.project.path());
                self.save_settings();
                let clashes = self.persisted.keymap.clashes(&session.classes);
                if let Some(loader) = &self.loader {
                    loader.set_files(session.files.clone());
                }
                self.screen = Screen::Project(Box::new(ProjectScreen::new(session)));
                if let Some(note) = note {
                    self.info(note);
                }
                if !clashes.is_empty() {
                    self.error(format!(
                        "Key clash: {}. Class keys win; change them in Settings.",
                        clashes.join("; ")
                    ));
                }
            }
            Some(Ok(Err(e)) | Err(e)) => {
                self.screen = Screen::Start(Box::default());
                self.error(e);
            }
        }
    }

    fn update_title(&mut self, ctx: &egui::Context) {
        let title = match self.session() {
            Some(s) => window_title(&s.project.name()),
            None => window_title(""),
        };
        if title != self.title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.title = title;
        }
    }

    fn show_toast(&mut self, ctx: &egui::Context) {
        let Some(t) = &self.toast else { return };
        let age = t.at.elapsed();
        let ttl = if t.error {
            Duration::from_secs(8)
        } else {
            Duration::from_secs(3)
        };
        if age > ttl {
            self.toast = None;
            return;
        }
        ctx.request_repaint_after(ttl - age);
        let (text, color) = if t.error {
            (t.text.clone(), theme::ERROR)
        } else {
            (t.text.clone(), theme::TEXT)
        };
        // Low in the window, just above the view's bottom panels (the class bar, the review
        // decisions), so that it covers neither the sample nor a button.
        let screen = ctx.content_rect();
        let floor = ctx
            .data(|d| d.get_temp::<f32>(toast_floor_id()))
            .unwrap_or(screen.bottom() - 112.0);
        egui::Area::new(egui::Id::unique("toast"))
            .pivot(egui::Align2::CENTER_BOTTOM)
            .fixed_pos(egui::pos2(screen.center().x, floor - 8.0))
            .interactable(false)
            .show(ctx, |ui| {
                // Wide enough to read a long message in a few lines, never a narrow column.
                let width = (ctx.content_rect().width() - 80.0).clamp(240.0, 900.0);
                ui.set_max_width(width);
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    ui.set_max_width(width);
                    // An area sizes itself from its last frame: ask for the room the text
                    // needs at once (about 8.5 points a character at this size).
                    ui.set_min_width((text.chars().count() as f32 * 8.5).min(width));
                    ui.add(
                        egui::Label::new(egui::RichText::new(text).color(color).size(17.0)).wrap(),
                    );
                });
            });
    }
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        App::ui(self, ui);
    }

    fn clear_color(&self, _visuals: &egui::Visuals) -> [f32; 4] {
        theme::BACKGROUND.to_normalized_gamma_f32()
    }
}

impl ProjectScreen {
    /// Shows view `to`, or goes back to labeling when it is shown already. Leaving a view
    /// drops what it owns; a running export keeps its view open.
    fn toggle_view(
        &mut self,
        to: ViewKind,
        ctx: Option<egui::Context>,
    ) -> anyhow::Result<Option<String>> {
        if self.export_running() {
            return Ok(Some("An export is running; cancel it first".into()));
        }
        let to = if self.view.kind() == to {
            ViewKind::Label
        } else {
            to
        };
        // Toggled classes are a decision in the making: leaving the sample's view keeps it.
        let saved = self.session.save_unsaved()?;
        self.view = match to {
            ViewKind::Label | ViewKind::Draw => View::Label,
            ViewKind::Grid => {
                // Labels may have changed since the grid last read them.
                self.grid.invalidate();
                View::Grid
            }
            ViewKind::Review => {
                let view = review_view::ReviewView::open(&self.session.project, ctx);
                View::Review(Box::new(view))
            }
            ViewKind::Export => View::Export(Box::new(export_view::ExportView::new(
                &self.session.project,
                ctx,
            ))),
        };
        Ok((saved > 0).then(|| format!("Saved the {saved} toggled classes of the sample")))
    }

    /// Leaves the export view for the grid, filtered to the samples of one finding.
    fn show_finding_in_grid(&mut self, finding: (String, Vec<String>)) {
        self.grid.set_filter(grid::GridFilter {
            finding: Some(finding),
            ..Default::default()
        });
        self.grid.invalidate();
        self.view = View::Grid;
    }

    /// An action in the grid view: its own commands, opening a sample, or a class key that
    /// labels the selection.
    fn grid_apply(
        &mut self,
        action: Action,
        ctx: Option<egui::Context>,
    ) -> anyhow::Result<Option<String>> {
        match action {
            Action::Command(Command::Undo) => Ok((!self.session.undo()?).then(|| {
                self.grid.invalidate();
                "Nothing left to undo".to_string()
            })),
            Action::Command(cmd) => match self.grid.command(cmd) {
                Some(grid::GridAction::Open(id)) => self.open_sample(id),
                None => Ok(None),
            },
            Action::Open(id) => self.open_sample(id),
            Action::Class(id) => self.label_selection(id, ctx),
        }
    }

    /// Shows sample `id` in the labeling view.
    fn open_sample(&mut self, id: crate::project::SampleId) -> anyhow::Result<Option<String>> {
        self.session.move_to(id)?;
        self.view = View::Label;
        Ok(None)
    }

    /// Labels the grid's selection (or its focused sample) with class `id`: at once for a
    /// few, on a background thread in chunks for thousands.
    fn label_selection(
        &mut self,
        id: crate::project::ClassId,
        ctx: Option<egui::Context>,
    ) -> anyhow::Result<Option<String>> {
        if self.session.task().is_detect() {
            return Ok(Some(
                "In a detect project a class key chooses the class of new boxes: open an \
                 image to draw them"
                    .into(),
            ));
        }
        let mut targets = self.grid.selected();
        if targets.is_empty() {
            targets.extend(self.grid.focused());
        }
        if targets.is_empty() {
            return Ok(Some(
                "Select samples first: click, Shift/Ctrl+click, drag, or Ctrl+A".into(),
            ));
        }
        if self.bulk.is_some() {
            return Ok(Some(
                "Still labeling the previous selection; wait for it to finish".into(),
            ));
        }
        let name = self
            .session
            .class(id)
            .map(|c| c.name.clone())
            .unwrap_or_default();
        if targets.len() > BULK_IN_BACKGROUND {
            // Thousands of events take seconds: written on their own thread and
            // connection, in chunks, while the window goes on.
            let path = self.session.project.path().to_path_buf();
            let annotator = self.session.annotator.clone();
            let job = Job::spawn("Bulk labeling", ctx, move |p| {
                bulk_label(&path, &annotator, &targets, id, p).map_err(|e| format!("{e:#}"))
            });
            self.grid.clear_selection();
            self.bulk = Some(BulkLabel { job, class: name });
            return Ok(None);
        }
        let n = self.session.label_many(&targets, id)?;
        self.grid.clear_selection();
        self.grid.invalidate();
        Ok(Some(format!("Labeled {n} samples “{name}”")))
    }
}

/// What to tell the user when `cmd` does nothing in view `kind` (`None`: nothing to say,
/// e.g. Escape outside the grid).
fn refusal(kind: ViewKind, cmd: Command, keymap: &Keymap) -> Option<String> {
    if ViewKind::Label.takes(cmd) {
        let back = kind.toggle().map(|t| keymap.label(t)).unwrap_or_default();
        return Some(format!(
            "“{}” is for labeling; {back} goes back from {}",
            cmd.text(),
            kind.name()
        ));
    }
    if ViewKind::Review.takes(cmd) {
        let key = keymap.label(Command::Review);
        return Some(format!("Open the review view ({key}) to review samples"));
    }
    None
}

/// The actions this frame's key presses stand for in view `kind`. Every bound key is
/// removed from the input, also where the view has no use for it, so that no widget reacts
/// to it either (Tab, bound to "Next unlabeled", must not wander through the grid's
/// filters); unbound keys are left to egui.
pub fn key_actions(
    ctx: &egui::Context,
    keymap: &Keymap,
    classes: &[crate::project::Class],
    kind: ViewKind,
) -> Vec<Action> {
    take_keys(ctx, |sc| {
        keymap
            .action_for(sc, classes, kind)
            .ok_or_else(|| keymap.is_bound(sc, classes))
    })
}

/// Goes through this frame's key presses: `what(shortcut)` gives the action to take
/// (the press is removed from the input), or whether to remove it anyway.
fn take_keys(
    ctx: &egui::Context,
    mut what: impl FnMut(Shortcut) -> Result<Action, bool>,
) -> Vec<Action> {
    let mut actions = Vec::new();
    ctx.input_mut(|i| {
        i.events.retain(|e| {
            let egui::Event::Key {
                key,
                physical_key,
                pressed: true,
                modifiers,
                ..
            } = e
            else {
                return true;
            };
            // Shift+digit is a digit key whatever symbol the layout puts on it.
            let key = match physical_key {
                Some(p) if modifiers.shift && is_digit(*p) => p,
                _ => key,
            };
            match what(Shortcut::from_press(*key, *modifiers)) {
                Ok(a) => {
                    actions.push(a);
                    false
                }
                Err(remove) => !remove,
            }
        });
    });
    actions
}

/// Opens a project and reads what the first frame needs (runs on a background thread).
pub fn open_session(path: &Path, annotator: String) -> anyhow::Result<Session> {
    let project = Project::open(path)?;
    // On a replica of a team hub the annotator is the hub login.
    let annotator = crate::hub::replica_annotator(&project)?.unwrap_or(annotator);
    let counts = Counts::read(&project, &annotator)?;
    Session::new(project, annotator, counts)
}

fn toast_floor_id() -> egui::Id {
    egui::Id::unique("keylabel-toast-floor")
}

/// Notes, for this frame, that the view's bottom panels start where `ui`'s room now ends:
/// a toast is shown above them (see `App::show_toast`).
pub(crate) fn set_toast_floor(ui: &egui::Ui) {
    let y = ui.available_rect_before_wrap().bottom();
    ui.ctx().data_mut(|d| d.insert_temp(toast_floor_id(), y));
}

/// Makes the class change `req` asks for (see [`crate::hub::classes::change`]); what to
/// say about it.
fn class_change_on(project: &mut Project, req: project_dialog::Request) -> Result<String, String> {
    use project_dialog::Request;
    match req {
        Request::AddClass(name) => {
            let add = Change::Add {
                name,
                key: None,
                color: None,
            };
            crate::hub::classes::change(project, &add).map(|c| match c.key {
                Some(k) => format!("Added “{}” (key {k})", c.name),
                None => format!("Added “{}” (no free key: give it one in Settings)", c.name),
            })
        }
        Request::Rename { old, new } => {
            let rename = Change::Rename {
                old: old.clone(),
                new: new.clone(),
            };
            crate::hub::classes::change(project, &rename)
                .map(|_| format!("Renamed “{old}” to “{new}”"))
        }
        Request::Archive(name) => {
            let archive = Change::Archive { name: name.clone() };
            crate::hub::classes::change(project, &archive)
                .map(|_| format!("Archived “{name}”; its labels stay in the history"))
        }
        other => return Err(format!("not a change of the classes: {other:?}")),
    }
    .map_err(|e| format!("{e:#}"))
}

/// One line about an import for the user: counts, and the first unreadable files.
fn import_note(report: &crate::ingest::ImportReport) -> String {
    let mut note = if report.cancelled {
        format!(
            "Import cancelled after {}: importing the same files again adds the rest",
            crate::plural(report.added, "new sample", "new samples")
        )
    } else {
        format!(
            "Imported {}",
            crate::plural(report.added, "sample", "samples")
        )
    };
    if report.duplicates > 0 {
        note.push_str(&format!(", {} duplicates skipped", report.duplicates));
    }
    if report.skipped > 0 {
        note.push_str(&format!(
            ", {} hidden or not images skipped",
            report.skipped
        ));
    }
    if !report.unreadable.is_empty() {
        let first: Vec<String> = report
            .unreadable
            .iter()
            .take(3)
            .map(|u| format!("{}: {}", u.path, u.reason))
            .collect();
        note.push_str(&format!(
            "; {} unreadable ({})",
            report.unreadable.len(),
            first.join("; ")
        ));
    }
    note
}

fn busy_ui(ui: &mut egui::Ui, job: &Job<Result<Opened, String>>) {
    egui::CentralPanel::default_margins().show(ui, |ui| {
        ui.vertical_centered(|ui| {
            ui.add_space(ui.available_height() * 0.4);
            ui.label(egui::RichText::new(&job.what).size(18.0));
            ui.add_space(8.0);
            let bar = match job.progress.fraction() {
                Some(f) => egui::ProgressBar::new(f).text(job.progress.text()),
                None => egui::ProgressBar::new(0.0).animate(true),
            };
            ui.add(bar.desired_width(360.0));
            // An import is under way (it has a total): it stops between batches, and the
            // project opens with what was imported.
            if job.progress.fraction().is_some() {
                ui.add_space(8.0);
                if ui.button("Cancel import").clicked() {
                    job.progress.cancel();
                }
            }
        });
    });
}

fn is_digit(key: egui::Key) -> bool {
    use egui::Key::*;
    matches!(
        key,
        Num0 | Num1 | Num2 | Num3 | Num4 | Num5 | Num6 | Num7 | Num8 | Num9
    )
}
