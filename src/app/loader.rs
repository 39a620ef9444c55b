//! Background image decoding with a bounded texture cache ("never wait").
//!
//! The UI thread only asks: [`ImageLoader::get`] answers at once from the cache, or queues a
//! decode and answers [`ImageState::Pending`]. A small pool of worker threads decodes the
//! file (format recognised by content), down-scales it to the size the view needs, uploads
//! it as an egui texture and asks for a repaint. Textures live in an LRU cache with a memory
//! cap; the image on screen is never evicted.
//!
//! [`ImageLoader::prefetch`] replaces the queue with the keys the view will need next, in
//! priority order, so work queued for samples the annotator has already left is dropped
//! instead of delaying the one they are looking at.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::project::SampleId;

/// Default memory cap of the texture cache: 512 MB.
pub const DEFAULT_CAP: usize = 512 * 1024 * 1024;

pub use crate::media::MAX_PIXELS;

/// Largest texture side keylabel uploads, whatever the view asks for; wgpu and OpenGL
/// guarantee at least 8192.
const MAX_TEXTURE_SIDE: u32 = 8192;

/// What a cached failure counts against the memory cap.
const FAILED_ENTRY_BYTES: usize = 256;

/// One image as the view wants it: a sample's file, down-scaled so that its longer side is
/// at most `max_side` pixels (`0`: full size, up to the texture limit).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageKey {
    pub sample: SampleId,
    pub path: PathBuf,
    pub max_side: u32,
}

/// What [`ImageLoader::get`] knows about an image right now.
#[derive(Clone)]
pub enum ImageState {
    /// Queued or being decoded; ask again next frame (a repaint is requested when ready).
    Pending,
    Ready {
        texture: egui::TextureHandle,
        /// The file's own size, before down-scaling (upright).
        original_size: [u32; 2],
        /// How the stored pixels were turned upright (to draw boxes of the stored frame).
        turn: crate::media::Turn,
    },
    /// Could not be decoded; the reason names the file.
    Failed(String),
    /// The file is on the team hub, which cannot be reached now (see
    /// [`crate::hub::files`]); asked again once it is back.
    Away(String),
}

impl std::fmt::Debug for ImageState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImageState::Pending => write!(f, "Pending"),
            ImageState::Ready {
                texture,
                original_size,
                ..
            } => write!(
                f,
                "Ready({:?} of {}x{})",
                texture.size(),
                original_size[0],
                original_size[1]
            ),
            ImageState::Failed(r) => write!(f, "Failed({r})"),
            ImageState::Away(r) => write!(f, "Away({r})"),
        }
    }
}

/// Counters for tests and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoaderStats {
    /// Bytes of texture memory held by the cache (width × height × 4 per entry).
    pub bytes: usize,
    /// Images held (ready or failed).
    pub entries: usize,
    /// Decodes finished (successful or not).
    pub decodes: u64,
    /// `get` calls answered from the cache.
    pub hits: u64,
    /// `get` calls that had to wait for a decode.
    pub misses: u64,
    /// Entries evicted to stay under the memory cap.
    pub evictions: u64,
    /// Queued requests dropped because a later `prefetch` no longer wanted them.
    pub dropped: u64,
}

/// Decoded, down-scaled pixels and the source's own size, both upright (as the image's
/// EXIF orientation says; for a photo turned on its side, width and height are swapped
/// against the stored frame).
#[derive(Debug)]
pub struct Decoded {
    pub image: egui::ColorImage,
    pub original_size: [u32; 2],
    pub turn: crate::media::Turn,
}

/// Why an image was not loaded (see [`ImageState`]).
#[derive(Clone, Debug)]
pub enum Unloaded {
    Failed(String),
    Away(String),
}

impl From<String> for Unloaded {
    fn from(reason: String) -> Self {
        Unloaded::Failed(reason)
    }
}

type DecodeFn<K> = dyn Fn(&K) -> Result<Decoded, Unloaded> + Send + Sync;

