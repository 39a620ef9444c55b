//! Every user action of the labeling window, in one place.
//!
//! Menus, buttons and keys *send* a [`Command`] (or an [`Action`], which adds the
//! project's class commands); [`crate::app::App`] applies them in one function. A command's
//! text, tooltip and default keys live here, so the cheat sheet, the settings view, the
//! toolbar and the keymap can never disagree.

use strum::{EnumIter, IntoEnumIterator, IntoStaticStr};

use super::keymap::Shortcut;
use super::screen::ViewKind;
use crate::project::ClassId;

/// A fixed command (class commands come from the project, see [`Action::Class`]).
///
/// The list is the enum itself (`Command::iter()`), so a new command cannot be left out of
/// the keymap, the cheat sheet or the saved settings; its text, tooltip and default keys
/// are exhaustive matches below, and each view's routing function (`takes`) is one too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, EnumIter, IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Command {
    /// Multi-label: commit the toggled classes and advance.
    Commit,
    Undo,
    Next,
    Previous,
    NextUnlabeled,
    Skip,
    Exclude,
    Flag,
    AcceptSuggestion,
    ToggleGrid,
    ZoomFit,
    ToggleInfo,
    CheatSheet,
    Settings,
    CloseProject,
    /// Open or close the review queue view.
    Review,
    /// Open or close the export view.
    Export,
    /// Show or hide the current sample's history panel.
    History,
    /// The project dialog: import samples, add, rename and archive classes.
    ManageProject,
    /// Review: send the sample back to the annotation queue.
    SendBack,
    /// Review: switch between the queue and the samples decided before.
    ReviewDecided,
    /// Review: accept the label of the first (second, …) annotator shown.
    #[strum(serialize = "accept_annotator_1")]
    AcceptAnnotator1,
    #[strum(serialize = "accept_annotator_2")]
    AcceptAnnotator2,
    #[strum(serialize = "accept_annotator_3")]
    AcceptAnnotator3,
    #[strum(serialize = "accept_annotator_4")]
    AcceptAnnotator4,
    /// Grid: move the focus one cell (or row); the `Extend` forms also extend the selection.
    GridLeft,
    GridRight,
    GridUp,
    GridDown,
    GridExtendLeft,
    GridExtendRight,
    GridExtendUp,
    GridExtendDown,
    /// Grid: show the focused sample in the labeling view.
    GridOpen,
    /// Grid: select every sample that matches the filters.
    SelectAll,
    /// Grid: clear the selection.
    ClearSelection,
    /// Record again what the last undo took back.
    Redo,
    /// Boxes: accept the selected suggestion, or go to the next image to decide (every
    /// change is saved as it is made).
    BoxesDone,
    /// Boxes: select the next / previous box (then the suggestions).
    BoxNext,
    BoxPrevious,
    /// Boxes: move the selected box one pixel (with nothing selected, left and right show
    /// the previous and next image).
    BoxLeft,
    BoxRight,
    BoxUp,
    BoxDown,
    /// Boxes: move the selected box ten pixels.
    BoxLeftFast,
    BoxRightFast,
    BoxUpFast,
    BoxDownFast,
    /// Boxes: move the selected box's edge nearest the pointer one pixel.
    EdgeLeft,
    EdgeRight,
    EdgeUp,
    EdgeDown,
    /// Boxes: delete the selected box (or put the selected suggestion away).
    BoxDelete,
    /// Boxes: clear the selection and a half-drawn box.
    BoxDeselect,
    /// Boxes: copy the previous image's boxes onto this one.
    CopyPreviousBoxes,
    /// Boxes: this image shows no objects (a decision of its own).
    NoObjects,
    /// Boxes: hide or show every box.
    ToggleBoxes,
    /// Type the password the team hub asks for (offered in the top bar when it does).
    HubPassword,
}

