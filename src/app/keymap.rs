//! The keymap: which keys send which [`Command`], as data.
//!
//! Fixed commands have defaults in [`Command::default_shortcuts`]; the user's changes are
//! saved in the settings file. Class hotkeys live in the project (`classes.hotkey`) and take
//! part in the clash check. One key may serve commands of different views (the arrows move
//! through samples in the labeling view and through cells in the grid), but never two
//! things in one view: two bindings clash when some view takes both.

use std::collections::BTreeMap;
use std::fmt;

use egui::{Key, Modifiers};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use strum::IntoEnumIterator;

use super::commands::{Action, Command};
use super::screen::ViewKind;
use crate::project::Class;

/// One key with modifiers, written like `Ctrl+Z`, `Backspace`, `?`, `1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shortcut {
    pub ctrl: bool,
    pub alt: bool,
    pub shift: bool,
    pub key: Key,
}

/// Keys typed with Shift on common layouts: Shift is not part of their identity.
fn shift_is_implicit(key: Key) -> bool {
    matches!(
        key,
        Key::Questionmark
            | Key::Exclamationmark
            | Key::Plus
            | Key::Colon
            | Key::Pipe
            | Key::OpenCurlyBracket
            | Key::CloseCurlyBracket
    )
}

impl Shortcut {
    pub fn key(key: Key) -> Shortcut {
        Shortcut {
            ctrl: false,
            alt: false,
            shift: false,
            key,
        }
    }

    pub fn shift(key: Key) -> Shortcut {
        Shortcut {
            shift: true,
            ..Shortcut::key(key)
        }
    }

    pub fn ctrl(key: Key) -> Shortcut {
        Shortcut {
            ctrl: true,
            ..Shortcut::key(key)
        }
    }

    pub fn alt(key: Key) -> Shortcut {
        Shortcut {
            alt: true,
            ..Shortcut::key(key)
        }
    }

    /// The shortcut a key press with `modifiers` stands for.
    pub fn from_press(key: Key, modifiers: Modifiers) -> Shortcut {
        Shortcut {
            ctrl: modifiers.ctrl || modifiers.command || modifiers.mac_cmd,
            alt: modifiers.alt,
            shift: modifiers.shift && !shift_is_implicit(key),
            key,
        }
    }

    /// Parses `Ctrl+Shift+Z`, `Alt+1`, `?`, `F1`, `Right`, `a` (case-insensitive names).
    pub fn parse(text: &str) -> Option<Shortcut> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let mut sc = Shortcut::key(Key::A);
        // `+` alone (or `Ctrl++`) names the plus key itself.
        let (mods, key_name) = match text.strip_suffix("++") {
            Some(m) => (m, "+"),
            None if text == "+" => ("", "+"),
            None => match text.rsplit_once('+') {
                Some((m, k)) => (m, k),
                None => ("", text),
            },
        };
        for m in mods.split('+').filter(|m| !m.is_empty()) {
            match m.trim().to_ascii_lowercase().as_str() {
                "ctrl" | "control" | "cmd" | "command" => sc.ctrl = true,
                "alt" | "option" => sc.alt = true,
                "shift" => sc.shift = true,
                _ => return None,
            }
        }
        let key_name = key_name.trim();
        sc.key = Key::from_name(key_name)
            .or_else(|| {
                let mut c = key_name.chars();
                match (c.next(), c.next()) {
                    (Some(ch), None) => Key::from_name(&ch.to_ascii_uppercase().to_string()),
                    _ => None,
                }
            })
            .or_else(|| {
                // `f1`, `enter`, `backspace` …: try the canonical capitalisation.
                let mut c = key_name.chars();
                let first = c.next()?;
                Key::from_name(&format!("{}{}", first.to_ascii_uppercase(), c.as_str()))
            })?;
        if shift_is_implicit(sc.key) {
            sc.shift = false;
        }
        Some(sc)
    }
}