/// Textures decoded by background workers, keyed by `K`, in an LRU cache with a memory cap.
/// [`ImageLoader`] (full images) and the grid's thumbnail cache are both built on it.
pub(crate) struct TextureCache<K: Clone + Eq + Hash + Send + 'static> {
    shared: Arc<Shared<K>>,
    entries: HashMap<K, Entry>,
    cap: usize,
    bytes: usize,
    tick: u64,
    /// The key asked for last (on screen): never evicted.
    current: Option<K>,
    /// The head of the latest prefetch: never evicted either.
    head: Option<K>,
    /// Priority of each key in the latest prefetch (0 = most wanted).
    window: HashMap<K, usize>,
    /// Window keys whose result did not fit under the cap; not asked for again until the
    /// window changes, so a cap smaller than the window cannot cause endless decoding.
    did_not_fit: HashSet<K>,
    stats: LoaderStats,
}

struct Entry {
    state: ImageState,
    bytes: usize,
    last_used: u64,
}

struct Shared<K> {
    queue: Mutex<Queue<K>>,
    wake: Condvar,
}

struct Queue<K> {
    jobs: VecDeque<K>,
    running: HashSet<K>,
    done: Vec<(K, ImageState, usize)>,
    paused: bool,
    shutdown: bool,
    dropped: u64,
}

