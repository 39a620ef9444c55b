//! One parallel pass over the image files: `MISSING_FILES`, `CHANGED_FILES`,
//! `UNREADABLE_SAMPLES` and `SIZE_OUTLIERS`, and the perceptual hashes for
//! `NEAR_DUPLICATES`.
//!
//! Each file is read once: its bytes are hashed with BLAKE3 and compared with the hash
//! recorded at import, its header is probed (dimensions, colour type), a cheap structural
//! test looks for truncation, and when near-duplicates are wanted and the cache has no hash
//! for this content, the perceptual hash is computed from the same bytes. Files are never
//! written. Samples are streamed in batches, so memory stays bounded by the batch plus a
//! few numbers per image.
//!
//! A file found intact is remembered in `file_checks` with its stamp (size, modification
//! and status-change times, inode). The next validation stats the file first; when the
//! stamp is the same it takes the result from there and does not read the file at all
//! (`Options::rehash` turns this off). Nothing is lost by it at export time: the export
//! hashes every byte it writes.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::PathBuf;

use image::{ColorType, ImageFormat, ImageReader};
use rayon::prelude::*;
use rusqlite::{MAIN_DB, params};

use super::phash::{self, Hashed};
use super::{Finding, MAX_LISTED, Options, Progress, Severity, names_of, plural};
use crate::media::format_name;
use crate::project::{Project, Result, SampleId, ValidationSettings};

/// Samples read per batch: large enough to keep every core busy, small enough to bound
/// memory (one batch of files is held at most once per worker thread).
const BATCH: i64 = 1024;

/// What the file pass hands on.
pub(super) struct FilePass {
    /// Perceptual hashes of the readable in-scope images (empty without near-duplicates).
    pub perceptual: Vec<Hashed>,
}

/// The outcome of one file.
#[derive(Debug)]
enum State {
    Ok,
    Missing,
    Unreadable(String),
}

struct Checked {
    id: SampleId,
    state: State,
    changed: bool,
    /// Pixel count and colour type from the header.
    probe: Option<(u64, ColorType)>,
    perceptual: Option<Hashed>,
    /// A new perceptual-hash cache row: (content hash, hash or error).
    to_cache: Option<(String, std::result::Result<u64, String>)>,
    /// A new `file_checks` row: the file was read and found intact.
    intact: Option<FileCheck>,
}

/// What identifies one version of a file without reading it: size, modification and
/// status-change times (nanoseconds since the epoch) and inode. The status-change time
/// cannot be set back by tools that restore modification times, so a rewritten file
/// always gets a new stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    size: i64,
    mtime_ns: i64,
    ctime_ns: i64,
    inode: i64,
}

impl Stamp {
    #[cfg(unix)]
    pub(crate) fn of(meta: &std::fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            size: meta.size() as i64,
            mtime_ns: meta.mtime().saturating_mul(1_000_000_000) + meta.mtime_nsec(),
            ctime_ns: meta.ctime().saturating_mul(1_000_000_000) + meta.ctime_nsec(),
            inode: meta.ino() as i64,
        }
    }

    #[cfg(not(unix))]
    pub(crate) fn of(meta: &std::fs::Metadata) -> Stamp {
        let nanos = |t: std::io::Result<std::time::SystemTime>| {
            t.ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i64)
        };
        Stamp {
            size: meta.len() as i64,
            mtime_ns: nanos(meta.modified()),
            ctime_ns: nanos(meta.created()),
            inode: 0,
        }
    }
}

/// A `file_checks` row: an intact file as validation (or the import) last read it. The
/// stamp must be taken before the bytes are read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FileCheck {
    pub content_hash: String,
    pub stamp: Stamp,
    pub pixels: u64,
    pub colour: ColorType,
}

/// The stable number of a colour type in `file_checks.colour`.
pub(crate) fn colour_code(c: ColorType) -> Option<i64> {
    Some(match c {
        ColorType::L8 => 1,
        ColorType::La8 => 2,
        ColorType::Rgb8 => 3,
        ColorType::Rgba8 => 4,
        ColorType::L16 => 5,
        ColorType::La16 => 6,
        ColorType::Rgb16 => 7,
        ColorType::Rgba16 => 8,
        ColorType::Rgb32F => 9,
        ColorType::Rgba32F => 10,
        _ => return None,
    })
}

