//! Sample files of a replica whose hub project was published with its files
//! (`hub publish --with-files`) and joined without `--files`: each is fetched from the hub
//! the first time something needs it (the window's loader, the grid's thumbnails,
//! validation, export), checked against its content hash, and kept in a cache folder beside
//! the replica. The cache is content-addressed (`NAME.files/ab/abcd….jpeg`, the name being
//! the sample's BLAKE3 hash), so a replica's stored paths say which file to fetch, and the
//! folder may be deleted at any time: what is needed again is fetched again.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};

use super::HubUrl;
use crate::project::Project;

/// The meta key under which a replica keeps its cache folder (stored like a sample path).
const META_KEY: &str = "hub_files";

/// Files asked for in one query: bounded so that a batch of large photos stays a few
/// hundred megabytes at most.
const FETCH_BATCH: usize = 8;

/// Where a replica's files come from: the hub it is linked to, one connection at a time.
pub struct HubFiles {
    url: HubUrl,
    cache: PathBuf,
    /// Connected on first use; dropped after an error, so that the next fetch reconnects.
    client: Mutex<Option<postgres::Client>>,
}

impl std::fmt::Debug for HubFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubFiles")
            .field("hub", &self.url.shown())
            .field("cache", &self.cache)
            .finish()
    }
}

/// The cache folder of the replica to be made at `replica`: `NAME.files` beside it.
pub fn cache_folder_for(replica: &Path) -> PathBuf {
    let stem = replica
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "replica".into());
    replica.with_file_name(format!("{stem}.files"))
}

/// Whether `dir` is the file cache of a replica ([`cache_folder_for`]): `NAME.files` beside
/// the project file `NAME.keylabel`.
pub fn is_cache_folder(dir: &Path) -> bool {
    let Some(stem) = dir
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".files"))
    else {
        return false;
    };
    dir.with_file_name(format!("{stem}.keylabel")).is_file()
}

/// Where the file of content hash `hash` (and `format`, for its extension) is kept in
/// `cache`.
pub fn cached_path(cache: &Path, hash: &str, format: Option<&str>) -> PathBuf {
    let name = match format {
        Some(f) if f.chars().all(|c| c.is_ascii_alphanumeric()) => format!("{hash}.{f}"),
        _ => hash.to_string(),
    };
    cache.join(hash.get(..2).unwrap_or("00")).join(name)
}

/// Whether `hash` has the form of a content hash (64 hexadecimal digits of BLAKE3).
pub fn is_content_hash(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The content hash a cached file's name gives, if it is one.
fn hash_of(path: &Path) -> Option<&str> {
    let name = path.file_name()?.to_str()?;
    let hash = name.split('.').next()?;
    is_content_hash(hash).then_some(hash)
}

/// Records that `project`'s sample files are fetched from its hub into `cache`.
pub fn set_cache_folder(project: &Project, cache: &Path) -> Result<()> {
    project.set_meta(META_KEY, &project.stored_path(cache))?;
    Ok(())
}

/// The cache folder of `project`, when it fetches its files from the hub.
pub fn cache_folder(project: &Project) -> Result<Option<PathBuf>> {
    Ok(project.meta(META_KEY)?.map(|c| project.resolve(&c)))
}

impl HubFiles {
    /// The file source of `project` when it is a replica that fetches its files from the
    /// hub, `None` otherwise.
    pub fn of(project: &Project) -> Result<Option<Arc<HubFiles>>> {
        let Some(cache) = cache_folder(project)? else {
            return Ok(None);
        };
        let Some(link) = project.hub_link()? else {
            return Ok(None);
        };
        Ok(Some(Arc::new(HubFiles {
            url: HubUrl::parse(&link.url)?,
            cache,
            client: Mutex::new(None),
        })))
    }

    /// The cache folder.
    pub fn cache(&self) -> &Path {
        &self.cache
    }

    /// Makes sure the file at `path` is there: a file of the cache that is not yet is
    /// fetched from the hub (any other path is left to its reader). Blocks while fetching.
    pub fn ensure(&self, path: &Path) -> Result<()> {
        self.ensure_all([path]).map(|_| ())
    }

    /// [`HubFiles::ensure`] for many files, fetched a few per query; returns how many were
    /// fetched.
    pub fn ensure_all<'a>(&self, paths: impl IntoIterator<Item = &'a Path>) -> Result<u64> {
        let wanted: BTreeSet<(&str, &Path)> = paths
            .into_iter()
            .filter(|p| p.starts_with(&self.cache) && !used(p))
            .filter_map(|p| Some((hash_of(p)?, p)))
            .collect();
        if wanted.is_empty() {
            return Ok(0);
        }
        let wanted: Vec<_> = wanted.into_iter().collect();
        let mut guard = self.client.lock().unwrap_or_else(|p| p.into_inner());
        let mut fetched = 0;
        for chunk in wanted.chunks(FETCH_BATCH) {
            // Another fetch (or process) may have brought some meanwhile.
            let chunk: Vec<_> = chunk.iter().filter(|(_, p)| !p.exists()).collect();
            if chunk.is_empty() {
                continue;
            }
            let client = match guard.as_mut() {
                Some(c) if !c.is_closed() => c,
                _ => guard.insert(self.url.connect()?),
            };
            let hashes: Vec<&str> = chunk.iter().map(|(h, _)| *h).collect();
            let rows = match client.query(
                "SELECT hash, bytes FROM keylabel.files WHERE hash = ANY($1)",
                &[&hashes],
            ) {
                Ok(rows) => rows,
                Err(e) => {
                    *guard = None;
                    return Err(anyhow::Error::new(e).context(format!(
                        "cannot fetch sample files from the hub at `{}`",
                        self.url.shown()
                    )));
                }
            };
            for (hash, path) in chunk {
                let Some(row) = rows.iter().find(|r| r.get::<_, &str>(0) == *hash) else {
                    bail!(
                        "the hub at `{}` holds no file of content hash {hash} (for `{}`): \
                         was the project published with its files?",
                        self.url.shown(),
                        path.display()
                    );
                };
                let bytes: &[u8] = row.get(1);
                if blake3::hash(bytes).to_hex().as_str() != *hash {
                    bail!(
                        "the hub's file of content hash {hash} (for `{}`) has other content: \
                         the hub's copy is damaged",
                        path.display()
                    );
                }
                write_atomically(path, bytes)?;
                fetched += 1;
            }
        }
        Ok(fetched)
    }
}