impl<K: Clone + Eq + Hash + Send + 'static> TextureCache<K> {
    pub(crate) fn new(
        ctx: egui::Context,
        cap: usize,
        threads: usize,
        name: &str,
        decode: Arc<DecodeFn<K>>,
    ) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                running: HashSet::new(),
                done: Vec::new(),
                paused: false,
                shutdown: false,
                dropped: 0,
            }),
            wake: Condvar::new(),
        });
        for i in 0..threads.max(1) {
            let shared = Arc::clone(&shared);
            let ctx = ctx.clone();
            let decode = Arc::clone(&decode);
            let thread_name = format!("keylabel-{name}-{i}");
            let spawned = std::thread::Builder::new()
                .name(thread_name)
                .spawn(move || worker(shared, ctx, decode));
            if spawned.is_err() && i > 0 {
                // Fewer workers is slower, not wrong; with none at all nothing would load.
                break;
            }
        }
        TextureCache {
            shared,
            entries: HashMap::new(),
            cap,
            bytes: 0,
            tick: 0,
            current: None,
            head: None,
            window: HashMap::new(),
            did_not_fit: HashSet::new(),
            stats: LoaderStats::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue<K>> {
        // A worker never panics while holding the lock (decoding runs outside it), so a
        // poisoned lock still holds a consistent queue.
        self.shared
            .queue
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Moves finished decodes into the cache.
    fn collect(&mut self, q: &mut Queue<K>) {
        self.stats.dropped = q.dropped;
        for (key, state, bytes) in q.done.drain(..) {
            self.stats.decodes += 1;
            self.insert(key, state, bytes);
        }
    }

    pub(crate) fn poll(&mut self) {
        let shared = Arc::clone(&self.shared);
        let mut q = shared
            .queue
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        self.collect(&mut q);
    }

    pub(crate) fn get(&mut self, key: &K) -> ImageState {
        if self.current.as_ref() != Some(key) {
            self.current = Some(key.clone());
        }
        self.tick += 1;
        if let Some(e) = self.entries.get_mut(key) {
            e.last_used = self.tick;
            self.stats.hits += 1;
            return e.state.clone();
        }
        let shared = Arc::clone(&self.shared);
        let mut q = shared
            .queue
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        self.collect(&mut q);
        if let Some(e) = self.entries.get_mut(key) {
            e.last_used = self.tick;
            self.stats.hits += 1;
            return e.state.clone();
        }
        self.stats.misses += 1;
        if !q.running.contains(key) {
            if let Some(pos) = q.jobs.iter().position(|k| k == key) {
                q.jobs.remove(pos);
            }
            // What is on screen goes first.
            q.jobs.push_front(key.clone());
            self.did_not_fit.remove(key);
            drop(q);
            self.shared.wake.notify_one();
        }
        ImageState::Pending
    }

    /// Looks at the cache without queuing anything or counting a hit.
    pub(crate) fn peek(&self, key: &K) -> Option<ImageState> {
        self.entries.get(key).map(|e| e.state.clone())
    }

    pub(crate) fn prefetch(&mut self, keys: &[K]) {
        let window: HashMap<K, usize> = keys
            .iter()
            .enumerate()
            .rev()
            .map(|(i, k)| (k.clone(), i))
            .collect();
        if window != self.window {
            self.did_not_fit.clear();
            self.window = window;
        }
        self.head = keys.first().cloned();
        // Touch the wanted entries, the most wanted last so that it is the most recent.
        for k in keys.iter().rev() {
            self.tick += 1;
            if let Some(e) = self.entries.get_mut(k) {
                e.last_used = self.tick;
            }
        }
        let shared = Arc::clone(&self.shared);
        let mut q = shared
            .queue
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        self.collect(&mut q);
        let mut seen = HashSet::new();
        let wanted: VecDeque<K> = keys
            .iter()
            .filter(|k| {
                seen.insert((*k).clone())
                    && !self.entries.contains_key(k)
                    && !self.did_not_fit.contains(k)
                    && !q.running.contains(k)
            })
            .cloned()
            .collect();
        let stale = q.jobs.iter().filter(|k| !wanted.contains(k)).count() as u64;
        q.dropped += stale;
        self.stats.dropped = q.dropped;
        q.jobs = wanted;
        let any = !q.jobs.is_empty();
        drop(q);
        if any {
            self.shared.wake.notify_all();
        }
    }

    fn insert(&mut self, key: K, state: ImageState, bytes: usize) {
        self.tick += 1;
        let priority = self.window.get(&key).copied();
        if let Some(old) = self.entries.remove(&key) {
            self.bytes -= old.bytes;
        }
        let is_protected = self.is_protected(&key);
        // Evict: first what no one asked for lately (least recent first), then window
        // entries less wanted than this one (least wanted first); never a protected key.
        while self.bytes + bytes > self.cap {
            let victim = self
                .entries
                .iter()
                .filter(|(k, _)| !self.is_protected(k))
                .filter_map(|(k, e)| match self.window.get(k) {
                    None => Some(((0u8, e.last_used as i64), k)),
                    Some(&p) => match priority {
                        _ if is_protected => Some(((1u8, -(p as i64)), k)),
                        Some(mine) if p > mine => Some(((1u8, -(p as i64)), k)),
                        None => None,
                        Some(_) => None,
                    },
                })
                .min_by_key(|(rank, _)| *rank)
                .map(|(_, k)| k.clone());
            match victim {
                Some(k) => {
                    if let Some(e) = self.entries.remove(&k) {
                        self.bytes -= e.bytes;
                        self.stats.evictions += 1;
                    }
                }
                None => break,
            }
        }
        if self.bytes + bytes > self.cap && !is_protected {
            // Keeping it would push out something more wanted.
            self.did_not_fit.insert(key);
            return;
        }
        self.bytes += bytes;
        self.entries.insert(
            key,
            Entry {
                state,
                bytes,
                last_used: self.tick,
            },
        );
    }

    fn is_protected(&self, key: &K) -> bool {
        self.current.as_ref() == Some(key) || self.head.as_ref() == Some(key)
    }

    pub(crate) fn stats(&self) -> LoaderStats {
        let mut s = self.stats;
        s.bytes = self.bytes;
        s.entries = self.entries.len();
        s
    }

    pub(crate) fn queued(&self) -> Vec<K> {
        self.lock().jobs.iter().cloned().collect()
    }

    pub(crate) fn set_paused(&self, paused: bool) {
        self.lock().paused = paused;
        self.shared.wake.notify_all();
    }

    /// Whether nothing is queued or being decoded (finished results may still wait to be
    /// collected by the next `get`/`prefetch`).
    pub(crate) fn is_idle(&self) -> bool {
        let q = self.lock();
        q.jobs.is_empty() && q.running.is_empty()
    }

    /// Forgets the images that failed, so that asking again tries again (after the hub
    /// their files come from is back, say).
    pub(crate) fn forget_failed(&mut self) {
        let bytes = &mut self.bytes;
        self.entries.retain(|_, e| {
            let failed = matches!(e.state, ImageState::Failed(_) | ImageState::Away(_));
            if failed {
                *bytes -= e.bytes;
            }
            !failed
        });
    }

    /// Empties the cache (the textures are freed once no frame uses them).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
        self.did_not_fit.clear();
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> Drop for TextureCache<K> {
    fn drop(&mut self) {
        // Workers finish the image in hand and exit; nothing waits for them.
        let mut q = self.lock();
        q.shutdown = true;
        q.jobs.clear();
        drop(q);
        self.shared.wake.notify_all();
    }
}

fn worker<K: Clone + Eq + Hash + Send + 'static>(
    shared: Arc<Shared<K>>,
    ctx: egui::Context,
    decode: Arc<DecodeFn<K>>,
) {
    loop {
        let key = {
            let mut q = shared
                .queue
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            loop {
                if q.shutdown {
                    return;
                }
                if !q.paused
                    && let Some(k) = q.jobs.pop_front()
                {
                    q.running.insert(k.clone());
                    break k;
                }
                q = shared
                    .wake
                    .wait(q)
                    .unwrap_or_else(|poison| poison.into_inner());
            }
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decode(&key)))
            .unwrap_or_else(|_| Err("the decoder failed unexpectedly".to_string().into()));
        let (state, bytes) = match result {
            Ok(d) => {
                let bytes = d.image.width() * d.image.height() * 4;
                let texture =
                    ctx.load_texture("keylabel-image", d.image, egui::TextureOptions::LINEAR);
                (
                    ImageState::Ready {
                        texture,
                        original_size: d.original_size,
                        turn: d.turn,
                    },
                    bytes,
                )
            }
            // A failure is cached too (so it is not retried every frame), at a nominal
            // cost so that endless failures still cannot grow the cache without bound.
            Err(Unloaded::Failed(reason)) => (ImageState::Failed(reason), FAILED_ENTRY_BYTES),
            Err(Unloaded::Away(reason)) => (ImageState::Away(reason), FAILED_ENTRY_BYTES),
        };
        {
            let mut q = shared
                .queue
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            // Result and "no longer running" change together, so the UI never sees the
            // key as neither cached nor in progress.
            q.running.remove(&key);
            q.done.push((key, state, bytes));
        }
        ctx.request_repaint();
    }
}

