//! TEMPORARY stand-in for `app::loader` (built on the `gui2` branch), with the same API,
//! so that the labeling window runs before that branch is merged. It decodes on two
//! background threads and keeps a bounded number of textures; it has none of the real
//! loader's memory accounting. Delete this file when `loader.rs` lands.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, mpsc};

use crate::project::SampleId;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageKey {
    pub sample: SampleId,
    pub path: PathBuf,
    pub max_side: u32,
}

#[derive(Clone)]
pub enum ImageState {
    Pending,
    Ready {
        texture: egui::TextureHandle,
        original_size: [u32; 2],
    },
    Failed(String),
}

type Decoded = Result<(egui::ColorImage, [u32; 2]), String>;

struct Queue {
    jobs: Mutex<VecDeque<ImageKey>>,
    ready: Condvar,
}

pub struct ImageLoader {
    ctx: egui::Context,
    queue: Arc<Queue>,
    done: mpsc::Receiver<(ImageKey, Decoded)>,
    states: HashMap<ImageKey, ImageState>,
    order: VecDeque<ImageKey>,
    max_entries: usize,
}

impl ImageLoader {
    pub fn new(ctx: egui::Context, memory_cap_bytes: usize) -> Self {
        let queue = Arc::new(Queue {
            jobs: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
        });
        let (tx, done) = mpsc::channel();
        for _ in 0..2 {
            let queue = Arc::clone(&queue);
            let tx = tx.clone();
            let ctx = ctx.clone();
            std::thread::spawn(move || {
                loop {
                    let key = {
                        let Ok(mut jobs) = queue.jobs.lock() else {
                            return;
                        };
                        loop {
                            if let Some(k) = jobs.pop_front() {
                                break k;
                            }
                            jobs = match queue.ready.wait(jobs) {
                                Ok(j) => j,
                                Err(_) => return,
                            };
                        }
                    };
                    let result = decode(&key);
                    if tx.send((key, result)).is_err() {
                        return;
                    }
                    ctx.request_repaint();
                }
            });
        }
        ImageLoader {
            ctx,
            queue,
            done,
            states: HashMap::new(),
            order: VecDeque::new(),
            // A screen-sized RGBA texture is ~8 MB.
            max_entries: (memory_cap_bytes / (8 << 20)).max(4),
        }
    }

    fn drain(&mut self) {
        while let Ok((key, result)) = self.done.try_recv() {
            let state = match result {
                Ok((img, size)) => ImageState::Ready {
                    texture: self.ctx.load_texture(
                        format!("sample-{}", key.sample),
                        img,
                        egui::TextureOptions::LINEAR,
                    ),
                    original_size: size,
                },
                Err(e) => ImageState::Failed(e),
            };
            self.states.insert(key.clone(), state);
            self.order.push_back(key);
            while self.order.len() > self.max_entries {
                if let Some(old) = self.order.pop_front() {
                    self.states.remove(&old);
                }
            }
        }
    }

    pub fn get(&mut self, key: &ImageKey) -> ImageState {
        self.drain();
        if let Some(s) = self.states.get(key) {
            return s.clone();
        }
        self.states.insert(key.clone(), ImageState::Pending);
        if let Ok(mut jobs) = self.queue.jobs.lock() {
            jobs.push_front(key.clone());
        }
        self.queue.ready.notify_one();
        ImageState::Pending
    }

    pub fn prefetch(&mut self, keys: &[ImageKey]) {
        self.drain();
        let Ok(mut jobs) = self.queue.jobs.lock() else {
            return;
        };
        for k in jobs.drain(..) {
            self.states.remove(&k);
        }
        for k in keys {
            if !self.states.contains_key(k) {
                self.states.insert(k.clone(), ImageState::Pending);
                jobs.push_back(k.clone());
            }
        }
        drop(jobs);
        self.queue.ready.notify_all();
    }
}

fn decode(key: &ImageKey) -> Decoded {
    let reader = image::ImageReader::open(&key.path)
        .map_err(|e| format!("could not open `{}`: {e}", key.path.display()))?
        .with_guessed_format()
        .map_err(|e| format!("could not read `{}`: {e}", key.path.display()))?;
    let img = reader
        .decode()
        .map_err(|e| format!("could not decode `{}`: {e}", key.path.display()))?;
    let size = [img.width(), img.height()];
    let img = if img.width().max(img.height()) > key.max_side {
        img.thumbnail(key.max_side, key.max_side)
    } else {
        img
    };
    let rgba = img.to_rgba8();
    Ok((
        egui::ColorImage::from_rgba_unmultiplied(
            [rgba.width() as usize, rgba.height() as usize],
            rgba.as_raw(),
        ),
        size,
    ))
}
