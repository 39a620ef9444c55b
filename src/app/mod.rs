//! The labeling window (eframe/egui). A thin front end: every action goes through the core
//! library.
//!
//! Structure (after rerun's viewer): every user action is a [`commands::Command`] (or a
//! class of the project); keys, buttons and menus only *send* [`commands::Action`]s, and
//! [`App::apply`] is the one place that carries them out. State saved between runs
//! ([`state::Persisted`]) is kept apart from runtime state; background work
//! ([`jobs::Job`]) is polled each frame, never waited for.

pub mod cheatsheet;
pub mod commands;
pub mod export_view;
pub mod grid;
pub mod history;
pub mod jobs;
pub mod keymap;
pub mod labeling;
pub mod loader;
pub mod review_view;
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
use keymap::Shortcut;
use session::{Counts, Session};
use state::Persisted;

use crate::Project;

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
    .map_err(|e| anyhow::anyhow!("could not open the window: {e}"))
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

/// Which screen fills the window.
pub enum Screen {
    Start(start::StartScreen),
    /// A project is being opened or created in the background.
    Busy(Job<Result<Opened, String>>),
    Labeling(Box<Session>),
}

/// A project opened in the background, with a note for the user (e.g. an import summary).
pub struct Opened {
    pub session: Session,
    pub note: Option<String>,
}

/// A dialog over the current screen.
pub enum Overlay {
    None,
    CheatSheet,
    Settings(settings_view::SettingsView),
    /// Exclude prompt, with the reason typed so far.
    Exclude(String),
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
    pub view: labeling::ViewState,
    pub grid_mode: bool,
    /// The thumbnail grid of the open project (made when the project opens).
    pub grid: Option<grid::GridView>,
    pub toast: Option<Toast>,
    /// The review view, when open (instead of the labeling view).
    pub review: Option<review_view::ReviewView>,
    /// The export view, when open (instead of the labeling view).
    pub export: Option<export_view::ExportView>,
    /// The history panel, when open.
    pub history: Option<history::HistoryPanel>,
    /// A large bulk label being written on a background thread: the job (samples labeled)
    /// and the class name.
    pub bulk: Option<(jobs::Job<Result<usize, String>>, String)>,
    ctx: Option<egui::Context>,
    themed: bool,
    title: String,
}

/// The grid of a session's project, showing what the annotator may see.
pub(crate) fn grid_for(session: &session::Session) -> grid::GridView {
    let mut grid = grid::GridView::new(session.project.path());
    grid.set_own_view(session.blind.then(|| session.annotator.clone()));
    grid
}

/// Selections larger than this are labeled on a background thread.
pub const BULK_IN_BACKGROUND: usize = 2_000;

