//! The window's sync with a team hub: a background thread with its own connections to the
//! replica and to the hub, which syncs right after each decision (the decision is
//! committed to the replica first, as always: the hub being down never holds up a key),
//! pulls as soon as the hub announces another replica's events (PostgreSQL's
//! `LISTEN`/`NOTIFY`), and syncs every few seconds besides.
//! The top bar shows what it last saw: connected, offline, events waiting.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the replica syncs when nothing happens.
pub const EVERY: Duration = Duration::from_secs(3);

/// How often a replica whose login has no password, or had it refused, tries the hub again
/// by itself while none is typed (a password set meanwhile in `~/.pgpass` or `PGPASSWORD`
/// counts then): every try is a failed login in the server's log, so not every few seconds
/// nor after every decision.
pub const PASSWORD_EVERY: Duration = Duration::from_secs(60);

/// How often an open window trims its replica's file cache, after the first sync.
pub const TRIM_EVERY: Duration = Duration::from_secs(600);

/// How many samples the window keeps claimed on the hub: the one on screen and the next,
/// so that a decision moves on to a claimed sample at once.
pub const AHEAD: usize = 2;

/// What the last sync found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HubState {
    /// `None` before the first sync ends; `Some(false)` when the hub could not be reached.
    pub connected: Option<bool>,
    /// The hub answered, but the sync failed (or the replica could not be read): not
    /// something that waiting cures.
    pub refused: bool,
    /// Local events not on the hub yet.
    pub pending: u64,
    /// Of `pending`, the events the hub refused (see [`crate::hub::Refused`]), and why
    /// it refused the first of them.
    pub refused_events: u64,
    pub first_refusal: Option<String>,
    /// Why the last sync failed.
    pub error: Option<String>,
    /// The hub wants a password for this login, or refused the one given: the window
    /// asks for it.
    pub password: Option<crate::hub::PasswordProblem>,
    /// A password problem came up since the window last looked (see
    /// [`HubSync::take_password_news`]).
    password_news: bool,
    /// The hub's name of the project.
    pub name: String,
    /// This replica's login's highest keylabel role on the hub, once a connection has said,
    /// read again every few seconds (the review view refuses decisions the hub would
    /// refuse).
    pub role: Option<crate::hub::Role>,
    /// The samples this annotator holds claims on, in queue order (empty while offline:
    /// the local queue is used then).
    pub claimed: Vec<crate::project::SampleId>,
    /// Events pulled since the window last caught up (see [`HubSync::take_pulled`]).
    pulled: u64,
    /// Samples pulled since then (see [`HubSync::take_samples`]).
    samples: u64,
    /// The hub was reached again after being out of reach (see [`HubSync::take_back`]).
    back: bool,
    /// The hub project's classes or settings changed since the window last looked (see
    /// [`HubSync::take_project_changed`]).
    project_changed: bool,
}

/// The sync thread of one open replica; dropping it ends the thread.
pub struct HubSync {
    /// What the window and the thread share.
    shared: Arc<Shared>,
    /// Taken when dropped: the thread then gives up the claims held and ends.
    wake: Option<Sender<()>>,
    /// Says the thread has ended.
    done: Receiver<()>,
}

impl HubSync {
    /// Starts syncing the replica at `path` (linked to the hub project `name`).
    pub fn start(path: &Path, name: String, ctx: Option<egui::Context>) -> HubSync {
        let shared = Arc::new(Shared {
            state: Mutex::new(HubState {
                name,
                ..Default::default()
            }),
            claiming: AtomicBool::new(true),
            showing: Mutex::new(None),
            trim_every: Mutex::new(TRIM_EVERY),
        });
        let (wake, rx) = channel();
        let (ended, done) = channel();
        let theirs = Arc::clone(&shared);
        let path = path.to_path_buf();
        let _ = std::thread::Builder::new()
            .name("keylabel-hub-sync".into())
            .spawn(move || {
                run(&path, &rx, &theirs, ctx.as_ref());
                let _ = ended.send(());
            });
        HubSync {
            shared,
            wake: Some(wake),
            done,
        }
    }

    /// The sample on screen, to be claimed as well (`None` while the window shows the
    /// hub's own pick or nothing to label); a change syncs at once.
    pub fn set_showing(&self, sample: Option<crate::project::SampleId>) {
        let mut showing = self
            .shared
            .showing
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if *showing != sample {
            *showing = sample;
            drop(showing);
            self.poke();
        }
    }

    /// Keeps samples claimed for this annotator (while labeling) or not (while reviewing,
    /// say); takes effect at the next sync.
    pub fn set_claiming(&self, on: bool) {
        self.shared.claiming.store(on, Ordering::Relaxed);
    }

