//! The samples of a team project: an admin adds them by importing into their replica, and
//! every replica takes in the hub's new samples at each sync.
//!
//! Events name samples by id, so a sample's id is the same on the hub and on every
//! replica, and the hub hands ids out. An import into a replica first runs as any import
//! does, into a scratch project file beside the replica (the walk, probing, hashing,
//! duplicates and labels from folder names, with their report). Then one hub transaction,
//! holding the project's sample lock, takes in the hub's samples the replica lacks, leaves
//! out what the project holds already (by name, or by content: a duplicate), gives the
//! rest the ids after the hub's last, and appends them with their files (for a project
//! published with its files) and the labels the import made. The sync that follows brings
//! them into the replica as into every other. An import that fails or is killed leaves
//! nothing on the hub and nothing in the replica; only an admin adds samples, and only
//! with the hub in reach.
//!
//! Paths on the hub are those of the project that was published: relative to its folder
//! (or absolute). Each replica keeps where its files are (see [`Frame`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use postgres::GenericClient;

use super::{BATCH, HubUrl, Refused, Role, files, push_batch, same_content, sync_with};
use crate::ingest::{ImportOptions, ImportReport};
use crate::progress::Progress;
use crate::project::stored::StoredEnum;
use crate::project::{HubLink, LoggedEvent, Project, Sample, SampleId, SampleKind};

/// The meta key under which a replica joined with `--files DIR` keeps `DIR` (stored like a
/// sample path).
const ROOT_KEY: &str = "hub_files_root";

/// The meta key under which a replica keeps the highest hub sample id it has taken in.
const PULLED_KEY: &str = "hub_samples_pulled";

/// The meta key under which a replica keeps the highest hub alias `seq` it has taken in.
const ALIASES_PULLED_KEY: &str = "hub_aliases_pulled";

/// Hub samples read per query.
const PULL_BATCH: i64 = 10_000;

/// Where a replica finds the files of the hub's samples.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Fetched from the hub into this cache folder when first needed (see [`files`]).
    Cache(PathBuf),
    /// Under this folder, by the hub's relative paths (`join --files DIR`).
    Under(PathBuf),
    /// The hub's paths are this replica's own: the project that was published, or a
    /// replica joined without files (whose files are then missing).
    Own,
}

impl Frame {
    /// The frame `project` keeps.
    pub fn of(project: &Project) -> Result<Frame> {
        if let Some(cache) = files::cache_folder(project)? {
            return Ok(Frame::Cache(cache));
        }
        Ok(match project.meta(ROOT_KEY)? {
            Some(root) => Frame::Under(project.resolve(&root)),
            None => Frame::Own,
        })
    }

    /// Records this frame in the new replica `project`.
    pub fn record(&self, project: &Project) -> Result<()> {
        match self {
            Frame::Cache(cache) => files::set_cache_folder(project, cache),
            Frame::Under(root) => project.set_meta(ROOT_KEY, &project.stored_path(root)),
            Frame::Own => Ok(()),
        }
    }

    /// The hub's form of the path `stored` of `project` (a file of this replica).
    fn hub_path(&self, project: &Project, stored: &str) -> String {
        match self {
            Frame::Under(root) => crate::project::path_under(root, &project.resolve(stored)),
            Frame::Cache(_) | Frame::Own => stored.to_string(),
        }
    }
}

/// What a pull of the hub's samples brought.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pulled {
    pub samples: u64,
    /// Images whose file is not where this replica looks for it (see [`Frame`]), fetched
    /// ones aside.
    pub missing_files: u64,
    /// Images whose file is there but not the one imported (its content hash differs), and
    /// the first few of their paths.
    pub changed_files: u64,
    pub changed: Vec<String>,
}

/// Notes that `project` holds the hub's samples up to id `id` (publishing).
pub fn mark_pulled(project: &Project, id: i64) -> Result<()> {
    project.set_meta(PULLED_KEY, &id.to_string())
}

