//! The label schema: an ordered list of classes with hotkeys and colours.
//!
//! Classes are referred to by their numeric id everywhere in the log, so renaming one keeps
//! every label, and archiving one hides it from labeling without touching its history.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Project, ProjectError, Result};

pub use super::stored::ClassId;

/// A distinct, colour-blind-friendly palette (Okabe–Ito first, then Tableau).
pub const DEFAULT_COLORS: &[&str] = &[
    "#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7", "#999999",
    "#8c564b", "#17becf", "#bcbd22", "#e377c2",
];

/// Default hotkey of the class at `position`: `1`…`9`, then `0`, then none.
pub fn default_hotkey(position: usize) -> Option<String> {
    match position {
        0..=8 => Some((position + 1).to_string()),
        9 => Some("0".into()),
        _ => None,
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Class {
    pub id: ClassId,
    pub name: String,
    /// The key that assigns this class, e.g. `1`; `None` when unbound.
    pub key: Option<String>,
    /// `#rrggbb`.
    pub color: String,
    pub position: i64,
    pub archived: bool,
}

pub(super) fn validate_new_names(names: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for raw in names {
        let name = raw.trim();
        check_name(name)?;
        if out.iter().any(|n| n == name) {
            return Err(ProjectError::Invalid(format!("class `{name}` is given twice")).into());
        }
        out.push(name.to_string());
    }
    if out.is_empty() {
        return Err(ProjectError::Invalid("a project needs at least one class".into()).into());
    }
    Ok(out)
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(ProjectError::Invalid("a class name cannot be empty".into()).into());
    }
    if name.contains('|') || name.chars().any(char::is_control) {
        return Err(ProjectError::Invalid(format!(
            "class name `{name}` may not contain `|` or control characters"
        ))
        .into());
    }
    Ok(())
}

fn check_color(color: &str) -> Result<()> {
    let ok = color.len() == 7
        && color.starts_with('#')
        && color[1..].chars().all(|c| c.is_ascii_hexdigit());
    if ok {
        Ok(())
    } else {
        Err(ProjectError::Invalid(format!("colour `{color}` is not of the form #rrggbb")).into())
    }
}

fn row_to_class(r: &rusqlite::Row<'_>) -> rusqlite::Result<Class> {
    Ok(Class {
        id: r.get(0)?,
        name: r.get(1)?,
        key: r.get(2)?,
        color: r.get(3)?,
        position: r.get(4)?,
        archived: r.get::<_, i64>(5)? != 0,
    })
}

fn find<'a>(classes: &'a [Class], name: &str) -> Result<&'a Class> {
    classes
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| ProjectError::Invalid(format!("there is no class `{name}`")).into())
}

/// The class that adding `name` to the schema `existing` makes: checked (a valid, new
/// name; a key no other class uses; a `#rrggbb` colour), with the next id and position,
/// the next free default hotkey when no `key` is given, and the next palette colour.
pub fn plan_add(
    existing: &[Class],
    name: &str,
    key: Option<&str>,
    color: Option<&str>,
) -> Result<Class> {
    let name = name.trim();
    check_name(name)?;
    if existing.iter().any(|c| c.name == name) {
        return Err(ProjectError::Invalid(format!("class `{name}` already exists")).into());
    }
    let key = match key.map(str::trim) {
        Some("") => None,
        Some(k) => {
            if let Some(other) = existing.iter().find(|c| c.key.as_deref() == Some(k)) {
                return Err(ProjectError::Invalid(format!(
                    "key `{k}` is already bound to class `{}`",
                    other.name
                ))
                .into());
            }
            Some(k.to_string())
        }
        None => free_default_key(existing),
    };
    let color = match color {
        Some(c) => {
            check_color(c)?;
            c.to_ascii_lowercase()
        }
        None => DEFAULT_COLORS[existing.len() % DEFAULT_COLORS.len()].to_string(),
    };
    Ok(Class {
        id: ClassId(existing.iter().map(|c| c.id.0).max().unwrap_or(0) + 1),
        name: name.to_string(),
        key,
        color,
        position: existing.iter().map(|c| c.position).max().unwrap_or(-1) + 1,
        archived: false,
    })
}

/// The first default hotkey no class in `classes` uses.
pub(crate) fn free_default_key(classes: &[Class]) -> Option<String> {
    (0..10)
        .filter_map(default_hotkey)
        .find(|k| !classes.iter().any(|c| c.key.as_deref() == Some(k.as_str())))
}