    /// How often the sync thread keeps a replica's file cache within its limit: at its
    /// first sync, then every [`TRIM_EVERY`] unless set (files fetched ahead and on demand
    /// pile up over a long day of labeling).
    pub fn set_trim_every(&self, every: Duration) {
        *self
            .shared
            .trim_every
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = every;
    }

    /// Syncs now (after a decision).
    pub fn poke(&self) {
        if let Some(wake) = &self.wake {
            let _ = wake.send(());
        }
    }

    pub fn state(&self) -> HubState {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many events arrived from the hub since the last call: the window reads its
    /// counts and the sample on screen again when some did.
    pub fn take_pulled(&self) -> u64 {
        self.take(|s| &mut s.pulled)
    }

    /// How many samples an admin added on the hub since the last call: the window reads
    /// its counts and its queue again.
    pub fn take_samples(&self) -> u64 {
        self.take(|s| &mut s.samples)
    }

    /// Whether a sync took in a change of the hub project's classes or settings since the
    /// last call: the window reads them again.
    pub fn take_project_changed(&self) -> bool {
        self.take(|s| &mut s.project_changed)
    }

    /// Whether the hub was reached again after being out of reach since the last call
    /// (images whose files could not be fetched meanwhile are worth trying again).
    pub fn take_back(&self) -> bool {
        self.take(|s| &mut s.back)
    }

    /// Whether the hub asked for a password (or refused the one typed) since the last
    /// call: the window then asks for it.
    pub fn take_password_news(&self) -> bool {
        self.take(|s| &mut s.password_news)
    }

    /// A password was typed for this replica's login (and given to
    /// [`crate::hub::HubUrl::give_password`]): syncs now, and the next refusal is news.
    pub fn password_typed(&self) {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .password = None;
        self.poke();
    }

    /// The news `field` holds, left at its default.
    fn take<T: Default>(&self, field: impl FnOnce(&mut HubState) -> &mut T) -> T {
        let mut state = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(field(&mut state))
    }
}

impl HubState {
    /// Why the window offers no class changes on this replica: once the hub has said who
    /// the login is, only a hub admin changes a team project's classes (an admin offline
    /// is told so when they try).
    pub fn class_refusal(&self) -> Option<String> {
        match self.role {
            Some(crate::hub::Role::Admin) | None => None,
            Some(role) => Some(format!(
                "Only a hub admin changes the classes of the team project “{}”; you are a hub \
                 {}.",
                self.name,
                role.as_str()
            )),
        }
    }

    /// Why the window cannot import into this replica now, from the hub's last word: only
    /// a hub admin adds samples to a team project, and only with the hub in reach.
    pub fn import_refusal(&self) -> Option<String> {
        let name = &self.name;
        match (self.connected, self.role) {
            (Some(true), Some(crate::hub::Role::Admin)) => None,
            (Some(true), role) => Some(format!(
                "Only a hub admin adds samples to the team project “{name}”; you are {}.",
                role.map_or("no keylabel user".into(), |r| format!(
                    "a hub {}",
                    r.as_str()
                ))
            )),
            (None, _) => Some(format!(
                "Samples are added to the team project “{name}” on its hub: waiting for it to \
                 answer."
            )),
            (Some(false), _) => Some(format!(
                "Samples are added to the team project “{name}” on its hub, which is out of \
                 reach now."
            )),
        }
    }
}

/// How long the sync thread listens for the hub's news before it looks for a decision
/// made here (the longest a decision waits for its sync to start).
const SLICE: Duration = Duration::from_millis(50);

/// Why the replica syncs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Why {
    /// A decision was made here.
    Decided,
    /// Nothing happened for [`EVERY`].
    Timer,
    /// Another replica put events on the hub: only a pull is needed.
    News,
}

/// The connection to the hub the sync thread keeps, listening for new events.
type Connection = (
    postgres::Client,
    crate::hub::Listening,
    Option<crate::hub::Role>,
);

/// How long quitting waits for the sync threads of closed replicas to give their claims up.
pub const RELEASE_WAIT: Duration = Duration::from_secs(2);

/// The sync threads told to end and not known to have ended: each says so on its receiver.
static CLOSING: Mutex<Vec<Receiver<()>>> = Mutex::new(Vec::new());

impl Drop for HubSync {
    /// Closing the replica (or the window) gives up the claims held, so that the others
    /// get those samples at once; a hub out of reach lets them expire after the lease. The
    /// thread does it on its own: closing never waits for the hub (quitting does, up to
    /// [`RELEASE_WAIT`], in [`finish_closing`]).
    fn drop(&mut self) {
        drop(self.wake.take());
        let (_, done) = channel();
        let done = std::mem::replace(&mut self.done, done);
        let mut closing = CLOSING.lock().unwrap_or_else(|p| p.into_inner());
        // Those that have ended are forgotten.
        closing.retain(|d| matches!(d.try_recv(), Err(TryRecvError::Empty)));
        closing.push(done);
    }
}