/// Adds to `project` the samples of hub project `hub_project` that came after the last it
/// took in, their paths in the replica's [`Frame`].
pub fn pull(
    project: &mut Project,
    client: &mut impl GenericClient,
    hub_project: i64,
) -> Result<Pulled> {
    let frame = Frame::of(project)?;
    let mut out = Pulled::default();
    loop {
        // A replica made before the mark was kept holds exactly the hub's samples.
        let after = match project.meta(PULLED_KEY)?.and_then(|v| v.parse().ok()) {
            Some(id) => id,
            None => project.max_sample_id()?,
        };
        let rows = client.query(
            "SELECT id, kind, name, path, row, hash, bytes, width, height, format, text, \
             features, imported_at, sha256 FROM keylabel.samples WHERE project_id = $1 \
             AND id > $2 ORDER BY id LIMIT $3",
            &[&hub_project, &after, &PULL_BATCH],
        )?;
        if rows.is_empty() {
            pull_aliases(project, client, hub_project)?;
            return Ok(out);
        }
        let batch = rows
            .iter()
            .map(|r| from_hub(project, &frame, r, &mut out))
            .collect::<Result<Vec<_>>>()?;
        out.samples += batch.len() as u64;
        project.insert_replica_samples(&batch)?;
        mark_pulled(project, batch.last().map_or(after, |s| s.id.0))?;
    }
}

/// Adds to `project` the other names of samples (see [`Project::aliases_of`]) the hub
/// took in after the last it took in; their samples are in `project` already.
fn pull_aliases(
    project: &mut Project,
    client: &mut impl GenericClient,
    hub_project: i64,
) -> Result<()> {
    loop {
        let after: i64 = project
            .meta(ALIASES_PULLED_KEY)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let rows = client.query(
            "SELECT seq, name, sample_id FROM keylabel.aliases \
             WHERE project_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            &[&hub_project, &after, &PULL_BATCH],
        )?;
        let Some(last) = rows.last().map(|r| r.get::<_, i64>(0)) else {
            return Ok(());
        };
        let aliases: Vec<(String, SampleId)> = rows
            .iter()
            .map(|r| (r.get(1), SampleId(r.get(2))))
            .collect();
        project.add_aliases(&aliases)?;
        project.set_meta(ALIASES_PULLED_KEY, &last.to_string())?;
    }
}

/// Appends other names of hub project `hub_project`'s samples (see
/// [`Project::aliases_of`]); a name the hub holds already keeps its sample.
pub(super) fn insert_aliases(
    tx: &mut impl GenericClient,
    hub_project: i64,
    aliases: &[(String, SampleId)],
) -> Result<()> {
    for chunk in aliases.chunks(BATCH) {
        let names: Vec<&str> = chunk.iter().map(|(n, _)| n.as_str()).collect();
        let ids: Vec<i64> = chunk.iter().map(|(_, id)| id.0).collect();
        tx.execute(
            "INSERT INTO keylabel.aliases(project_id, name, sample_id) \
             SELECT $1, a.name, a.sample_id FROM unnest($2::text[], $3::bigint[]) \
             WITH ORDINALITY AS a(name, sample_id, i) ORDER BY a.i \
             ON CONFLICT (project_id, name) DO NOTHING",
            &[&hub_project, &names, &ids],
        )?;
    }
    Ok(())
}