fn colour_from_code(code: i64) -> Option<ColorType> {
    Some(match code {
        1 => ColorType::L8,
        2 => ColorType::La8,
        3 => ColorType::Rgb8,
        4 => ColorType::Rgba8,
        5 => ColorType::L16,
        6 => ColorType::La16,
        7 => ColorType::Rgb16,
        8 => ColorType::Rgba16,
        9 => ColorType::Rgb32F,
        10 => ColorType::Rgba32F,
        _ => return None,
    })
}

/// A validation cache that cannot be written (a full disk) is left as it was: this
/// validation is complete without it, the next one reads the files again.
fn cache_write(stored: Result<()>) -> Result<()> {
    match stored {
        Err(e)
            if crate::project::has_sqlite_code(
                &e,
                &[rusqlite::ErrorCode::DiskFull, rusqlite::ErrorCode::ReadOnly],
            ) =>
        {
            Ok(())
        }
        other => other,
    }
}

/// What a read of an image file found, for validation to remember: that the file is intact
/// (header and completeness checked, content hash just computed), and its perceptual hash
/// when it was computed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Known {
    pub intact: Option<FileCheck>,
    pub perceptual: Option<Cached>,
}

/// Remembers what the import found when it read new samples' files (sample, content hash,
/// findings), so that the first validation reads none of them again. A cache: when it cannot
/// be written, validation reads the files as it would have.
pub(crate) fn remember_imported(
    project: &Project,
    rows: Vec<(SampleId, String, Known)>,
) -> Result<()> {
    let mut intact = Vec::new();
    let mut perceptual = Vec::new();
    for (id, content, known) in rows {
        intact.extend(known.intact.map(|check| (id, check)));
        perceptual.extend(known.perceptual.map(|hash| (id, content, hash)));
    }
    cache_write(store_file_checks(project, &intact))?;
    cache_write(phash::store(project, &perceptual))
}