/// Waits, up to `within` in all, for the sync threads of the replicas closed so far to
/// give their claims up and end (before the process exits, which would cut them off).
pub fn finish_closing(within: Duration) {
    let deadline = Instant::now() + within;
    let closing = std::mem::take(&mut *CLOSING.lock().unwrap_or_else(|p| p.into_inner()));
    for done in closing {
        let _ = done.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    }
}

/// What the window and the sync thread share.
struct Shared {
    state: Mutex<HubState>,
    /// Whether to keep samples claimed (the labeling view is shown); otherwise the syncs
    /// only exchange events and the claims held run out.
    claiming: AtomicBool,
    /// The sample on screen, once the hub's first claims have been taken in: claimed too
    /// (see [`crate::hub::claims::claim_ahead`]).
    showing: Mutex<Option<crate::project::SampleId>>,
    /// How often the file cache is trimmed (see [`HubSync::set_trim_every`]).
    trim_every: Mutex<Duration>,
}

impl Shared {
    /// Whether the hub's last word was that this login's password is missing or refused.
    fn asking_password(&self) -> bool {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.password.is_some()
    }
}

fn run(path: &Path, rx: &Receiver<()>, shared: &Shared, ctx: Option<&egui::Context>) {
    let (state, claiming) = (&shared.state, &shared.claiming);
    let mut last = Instant::now() - EVERY;
    // Its own connection to the replica, kept between syncs (opened again after an error),
    // and one to the hub.
    let mut project: Option<crate::Project> = None;
    let mut hub: Option<Connection> = None;
    // The replica's source of files, when it fetches them from the hub (a connection of
    // its own: fetching ahead never waits for the window's loader, nor it for this).
    let files: std::cell::OnceCell<Option<std::sync::Arc<crate::hub::files::HubFiles>>> =
        std::cell::OnceCell::new();
    let mut trimmed: Option<Instant> = None;
    loop {
        let every = if shared.asking_password() {
            PASSWORD_EVERY
        } else {
            EVERY
        };
        let Some(why) = wait(rx, &mut hub, last + every) else {
            if let (Some((client, ..)), Some(p)) = (hub.as_mut(), project.as_ref())
                && let Ok((link, _)) = crate::hub::link_of(p)
            {
                let _ = crate::hub::claims::release(client, link.project);
            }
            return;
        };
        // A decision made while the password is asked for waits for it (typing it clears
        // the question and wakes the thread).
        if why == Why::Decided && shared.asking_password() && last.elapsed() < PASSWORD_EVERY {
            continue;
        }
        if why != Why::News {
            last = Instant::now();
        }
        let ahead = match why {
            Why::News => None,
            _ if claiming.load(Ordering::Relaxed) => Some(AHEAD),
            _ => Some(0),
        };
        let outcome = match project
            .take()
            .map_or_else(|| crate::Project::open(path), Ok)
        {
            Ok(mut p) => {
                let showing = *shared.showing.lock().unwrap_or_else(|p| p.into_inner());
                let synced = sync_once(&mut p, &mut hub, ahead, showing, why == Why::Timer);
                if let Ok((_, claimed, _)) = &synced
                    && let Some(files) =
                        files.get_or_init(|| crate::hub::files::HubFiles::of(&p).ok().flatten())
                {
                    let ahead = fetch_ahead(&p, files, claimed.as_deref().unwrap_or_default());
                    // At the first sync and then now and then: the cache kept within its
                    // limit, what comes kept.
                    let every = *shared.trim_every.lock().unwrap_or_else(|p| p.into_inner());
                    if trimmed.is_none_or(|t| t.elapsed() >= every) {
                        trimmed = Some(Instant::now());
                        if let (Ok(limit), Ok(keep)) = (
                            crate::hub::files::cache_limit(&p),
                            files.files_of(&p, &ahead),
                        ) {
                            let _ = files.trim(limit, &keep);
                        }
                    }
                }
                let pending = p.hub_pending().ok();
                let refusal = p.hub_first_refusal().ok().flatten();
                project = Some(p);
                (synced, pending, refusal)
            }
            Err(e) => (Err(e), None, None),
        };
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        let before = s.clone();
        match outcome {
            (Ok((synced, claimed, role)), _, refusal) => {
                s.back |= s.connected == Some(false);
                s.connected = Some(true);
                s.role = role;
                if let Some(claimed) = claimed {
                    s.claimed = claimed;
                }
                s.refused = false;
                s.error = None;
                s.password = None;
                s.pending = synced.pending;
                s.refused_events = synced.refused;
                s.first_refusal = refusal;
                s.pulled += synced.pulled;
                s.samples += synced.samples;
                s.project_changed |= synced.classes_changed || synced.settings_changed;
            }
            (Err(e), pending, _) => {
                let unreachable = crate::hub::is_unreachable(&e);
                s.connected = Some(!unreachable);
                s.refused = !unreachable;
                if let Some(n) = pending {
                    s.pending = n;
                }
                s.error = Some(format!("{e:#}"));
                let password = crate::hub::password_problem(&e).cloned();
                s.password_news |= password.is_some() && password != s.password;
                s.password = password;
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

/// Files fetched ahead per sync: a few, so that a slow link never holds syncs up long.
const FETCH_PER_SYNC: usize = 8;

/// Brings into the cache the files of the samples to come, those claimed and then the
/// local queue's next ones ([`crate::hub::files::AHEAD`]), a few per sync: with the hub out
/// of reach the annotator goes on with what is there. A fetch that fails is left to the
/// window's loader, which says why when the image is needed. The samples to come.
fn fetch_ahead(
    project: &crate::Project,
    files: &crate::hub::files::HubFiles,
    claimed: &[crate::project::SampleId],
) -> Vec<crate::project::SampleId> {
    let Ok(Some(annotator)) = crate::hub::replica_annotator(project) else {
        return claimed.to_vec();
    };
    let mut ids = claimed.to_vec();
    let next = crate::hub::files::queue_ahead(project, &annotator, crate::hub::files::AHEAD);
    for id in next.unwrap_or_default() {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let _ = files.fetch_samples(project, &ids, FETCH_PER_SYNC);
    ids
}

/// Waits for a reason to sync: a decision made here, news from the hub, or `due`.
/// `None` when the window is gone.
fn wait(rx: &Receiver<()>, hub: &mut Option<Connection>, due: Instant) -> Option<Why> {
    loop {
        match rx.try_recv() {
            Ok(()) => {
                // Several decisions in a burst: one sync.
                while rx.try_recv().is_ok() {}
                return Some(Why::Decided);
            }
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => {}
        }
        let left = due.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Some(Why::Timer);
        }
        match hub {
            Some((client, listening, _)) => {
                match crate::hub::new_events_from_others(client, *listening, left.min(SLICE)) {
                    Ok(true) => return Some(Why::News),
                    Ok(false) => {}
                    // Lost: the next sync connects again.
                    Err(_) => *hub = None,
                }
            }
            None => {
                return match rx.recv_timeout(left) {
                    Ok(()) => {
                        while rx.try_recv().is_ok() {}
                        Some(Why::Decided)
                    }
                    Err(RecvTimeoutError::Timeout) => Some(Why::Timer),
                    Err(RecvTimeoutError::Disconnected) => None,
                };
            }
        }
    }
}

/// One sync of `project` on the kept connection `hub` (made first when there is none, and
/// dropped after an error), keeping `ahead` samples claimed, `showing` among them (`None`:
/// only the events, the claims left as they are); with `recheck_role`, the login's role is
/// read again first. The claims held, when asked for, and the login's role.
fn sync_once(
    project: &mut crate::Project,
    hub: &mut Option<Connection>,
    ahead: Option<usize>,
    showing: Option<crate::project::SampleId>,
    recheck_role: bool,
) -> anyhow::Result<(
    crate::hub::Synced,
    Option<Vec<crate::project::SampleId>>,
    Option<crate::hub::Role>,
)> {
    // A new connection offers again what the hub refused before, and so does a sync that
    // finds the login's role changed (granted the reviewer role, say); the others do not.
    let mut refused = crate::hub::Refused::Skip;
    match hub {
        None => {
            let (link, url) = crate::hub::link_of(project)?;
            let mut client = url.connect()?;
            let listening = crate::hub::listen(&mut client, link.project)?;
            // Unknown when the hub cannot say: the hub still decides what it takes.
            let role = crate::hub::own_role(&mut client).ok().flatten();
            *hub = Some((client, listening, role));
            refused = crate::hub::Refused::Retry;
        }
        Some((client, _, role)) if recheck_role => {
            if let Ok(now) = crate::hub::own_role(client)
                && now != *role
            {
                *role = now;
                refused = crate::hub::Refused::Retry;
            }
        }
        Some(_) => {}
    }
    let (client, _, role) = hub.as_mut().expect("connected above");
    let role = *role;
    match crate::hub::sync_claiming_on(project, client, ahead.unwrap_or(0), showing, refused) {
        Ok((synced, claimed)) => Ok((synced, ahead.map(|_| claimed), role)),
        Err(e) => {
            *hub = None;
            Err(e)
        }
    }
}