/// The sample of hub row `r` as `project` stores it, its file looked for (and counted in
/// `out` when missing or changed).
fn from_hub(
    project: &Project,
    frame: &Frame,
    r: &postgres::Row,
    out: &mut Pulled,
) -> Result<Sample> {
    let sid: i64 = r.get(0);
    let kind: String = r.get(1);
    let kind: SampleKind = StoredEnum::from_stored(&kind)
        .with_context(|| format!("sample {sid} on the hub has kind `{kind}`"))?;
    let stored: String = r.get(3);
    let hash: String = r.get(5);
    if !files::is_content_hash(&hash) {
        bail!("sample {sid} on the hub has no valid content hash (`{hash}`)");
    }
    let format: Option<String> = r.get(9);
    let mut look_at = |file: &Path| {
        if !file.is_file() {
            out.missing_files += 1;
        } else if !same_content(file, &hash) {
            out.changed_files += 1;
            if out.changed.len() < 5 {
                out.changed.push(file.display().to_string());
            }
        }
    };
    let path = match frame {
        _ if kind != SampleKind::Image => stored,
        Frame::Cache(cache) => {
            project.stored_path(&files::cached_path(cache, &hash, format.as_deref()))
        }
        Frame::Under(root) => {
            let file = root.join(&stored);
            look_at(&file);
            project.stored_path(&file)
        }
        Frame::Own => {
            look_at(&project.resolve(&stored));
            stored
        }
    };
    let features: Option<String> = r.get(11);
    Ok(Sample {
        id: SampleId(sid),
        kind,
        name: r.get(2),
        path,
        row: r.get(4),
        hash,
        // Absent for a sample published before hub schema 9 (an export then hashes the
        // bytes), as for table rows.
        sha256: r
            .get::<_, Option<Vec<u8>>>(13)
            .map(|d| {
                <[u8; 32]>::try_from(d.as_slice())
                    .with_context(|| format!("sample {sid} on the hub has a malformed SHA-256"))
            })
            .transpose()?,
        bytes: r.get::<_, i64>(6) as u64,
        width: r.get::<_, Option<i32>>(7).map(|w| w as u32),
        height: r.get::<_, Option<i32>>(8).map(|h| h as u32),
        format,
        text: r.get(10),
        features: features
            .map(|f| serde_json::from_str(&f))
            .transpose()
            .with_context(|| format!("sample {sid} on the hub has unreadable columns"))?,
        imported_at: r.get(12),
    })
}

/// Imports `paths` into the replica `project` through its hub (see the module): the
/// report is the import's, counted against the whole team project.
pub fn import(
    project: &mut Project,
    paths: &[PathBuf],
    options: &ImportOptions,
    progress: &dyn Progress,
) -> Result<ImportReport> {
    let (link, url) = super::link_of(project)?;
    let what = || {
        format!(
            "cannot import into `{}`, a replica of the hub project `{}`",
            project.path().display(),
            link.name
        )
    };
    let mut client = url
        .connect()
        .with_context(|| format!("{}: samples are added on the hub, out of reach", what()))?;
    let role = super::own_role(&mut client)?;
    if role != Some(Role::Admin) {
        bail!(
            "{}: only a hub admin adds samples to it, and `{}` is {}",
            what(),
            url.user(),
            role.map_or("no keylabel user".into(), |r| format!(
                "a hub {}",
                r.as_str()
            ))
        );
    }
    crate::leftovers::remove_stale_project_files(project.path(), "import");
    let scratch_path = crate::leftovers::temporary_beside(project.path(), "import");
    let remove_scratch = || crate::leftovers::remove_project_files(&scratch_path);
    remove_scratch();
    let added = import_via_scratch(
        project,
        &scratch_path,
        &mut client,
        &link,
        &url,
        paths,
        options,
        progress,
    );
    remove_scratch();
    let report = added?;
    // The new samples come in as they do on every replica.
    sync_with(project, &mut client, Refused::Skip).with_context(|| {
        format!(
            "the {} new samples are on the hub, but this replica could not take them in yet \
             (the next sync does)",
            report.added
        )
    })?;
    Ok(report)
}