/// Class `old` of `existing` renamed `new` (checked: a valid name no other class has).
pub fn plan_rename(existing: &[Class], old: &str, new: &str) -> Result<Class> {
    let new = new.trim();
    check_name(new)?;
    let class = find(existing, old)?;
    if old != new && existing.iter().any(|c| c.name == new) {
        return Err(ProjectError::Invalid(format!("class `{new}` already exists")).into());
    }
    Ok(Class {
        name: new.to_string(),
        ..class.clone()
    })
}

/// Class `name` of `existing` archived (its hotkey freed).
pub fn plan_archive(existing: &[Class], name: &str) -> Result<Class> {
    Ok(Class {
        archived: true,
        key: None,
        ..find(existing, name)?.clone()
    })
}

impl Project {
    /// Every class, archived ones included, in schema order.
    pub fn classes(&self) -> Result<Vec<Class>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, name, hotkey, color, position, archived FROM classes ORDER BY position, id",
        )?;
        let rows = stmt
            .query_map([], row_to_class)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// The classes offered for labeling (not archived), in schema order.
    pub fn active_classes(&self) -> Result<Vec<Class>> {
        Ok(self
            .classes()?
            .into_iter()
            .filter(|c| !c.archived)
            .collect())
    }

    pub fn class_by_name(&self, name: &str) -> Result<Option<Class>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, name, hotkey, color, position, archived FROM classes WHERE name = ?1",
                [name],
                row_to_class,
            )
            .optional()?)
    }

    fn require_class(&self, name: &str) -> Result<Class> {
        self.class_by_name(name)?
            .ok_or_else(|| ProjectError::Invalid(format!("there is no class `{name}`")).into())
    }

    /// Adds a class at the end of the schema. Without `key`, the next free default hotkey
    /// is used; a key already bound to another class is refused.
    pub fn add_class(&self, name: &str, key: Option<&str>, color: Option<&str>) -> Result<Class> {
        self.refuse_on_replica("add a class")?;
        let class = plan_add(&self.classes()?, name, key, color)?;
        self.conn.execute(
            "INSERT INTO classes(id, name, hotkey, color, position) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![class.id, class.name, class.key, class.color, class.position],
        )?;
        self.require_class(&class.name)
    }

    /// Refuses `what` (a change of the class schema) on a replica of a team hub: the
    /// schema is the hub project's, the same on every replica, changed on the hub (see
    /// `crate::hub::classes`) and taken in at every sync. Hotkeys and colours are each
    /// annotator's own and may change.
    fn refuse_on_replica(&self, what: &str) -> Result<()> {
        match self.hub_link()? {
            Some(link) => Err(ProjectError::Invalid(format!(
                "cannot {what} in `{}` alone: it is a replica of the hub project `{}`, whose                  classes are the same for everyone and are changed on the hub",
                self.path().display(),
                link.name
            ))
            .into()),
            None => Ok(()),
        }
    }

    /// Renames a class; every label that refers to it follows, since labels store its id.
    pub fn rename_class(&self, old: &str, new: &str) -> Result<Class> {
        self.refuse_on_replica("rename a class")?;
        let class = plan_rename(&self.classes()?, old, new)?;
        self.conn.execute(
            "UPDATE classes SET name = ?1 WHERE id = ?2",
            params![class.name, class.id],
        )?;
        self.require_class(&class.name)
    }

    /// Archives a class: it is no longer offered for labeling and its hotkey is freed, but
    /// its labels stay in the log (validation reports them as outside the schema).
    pub fn archive_class(&self, name: &str) -> Result<Class> {
        self.refuse_on_replica("archive a class")?;
        let class = plan_archive(&self.classes()?, name)?;
        self.conn.execute(
            "UPDATE classes SET archived = 1, hotkey = NULL WHERE id = ?1",
            [class.id],
        )?;
        self.require_class(name)
    }

    /// Binds `key` to a class, refusing a key that another class already uses.
    pub fn set_class_key(&self, name: &str, key: Option<&str>) -> Result<Class> {
        let class = self.require_class(name)?;
        if let Some(k) = key
            && let Some(other) = self
                .classes()?
                .into_iter()
                .find(|c| c.id != class.id && c.key.as_deref() == Some(k))
        {
            return Err(ProjectError::Invalid(format!(
                "key `{k}` is already bound to class `{}`",
                other.name
            ))
            .into());
        }
        self.conn.execute(
            "UPDATE classes SET hotkey = ?1 WHERE id = ?2",
            params![key, class.id],
        )?;
        self.require_class(name)
    }

    /// Sets a class's colour (`#rrggbb`).
    pub fn set_class_color(&self, name: &str, color: &str) -> Result<Class> {
        check_color(color)?;
        let class = self.require_class(name)?;
        self.conn.execute(
            "UPDATE classes SET color = ?1 WHERE id = ?2",
            params![color.to_ascii_lowercase(), class.id],
        )?;
        self.require_class(name)
    }
}