/// Decodes `path` (format recognised by content) for the screen: upright and down-scaled
/// so that its longer side is at most `max_side` (see [`crate::media::decode_upright`]).
/// Errors name the file and the reason.
pub fn decode_file(path: &Path, max_side: u32) -> Result<Decoded, String> {
    let shown = path.display();
    let bytes = crate::media::read_file(path).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    let max_side = if max_side == 0 {
        MAX_TEXTURE_SIDE
    } else {
        max_side.min(MAX_TEXTURE_SIDE)
    };
    let upright = crate::media::decode_upright(&bytes, max_side).map_err(|e| match e {
        crate::media::DecodeError::NotAnImage => {
            format!("`{shown}` is not an image keylabel can decode")
        }
        crate::media::DecodeError::Cannot(why) => format!("cannot decode `{shown}`: {why}"),
    })?;
    let rgba = upright.image;
    let size = [rgba.width() as usize, rgba.height() as usize];
    Ok(Decoded {
        image: egui::ColorImage::from_rgba_unmultiplied(size, rgba.as_raw()),
        original_size: upright.original_size,
        turn: upright.turn,
    })
}

/// Where the files of the open project come from when they are not all on this machine:
/// a replica fetching them from its hub (`None`: they are where their paths say).
pub type FileSource = Option<Arc<crate::hub::files::HubFiles>>;