/// Whether the cached file `path` is there, its modification time then set to now: the
/// time a trim goes by.
fn used(path: &Path) -> bool {
    match std::fs::File::open(path) {
        Ok(f) => {
            let _ = f.set_modified(std::time::SystemTime::now());
            true
        }
        Err(_) => false,
    }
}

/// How many of the samples next in an annotator's queue have their files fetched ahead,
/// so that labeling goes on for a while with the hub out of reach.
pub const AHEAD: usize = 32;

impl HubFiles {
    /// Fetches, at most [`FETCH_BATCH`] at a time and `limit` in all, the missing files of
    /// the samples `ids` of `project` (in that order); how many were fetched. What is there
    /// already costs a `stat`.
    pub fn fetch_samples(
        &self,
        project: &Project,
        ids: &[crate::project::SampleId],
        limit: usize,
    ) -> Result<u64> {
        let mut missing = Vec::new();
        for chunk in ids.chunks(512) {
            for s in project.samples_by_ids(chunk)? {
                let file = project.resolve(&s.path);
                if s.kind == crate::project::SampleKind::Image
                    && file.starts_with(&self.cache)
                    && !file.exists()
                {
                    missing.push(file);
                    if missing.len() == limit {
                        return self.ensure_all(missing.iter().map(PathBuf::as_path));
                    }
                }
            }
        }
        self.ensure_all(missing.iter().map(PathBuf::as_path))
    }
}

/// The samples `annotator` would be shown next on `project` offline (its local queue), up
/// to `n`.
pub fn queue_ahead(
    project: &Project,
    annotator: &str,
    n: usize,
) -> Result<Vec<crate::project::SampleId>> {
    let mut out: Vec<crate::project::SampleId> = Vec::with_capacity(n);
    let mut after = None;
    while out.len() < n {
        match project.next_for_annotator(annotator, after)? {
            // The queue wraps around: a sample seen again ends it.
            Some(id) if !out.contains(&id) => {
                out.push(id);
                after = Some(id);
            }
            _ => break,
        }
    }
    Ok(out)
}

/// The meta key of the most bytes the cache may keep (`none`: no limit).
const LIMIT_KEY: &str = "hub_files_limit";

/// The cache's limit unless one is set: 10 GiB.
pub const DEFAULT_LIMIT: u64 = 10 << 30;

/// A trim removes no file needed within this long: a validation fetched it for the export
/// that reads it next, or the window is showing it.
pub const GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