/// Labels `ids` with `class` for `annotator`, in transactions of a few thousand events
/// (so that the window's own single-label commits are never held up for long), reporting
/// progress. Each chunk is complete or absent: a failure leaves whole chunks only.
fn bulk_label(
    path: &std::path::Path,
    annotator: &str,
    ids: &[crate::project::SampleId],
    class: crate::project::ClassId,
    progress: &jobs::Progress,
) -> anyhow::Result<usize> {
    const CHUNK: usize = 2_000;
    let mut project = Project::open(path)?;
    let total = ids.len() as u64;
    let mut done = 0u64;
    progress.set(0, total);
    for chunk in ids.chunks(CHUNK) {
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
            screen: Screen::Start(start::StartScreen::default()),
            overlay: Overlay::None,
            loader: None,
            view: labeling::ViewState::default(),
            grid_mode: false,
            grid: None,
            toast: None,
            review: None,
            export: None,
            history: None,
            bulk: None,
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
                let report =
                    crate::ingest::import(&mut project, &spec.sources, &options, &|done, total| {
                        progress.set(done, total)
                    })
                    .map_err(|e| format!("the project was created, but import failed: {e:#}"))?;
                Some(import_note(&report))
            };
            drop(project);
            open_session(&spec.file, annotator)
                .map(|session| Opened { session, note })
                .map_err(|e| format!("{e:#}"))
        }));
    }

    pub fn session(&self) -> Option<&Session> {
        match &self.screen {
            Screen::Labeling(s) => Some(s),
            _ => None,
        }
    }

    pub fn session_mut(&mut self) -> Option<&mut Session> {
        match &mut self.screen {
            Screen::Labeling(s) => Some(s),
            _ => None,
        }
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
        if let Err(e) = self.try_apply(action) {
            self.error(format!("{e:#}"));
        }
        if let Some(h) = self.history.as_mut() {
            h.stale = true;
        }
    }

    fn try_apply(&mut self, action: Action) -> anyhow::Result<()> {
        if self.review.is_some() && review_view::apply(self, action)? {
            return Ok(());
        }
        if self.export.is_some() && !export_view::passes(action) {
            self.info(format!(
                "Press {} to go back to labeling",
                self.persisted.keymap.label(Command::Export)
            ));
            return Ok(());
        }
        let failed_image = self.current_image_error();
        let Screen::Labeling(session) = &mut self.screen else {
            return Ok(());
        };
        let before = session.current_id();
        match action {
            Action::Class(id) if self.grid_mode => {
                let Some(grid) = self.grid.as_mut() else {
                    return Ok(());
                };
                let mut targets = grid.selected();
                if targets.is_empty() {
                    targets.extend(grid.focused());
                }
                if targets.is_empty() {
                    self.info("Select samples first: click, Shift/Ctrl+click, drag, or Ctrl+A");
                } else if self.bulk.is_some() {
                    self.info("Still labeling the previous selection; wait for it to finish");
                } else if targets.len() > BULK_IN_BACKGROUND {
                    // Thousands of events take seconds: written on their own thread and
                    // connection, in chunks, while the window goes on.
                    let name = session
                        .class(id)
                        .map(|c| c.name.clone())
                        .unwrap_or_default();
                    let path = session.project.path().to_path_buf();
                    let annotator = session.annotator.clone();
                    let job = jobs::Job::spawn("Bulk labeling", self.ctx.clone(), move |p| {
                        bulk_label(&path, &annotator, &targets, id, p).map_err(|e| format!("{e:#}"))
                    });
                    grid.clear_selection();
                    self.bulk = Some((job, name));
                } else {
                    let name = session
                        .class(id)
                        .map(|c| c.name.clone())
                        .unwrap_or_default();
                    let n = session.label_many(&targets, id)?;
                    grid.clear_selection();
                    grid.invalidate();
                    self.info(format!("Labeled {n} samples “{name}”"));
                }
            }
            Action::Class(id) => session.class_key(id)?,
            Action::Open(id) => {
                session.go_to(id)?;
                self.grid_mode = false;
            }
            Action::Command(cmd) => match cmd {
                Command::Commit => {
                    if session.task() == crate::TaskKind::MultiLabel {
                        if !session.commit()? {
                            self.info("Toggle at least one class first (or press S to skip)");
                        }
                    } else {
                        self.info("Single-label: press a class key to label and advance");
                    }
                }
                Command::Undo => {
                    if !session.undo()? {
                        self.info("Nothing left to undo");
                    }
                }
                Command::Next => session.go_next()?,
                Command::Previous => session.go_previous()?,
                Command::NextUnlabeled => session.next_unlabeled()?,
                Command::Skip => session.skip()?,
                Command::Exclude => {
                    let reason = failed_image.map(|_| "unreadable".to_string());
                    self.overlay = Overlay::Exclude(reason.unwrap_or_default());
                }
                Command::Flag => {
                    let on = session.toggle_flag()?;
                    self.info(if on {
                        "Flagged for review"
                    } else {
                        "Flag removed"
                    });
                }
                Command::AcceptSuggestion => {
                    if !session.accept_suggestion()? {
                        self.info("This sample has no model suggestion");
                    }
                }
                Command::ToggleGrid => {
                    self.grid_mode = !self.grid_mode;
                    if self.grid_mode
                        && let Some(g) = self.grid.as_mut()
                    {
                        // Labels may have changed since the grid last read them.
                        g.invalidate();
                    }
                }
                Command::ZoomFit => self.view.toggle_zoom(),
                Command::ToggleInfo => {
                    self.persisted.show_info = !self.persisted.show_info;
                    self.save_settings();
                }
                Command::CheatSheet => {
                    self.overlay = match self.overlay {
                        Overlay::CheatSheet => Overlay::None,
                        _ => Overlay::CheatSheet,
                    }
                }
                Command::Settings => {
                    self.overlay = Overlay::Settings(settings_view::SettingsView::default())
                }
                Command::Review => review_view::toggle(self)?,
                Command::Export => export_view::toggle(self),
                Command::History => history::toggle(self),
                Command::SendBack
                | Command::AcceptAnnotator1
                | Command::AcceptAnnotator2
                | Command::AcceptAnnotator3
                | Command::AcceptAnnotator4 => {
                    let key = self.persisted.keymap.label(Command::Review);
                    self.info(format!("Open the review view ({key}) to review samples"));
                }
                Command::CloseProject => {
                    if self.export.as_ref().is_some_and(|e| e.is_running()) {
                        self.info("An export is running; cancel it first");
                        return Ok(());
                    }
                    self.review = None;
                    self.export = None;
                    self.history = None;
                    self.screen = Screen::Start(start::StartScreen::default());
                    self.overlay = Overlay::None;
                    self.grid_mode = false;
                }
            },
        }
        if let Screen::Labeling(session) = &self.screen
            && session.current_id() != before
        {
            self.view.reset();
        }
        Ok(())
    }

    /// The decode error of the current image, if it could not be shown.
    fn current_image_error(&mut self) -> Option<String> {
        let Screen::Labeling(session) = &self.screen else {
            return None;
        };
        let key = labeling::image_key(session, &self.view)?;
        match self.loader.as_mut()?.get(&key) {
            loader::ImageState::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the current sample's image is decoded and on the GPU (tests, benchmarks).
    pub fn current_image_ready(&mut self) -> bool {
        let Screen::Labeling(session) = &self.screen else {
            return false;
        };
        let Some(key) = labeling::image_key(session, &self.view) else {
            return true; // a text sample is always ready
        };
        matches!(
            self.loader.as_mut().map(|l| l.get(&key)),
            Some(loader::ImageState::Ready { .. } | loader::ImageState::Failed(_))
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
        let Screen::Labeling(session) = &self.screen else {
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
        let classes = &session.classes;
        let cheat_sheet_open = matches!(self.overlay, Overlay::CheatSheet);
        // In the grid, arrows, Enter and Escape move the focus and open samples.
        let grid_keys = |a: &Action| {
            matches!(
                a,
                Action::Command(Command::Next | Command::Previous | Command::Commit)
            )
        };
        let grid_mode = self.grid_mode;
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
                let sc = Shortcut::from_press(*key, *modifiers);
                match keymap.action_for(sc, classes) {
                    Some(a) if grid_mode && grid_keys(&a) => true,
                    // With the cheat sheet open, only its own key (and Esc) act.
                    Some(a @ Action::Command(Command::CheatSheet)) => {
                        actions.push(a);
                        false
                    }
                    Some(a) if !cheat_sheet_open => {
                        actions.push(a);
                        false
                    }
                    _ => true,
                }
            });
        });
        actions
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
        self.poll_jobs(&ctx);
        self.poll_bulk(&ctx);
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
        match &mut self.screen {
            Screen::Start(start) => {
                if let Some(req) = start.show(ui, &self.persisted.recent) {
                    self.start_request(req);
                }
            }
            Screen::Busy(job) => busy_ui(ui, job),
            Screen::Labeling(_) => {
                history::show(self, ui);
                actions = if self.review.is_some() {
                    review_view::show(self, ui)
                } else if self.export.is_some() {
                    export_view::show(self, ui)
                } else {
                    labeling::show(self, ui)
                };
            }
        }
        self.show_overlay(&ctx);
        for a in actions {
            self.apply(a);
        }
        self.show_toast(&ctx);

        // Keyboard focus must never rest on a button: Enter / Space would press it.
        if matches!(self.screen, Screen::Labeling(_))
            && !self.grid_mode
            && matches!(self.overlay, Overlay::None)
            && self.export.is_none()
            && let Some(id) = ctx.memory(|m| m.focused())
        {
            ctx.memory_mut(|m| m.surrender_focus(id));
        }
    }

    fn show_overlay(&mut self, ctx: &egui::Context) {
        let classes = self
            .session()
            .map(|s| s.classes.clone())
            .unwrap_or_default();
        match &mut self.overlay {
            Overlay::None => {}
            Overlay::CheatSheet => {
                if cheatsheet::show(ctx, &self.persisted.keymap, &classes) {
                    self.overlay = Overlay::None;
                }
            }
            Overlay::Settings(view) => {
                let reqs = view.show(ctx, &self.persisted.keymap, &classes);
                for r in reqs {
                    self.apply_settings_request(r);
                }
            }
            Overlay::Exclude(reason) => match labeling::exclude_prompt(ctx, reason) {
                Some(true) => {
                    let reason = reason.clone();
                    self.overlay = Overlay::None;
                    if let Some(s) = self.session_mut() {
                        let r = s.exclude(&reason);
                        if let Err(e) = r {
                            self.error(format!("{e:#}"));
                        } else {
                            self.view.reset();
                        }
                    }
                }
                Some(false) => self.overlay = Overlay::None,
                None => {}
            },
        }
    }

    fn start_request(&mut self, req: start::Request) {
        match req {
            start::Request::Open(p) => self.open_project(&p),
            start::Request::OpenDialog => {
                if let Some(p) = rfd::FileDialog::new()
                    .add_filter("keylabel project", &["keylabel", "db", "sqlite"])
                    .pick_file()
                {
                    self.open_project(&p);
                }
            }
            start::Request::Demo => self.open_demo(),
            start::Request::Create(spec) => self.create_project(spec),
        }
    }

    /// Shows a running bulk label's progress, and catches up when it is done.
    fn poll_bulk(&mut self, ctx: &egui::Context) {
        let Some((job, name)) = &self.bulk else {
            return;
        };
        let Some(result) = job.poll() else {
            let text = format!("Labeling “{name}”: {}", job.progress.text());
            self.info(text);
            ctx.request_repaint_after(Duration::from_millis(100));
            return;
        };
        let name = name.clone();
        let reached = job.progress.text();
        self.bulk = None;
        let outcome = result.and_then(|r| r);
        // Also after a failure: the chunks written before it are in the file.
        let caught_up = match &mut self.screen {
            Screen::Labeling(session) => session
                .after_bulk_label(*outcome.as_ref().unwrap_or(&0))
                .map_err(|e| format!("{e:#}")),
            _ => Ok(()),
        };
        if let Some(g) = self.grid.as_mut() {
            g.invalidate();
        }
        match outcome.and_then(|n| caught_up.map(|()| n)) {
            Ok(n) => self.info(format!("Labeled {n} samples “{name}”")),
            Err(e) => self.error(format!("Bulk labeling stopped at {reached}: {e}")),
        }
    }

    fn poll_jobs(&mut self, ctx: &egui::Context) {
        let Screen::Busy(job) = &self.screen else {
            return;
        };
        match job.poll() {
            None => ctx.request_repaint_after(Duration::from_millis(100)),
            Some(Ok(Ok(Opened { session, note }))) => {
                self.persisted.remember(session.project.path());
                self.save_settings();
                self.grid = Some(grid_for(&session));
                self.grid_mode = false;
                self.screen = Screen::Labeling(Box::new(session));
                self.view.reset();
                if let Some(note) = note {
                    self.info(note);
                }
                let clashes = self
                    .session()
                    .map(|s| self.persisted.keymap.clashes(&s.classes))
                    .unwrap_or_default();
                if !clashes.is_empty() {
                    self.error(format!(
                        "Key clash: {}. Class keys win; change them in Settings.",
                        clashes.join("; ")
                    ));
                }
            }
            Some(Ok(Err(e)) | Err(e)) => {
                self.screen = Screen::Start(start::StartScreen::default());
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
        egui::Area::new(egui::Id::unique("toast"))
            .anchor(egui::Align2::CENTER_TOP, [0.0, 96.0])
            .interactable(false)
            .show(ctx, |ui| {
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    ui.label(egui::RichText::new(text).color(color).size(17.0));
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

/// Opens a project and reads what the first frame needs (runs on a background thread).
pub fn open_session(path: &Path, annotator: String) -> anyhow::Result<Session> {
    let project = Project::open(path)?;
    let counts = Counts::read(&project, &annotator)?;
    Session::new(project, annotator, counts)
}

/// One line about an import for the user: counts, and the first unreadable files.
fn import_note(report: &crate::ingest::ImportReport) -> String {
    let mut note = format!("Imported {} samples", report.added);
    if report.duplicates > 0 {
        note.push_str(&format!(", {} duplicates skipped", report.duplicates));
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