impl Command {
    /// The review accept commands, in annotator order.
    pub const ACCEPT: [Command; 4] = [
        Command::AcceptAnnotator1,
        Command::AcceptAnnotator2,
        Command::AcceptAnnotator3,
        Command::AcceptAnnotator4,
    ];

    /// The views that act on this command: the one routing table of the window (each
    /// view's [`ViewKind::takes`] reads it). Exhaustive, so a new command must say where
    /// it works.
    pub fn views(self) -> &'static [ViewKind] {
        use ViewKind::{Draw, Export, Grid, Label, Review};
        const EVERY_VIEW: &[ViewKind] = &[Label, Draw, Grid, Review, Export];
        match self {
            // Moving through samples and committing: the sample views of classification
            // (drawing boxes, the arrows and Enter have their own meaning).
            Command::Commit | Command::Next | Command::Previous | Command::NextUnlabeled => {
                &[Label, Review]
            }
            Command::Undo | Command::Redo => &[Label, Draw, Grid, Review],
            Command::Skip
            | Command::Exclude
            | Command::Flag
            | Command::AcceptSuggestion
            | Command::ZoomFit
            | Command::ToggleInfo => &[Label, Draw],
            Command::BoxesDone
            | Command::BoxNext
            | Command::BoxPrevious
            | Command::BoxLeft
            | Command::BoxRight
            | Command::BoxUp
            | Command::BoxDown
            | Command::BoxLeftFast
            | Command::BoxRightFast
            | Command::BoxUpFast
            | Command::BoxDownFast
            | Command::EdgeLeft
            | Command::EdgeRight
            | Command::EdgeUp
            | Command::EdgeDown
            | Command::CopyPreviousBoxes
            | Command::NoObjects => &[Draw],
            // Also the reviewer's, on a detect image's boxes.
            Command::BoxDelete | Command::BoxDeselect | Command::ToggleBoxes => &[Draw, Review],
            // Switching views, dialogs, leaving: everywhere.
            Command::ToggleGrid
            | Command::Review
            | Command::Export
            | Command::History
            | Command::ManageProject
            | Command::CheatSheet
            | Command::Settings
            | Command::CloseProject
            | Command::HubPassword => EVERY_VIEW,
            Command::SendBack
            | Command::ReviewDecided
            | Command::AcceptAnnotator1
            | Command::AcceptAnnotator2
            | Command::AcceptAnnotator3
            | Command::AcceptAnnotator4 => &[Review],
            Command::GridLeft
            | Command::GridRight
            | Command::GridUp
            | Command::GridDown
            | Command::GridExtendLeft
            | Command::GridExtendRight
            | Command::GridExtendUp
            | Command::GridExtendDown
            | Command::GridOpen
            | Command::SelectAll
            | Command::ClearSelection => &[Grid],
        }
    }

    /// Every command, in the order of the cheat sheet.
    pub fn all() -> impl Iterator<Item = Command> {
        Command::iter()
    }

    /// Stable identifier used in the settings file.
    pub fn id(self) -> &'static str {
        self.into()
    }

    pub fn from_id(id: &str) -> Option<Command> {
        Command::iter().find(|c| c.id() == id)
    }

    /// The text on the labeling view's toolbar: [`Command::text`], shortened where the
    /// toolbar's context says the rest.
    pub fn toolbar_text(self) -> &'static str {
        match self {
            Command::CloseProject => "Close",
            Command::NextUnlabeled => "Unlabeled",
            Command::CheatSheet => "Keys",
            Command::BoxesDone => "Done",
            Command::NoObjects => "No objects",
            Command::CopyPreviousBoxes => "Copy",
            other => other.text(),
        }
    }

    /// Short text for buttons and the cheat sheet.
    pub fn text(self) -> &'static str {
        match self {
            Command::Commit => "Commit",
            Command::Undo => "Undo",
            Command::Next => "Next",
            Command::Previous => "Previous",
            Command::NextUnlabeled => "Next unlabeled",
            Command::Skip => "Skip",
            Command::Exclude => "Exclude",
            Command::Flag => "Flag",
            Command::AcceptSuggestion => "Accept suggestion",
            Command::ToggleGrid => "Grid",
            Command::ZoomFit => "1:1 / Fit",
            Command::ToggleInfo => "Info",
            Command::CheatSheet => "Shortcuts",
            Command::Settings => "Settings",
            Command::CloseProject => "Close project",
            Command::Review => "Review",
            Command::Export => "Export",
            Command::History => "History",
            Command::ManageProject => "Project",
            Command::SendBack => "Send back",
            Command::ReviewDecided => "Queue / decided",
            Command::AcceptAnnotator1 => "Accept annotator 1",
            Command::AcceptAnnotator2 => "Accept annotator 2",
            Command::AcceptAnnotator3 => "Accept annotator 3",
            Command::AcceptAnnotator4 => "Accept annotator 4",
            Command::GridLeft => "Grid: focus left",
            Command::GridRight => "Grid: focus right",
            Command::GridUp => "Grid: focus up",
            Command::GridDown => "Grid: focus down",
            Command::GridExtendLeft => "Grid: extend left",
            Command::GridExtendRight => "Grid: extend right",
            Command::GridExtendUp => "Grid: extend up",
            Command::GridExtendDown => "Grid: extend down",
            Command::GridOpen => "Grid: open sample",
            Command::SelectAll => "Grid: select all",
            Command::ClearSelection => "Grid: clear selection",
            Command::Redo => "Redo",
            Command::BoxesDone => "Boxes: done, next image",
            Command::BoxNext => "Boxes: select next",
            Command::BoxPrevious => "Boxes: select previous",
            Command::BoxLeft => "Boxes: move left",
            Command::BoxRight => "Boxes: move right",
            Command::BoxUp => "Boxes: move up",
            Command::BoxDown => "Boxes: move down",
            Command::BoxLeftFast => "Boxes: move left 10 px",
            Command::BoxRightFast => "Boxes: move right 10 px",
            Command::BoxUpFast => "Boxes: move up 10 px",
            Command::BoxDownFast => "Boxes: move down 10 px",
            Command::EdgeLeft => "Boxes: edge left",
            Command::EdgeRight => "Boxes: edge right",
            Command::EdgeUp => "Boxes: edge up",
            Command::EdgeDown => "Boxes: edge down",
            Command::BoxDelete => "Boxes: delete",
            Command::BoxDeselect => "Boxes: deselect",
            Command::CopyPreviousBoxes => "Boxes: copy previous image's",
            Command::NoObjects => "Boxes: no objects",
            Command::ToggleBoxes => "Boxes: hide / show",
            Command::HubPassword => "Hub password",
        }
    }

    pub fn tooltip(self) -> &'static str {
        match self {
            Command::Commit => "Multi-label: save the toggled classes and go to the next sample",
            Command::Undo => "Undo your last decision and return to that sample (no limit)",
            Command::Next => "Show the next sample without deciding",
            Command::Previous => "Show the previous sample",
            Command::NextUnlabeled => "Jump to the next sample you have not decided on",
            Command::Skip => "Pass on this sample for now and go to the next",
            Command::Exclude => "Mark this sample as unusable, with a reason",
            Command::Flag => "Flag (or unflag) this sample for a reviewer",
            Command::AcceptSuggestion => "Label this sample with the model's suggestion",
            Command::ToggleGrid => "Switch between the single sample and the thumbnail grid",
            Command::ZoomFit => "Toggle between fit-to-window and 1:1 pixels",
            Command::ToggleInfo => "Show or hide the sample's size, format and path",
            Command::CheatSheet => "Show every keyboard shortcut",
            Command::Settings => "Change key bindings",
            Command::CloseProject => "Close the project and go back to the start screen",
            Command::Review => {
                "Review queue: disagreements, flagged samples, overridden suggestions"
            }
            Command::Export => "Validate the project and export the dataset",
            Command::History => "Show every event of the current sample",
            Command::ManageProject => "Import more samples; add, rename or archive classes",
            Command::SendBack => "Review: send the sample back to the annotators",
            Command::ReviewDecided => {
                "Review: switch between the queue and the samples already decided (to revisit \
                 a decision)"
            }
            Command::AcceptAnnotator1 => "Review: make the first annotator's label final",
            Command::AcceptAnnotator2 => "Review: make the second annotator's label final",
            Command::AcceptAnnotator3 => "Review: make the third annotator's label final",
            Command::AcceptAnnotator4 => "Review: make the fourth annotator's label final",
            Command::GridLeft | Command::GridRight | Command::GridUp | Command::GridDown => {
                "Grid: move the focus to the next cell or row"
            }
            Command::GridExtendLeft
            | Command::GridExtendRight
            | Command::GridExtendUp
            | Command::GridExtendDown => "Grid: move the focus and extend the selection to it",
            Command::GridOpen => "Grid: show the focused sample in the labeling view",
            Command::SelectAll => "Grid: select every sample that matches the filters",
            Command::ClearSelection => "Grid: clear the selection",
            Command::Redo => "Record again what the last undo took back",
            Command::BoxesDone => {
                "Accept the selected suggestion; with none selected, go to the next image to \
                 decide (every change is saved as it is made)"
            }
            Command::BoxNext | Command::BoxPrevious => {
                "Select the next or previous box, then the model's suggestions"
            }
            Command::BoxLeft | Command::BoxRight => {
                "Move the selected box one pixel; with no box selected, show the previous or \
                 next image"
            }
            Command::BoxUp | Command::BoxDown => "Move the selected box one pixel",
            Command::BoxLeftFast
            | Command::BoxRightFast
            | Command::BoxUpFast
            | Command::BoxDownFast => "Move the selected box ten pixels",
            Command::EdgeLeft | Command::EdgeRight | Command::EdgeUp | Command::EdgeDown => {
                "Move the selected box's edge nearest the pointer (else its right or bottom \
                 edge) one pixel"
            }
            Command::BoxDelete => "Delete the selected box, or put the selected suggestion away",
            Command::BoxDeselect => "Clear the selection and a half-drawn box",
            Command::CopyPreviousBoxes => {
                "Copy your boxes of the previous image onto this one (video frames, bursts)"
            }
            Command::NoObjects => {
                "This image shows no objects: remove its boxes, record that as the decision and \
                 go on to the next image"
            }
            Command::ToggleBoxes => "Hide or show every box, to see the image itself",
            Command::HubPassword => {
                "Type the password the team hub asks for (kept in memory until the window \
                 closes, or saved in ~/.pgpass when you tick that)"
            }
        }
    }

    /// Default keys. A unit test fails when two of these clash in a view that takes both.
    pub fn default_shortcuts(self) -> Vec<Shortcut> {
        use egui::Key;
        let k = Shortcut::key;
        match self {
            Command::Commit => vec![k(Key::Enter)],
            Command::Undo => vec![Shortcut::ctrl(Key::Z), k(Key::Backspace)],
            Command::Next => vec![k(Key::ArrowRight)],
            Command::Previous => vec![k(Key::ArrowLeft)],
            Command::NextUnlabeled => vec![k(Key::N), k(Key::Tab)],
            Command::Skip => vec![k(Key::S)],
            Command::Exclude => vec![k(Key::X)],
            Command::Flag => vec![k(Key::F)],
            Command::AcceptSuggestion => vec![k(Key::A)],
            Command::ToggleGrid => vec![k(Key::G)],
            Command::ZoomFit => vec![k(Key::Z)],
            Command::ToggleInfo => vec![k(Key::I)],
            Command::CheatSheet => vec![k(Key::Questionmark), k(Key::F1)],
            Command::Settings => vec![Shortcut::ctrl(Key::Comma)],
            Command::CloseProject => vec![Shortcut::ctrl(Key::W)],
            Command::Review => vec![k(Key::R)],
            Command::Export => vec![k(Key::E)],
            Command::History => vec![k(Key::H)],
            Command::ManageProject => vec![k(Key::P)],
            Command::SendBack => vec![k(Key::B)],
            Command::ReviewDecided => vec![k(Key::D)],
            Command::AcceptAnnotator1 => vec![Shortcut::shift(Key::Num1)],
            Command::AcceptAnnotator2 => vec![Shortcut::shift(Key::Num2)],
            Command::AcceptAnnotator3 => vec![Shortcut::shift(Key::Num3)],
            Command::AcceptAnnotator4 => vec![Shortcut::shift(Key::Num4)],
            Command::GridLeft => vec![k(Key::ArrowLeft)],
            Command::GridRight => vec![k(Key::ArrowRight)],
            Command::GridUp => vec![k(Key::ArrowUp)],
            Command::GridDown => vec![k(Key::ArrowDown)],
            Command::GridExtendLeft => vec![Shortcut::shift(Key::ArrowLeft)],
            Command::GridExtendRight => vec![Shortcut::shift(Key::ArrowRight)],
            Command::GridExtendUp => vec![Shortcut::shift(Key::ArrowUp)],
            Command::GridExtendDown => vec![Shortcut::shift(Key::ArrowDown)],
            Command::GridOpen => vec![k(Key::Enter)],
            Command::SelectAll => vec![Shortcut::ctrl(Key::A)],
            Command::ClearSelection => vec![k(Key::Escape)],
            Command::Redo => vec![
                Shortcut {
                    shift: true,
                    ..Shortcut::ctrl(Key::Z)
                },
                Shortcut::ctrl(Key::Y),
            ],
            Command::BoxesDone => vec![k(Key::Enter), k(Key::N)],
            Command::BoxNext => vec![k(Key::Tab)],
            Command::BoxPrevious => vec![Shortcut::shift(Key::Tab)],
            Command::BoxLeft => vec![k(Key::ArrowLeft)],
            Command::BoxRight => vec![k(Key::ArrowRight)],
            Command::BoxUp => vec![k(Key::ArrowUp)],
            Command::BoxDown => vec![k(Key::ArrowDown)],
            Command::BoxLeftFast => vec![Shortcut::shift(Key::ArrowLeft)],
            Command::BoxRightFast => vec![Shortcut::shift(Key::ArrowRight)],
            Command::BoxUpFast => vec![Shortcut::shift(Key::ArrowUp)],
            Command::BoxDownFast => vec![Shortcut::shift(Key::ArrowDown)],
            Command::EdgeLeft => vec![Shortcut::alt(Key::ArrowLeft)],
            Command::EdgeRight => vec![Shortcut::alt(Key::ArrowRight)],
            Command::EdgeUp => vec![Shortcut::alt(Key::ArrowUp)],
            Command::EdgeDown => vec![Shortcut::alt(Key::ArrowDown)],
            Command::BoxDelete => vec![k(Key::Delete)],
            Command::BoxDeselect => vec![k(Key::Escape)],
            Command::CopyPreviousBoxes => vec![k(Key::C)],
            Command::NoObjects => vec![k(Key::O)],
            Command::ToggleBoxes => vec![k(Key::V)],
            // Also offered in the top bar when the hub asks ("L" for login).
            Command::HubPassword => vec![Shortcut::ctrl(Key::L)],
        }
    }
}

/// Anything a key or a button can ask for: a fixed command or a class of the project.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Command(Command),
    /// Assign (single-label) or toggle (multi-label) a class; in the grid, label every
    /// selected sample with it.
    Class(ClassId),
    /// Show this sample in the labeling view (from the grid).
    Open(crate::project::SampleId),
}

impl From<Command> for Action {
    fn from(c: Command) -> Action {
        Action::Command(c)
    }
}