/// The most bytes `project`'s cache may keep (`None`: no limit).
pub fn cache_limit(project: &Project) -> Result<Option<u64>> {
    match project.meta(LIMIT_KEY)?.as_deref() {
        None => Ok(Some(DEFAULT_LIMIT)),
        Some("none") => Ok(None),
        Some(v) => Ok(Some(v.parse().with_context(|| {
            format!("the replica's cache limit `{v}` is not a number of bytes")
        })?)),
    }
}

/// Sets the most bytes `project`'s cache may keep.
pub fn set_cache_limit(project: &Project, limit: Option<u64>) -> Result<()> {
    let value = limit.map_or_else(|| "none".to_string(), |n| n.to_string());
    project.set_meta(LIMIT_KEY, &value)?;
    Ok(())
}

/// What a cache holds, and what a trim removed from it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheState {
    pub folder: String,
    pub files: u64,
    pub bytes: u64,
    pub limit: Option<u64>,
    pub removed_files: u64,
    pub removed_bytes: u64,
}

impl HubFiles {
    /// Keeps the cache within `limit`: when it holds more, removes the files needed
    /// longest ago (a fetch or a use sets a file's modification time) down to nine tenths
    /// of the limit, but never one of `keep` (the files of the samples to come) nor one
    /// needed within [`GRACE`]. Everything removed is fetched again when needed.
    pub fn trim(&self, limit: Option<u64>, keep: &[PathBuf]) -> Result<CacheState> {
        let mut state = CacheState {
            folder: self.cache.display().to_string(),
            limit,
            ..Default::default()
        };
        let mut cached = Vec::new();
        for entry in walkdir::WalkDir::new(&self.cache).min_depth(2).max_depth(2) {
            let entry = match entry {
                Ok(e) => e,
                // No cache yet: nothing to keep within a limit.
                Err(e) if e.depth() == 0 => break,
                Err(e) => return Err(e).context("cannot read the cache folder"),
            };
            if !entry.file_type().is_file() || hash_of(entry.path()).is_none() {
                continue;
            }
            let meta = entry.metadata().context("cannot read the cache folder")?;
            state.files += 1;
            state.bytes += meta.len();
            let used = meta.modified().unwrap_or(std::time::SystemTime::UNIX_EPOCH);
            cached.push((used, meta.len(), entry.into_path()));
        }
        let Some(limit) = limit.filter(|&l| state.bytes > l) else {
            return Ok(state);
        };
        let target = limit / 10 * 9;
        let recent = std::time::SystemTime::now() - GRACE;
        cached.sort();
        for (used, len, path) in cached {
            if state.bytes <= target || used > recent {
                break;
            }
            if keep.contains(&path) {
                continue;
            }
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove `{}` from the cache", path.display()))?;
            state.files -= 1;
            state.bytes -= len;
            state.removed_files += 1;
            state.removed_bytes += len;
        }
        Ok(state)
    }

    /// The cached files of the samples `ids` of `project`.
    pub fn files_of(
        &self,
        project: &Project,
        ids: &[crate::project::SampleId],
    ) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(512) {
            out.extend(
                project
                    .samples_by_ids(chunk)?
                    .iter()
                    .map(|s| project.resolve(&s.path))
                    .filter(|f| f.starts_with(&self.cache)),
            );
        }
        Ok(out)
    }
}

/// Writes `bytes` to `path` under a temporary name, flushed, and renames it into place:
/// a file of the cache is complete or absent.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().context("a cached file has a folder")?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot make the cache folder `{}`", dir.display()))?;
    let temp = dir.join(format!(
        ".fetch-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let written = std::fs::File::create(&temp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|_| std::fs::rename(&temp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(anyhow::Error::new(e).context(format!("cannot write `{}`", path.display())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_path_names_its_content_hash() {
        let hash = "ab".repeat(32);
        let p = cached_path(Path::new("/r/alice.files"), &hash, Some("jpeg"));
        assert_eq!(
            p,
            Path::new("/r/alice.files/ab").join(format!("{hash}.jpeg"))
        );
        assert_eq!(hash_of(&p), Some(hash.as_str()));
        assert_eq!(hash_of(Path::new("/r/alice.files/ab/photo.jpeg")), None);
        // A format that is not a plain word does not reach the file name.
        let odd = cached_path(Path::new("c"), &hash, Some("../x"));
        assert_eq!(odd, Path::new("c/ab").join(&hash));
        assert_eq!(
            cache_folder_for(Path::new("/r/alice.keylabel")),
            Path::new("/r/alice.files")
        );
    }
}
