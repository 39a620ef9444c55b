//! The class schema of a hub project. It is the same on every replica: an admin changes it
//! on the hub (adding, renaming or archiving a class, as on a project of one's own), and
//! every replica takes the change in at its next sync, before the events that may use it.
//! Hotkeys and colours stay each annotator's own.

use anyhow::{Context, Result};

use super::HubUrl;
use crate::project::{Class, ClassId, Project};

/// A change of the class schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Add {
        name: String,
        key: Option<String>,
        color: Option<String>,
    },
    Rename {
        old: String,
        new: String,
    },
    Archive {
        name: String,
    },
}

/// The classes of hub project `project`, in id order.
pub fn on_hub(client: &mut impl postgres::GenericClient, project: i64) -> Result<Vec<Class>> {
    Ok(client
        .query(
            "SELECT id, name, hotkey, color, position, archived FROM keylabel.classes \
             WHERE project_id = $1 ORDER BY id",
            &[&project],
        )?
        .into_iter()
        .map(|r| Class {
            id: ClassId(r.get(0)),
            name: r.get(1),
            key: r.get(2),
            color: r.get(3),
            position: r.get(4),
            archived: r.get(5),
        })
        .collect())
}

/// Makes `change` to the classes of `project`: in the project itself when it is not linked
/// to a hub; on a replica, on the hub first (only a hub admin may: PostgreSQL's grants say
/// so) and then here. The class as it is afterwards.
pub fn change(project: &mut Project, change: &Change) -> Result<Class> {
    let Some(link) = project.hub_link()? else {
        return match change {
            Change::Add { name, key, color } => {
                project.add_class(name, key.as_deref(), color.as_deref())
            }
            Change::Rename { old, new } => project.rename_class(old, new),
            Change::Archive { name } => project.archive_class(name),
        };
    };
    let url = HubUrl::parse(&link.url)?;
    let mut client = url.connect()?;
    let mut tx = client.transaction()?;
    // One schema change at a time per hub project: a second admin's waits and then sees
    // the first's class (its id and name taken).
    super::lock(&mut tx, super::Lock::Classes, link.project)?;
    super::schema::require_current(&mut tx)?;
    project.adopt_classes(&on_hub(&mut tx, link.project)?)?;
    let here = project.classes()?;
    use crate::project::classes::{plan_add, plan_archive, plan_rename};
    let class = match change {
        Change::Add { name, key, color } => plan_add(&here, name, key.as_deref(), color.as_deref()),
        Change::Rename { old, new } => plan_rename(&here, old, new),
        Change::Archive { name } => plan_archive(&here, name),
    }?;
    let written = if matches!(change, Change::Add { .. }) {
        tx.execute(
            "INSERT INTO keylabel.classes(project_id, id, name, hotkey, color, position, \
             archived) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &link.project,
                &class.id.0,
                &class.name,
                &class.key,
                &class.color,
                &class.position,
                &class.archived,
            ],
        )
    } else {
        tx.execute(
            "UPDATE keylabel.classes SET name = $3, archived = $4, \
             hotkey = CASE WHEN $4 THEN NULL ELSE hotkey END \
             WHERE project_id = $1 AND id = $2",
            &[&link.project, &class.id.0, &class.name, &class.archived],
        )
    };
    written
        .map_err(|e| super::refused_unless_admin(e, url.user(), "the classes"))
        .and_then(|_| Ok(tx.commit()?))
        .with_context(|| {
            format!(
                "the classes of the hub project `{}` were not changed",
                link.name
            )
        })?;
    let mut after = here;
    match after.iter_mut().find(|c| c.id == class.id) {
        Some(c) => *c = class.clone(),
        None => after.push(class.clone()),
    }
    project.adopt_classes(&after)?;
    Ok(project
        .classes()?
        .into_iter()
        .find(|c| c.id == class.id)
        .unwrap_or(class))
}