impl fmt::Display for Shortcut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("Ctrl+")?;
        }
        if self.alt {
            f.write_str("Alt+")?;
        }
        if self.shift {
            f.write_str("Shift+")?;
        }
        let name = match self.key {
            Key::ArrowRight => "Right",
            Key::ArrowLeft => "Left",
            Key::ArrowUp => "Up",
            Key::ArrowDown => "Down",
            k => k.symbol_or_name(),
        };
        f.write_str(name)
    }
}

impl Serialize for Shortcut {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Shortcut {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Shortcut, D::Error> {
        let text = String::deserialize(d)?;
        Shortcut::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a key")))
    }
}

/// The user's bindings of the fixed commands. Commands missing from the saved file get
/// their defaults, so new commands in a newer keylabel are bound without a migration.
#[derive(Clone, Debug)]
pub struct Keymap {
    bindings: BTreeMap<Command, Vec<Shortcut>>,
    /// Saved bindings that were dropped when the keymap was read, because they clashed;
    /// said to the user once.
    dropped: Vec<String>,
}

impl PartialEq for Keymap {
    fn eq(&self, other: &Keymap) -> bool {
        self.bindings == other.bindings
    }
}

impl Default for Keymap {
    fn default() -> Keymap {
        Keymap {
            bindings: Command::iter()
                .map(|c| (c, c.default_shortcuts()))
                .collect(),
            dropped: Vec::new(),
        }
    }
}

impl Serialize for Keymap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let map: BTreeMap<&str, &Vec<Shortcut>> =
            self.bindings.iter().map(|(c, v)| (c.id(), v)).collect();
        map.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Keymap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Keymap, D::Error> {
        // Unknown commands and unreadable keys are dropped rather than failing the whole
        // settings file: a keymap from another version must never lock the user out.
        let raw: BTreeMap<String, Vec<String>> = BTreeMap::deserialize(d)?;
        let saved: BTreeMap<Command, Vec<Shortcut>> = raw
            .iter()
            .filter_map(|(id, keys)| {
                let cmd = Command::from_id(id)?;
                Some((
                    cmd,
                    keys.iter().filter_map(|k| Shortcut::parse(k)).collect(),
                ))
            })
            .collect();
        Ok(Keymap::from_saved(saved))
    }
}

/// Why a binding was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key} is already bound to {owner}")]
pub struct Clash {
    pub key: String,
    pub owner: String,
}

impl Keymap {
    /// The saved bindings, with defaults for commands the file does not name. A saved key
    /// that clashes with one kept before it is dropped (and said in [`Keymap::take_dropped`]);
    /// every other binding is kept. Saved bindings are kept before defaults, so a user's
    /// key wins over the default of a command added in a newer keylabel.
    fn from_saved(saved: BTreeMap<Command, Vec<Shortcut>>) -> Keymap {
        let mut keymap = Keymap {
            bindings: BTreeMap::new(),
            dropped: Vec::new(),
        };
        let defaults: Vec<(Command, Vec<Shortcut>)> = Command::iter()
            .filter(|c| !saved.contains_key(c))
            .map(|c| (c, c.default_shortcuts()))
            .collect();
        for (cmd, keys) in saved.into_iter().chain(defaults) {
            keymap.bindings.insert(cmd, Vec::new());
            for sc in keys {
                match keymap.owner_of(sc, &[], Some(Action::Command(cmd))) {
                    None => keymap.bindings.entry(cmd).or_default().push(sc),
                    Some(owner) => keymap.dropped.push(format!(
                        "{sc} was dropped from “{}”: it is bound to {owner}",
                        cmd.text()
                    )),
                }
            }
        }
        keymap
    }

    /// What reading the saved keymap dropped, once.
    pub fn take_dropped(&mut self) -> Vec<String> {
        std::mem::take(&mut self.dropped)
    }

