//! Every user action of the labeling window, in one place.
//!
//! Menus, buttons and keys *send* a [`Command`] (or an [`Action`], which adds the
//! project's class commands); [`crate::app::App`] applies them in one function. A command's
//! text, tooltip and default keys live here, so the cheat sheet, the settings view, the
//! toolbar and the keymap can never disagree.

use serde::{Deserialize, Serialize};

use super::keymap::Shortcut;
use crate::project::ClassId;

/// A fixed command (class commands come from the project, see [`Action::Class`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// Review: send the sample back to the annotation queue.
    SendBack,
    /// Review: accept the label of the first (second, …) annotator shown.
    AcceptAnnotator1,
    AcceptAnnotator2,
    AcceptAnnotator3,
    AcceptAnnotator4,
}

impl Command {
    /// The review accept commands, in annotator order.
    pub const ACCEPT: [Command; 4] = [
        Command::AcceptAnnotator1,
        Command::AcceptAnnotator2,
        Command::AcceptAnnotator3,
        Command::AcceptAnnotator4,
    ];

    pub const ALL: [Command; 23] = [
        Command::Commit,
        Command::Undo,
        Command::Next,
        Command::Previous,
        Command::NextUnlabeled,
        Command::Skip,
        Command::Exclude,
        Command::Flag,
        Command::AcceptSuggestion,
        Command::ToggleGrid,
        Command::ZoomFit,
        Command::ToggleInfo,
        Command::CheatSheet,
        Command::Settings,
        Command::CloseProject,
        Command::Review,
        Command::Export,
        Command::History,
        Command::SendBack,
        Command::AcceptAnnotator1,
        Command::AcceptAnnotator2,
        Command::AcceptAnnotator3,
        Command::AcceptAnnotator4,
    ];

    /// Stable identifier used in the settings file.
    pub fn id(self) -> &'static str {
        match self {
            Command::Commit => "commit",
            Command::Undo => "undo",
            Command::Next => "next",
            Command::Previous => "previous",
            Command::NextUnlabeled => "next_unlabeled",
            Command::Skip => "skip",
            Command::Exclude => "exclude",
            Command::Flag => "flag",
            Command::AcceptSuggestion => "accept_suggestion",
            Command::ToggleGrid => "toggle_grid",
            Command::ZoomFit => "zoom_fit",
            Command::ToggleInfo => "toggle_info",
            Command::CheatSheet => "cheat_sheet",
            Command::Settings => "settings",
            Command::CloseProject => "close_project",
            Command::Review => "review",
            Command::Export => "export",
            Command::History => "history",
            Command::SendBack => "send_back",
            Command::AcceptAnnotator1 => "accept_annotator_1",
            Command::AcceptAnnotator2 => "accept_annotator_2",
            Command::AcceptAnnotator3 => "accept_annotator_3",
            Command::AcceptAnnotator4 => "accept_annotator_4",
        }
    }

    pub fn from_id(id: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.id() == id)
    }

    /// The text on the labeling view's toolbar: [`Command::text`], shortened where the
    /// toolbar's context says the rest.
    pub fn toolbar_text(self) -> &'static str {
        match self {
            Command::CloseProject => "Close",
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
            Command::SendBack => "Send back",
            Command::AcceptAnnotator1 => "Accept annotator 1",
            Command::AcceptAnnotator2 => "Accept annotator 2",
            Command::AcceptAnnotator3 => "Accept annotator 3",
            Command::AcceptAnnotator4 => "Accept annotator 4",
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
            Command::SendBack => "Review: send the sample back to the annotators",
            Command::AcceptAnnotator1 => "Review: make the first annotator's label final",
            Command::AcceptAnnotator2 => "Review: make the second annotator's label final",
            Command::AcceptAnnotator3 => "Review: make the third annotator's label final",
            Command::AcceptAnnotator4 => "Review: make the fourth annotator's label final",
        }
    }

    /// Default keys. A unit test fails when two of these clash.
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
            Command::SendBack => vec![k(Key::B)],
            Command::AcceptAnnotator1 => vec![Shortcut::shift(Key::Num1)],
            Command::AcceptAnnotator2 => vec![Shortcut::shift(Key::Num2)],
            Command::AcceptAnnotator3 => vec![Shortcut::shift(Key::Num3)],
            Command::AcceptAnnotator4 => vec![Shortcut::shift(Key::Num4)],
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