/// Brings the file at `path` from the hub first when `files` says it comes from there
/// (blocking: called on a worker thread).
pub fn fetch_first(
    files: Option<&crate::hub::files::HubFiles>,
    path: &Path,
) -> Result<(), Unloaded> {
    match files.map(|f| f.ensure(path)) {
        Some(Err(e)) if crate::hub::is_unreachable(&e) => Err(Unloaded::Away(format!(
            "Its file comes from the team hub, which cannot be reached now ({}); it shows \
             as soon as the hub is back.",
            e.root_cause()
        ))),
        Some(Err(e)) => Err(Unloaded::Failed(format!("{e:#}"))),
        _ => Ok(()),
    }
}

/// Full-size images for the labeling view, decoded ahead of time.
pub struct ImageLoader {
    cache: TextureCache<ImageKey>,
    files: Arc<std::sync::RwLock<FileSource>>,
}

impl ImageLoader {
    /// A loader with `min(available cores, 4)` decoding threads (at least 2) and a texture
    /// cache of at most `memory_cap_bytes` (see [`DEFAULT_CAP`]).
    pub fn new(ctx: egui::Context, memory_cap_bytes: usize) -> Self {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(2, 4);
        Self::with_threads(ctx, memory_cap_bytes, threads)
    }

    /// A loader with exactly `threads` decoding threads (at least one).
    pub fn with_threads(ctx: egui::Context, memory_cap_bytes: usize, threads: usize) -> Self {
        let files: Arc<std::sync::RwLock<FileSource>> = Arc::default();
        let source = Arc::clone(&files);
        let decode: Arc<DecodeFn<ImageKey>> = Arc::new(move |k: &ImageKey| {
            let files = source.read().unwrap_or_else(|p| p.into_inner()).clone();
            fetch_first(files.as_deref(), &k.path)?;
            Ok(decode_file(&k.path, k.max_side)?)
        });
        ImageLoader {
            cache: TextureCache::new(ctx, memory_cap_bytes, threads, "decode", decode),
            files,
        }
    }

    /// Says where the open project's files come from (see [`FileSource`]).
    pub fn set_files(&self, files: FileSource) {
        *self.files.write().unwrap_or_else(|p| p.into_inner()) = files;
    }

    /// Forgets the images that failed to load, so that they are tried again.
    pub fn forget_failed(&mut self) {
        self.cache.forget_failed();
    }

    /// The image's state now; never blocks. An image neither cached nor queued is queued
    /// ahead of everything else. The key asked for last is never evicted.
    pub fn get(&mut self, key: &ImageKey) -> ImageState {
        self.cache.get(key)
    }

    /// Replaces the queue with `keys` in priority order (e.g. the current sample, the next
    /// 8, the 2 before). Queued work for keys not listed is dropped; images already cached
    /// are kept (and marked as recently used) and not decoded again.
    pub fn prefetch(&mut self, keys: &[ImageKey]) {
        self.cache.prefetch(keys);
    }

    pub fn stats(&self) -> LoaderStats {
        self.cache.stats()
    }

    /// The keys waiting for a worker, most wanted first.
    pub fn queued(&self) -> Vec<ImageKey> {
        self.cache.queued()
    }

    /// Stops (or resumes) handing work to the decoding threads; the image in hand is
    /// finished. Lets a caller (or a test) build up a queue without it being consumed.
    pub fn set_paused(&self, paused: bool) {
        self.cache.set_paused(paused);
    }

    /// Whether no decode is queued or running.
    pub fn is_idle(&self) -> bool {
        self.cache.is_idle()
    }

    /// Moves finished decodes into the cache without asking for anything (`get` and
    /// `prefetch` do this too).
    pub fn poll(&mut self) {
        self.cache.poll();
    }

    /// Forgets every cached image (e.g. after the files changed on disk).
    pub fn clear(&mut self) {
        self.cache.clear();
    }
}
