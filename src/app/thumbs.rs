//! Thumbnails for the grid: made once by background threads, cached on disk next to the
//! project (`<project file>.thumbs/<content hash>.jpg`) and in memory as textures.
//!
//! Keyed by content hash, so a thumbnail stays valid when a project folder is moved, and a
//! changed file (new hash on re-import) gets a new one. A cache folder that cannot be
//! written (read-only share) only costs speed: the thumbnail is then made again next time.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::loader::{
    Decoded, FileSource, ImageState, LoaderStats, TextureCache, Unloaded, decode_file, fetch_first,
};
use crate::hub::files::HubFiles;

/// Longer side of a thumbnail, in pixels.
pub const THUMB_SIDE: u32 = 160;

/// Default memory cap of the thumbnail textures: 128 MB (about 1,700 thumbnails).
pub const DEFAULT_THUMB_CAP: usize = 128 * 1024 * 1024;

const JPEG_QUALITY: u8 = 82;

/// One sample's thumbnail: its content hash (the on-disk name) and its file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ThumbKey {
    pub hash: String,
    pub path: PathBuf,
}

/// The folder holding a project's thumbnails: the project file's name plus `.thumbs`.
pub fn thumbs_dir(project_path: &Path) -> PathBuf {
    let mut name = project_path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "project".into());
    name.push(".thumbs");
    project_path.with_file_name(name)
}

/// The file a thumbnail is stored in. Hashes are hex; anything else is hashed again so a
/// strange value can never name a path outside the folder.
pub fn thumb_file(dir: &Path, hash: &str) -> PathBuf {
    let safe =
        !hash.is_empty() && hash.len() <= 128 && hash.chars().all(|c| c.is_ascii_alphanumeric());
    let name = if safe {
        hash.to_ascii_lowercase()
    } else {
        blake3::hash(hash.as_bytes()).to_hex().to_string()
    };
    dir.join(format!("{name}.jpg"))
}

/// Reads the cached thumbnail, or makes it from the sample's file and stores it.
///
/// A cached thumbnail is stored upright; with `orient` its `turn` still says how the
/// original is turned (read from the start of the original's file), so that boxes in the
/// original's stored frame can be drawn on it. Without, a cached thumbnail does not read
/// the original at all.
pub fn load_or_make(
    dir: &Path,
    key: &ThumbKey,
    orient: bool,
    files: Option<&HubFiles>,
) -> Result<Decoded, Unloaded> {
    let file = thumb_file(dir, &key.hash);
    if file.is_file()
        && let Ok(mut d) = decode_file(&file, THUMB_SIDE)
    {
        if orient {
            // Best effort: without its original a thumbnail is drawn as not turned.
            let _ = fetch_first(files, &key.path);
            d.turn = turn_of(&key.path, d.image.size);
        }
        return Ok(d);
    }
    fetch_first(files, &key.path)?;
    let d = decode_file(&key.path, THUMB_SIDE)?;
    // Best effort: a failed write leaves no partial file and only means a later re-make.
    let _ = store(dir, &file, &d.image);
    Ok(d)
}

/// How the original at `path` is turned upright, for its upright thumbnail of `size`: the
/// orientation from the start of the file (where a JPEG keeps its EXIF data), the
/// identity when it cannot be read.
fn turn_of(path: &Path, [w, h]: [usize; 2]) -> crate::media::Turn {
    use crate::media::{Turn, orientation, read_file_start, sniff};
    let upright = Turn::none([w as u32, h as u32]);
    let Some((format, head)) = read_file_start(path, 256 * 1024)
        .ok()
        .and_then(|head| Some((sniff(&head)?, head)))
    else {
        return upright;
    };
    let turn = Turn {
        orientation: orientation(format, &head),
        stored: [w as u32, h as u32],
    };
    // `stored` is the thumbnail's own size in the stored frame.
    if turn.swaps_sides() {
        Turn {
            stored: [h as u32, w as u32],
            ..turn
        }
    } else {
        turn
    }
}

fn store(dir: &Path, file: &Path, image: &egui::ColorImage) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let [w, h] = image.size;
    let rgb: Vec<u8> = image
        .pixels
        .iter()
        .flat_map(|c| {
            // Flatten any transparency onto the grid's dark cell background.
            let [r, g, b, a] = c.to_srgba_unmultiplied();
            let bg = 40u16;
            let mix =
                |v: u8| ((u16::from(v) * u16::from(a) + bg * (255 - u16::from(a))) / 255) as u8;
            [mix(r), mix(g), mix(b)]
        })
        .collect();
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(out, JPEG_QUALITY);
        enc.encode(&rgb, w as u32, h as u32, image::ExtendedColorType::Rgb8)
            .map_err(std::io::Error::other)?;
        Ok(())
    })();
    match written {
        Ok(()) => std::fs::rename(&tmp, file),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Thumbnail textures of one project, made and loaded in the background.
pub struct Thumbnails {
    cache: TextureCache<ThumbKey>,
    dir: PathBuf,
}

impl Thumbnails {
    /// Thumbnails of the project at `project_path`, with `threads` workers and at most
    /// `memory_cap_bytes` of textures; with `orient`, each says how its original is turned
    /// (see [`load_or_make`]); originals come from `files` when it says so.
    pub fn new(
        ctx: egui::Context,
        project_path: &Path,
        memory_cap_bytes: usize,
        threads: usize,
        orient: bool,
        files: FileSource,
    ) -> Self {
        let dir = thumbs_dir(project_path);
        let worker_dir = dir.clone();
        let decode =
            Arc::new(move |k: &ThumbKey| load_or_make(&worker_dir, k, orient, files.as_deref()));
        Thumbnails {
            cache: TextureCache::new(ctx, memory_cap_bytes, threads, "thumbs", decode),
            dir,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The thumbnail now, queuing it first if it is neither cached nor queued.
    pub fn get(&mut self, key: &ThumbKey) -> ImageState {
        self.cache.get(key)
    }

    /// The thumbnail if it is in memory; queues nothing.
    pub fn peek(&self, key: &ThumbKey) -> Option<ImageState> {
        self.cache.peek(key)
    }

    /// Replaces the queue with `keys`, most wanted first (what is on screen, then what is
    /// next to it); cached thumbnails are kept and marked as recently used.
    pub fn prefetch(&mut self, keys: &[ThumbKey]) {
        self.cache.prefetch(keys);
    }

    pub fn stats(&self) -> LoaderStats {
        self.cache.stats()
    }

    pub fn is_idle(&self) -> bool {
        self.cache.is_idle()
    }

    /// Forgets the thumbnails that failed, so that they are tried again.
    pub fn forget_failed(&mut self) {
        self.cache.forget_failed();
    }
}
