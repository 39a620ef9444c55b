//! The window's sync with a team hub: a background thread with its own connection to the
//! replica, which syncs every few seconds and right after each decision (the decision is
//! committed to the replica first, as always: the hub being down never holds up a key).
//! The top bar shows what it last saw: connected, offline, events waiting.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the replica syncs when nothing happens.
pub const EVERY: Duration = Duration::from_secs(3);

/// How many samples the window keeps claimed on the hub: the one on screen and the next,
/// so that a decision moves on to a claimed sample at once.
pub const AHEAD: usize = 2;

/// What the last sync found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HubState {
    /// `None` before the first sync ends; `Some(false)` when the hub could not be reached.
    pub connected: Option<bool>,
    /// The hub answered, but refused what was sent (or the replica could not be read):
    /// not something that waiting cures.
    pub refused: bool,
    /// Local events not on the hub yet.
    pub pending: u64,
    /// Why the last sync failed.
    pub error: Option<String>,
    /// The hub's name of the project.
    pub name: String,
    /// The samples this annotator holds claims on, in queue order (empty while offline:
    /// the local queue is used then).
    pub claimed: Vec<crate::project::SampleId>,
    /// Events pulled since the window last caught up (see [`HubSync::take_pulled`]).
    pulled: u64,
}

/// The sync thread of one open replica; dropping it ends the thread.
pub struct HubSync {
    state: Arc<Mutex<HubState>>,
    wake: Sender<()>,
    /// Whether to keep samples claimed (the labeling view is shown); otherwise the syncs
    /// only exchange events and the claims held run out.
    claiming: Arc<AtomicBool>,
}

impl HubSync {
    /// Starts syncing the replica at `path` (linked to the hub project `name`).
    pub fn start(path: &Path, name: String, ctx: Option<egui::Context>) -> HubSync {
        let state = Arc::new(Mutex::new(HubState {
            name,
            ..Default::default()
        }));
        let (wake, rx) = channel();
        let claiming = Arc::new(AtomicBool::new(true));
        let shared = (Arc::clone(&state), Arc::clone(&claiming));
        let path = path.to_path_buf();
        let _ = std::thread::Builder::new()
            .name("keylabel-hub-sync".into())
            .spawn(move || run(&path, &rx, &shared.0, &shared.1, ctx.as_ref()));
        HubSync {
            state,
            wake,
            claiming,
        }
    }

    /// Keeps samples claimed for this annotator (while labeling) or not (while reviewing,
    /// say); takes effect at the next sync.
    pub fn set_claiming(&self, on: bool) {
        self.claiming.store(on, Ordering::Relaxed);
    }

    /// Syncs now (after a decision).
    pub fn poke(&self) {
        let _ = self.wake.send(());
    }

    pub fn state(&self) -> HubState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How many events arrived from the hub since the last call: the window reads its
    /// counts and the sample on screen again when some did.
    pub fn take_pulled(&self) -> u64 {
        std::mem::take(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()).pulled)
    }
}

fn run(
    path: &Path,
    rx: &Receiver<()>,
    state: &Mutex<HubState>,
    claiming: &AtomicBool,
    ctx: Option<&egui::Context>,
) {
    let mut last = Instant::now() - EVERY;
    // Its own connection to the replica, kept between syncs (opened again after an error).
    let mut project: Option<crate::Project> = None;
    loop {
        let wait = EVERY.saturating_sub(last.elapsed());
        match rx.recv_timeout(wait) {
            // Several decisions in a burst: one sync.
            Ok(()) => while rx.try_recv().is_ok() {},
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        last = Instant::now();
        let outcome = match project
            .take()
            .map_or_else(|| crate::Project::open(path), Ok)
        {
            Ok(mut p) => {
                let synced = crate::hub::sync_claiming(
                    &mut p,
                    if claiming.load(Ordering::Relaxed) {
                        AHEAD
                    } else {
                        0
                    },
                );
                let pending = p.hub_pending().ok();
                project = Some(p);
                (synced, pending)
            }
            Err(e) => (Err(e), None),
        };
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        let before = s.clone();
        match outcome {
            (Ok((synced, claimed)), _) => {
                s.connected = Some(true);
                s.claimed = claimed;
                s.refused = !synced.refused.is_empty();
                s.pending = synced.pending;
                s.error = synced
                    .refused
                    .first()
                    .map(|why| match synced.refused.len() {
                        1 => why.clone(),
                        n => format!("{why} (and {} more)", n - 1),
                    });
                s.pulled += synced.pulled;
            }
            (Err(e), pending) => {
                let unreachable = crate::hub::is_unreachable(&e);
                s.connected = Some(!unreachable);
                s.refused = !unreachable;
                if let Some(n) = pending {
                    s.pending = n;
                }
                s.error = Some(format!("{e:#}"));
                s.claimed.clear();
            }
        }
        if *s != before
            && let Some(ctx) = ctx
        {
            ctx.request_repaint();
        }
    }
}