/// Remembers intact files (replacing what was known of them).
fn store_file_checks(project: &Project, rows: &[(SampleId, FileCheck)]) -> Result<()> {
    if project.is_read_only() || rows.is_empty() {
        return Ok(()); // a cache: a read-only project is checked in full each time
    }
    let tx = rusqlite::Transaction::new_unchecked(
        project.conn(),
        rusqlite::TransactionBehavior::Immediate,
    )?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR REPLACE INTO file_checks(sample_id, content_hash, size, mtime_ns, \
             ctime_ns, inode, pixels, colour) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for (id, c) in rows {
            let Some(colour) = colour_code(c.colour) else {
                continue;
            };
            insert.execute(params![
                id,
                c.content_hash,
                c.stamp.size,
                c.stamp.mtime_ns,
                c.stamp.ctime_ns,
                c.stamp.inode,
                c.pixels as i64,
                colour
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

struct Entry {
    id: SampleId,
    file: PathBuf,
    hash: String,
    /// What the last validation found when it read this file, if it was intact.
    known: Option<FileCheck>,
    /// The cached perceptual hash of this content, if any.
    perceptual: Option<Cached>,
}

/// A cached perceptual hash: the hash, or why the image could not be decoded.
pub(crate) type Cached = std::result::Result<u64, String>;

/// Affected samples of one finding: how many, and the first few ids.
#[derive(Default)]
struct Tally {
    count: u64,
    ids: Vec<SampleId>,
    examples: Vec<(SampleId, String)>,
}

impl Tally {
    fn add(&mut self, id: SampleId) {
        self.count += 1;
        if self.ids.len() < MAX_LISTED {
            self.ids.push(id);
        }
    }

    fn add_with_reason(&mut self, id: SampleId, reason: &str) {
        self.add(id);
        if self.examples.len() < 3 {
            self.examples.push((id, reason.to_string()));
        }
    }
}

pub(super) fn check(
    project: &Project,
    options: &Options,
    settings: &ValidationSettings,
    progress: &dyn Progress,
    damage: &super::DamageCheck,
    out: &mut Vec<Finding>,
) -> Result<FilePass> {
    let conn = project.conn();
    let scope = super::scope_condition(options);
    let total: i64 = conn.query_row(
        &format!("SELECT count(*) FROM samples s WHERE s.kind = 'image' AND {scope}"),
        [],
        |r| r.get(0),
    )?;
    let mut pass = FilePass {
        perceptual: Vec::new(),
    };
    if total == 0 {
        return Ok(pass);
    }
    let writable = !conn.is_readonly(MAIN_DB)?;
    let cache_writable = options.near_duplicates && writable;
    // One query per batch brings each sample with what is remembered of it: the last
    // intact read of its file and the perceptual hash of its content.
    let mut batch_stmt = conn.prepare(&format!(
        "SELECT s.id, s.path, s.hash, \
                fc.content_hash, fc.size, fc.mtime_ns, fc.ctime_ns, fc.inode, fc.pixels, \
                fc.colour, ph.content_hash IS NOT NULL, ph.phash, ph.error \
         FROM samples s \
         LEFT JOIN file_checks fc ON fc.sample_id = s.id \
         LEFT JOIN perceptual_hashes ph ON ph.sample_id = s.id AND ph.content_hash = s.hash \
              AND ph.algorithm = ?3 \
         WHERE s.kind = 'image' AND s.id > ?1 AND {scope} ORDER BY s.id LIMIT ?2"
    ))?;

    let (mut missing, mut changed, mut unreadable) =
        (Tally::default(), Tally::default(), Tally::default());
    let mut sizes: Vec<(SampleId, u64)> = Vec::new();
    let mut colours: Vec<(SampleId, ColorType)> = Vec::new();

    // A replica fetching its files from the hub brings each batch's missing ones first.
    let hub_files = crate::hub::files::HubFiles::of(project)?;
    progress.start("Checking image files", total as u64);
    let mut after = SampleId(i64::MIN);
    loop {
        if progress.cancelled() {
            progress.finish();
            anyhow::bail!("validation was cancelled");
        }
        let entries: Vec<Entry> = batch_stmt
            .query_map(params![after, BATCH, phash::ALGORITHM], |r| {
                let id: SampleId = r.get(0)?;
                let path: String = r.get(1)?;
                let known = match r.get::<_, Option<String>>(3)? {
                    // A colour code this keylabel does not know is a miss: read again.
                    Some(content_hash) if !options.rehash => colour_from_code(r.get(9)?)
                        .map(|colour| -> rusqlite::Result<FileCheck> {
                            Ok(FileCheck {
                                content_hash,
                                stamp: Stamp {
                                    size: r.get(4)?,
                                    mtime_ns: r.get(5)?,
                                    ctime_ns: r.get(6)?,
                                    inode: r.get(7)?,
                                },
                                pixels: r.get::<_, i64>(8)?.max(0) as u64,
                                colour,
                            })
                        })
                        .transpose()?,
                    _ => None,
                };
                let perceptual = if options.near_duplicates && r.get::<_, bool>(10)? {
                    Some(match r.get::<_, Option<i64>>(11)? {
                        Some(h) => Ok(h as u64),
                        None => Err(r
                            .get::<_, Option<String>>(12)?
                            .unwrap_or_else(|| "the image could not be decoded".into())),
                    })
                } else {
                    None
                };
                Ok(Entry {
                    id,
                    file: project.resolve(&path),
                    hash: r.get(2)?,
                    known,
                    perceptual,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let Some(last) = entries.last() else {
            break;
        };
        after = last.id;
        if let Some(source) = &hub_files {
            source.ensure_all(entries.iter().map(|e| e.file.as_path()))?;
        }
        let results: Vec<Checked> = entries
            .par_iter()
            .map(|e| {
                let c = check_file(e, options.near_duplicates);
                progress.advance(1);
                c
            })
            .collect();

        let mut new_rows = Vec::new();
        let mut intact = Vec::new();
        for c in results {
            match &c.state {
                State::Missing => missing.add(c.id),
                State::Unreadable(reason) => unreadable.add_with_reason(c.id, reason),
                State::Ok => {}
            }
            if c.changed {
                changed.add(c.id);
            }
            if let Some((pixels, colour)) = c.probe {
                sizes.push((c.id, pixels));
                colours.push((c.id, colour));
            }
            pass.perceptual.extend(c.perceptual);
            if let Some((content, value)) = c.to_cache {
                new_rows.push((c.id, content, value));
            }
            if let Some(check) = c.intact {
                intact.push((c.id, check));
            }
        }
        if cache_writable && !new_rows.is_empty() && damage.sound()? {
            cache_write(phash::store(project, &new_rows))?;
        }
        if writable && !intact.is_empty() && damage.sound()? {
            cache_write(store_file_checks(project, &intact))?;
        }
    }
    progress.finish();

    let example_text = |t: &Tally| -> Result<String> {
        if t.examples.is_empty() {
            return Ok(String::new());
        }
        let ids: Vec<SampleId> = t.examples.iter().map(|(id, _)| *id).collect();
        let names = names_of(project, &ids)?;
        let parts: Vec<String> = names
            .iter()
            .zip(&t.examples)
            .map(|(n, (_, reason))| format!("`{n}`: {reason}"))
            .collect();
        Ok(format!(" (e.g. {})", parts.join("; ")))
    };
    if missing.count > 0 {
        out.push(
            Finding::new(
                "MISSING_FILES",
                Severity::Error,
                missing.count,
                format!(
                    "{} no longer exist; restore them (or move the project folder back \
                     together with its images), or exclude the samples",
                    plural(missing.count, "image file", "image files")
                ),
            )
            .with_samples(names_of(project, &missing.ids)?),
        );
    }
    if changed.count > 0 {
        out.push(
            Finding::new(
                "CHANGED_FILES",
                Severity::Error,
                changed.count,
                format!(
                    "{} changed on disk since import (the content hash differs), so their \
                     labels may no longer fit; restore the original files, or exclude the \
                     samples and import the new files again",
                    plural(changed.count, "image file has", "image files have")
                ),
            )
            .with_samples(names_of(project, &changed.ids)?),
        );
    }
    if unreadable.count > 0 {
        let examples = example_text(&unreadable)?;
        out.push(
            Finding::new(
                "UNREADABLE_SAMPLES",
                Severity::Error,
                unreadable.count,
                format!(
                    "{} cannot be read as images{examples}; replace the files with intact \
                     copies, or exclude the samples",
                    plural(unreadable.count, "file", "files")
                ),
            )
            .with_samples(names_of(project, &unreadable.ids)?),
        );
    }
    size_outliers(project, settings, &mut sizes, &colours, out)?;
    Ok(pass)
}

/// What a failed `stat` or read of an image file means for its sample.
fn io_failure(err: &std::io::Error) -> State {
    if err.kind() == std::io::ErrorKind::NotFound {
        State::Missing
    } else {
        State::Unreadable(format!("cannot read the file: {err}"))
    }
}

fn check_file(e: &Entry, near_duplicates: bool) -> Checked {
    let mut c = Checked {
        id: e.id,
        state: State::Ok,
        changed: false,
        probe: None,
        perceptual: None,
        to_cache: None,
        intact: None,
    };
    // The stamp is taken before the bytes are read: a file written meanwhile gets a newer
    // stamp, so what is remembered can only be older than the file, never newer.
    let stamp = match std::fs::metadata(&e.file) {
        Ok(meta) => Stamp::of(&meta),
        Err(err) => {
            c.state = io_failure(&err);
            return c;
        }
    };
    let known = e.known.as_ref();
    if let Some(known) = known.filter(|k| k.stamp == stamp && k.content_hash == e.hash) {
        let content = blake3::Hash::from_hex(e.hash.trim()).ok();
        match (near_duplicates, &e.perceptual, content) {
            (false, _, _) => {
                c.probe = Some((known.pixels, known.colour));
                return c;
            }
            (true, Some(Ok(hash)), Some(content)) => {
                c.probe = Some((known.pixels, known.colour));
                c.perceptual = Some(Hashed {
                    id: e.id,
                    content: *content.as_bytes(),
                    hash: *hash,
                });
                return c;
            }
            // No perceptual hash for this content yet (or it could not be decoded): read.
            _ => {}
        }
    }
    let bytes = match crate::media::read_file(&e.file) {
        Ok(b) => b,
        Err(err) => {
            c.state = io_failure(&err);
            return c;
        }
    };
    let content = blake3::hash(&bytes);
    let content_hex = content.to_hex();
    c.changed = !content_hex.as_str().eq_ignore_ascii_case(e.hash.trim());

    let format = match probe(&bytes) {
        Ok((format, pixels, colour)) => {
            c.probe = Some((pixels, colour));
            format
        }
        Err(reason) => {
            c.state = State::Unreadable(reason);
            return c;
        }
    };
    if let Some(reason) = truncation(&bytes, format) {
        c.state = State::Unreadable(reason);
        return c;
    }
    if near_duplicates {
        // The cached hash belongs to the recorded content; changed bytes are hashed anew.
        let value = match &e.perceptual {
            Some(v) if !c.changed => v.clone(),
            _ => {
                let v = phash::perceptual_hash(&bytes, format);
                c.to_cache = Some((content_hex.to_string(), v.clone()));
                v
            }
        };
        match value {
            Ok(hash) => {
                c.perceptual = Some(Hashed {
                    id: e.id,
                    content: *content.as_bytes(),
                    hash,
                })
            }
            Err(reason) => c.state = State::Unreadable(reason),
        }
    }
    if let (State::Ok, false, Some((pixels, colour))) = (&c.state, c.changed, c.probe) {
        c.intact = Some(FileCheck {
            content_hash: e.hash.clone(),
            stamp,
            pixels,
            colour,
        });
    }
    c
}

/// Reads the header: the format (by content), pixel count and colour type.
fn probe(bytes: &[u8]) -> std::result::Result<(ImageFormat, u64, ColorType), String> {
    use image::ImageDecoder;
    if bytes.is_empty() {
        return Err("the file is empty".into());
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    let Some(format) = reader.format() else {
        return Err("not an image in a format keylabel reads".into());
    };
    let decoder = reader
        .into_decoder()
        .map_err(|e| format!("bad {} header: {e}", format_name(format)))?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(format!(
            "the {} header gives a size of {w}×{h}",
            format_name(format)
        ));
    }
    Ok((format, u64::from(w) * u64::from(h), decoder.color_type()))
}

/// Why the image data is cut, when it is (see [`crate::media::check_complete`]).
fn truncation(bytes: &[u8], format: ImageFormat) -> Option<String> {
    crate::media::check_complete(format, bytes).err()
}

/// `SIZE_OUTLIERS`: far from the median pixel count, or a rare colour type.
fn size_outliers(
    project: &Project,
    settings: &ValidationSettings,
    sizes: &mut [(SampleId, u64)],
    colours: &[(SampleId, ColorType)],
    out: &mut Vec<Finding>,
) -> Result<()> {
    if sizes.len() < 2 {
        return Ok(());
    }
    let factor = settings.size_outlier_factor.max(1.0);
    let mid = sizes.len() / 2;
    let median = sizes.select_nth_unstable_by_key(mid, |(_, p)| *p).1.1 as f64;
    let mut outliers: Vec<SampleId> = sizes
        .iter()
        .filter(|(_, p)| {
            let p = *p as f64;
            p > median * factor || p * factor < median
        })
        .map(|(id, _)| *id)
        .collect();
    let by_size = outliers.len() as u64;

    let mut counts: HashMap<ColorType, u64> = HashMap::new();
    for (_, c) in colours {
        *counts.entry(*c).or_default() += 1;
    }
    let (majority, _) = counts
        .iter()
        .max_by_key(|(c, n)| (**n, format!("{c:?}")))
        .map(|(c, n)| (*c, *n))
        .unwrap_or((ColorType::Rgb8, 0));
    let limit = settings.colour_outlier_fraction * colours.len() as f64;
    let rare: Vec<ColorType> = counts
        .iter()
        .filter(|(c, n)| **c != majority && (**n as f64) < limit)
        .map(|(c, _)| *c)
        .collect();
    let mut by_colour = 0u64;
    for (id, c) in colours {
        if rare.contains(c) {
            by_colour += 1;
            outliers.push(*id);
        }
    }
    outliers.sort_unstable();
    outliers.dedup();
    if outliers.is_empty() {
        return Ok(());
    }
    let mut parts = Vec::new();
    if by_size > 0 {
        parts.push(format!(
            "{} more than {factor}× larger or smaller than the median of {} pixels",
            plural(by_size, "image is", "images are"),
            median as u64
        ));
    }
    if by_colour > 0 {
        let mut names: Vec<String> = rare.iter().map(|c| format!("{c:?}")).collect();
        names.sort();
        parts.push(format!(
            "{} a rare colour type ({}) where most are {majority:?}",
            plural(by_colour, "image has", "images have"),
            names.join(", ")
        ));
    }
    out.push(
        Finding::new(
            "SIZE_OUTLIERS",
            Severity::Warning,
            outliers.len() as u64,
            format!(
                "{}; check that they belong in the dataset (a model resizes and converts \
                 them, which may distort them)",
                parts.join("; ")
            ),
        )
        .with_samples(names_of(project, &outliers)?),
    );
    Ok(())
}