/// [`import`] by way of the scratch project file `scratch_path`.
#[allow(clippy::too_many_arguments)]
fn import_via_scratch(
    project: &mut Project,
    scratch_path: &Path,
    client: &mut postgres::Client,
    link: &HubLink,
    url: &HubUrl,
    paths: &[PathBuf],
    options: &ImportOptions,
    progress: &dyn Progress,
) -> Result<ImportReport> {
    let mut scratch =
        super::project_with_classes(scratch_path, &project.classes()?, project.task())?;
    // A scratch file: a crash discards it, so it needs no fsync.
    scratch.set_bulk_writes(true)?;
    let mut report = crate::ingest::import(&mut scratch, paths, options, progress)?;
    let frame = Frame::of(project)?;
    let mut tx = client.transaction()?;
    // One import at a time per project, so that ids are handed out in commit order and
    // a replica that pulls after the hub's last id misses none.
    super::lock(&mut tx, super::Lock::Samples, link.project)?;
    // What the hub holds, the replica holds: the names and contents to leave out.
    pull(project, &mut tx, link.project)?;
    // The project's row is held against a change of its settings meanwhile, so that the
    // new samples' queue rows need what the settings say when the import commits.
    let row = tx.query_one(
        "SELECT p.with_files, coalesce((SELECT max(id) FROM keylabel.samples s \
         WHERE s.project_id = p.id), 0), p.settings FROM keylabel.projects p WHERE p.id = $1 \
         FOR SHARE OF p",
        &[&link.project],
    )?;
    let with_files: bool = row.get(0);
    let mut next = row.get::<_, i64>(1).max(project.max_sample_id()?) + 1;
    let rule = super::claims::Rule::of(&super::settings::parse(&link.name, row.get(2))?);
    // Scratch id → the sample of the team project holding its content, and those of them
    // the import's labels go on (as an import into the project itself would label them).
    let mut home: HashMap<SampleId, SampleId> = HashMap::new();
    let mut label_on: HashMap<SampleId, SampleId> = HashMap::new();
    let mut aliases: Vec<(String, SampleId)> = Vec::new();
    let mut after = None;
    progress.start(
        "Putting the new samples on the hub",
        scratch.sample_count()?,
    );
    loop {
        if progress.cancelled() {
            bail!("the import was cancelled before its samples were put on the hub: none were");
        }
        let batch = scratch.sample_ids_after(after, BATCH as u64)?;
        let Some(&last) = batch.last() else {
            break;
        };
        after = Some(last);
        let mut new = Vec::with_capacity(batch.len());
        for s in scratch.samples_by_ids(&batch)? {
            // As an import into the project itself counts it (see `ingest`).
            if let Some(there) = project.sample_by_name(&s.name)? {
                report.added = report.added.saturating_sub(1);
                if there.hash == s.hash {
                    report.already_present += 1;
                    home.insert(s.id, there.id);
                    if !project.has_imported_label(there.id)? {
                        label_on.insert(s.id, there.id);
                    }
                } else {
                    report.unreadable.push(crate::ingest::Unreadable {
                        path: scratch.resolve(&s.path).display().to_string(),
                        reason: crate::ingest::name_taken(s.row, &s.name, "row"),
                    });
                }
                continue;
            }
            if let Some(id) = project.sample_with_hash(&s.hash)? {
                report.added = report.added.saturating_sub(1);
                report.duplicates += 1;
                home.insert(s.id, id);
                aliases.push((s.name, id));
                continue;
            }
            if with_files && s.kind == SampleKind::Image {
                super::upload_file(&mut tx, &scratch.resolve(&s.path), &s.hash)?;
            }
            let id = SampleId(next);
            next += 1;
            home.insert(s.id, id);
            label_on.insert(s.id, id);
            new.push(Sample {
                id,
                path: frame.hub_path(project, &s.path),
                ..s
            });
        }
        super::insert_samples(&mut tx, link.project, &rule, &new)?;
        progress.advance(batch.len() as u64);
    }
    progress.finish();
    // The labels the import made (from folder names), on the samples they name.
    let mut events: Vec<LoggedEvent> = Vec::new();
    scratch.each_logged_event(|mut e| {
        if let Some(&id) = label_on.get(&e.event.sample) {
            e.event.sample = id;
            events.push(e);
        }
        Ok(())
    })?;
    for chunk in events.chunks(BATCH) {
        push_batch(&mut tx, link.project, chunk).with_context(|| {
            format!(
                "cannot add the imported labels to the hub at `{}`",
                url.shown()
            )
        })?;
    }
    // The names the scratch import found to be duplicates of its own samples: the project
    // may hold some of them already.
    for (name, sid) in scratch.all_aliases()? {
        let hash = scratch.hash_of(sid)?;
        match project.sample_by_name(&name)? {
            Some(there) => {
                report.duplicates = report.duplicates.saturating_sub(1);
                if there.hash == hash {
                    report.already_present += 1;
                } else {
                    report.unreadable.push(crate::ingest::Unreadable {
                        path: name.clone(),
                        reason: crate::ingest::name_taken(None, &name, "row"),
                    });
                }
            }
            None => aliases.extend(home.get(&sid).map(|&id| (name, id))),
        }
    }
    // Other names of the content: every replica takes them in with the samples.
    insert_aliases(&mut tx, link.project, &aliases)?;
    tx.commit()
        .with_context(|| format!("cannot add the samples to the hub at `{}`", url.shown()))?;
    Ok(report)
}
