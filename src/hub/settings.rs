//! The settings of a hub project. They are the same on every replica (the overlap and the
//! QA fraction decide the claims, the consensus policy and the validation thresholds the
//! labels and the export, which must agree everywhere): an admin changes one on their
//! replica as on a project of their own, it is made on the hub first (PostgreSQL lets only
//! `keylabel_admin` write them), and every replica takes it in at its next sync. What each
//! annotator keeps as their own (see [`Settings::with_own_of`]) stays on their replica.

use anyhow::{Context, Result};

use super::HubUrl;
use crate::project::{Project, Settings};

/// Reads the settings stored for hub project `name`.
pub fn parse(name: &str, json: &str) -> Result<Settings> {
    serde_json::from_str(json)
        .with_context(|| format!("the hub project `{name}` has settings keylabel cannot read"))
}

/// The settings of hub project `project`.
pub fn on_hub(client: &mut impl postgres::GenericClient, project: i64) -> Result<Settings> {
    let row = client.query_one(
        "SELECT name, settings FROM keylabel.projects WHERE id = $1",
        &[&project],
    )?;
    parse(row.get(0), row.get(1))
}

/// Takes in the hub's `settings` on replica `project`, keeping the annotator's own.
/// Whether anything changed.
pub fn adopt(project: &Project, settings: &Settings) -> Result<bool> {
    let here = project.settings()?;
    let now = settings.with_own_of(&here);
    if now == here {
        return Ok(false);
    }
    project.set_settings(&now)?;
    Ok(true)
}

/// Sets the setting named `key` to `value` (see [`crate::review::settings::set_by_name`])
/// on `project`: in the project itself when it is not linked to a hub or when the setting
/// is the annotator's own; else on the hub first (only a hub admin may: PostgreSQL's grants
/// say so, and the hub must be in reach), changing the needs of the claims when the
/// overlap or the QA fraction changed, and then here. The settings afterwards.
pub fn change(project: &Project, key: &str, value: &str) -> Result<Settings> {
    let here = project.settings()?;
    let mut wanted = here.clone();
    crate::review::settings::set_by_name(&mut wanted, key, value)?;
    let link = match project.hub_link()? {
        Some(link) if !here.same_for_the_team(&wanted) => link,
        _ => {
            project.set_settings(&wanted)?;
            return Ok(wanted);
        }
    };
    let url = HubUrl::parse(&link.url)?;
    let mut client = url.connect()?;
    let mut tx = client.transaction()?;
    super::schema::require_current(&mut tx)?;
    let not_changed = || {
        format!(
            "the settings of the hub project `{}` were not changed",
            link.name
        )
    };
    // The hub's row locked (which takes the admin's UPDATE grant), so that two admins'
    // changes of different settings both hold: each applies to what the other wrote.
    let row = tx
        .query_one(
            "SELECT settings FROM keylabel.projects WHERE id = $1 FOR UPDATE",
            &[&link.project],
        )
        .map_err(|e| super::refused_unless_admin(e, url.user(), "the settings"))
        .with_context(not_changed)?;
    let before = parse(&link.name, row.get(0))?;
    let mut after = before.clone();
    crate::review::settings::set_by_name(&mut after, key, value)?;
    tx.execute(
        "UPDATE keylabel.projects SET settings = $2 WHERE id = $1",
        &[&link.project, &serde_json::to_string(&after)?],
    )
    .map_err(|e| super::refused_unless_admin(e, url.user(), "the settings"))
    .with_context(not_changed)?;
    let rule = super::claims::Rule::of(&after);
    if rule.needs_differ(&super::claims::Rule::of(&before)) {
        super::claims::set_need(&mut tx, link.project, &rule).with_context(not_changed)?;
    }
    tx.commit().with_context(not_changed)?;
    adopt(project, &after)?;
    project.settings()
}
