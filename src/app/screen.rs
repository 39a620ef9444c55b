//! What fills the window, as one value: the start screen, a project being opened, or an
//! open project showing exactly one view.
//!
//! Everything that lives as long as a project (its session, the grid's filters and
//! selection, the history panel, a background bulk label) belongs to [`ProjectScreen`], so
//! closing the project drops it all at once: a job can never outlive its project and
//! touch the next one.

use strum::EnumIter;

use super::box_editor::BoxEditor;
use super::commands::Command;
use super::jobs::Job;
use super::session::Session;
use super::{export_view, grid, history, labeling, review_view, start};

/// Which screen fills the window.
pub enum Screen {
    Start(Box<start::StartScreen>),
    /// A project is being opened or created in the background.
    Busy(Job<Result<Opened, String>>),
    Project(Box<ProjectScreen>),
}

/// A project opened in the background, with a note for the user (e.g. an import summary).
pub struct Opened {
    pub session: Session,
    pub note: Option<String>,
}

/// An open project.
pub struct ProjectScreen {
    pub session: Session,
    /// The one view shown, with what only it owns.
    pub view: View,
    /// The thumbnail grid keeps its filters, selection and scroll position while other
    /// views are shown.
    pub grid: grid::GridView,
    /// Zoom and pan of the labeling view's image.
    pub image: labeling::ViewState,
    /// The history panel beside any view, when open.
    pub history: Option<history::HistoryPanel>,
    /// A large grid selection being labeled on a background thread. Dropped (and so
    /// cancelled between chunks) with the project.
    pub bulk: Option<BulkLabel>,
    /// Samples being imported into the project on a background thread.
    pub import: Option<Job<Result<crate::ingest::ImportReport, String>>>,
    /// SQLite's quick check of the project file, run in the background when it opens; what
    /// it finds is [`ProjectScreen::damage`].
    pub integrity: Option<Job<Result<Vec<String>, String>>>,
    /// What the check found wrong with the file (empty: sound, or not checked yet).
    pub damage: Vec<String>,
    /// The box editor of a detect project (`None` in a classification project): its
    /// labeling view is the drawing view.
    pub boxes: Option<BoxEditor>,
    /// A replica of a team hub: its background sync (`None`: not linked).
    pub hub: Option<super::hub_sync::HubSync>,
    /// A change of a replica's classes being made on the hub, on a background thread
    /// (the window never waits for the hub): what to say when it is done.
    pub class_change: Option<Job<Result<String, String>>>,
}

/// A bulk label running on its own thread and connection.
pub struct BulkLabel {
    /// Samples labeled when it finishes.
    pub job: Job<Result<usize, String>>,
    /// The class's name, for the messages.
    pub class: String,
}

/// The view of an open project.
pub enum View {
    /// One sample at a time.
    Label,
    /// Every sample as a thumbnail.
    Grid,
    Review(Box<review_view::ReviewView>),
    Export(Box<export_view::ExportView>),
}

/// The views, without what they own: what key routing and clash checks work on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter)]
pub enum ViewKind {
    Label,
    /// The labeling view of a detect project: boxes are drawn on the image.
    Draw,
    Grid,
    Review,
    Export,
}

impl View {
    pub fn kind(&self) -> ViewKind {
        match self {
            View::Label => ViewKind::Label,
            View::Grid => ViewKind::Grid,
            View::Review(_) => ViewKind::Review,
            View::Export(_) => ViewKind::Export,
        }
    }
}

impl ViewKind {
    /// Whether this view acts on `cmd` (see [`Command::views`]).
    pub fn takes(self, cmd: Command) -> bool {
        cmd.views().contains(&self)
    }

    /// Whether a class key means something here (label, label the selection, set the
    /// reviewed label).
    pub fn takes_classes(self) -> bool {
        match self {
            ViewKind::Label | ViewKind::Draw | ViewKind::Grid | ViewKind::Review => true,
            ViewKind::Export => false,
        }
    }

    /// The command that opens (and closes) this view from the labeling view.
    pub fn toggle(self) -> Option<Command> {
        match self {
            ViewKind::Label | ViewKind::Draw => None,
            ViewKind::Grid => Some(Command::ToggleGrid),
            ViewKind::Review => Some(Command::Review),
            ViewKind::Export => Some(Command::Export),
        }
    }

    /// How the view is named in messages.
    pub fn name(self) -> &'static str {
        match self {
            ViewKind::Label => "the labeling view",
            ViewKind::Draw => "the drawing view",
            ViewKind::Grid => "the grid",
            ViewKind::Review => "the review view",
            ViewKind::Export => "the export view",
        }
    }
}

impl ProjectScreen {
    /// A project just opened: the labeling view on its first sample.
    pub fn new(session: Session) -> ProjectScreen {
        let mut grid = grid::GridView::new(session.project.path());
        grid.set_own_view(session.blind.then(|| session.annotator.clone()));
        let path = session.project.path().to_path_buf();
        let boxes = session
            .task()
            .is_detect()
            .then(|| BoxEditor::new(session.classes.first().map(|c| c.id)));
        let hub = session
            .project
            .hub_link()
            .ok()
            .flatten()
            .map(|link| super::hub_sync::HubSync::start(&path, link.name, None));
        // On its own read-only connection: labeling goes on while the pages are read.
        let integrity = Job::spawn("Checking the project file", None, move |_| {
            crate::Project::open_read_only(&path)
                .and_then(|p| p.damage(true))
                .map_err(|e| format!("{e:#}"))
        });
        ProjectScreen {
            session,
            view: View::Label,
            grid,
            image: labeling::ViewState::default(),
            history: None,
            bulk: None,
            import: None,
            integrity: Some(integrity),
            damage: Vec::new(),
            boxes,
            hub,
            class_change: None,
        }
    }

    /// The view shown, as key routing sees it: the labeling view of a detect project is the
    /// drawing view.
    pub fn view_kind(&self) -> ViewKind {
        match (&self.view, &self.boxes) {
            (View::Label, Some(_)) => ViewKind::Draw,
            (view, _) => view.kind(),
        }
    }

    /// The export view, when it is the one shown.
    pub fn export(&self) -> Option<&export_view::ExportView> {
        match &self.view {
            View::Export(v) => Some(v),
            _ => None,
        }
    }

    pub fn export_mut(&mut self) -> Option<&mut export_view::ExportView> {
        match &mut self.view {
            View::Export(v) => Some(v),
            _ => None,
        }
    }

    /// The review view, when it is the one shown.
    pub fn review(&self) -> Option<&review_view::ReviewView> {
        match &self.view {
            View::Review(v) => Some(v),
            _ => None,
        }
    }

    pub fn review_mut(&mut self) -> Option<&mut review_view::ReviewView> {
        match &mut self.view {
            View::Review(v) => Some(v),
            _ => None,
        }
    }

    /// Whether something runs that closing the project or leaving the view would lose.
    pub fn export_running(&self) -> bool {
        self.export().is_some_and(|e| e.is_running())
    }
}