    pub fn shortcuts(&self, cmd: Command) -> &[Shortcut] {
        self.bindings.get(&cmd).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The first key of `cmd`, for buttons and hints (`""` when unbound).
    pub fn label(&self, cmd: Command) -> String {
        self.shortcuts(cmd)
            .first()
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    /// Every key of `cmd`, joined for the cheat sheet.
    pub fn labels(&self, cmd: Command) -> String {
        self.shortcuts(cmd)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" or ")
    }

    /// Who owns `sc` in a view where `of` acts too, ignoring `of` itself (the binding
    /// being changed).
    fn owner_of(&self, sc: Shortcut, classes: &[Class], of: Option<Action>) -> Option<String> {
        let shares_a_view = |other: Action| match of {
            None => true,
            Some(of) => ViewKind::iter().any(|v| takes(v, of) && takes(v, other)),
        };
        for (cmd, keys) in &self.bindings {
            let other = Action::Command(*cmd);
            if Some(other) != of && keys.contains(&sc) && shares_a_view(other) {
                return Some(format!("“{}”", cmd.text()));
            }
        }
        for c in classes.iter().filter(|c| !c.archived) {
            let other = Action::Class(c.id);
            if Some(other) != of && class_shortcut(c) == Some(sc) && shares_a_view(other) {
                return Some(format!("class “{}”", c.name));
            }
        }
        None
    }

    /// Replaces binding `index` of `cmd` (or adds one when `index` is past the end).
    /// Refuses a key that another command or a class already uses.
    pub fn bind(
        &mut self,
        cmd: Command,
        index: usize,
        sc: Shortcut,
        classes: &[Class],
    ) -> Result<(), Clash> {
        if let Some(owner) = self.owner_of(sc, classes, Some(Action::Command(cmd))) {
            return Err(Clash {
                key: sc.to_string(),
                owner,
            });
        }
        let keys = self.bindings.entry(cmd).or_default();
        if keys.iter().enumerate().any(|(i, k)| *k == sc && i != index) {
            return Ok(());
        }
        if index < keys.len() {
            keys[index] = sc;
        } else {
            keys.push(sc);
        }
        Ok(())
    }

    pub fn unbind(&mut self, cmd: Command, index: usize) {
        if let Some(keys) = self.bindings.get_mut(&cmd)
            && index < keys.len()
        {
            keys.remove(index);
        }
    }

    /// Checks that a class may take `sc`: no command and no other class uses it.
    pub fn check_class_key(
        &self,
        class: &Class,
        sc: Shortcut,
        classes: &[Class],
    ) -> Result<(), Clash> {
        match self.owner_of(sc, classes, Some(Action::Class(class.id))) {
            Some(owner) => Err(Clash {
                key: sc.to_string(),
                owner,
            }),
            None => Ok(()),
        }
    }

    /// Every pair of bindings that share a key in a view that takes both, described for
    /// the user.
    pub fn clashes(&self, classes: &[Class]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for view in ViewKind::iter() {
            let mut seen: Vec<(Shortcut, String)> = Vec::new();
            let mut add = |sc: Shortcut, who: String| {
                if let Some((_, first)) = seen.iter().find(|(k, _)| *k == sc) {
                    let line = format!("{sc} is bound to both {first} and {who}");
                    if !out.contains(&line) {
                        out.push(line);
                    }
                } else {
                    seen.push((sc, who));
                }
            };
            for (cmd, keys) in self.bindings.iter().filter(|(c, _)| view.takes(**c)) {
                for k in keys {
                    add(*k, format!("“{}”", cmd.text()));
                }
            }
            if view.takes_classes() {
                for c in classes.iter().filter(|c| !c.archived) {
                    if let Some(sc) = class_shortcut(c) {
                        add(sc, format!("class “{}”", c.name));
                    }
                }
            }
        }
        out
    }

    /// The action a key press stands for in view `view`. Class keys are checked first: the
    /// project's schema is what the annotator is labeling with. A key that no command of
    /// the view uses gives the labeling or review command it is bound to, so that the
    /// window can say where that command works; otherwise nothing.
    pub fn action_for(&self, sc: Shortcut, classes: &[Class], view: ViewKind) -> Option<Action> {
        if view.takes_classes()
            && let Some(c) = classes
                .iter()
                .find(|c| !c.archived && class_shortcut(c) == Some(sc))
        {
            return Some(Action::Class(c.id));
        }
        let bound = || {
            self.bindings
                .iter()
                .filter(move |(_, keys)| keys.contains(&sc))
                .map(|(cmd, _)| *cmd)
        };
        bound()
            .find(|cmd| view.takes(*cmd))
            .or_else(|| {
                // A labeling or review command, for the refusal that says where it
                // works (not the box commands the reviewer shares with the drawing view).
                bound().find(|cmd| {
                    ViewKind::Label.takes(*cmd)
                        || ViewKind::Review.takes(*cmd) && !ViewKind::Draw.takes(*cmd)
                })
            })
            .map(Action::Command)
    }
}

impl Keymap {
    /// Whether `sc` is bound to anything (a command of any view, or a class).
    pub fn is_bound(&self, sc: Shortcut, classes: &[Class]) -> bool {
        self.bindings.values().any(|keys| keys.contains(&sc))
            || classes
                .iter()
                .any(|c| !c.archived && class_shortcut(c) == Some(sc))
    }
}

/// Whether view `view` acts on `action`.
fn takes(view: ViewKind, action: Action) -> bool {
    match action {
        Action::Command(cmd) => view.takes(cmd),
        Action::Class(_) | Action::Open(_) => view.takes_classes(),
    }
}

/// The shortcut of a class's hotkey, if it has a readable one.
pub fn class_shortcut(class: &Class) -> Option<Shortcut> {
    class.key.as_deref().and_then(Shortcut::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(id: i64, name: &str, key: Option<&str>) -> Class {
        Class {
            id: crate::project::ClassId(id),
            name: name.into(),
            key: key.map(Into::into),
            color: "#e69f00".into(),
            position: id,
            archived: false,
        }
    }

    fn default_classes() -> Vec<Class> {
        (0..12)
            .map(|i| {
                class(
                    i as i64,
                    &format!("c{i}"),
                    crate::project::default_hotkey(i).as_deref(),
                )
            })
            .collect()
    }

    #[test]
    fn default_bindings_do_not_clash_with_each_other_or_default_class_keys() {
        let km = Keymap::default();
        assert_eq!(km.clashes(&[]), Vec::<String>::new());
        assert_eq!(km.clashes(&default_classes()), Vec::<String>::new());
        for cmd in Command::iter() {
            assert!(!cmd.default_shortcuts().is_empty(), "{cmd:?} has no key");
            assert!(
                ViewKind::iter().any(|v| v.takes(cmd)),
                "{cmd:?} is taken by no view"
            );
        }
    }

    #[test]
    fn a_clashing_binding_is_refused_and_leaves_the_keymap_unchanged() {
        let mut km = Keymap::default();
        let before = km.clone();
        let err = km
            .bind(Command::Skip, 0, Shortcut::key(Key::F), &[])
            .unwrap_err();
        assert_eq!(err.owner, "“Flag”");
        assert_eq!(km, before);
        let classes = default_classes();
        let err = km
            .bind(Command::Skip, 0, Shortcut::key(Key::Num3), &classes)
            .unwrap_err();
        assert_eq!(err.owner, "class “c2”");
        km.bind(Command::Skip, 0, Shortcut::key(Key::K), &classes)
            .unwrap();
        assert_eq!(
            km.action_for(Shortcut::key(Key::K), &classes, ViewKind::Label),
            Some(Action::Command(Command::Skip))
        );
        assert_eq!(
            km.action_for(Shortcut::key(Key::S), &classes, ViewKind::Label),
            None
        );
    }

    #[test]
    fn class_keys_are_checked_against_commands() {
        let km = Keymap::default();
        let classes = vec![class(1, "cat", Some("1")), class(2, "dog", Some("2"))];
        assert!(
            km.check_class_key(&classes[0], Shortcut::key(Key::S), &classes)
                .is_err()
        );
        assert!(
            km.check_class_key(&classes[0], Shortcut::key(Key::Num2), &classes)
                .is_err()
        );
        assert!(
            km.check_class_key(&classes[0], Shortcut::key(Key::Num1), &classes)
                .is_ok()
        );
        let clashing = vec![class(1, "cat", Some("s"))];
        assert_eq!(km.clashes(&clashing).len(), 1);
    }

    #[test]
    fn shortcuts_round_trip_through_text() {
        for text in [
            "Ctrl+Z",
            "Backspace",
            "?",
            "F1",
            "Right",
            "1",
            "Ctrl+,",
            "Alt+Shift+K",
        ] {
            let sc = Shortcut::parse(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(Shortcut::parse(&sc.to_string()), Some(sc), "{text}");
        }
        assert_eq!(Shortcut::parse("a"), Some(Shortcut::key(Key::A)));
        assert_eq!(Shortcut::parse("Hyper+Q"), None);
        assert_eq!(
            Shortcut::from_press(Key::Questionmark, Modifiers::SHIFT),
            Shortcut::key(Key::Questionmark)
        );
        let km: Keymap = serde_json::from_str(r#"{"skip": ["k"], "nonsense": ["q"]}"#).unwrap();
        assert_eq!(km.shortcuts(Command::Skip), &[Shortcut::key(Key::K)]);
    }

    #[test]
    fn a_saved_clash_drops_only_the_clashing_key_and_says_so() {
        // Skip moved to K (fine), Flag given S (free once Skip moved) and Z, the default
        // key of "1:1 / Fit": the saved binding wins, the default is dropped.
        let mut km: Keymap =
            serde_json::from_str(r#"{"skip": ["k"], "flag": ["s", "z"], "undo": ["Ctrl+Z"]}"#)
                .unwrap();
        assert_eq!(km.shortcuts(Command::Skip), &[Shortcut::key(Key::K)]);
        assert_eq!(
            km.shortcuts(Command::Flag),
            &[Shortcut::key(Key::S), Shortcut::key(Key::Z)]
        );
        assert!(km.shortcuts(Command::ZoomFit).is_empty());
        assert_eq!(km.shortcuts(Command::Undo), &[Shortcut::ctrl(Key::Z)]);
        assert_eq!(
            km.shortcuts(Command::Next),
            Command::Next.default_shortcuts().as_slice()
        );
        let dropped = km.take_dropped();
        assert_eq!(dropped.len(), 1, "{dropped:?}");
        assert!(
            dropped[0].contains("Z") && dropped[0].contains("Flag") && dropped[0].contains("1:1"),
            "{dropped:?}"
        );
        assert!(km.take_dropped().is_empty(), "said once");
        assert!(km.clashes(&[]).is_empty());
    }

    #[test]
    fn one_key_serves_different_views_but_never_two_commands_of_one_view() {
        let km = Keymap::default();
        let right = Shortcut::key(Key::ArrowRight);
        assert_eq!(
            km.action_for(right, &[], ViewKind::Label),
            Some(Action::Command(Command::Next))
        );
        assert_eq!(
            km.action_for(right, &[], ViewKind::Grid),
            Some(Action::Command(Command::GridRight))
        );
        assert_eq!(
            km.action_for(Shortcut::key(Key::Enter), &[], ViewKind::Grid),
            Some(Action::Command(Command::GridOpen))
        );
        // Escape means nothing outside the grid, and says nothing.
        assert_eq!(
            km.action_for(Shortcut::key(Key::Escape), &[], ViewKind::Label),
            None
        );
        // Class keys do not act in the export view.
        let classes = default_classes();
        assert_eq!(
            km.action_for(Shortcut::key(Key::Num1), &classes, ViewKind::Export),
            None
        );
        // Binding "Grid: open" to B clashes with "Send back"? No: no view takes both.
        // Binding Next to Enter does: the labeling view takes Commit.
        let mut km = Keymap::default();
        km.bind(Command::GridOpen, 1, Shortcut::key(Key::B), &[])
            .unwrap();
        let err = km
            .bind(Command::Next, 1, Shortcut::key(Key::Enter), &[])
            .unwrap_err();
        assert_eq!(err.owner, "“Commit”");
    }
}
