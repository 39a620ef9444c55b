//! A team hub: one project labeled by many annotators at once, each on a local replica (an
//! ordinary project file, where every decision is committed first), synced through a
//! shared PostgreSQL database. There is no keylabel server: PostgreSQL is the server, and
//! its grants and row-level security are the permissions (see [`schema`]).
//!
//! The log is a set of events with global ids, so a sync is the union of two logs: push
//! what the hub lacks (a replica remembers which uids the hub holds), pull what came after
//! the last event pulled (the hub's `seq`, which becomes visible in commit order). The
//! hub adds what a file cannot: identities (the annotator on a linked replica is the
//! PostgreSQL login), permissions and claims.

pub mod claims;
pub mod classes;
pub mod files;
pub mod password;
pub mod samples;
pub mod schema;
pub mod settings;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

pub use password::{PasswordProblem, password_problem};

use crate::progress::Progress;
use crate::project::stored::StoredEnum;
use crate::project::{HubLink, LoggedEvent, NewEvent, Project, Sample, SampleId, SampleKind};

/// A hub's address: a libpq URL (`postgres://user@host:port/dbname`, `?sslmode=require`
/// honoured). A password comes from the URL, one typed this session, `PGPASSWORD` or
/// `~/.pgpass` (`PGPASSFILE`), and is never stored or printed (see [`password`]).
#[derive(Clone, Debug)]
pub struct HubUrl {
    config: postgres::Config,
    /// The URL without its password, as stored in a replica and printed.
    shown: String,
}

impl HubUrl {
    pub fn parse(url: &str) -> Result<HubUrl> {
        let shown = without_password(url);
        let mut config: postgres::Config = url
            .parse()
            .with_context(|| format!("`{shown}` is not a PostgreSQL URL"))?;
        if config.get_user().is_none() {
            let user = std::env::var("PGUSER")
                .or_else(|_| std::env::var("USER"))
                .unwrap_or_else(|_| "postgres".into());
            config.user(&user);
        }
        if config.get_hosts().is_empty() {
            match std::env::var("PGHOST") {
                Ok(h) => {
                    config.host(&h);
                }
                Err(_) if Path::new("/var/run/postgresql").is_dir() => {
                    config.host_path("/var/run/postgresql");
                }
                Err(_) => {
                    config.host("localhost");
                }
            }
        }
        if config.get_ports().is_empty()
            && let Some(p) = std::env::var("PGPORT").ok().and_then(|p| p.parse().ok())
        {
            config.port(p);
        }
        if config.get_connect_timeout().is_none() {
            // libpq waits for ever by default; a window saying "offline" should not.
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        Ok(HubUrl { config, shown })
    }

    /// The URL without a password.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The login role.
    pub fn user(&self) -> &str {
        self.config.get_user().unwrap_or_default()
    }

    /// A connection as this URL's login. A password the hub asks for and was not given is
    /// asked for at the terminal when the command line allows it
    /// ([`password::prompt_at_terminal`]); a missing or refused password is a
    /// [`PasswordProblem`], which waiting does not cure (see [`is_unreachable`]).
    pub fn connect(&self) -> Result<postgres::Client> {
        let context = || format!("cannot connect to the hub at `{}`", self.shown);
        let as_problem = |err: postgres::Error| match PasswordProblem::of(&err, self.user()) {
            Some(problem) => anyhow::Error::new(problem),
            None => anyhow::Error::new(err),
        };
        // Looked up at each connection: a password typed meanwhile counts.
        let login = password::Login::of(&self.config);
        let mut config = self.config.clone();
        if config.get_password().is_none()
            && let Some(pw) = login.password()
        {
            config.password(pw);
        }
        let used = |config: &postgres::Config| {
            config
                .get_password()
                .and_then(|p| std::str::from_utf8(p).ok())
                .map(str::to_string)
        };
        let err = match config.connect(tls::connector()?) {
            Ok(client) => {
                login.connected(used(&config).as_deref());
                return Ok(client);
            }
            Err(err) => err,
        };
        if let Some(PasswordProblem::Missing { .. }) = PasswordProblem::of(&err, self.user())
            && let Some(typed) = login.prompt(&self.shown)
        {
            config.password(typed);
            return config
                .connect(tls::connector()?)
                .map_err(as_problem)
                .with_context(context);
        }
        Err(as_problem(err).context(context()))
    }

    /// Keeps `password`, typed for this URL's login, in this process's memory for the rest
    /// of the session: later connections use it. With `save`, it is also saved in the
    /// password file once the hub takes it (see [`password::take_save_outcome`]); else it
    /// is never written anywhere.
    pub fn give_password(&self, password: &str, save: bool) {
        let login = password::Login::of(&self.config);
        if save {
            login.remember_and_save(password);
        } else {
            login.remember(password);
        }
    }
}

/// TLS as libpq's `sslmode=prefer` and `require` do it: encrypted when the server offers
/// it (required with `require`), the server's certificate not checked (a signature made
/// with it still is). Pure Rust (rustls with ring): no system library needed.
mod tls {
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    pub fn connector() -> anyhow::Result<tokio_postgres_rustls::MakeRustlsConnect> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth();
        Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
    }

    #[derive(Debug)]
    struct AnyCertificate(Arc<CryptoProvider>);

    impl ServerCertVerifier for AnyCertificate {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}

/// `url` with the password of its user info (if any) taken out.
pub fn without_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!(
                "{}{user}{}{}",
                &url[..scheme_end + 3],
                &authority[at..],
                &rest[authority_end..]
            )
        }
        None => url.to_string(),
    }
}

/// `init` of the hub at `url`: schema and roles, created or migrated.
pub fn init(url: &HubUrl) -> Result<i64> {
    schema::init(&mut url.connect()?)
}

/// A role a hub user has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Annotator,
    Reviewer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Annotator => "annotator",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }

    pub fn group(self) -> &'static str {
        match self {
            Role::Annotator => "keylabel_annotator",
            Role::Reviewer => "keylabel_reviewer",
            Role::Admin => "keylabel_admin",
        }
    }
}

/// One hub user, as `hub user list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    pub name: String,
    pub role: Role,
}

/// Whether `name` is a plain role name keylabel creates (quoted anyway).
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    if !ok {
        bail!(
            "`{name}` cannot be a hub user name: use letters, digits, `_`, `-` or `.` (at most \
             63)"
        );
    }
    if name.starts_with("pg_") || name.starts_with("keylabel_") {
        bail!("`{name}` is reserved: names starting with `pg_` or `keylabel_` are not users");
    }
    Ok(())
}

/// Adds a login role `name` with `role` and `password`. An admin may add users.
pub fn add_user(url: &HubUrl, name: &str, role: Role, password: &str) -> Result<()> {
    check_name(name)?;
    if password.is_empty() {
        bail!("an empty password: type the new user's password on standard input");
    }
    let mut client = url.connect()?;
    let mut tx = client.transaction()?;
    // The password is sent as a string literal inside the statement (roles take no
    // parameters); it is escaped here and never printed.
    let literal = format!("'{}'", password.replace('\'', "''"));
    let admin = if role == Role::Admin {
        " CREATEROLE"
    } else {
        ""
    };
    tx.batch_execute(&format!(
        "CREATE ROLE \"{name}\" LOGIN{admin} PASSWORD {literal}"
    ))
    .with_context(|| format!("cannot add the hub user `{name}`"))?;
    let with_admin = if role == Role::Admin {
        " WITH ADMIN OPTION"
    } else {
        ""
    };
    tx.batch_execute(&format!("GRANT {} TO \"{name}\"{with_admin}", role.group()))?;
    if role == Role::Admin {
        for g in schema::ROLES {
            tx.batch_execute(&format!("GRANT {g} TO \"{name}\" WITH ADMIN OPTION"))?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The hub's users, by name, each with their highest role.
pub fn users(url: &HubUrl) -> Result<Vec<User>> {
    let mut client = url.connect()?;
    let rows = client.query(
        "SELECT m.rolname, g.rolname FROM pg_auth_members a \
         JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member \
         WHERE g.rolname IN ('keylabel_annotator', 'keylabel_reviewer', 'keylabel_admin') \
           AND m.rolcanlogin ORDER BY m.rolname",
        &[],
    )?;
    let mut out: Vec<User> = Vec::new();
    for r in rows {
        let name: String = r.get(0);
        let role = match r.get::<_, String>(1).as_str() {
            "keylabel_admin" => Role::Admin,
            "keylabel_reviewer" => Role::Reviewer,
            _ => Role::Annotator,
        };
        match out.iter_mut().find(|u| u.name == name) {
            Some(u) => u.role = u.role.max_with(role),
            None => out.push(User { name, role }),
        }
    }
    Ok(out)
}

impl Role {
    fn rank(self) -> u8 {
        match self {
            Role::Annotator => 0,
            Role::Reviewer => 1,
            Role::Admin => 2,
        }
    }

    fn max_with(self, other: Role) -> Role {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

/// The highest keylabel role of the login `client` is connected as (a superuser counts as
/// an admin); `None` when it holds none.
pub fn own_role(client: &mut postgres::Client) -> Result<Option<Role>> {
    let row = client.query_one(
        "SELECT pg_has_role(current_user, 'keylabel_admin', 'MEMBER'), \
                pg_has_role(current_user, 'keylabel_reviewer', 'MEMBER'), \
                pg_has_role(current_user, 'keylabel_annotator', 'MEMBER')",
        &[],
    )?;
    Ok([Role::Admin, Role::Reviewer, Role::Annotator]
        .into_iter()
        .enumerate()
        .find(|(i, _)| row.get::<_, bool>(*i))
        .map(|(_, r)| r))
}

/// Rows per statement when copying samples and events.
const BATCH: usize = 1000;

/// What `publish` put on the hub.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Published {
    pub project: i64,
    pub samples: u64,
    pub events: u64,
    pub files: u64,
}

/// Puts the local project at `project` on the hub as `name` (classes, settings, samples,
/// events, and with `with_files` every sample file's bytes), and links it. One transaction:
/// a failed or cancelled publish leaves nothing on the hub. Refuses a name already taken.
/// `progress` sees its three passes (samples, files, events).
pub fn publish(
    project: &mut Project,
    url: &HubUrl,
    name: &str,
    with_files: bool,
    progress: &dyn Progress,
) -> Result<Published> {
    if let Some(link) = project.hub_link()? {
        bail!(
            "`{}` is already linked to the hub project `{}` at `{}`",
            project.path().display(),
            link.name,
            link.url
        );
    }
    let mut client = url.connect()?;
    let mut tx = client.transaction()?;
    if tx
        .query_opt("SELECT 1 FROM keylabel.projects WHERE name = $1", &[&name])
        .context("the hub has no keylabel schema yet: run `keylabel hub init URL` first")?
        .is_some()
    {
        bail!("the hub already has a project named `{name}`");
    }
    let settings = project.settings()?;
    let rule = claims::Rule::of(&settings);
    let settings = serde_json::to_string(&settings)?;
    let id: i64 = tx
        .query_one(
            "INSERT INTO keylabel.projects(name, task, settings, with_files) \
             VALUES ($1, $2, $3, $4) RETURNING id",
            &[&name, &project.task().as_str(), &settings, &with_files],
        )
        .context("cannot publish: only a hub admin publishes projects")?
        .get(0);
    for c in project.classes()? {
        tx.execute(
            "INSERT INTO keylabel.classes(project_id, id, name, hotkey, color, position, \
             archived) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &id,
                &c.id.0,
                &c.name,
                &c.key,
                &c.color,
                &c.position,
                &c.archived,
            ],
        )?;
    }
    let mut out = Published {
        project: id,
        ..Default::default()
    };
    let total = project.sample_count()?;
    let mut batch: Vec<Sample> = Vec::with_capacity(BATCH);
    progress.start("Putting the samples on the hub", total);
    project.each_sample(|s| {
        batch.push(s);
        if batch.len() == BATCH {
            if progress.cancelled() {
                return Err(publish_cancelled(project));
            }
            out.samples += insert_samples(&mut tx, id, &rule, &batch)?;
            progress.advance(batch.len() as u64);
            batch.clear();
        }
        Ok(())
    })?;
    out.samples += insert_samples(&mut tx, id, &rule, &batch)?;
    progress.advance(batch.len() as u64);
    progress.finish();
    samples::insert_aliases(&mut tx, id, &project.all_aliases()?)?;
    if with_files {
        out.files = upload_files(project, &mut tx, progress, total)?;
    }
    let mut events = Vec::with_capacity(BATCH);
    let mut uids = Vec::new();
    progress.start("Putting the events on the hub", project.event_count()?);
    project.each_logged_event(|e| {
        uids.push(e.uid.clone());
        events.push(e);
        if events.len() == BATCH {
            if progress.cancelled() {
                return Err(publish_cancelled(project));
            }
            out.events += push_batch(&mut tx, id, &events)?;
            progress.advance(events.len() as u64);
            events.clear();
        }
        Ok(())
    })?;
    out.events += push_batch(&mut tx, id, &events)?;
    progress.advance(events.len() as u64);
    progress.finish();
    tx.commit()?;
    // Statistics for the new rows, so that joins page through them by index at once. A
    // hub not migrated yet (`hub init`) lacks the function: autovacuum does it later.
    let _ = client.batch_execute("SELECT keylabel.analyze_published()");
    let pulled: i64 = client
        .query_one(
            "SELECT coalesce(max(seq), 0) FROM keylabel.events WHERE project_id = $1",
            &[&id],
        )?
        .get(0);
    project.hub_mark_held(&uids)?;
    samples::mark_pulled(project, project.max_sample_id()?)?;
    project.set_hub_link(&HubLink {
        url: url.shown().to_string(),
        name: name.to_string(),
        project: id,
        pulled,
        last_sync: Some(crate::project::now_rfc3339()),
    })?;
    Ok(out)
}

/// Stores the file of every image sample of `project` (`total` samples) on the hub in
/// `tx`; how many were new. A file that cannot be read or changed since its import stops
/// the uploads, but the rest are still checked, so that the error names every such file
/// (the first few) and the user fixes them at once.
fn upload_files(
    project: &Project,
    tx: &mut postgres::Transaction<'_>,
    progress: &dyn Progress,
    total: u64,
) -> Result<u64> {
    const SHOWN: usize = 5;
    let mut uploaded = 0;
    let mut bad: Vec<String> = Vec::new();
    let mut bad_count = 0usize;
    progress.start("Putting the sample files on the hub", total);
    project.each_sample(|s| {
        if progress.cancelled() {
            return Err(publish_cancelled(project));
        }
        if s.kind == SampleKind::Image {
            match read_checked(&project.resolve(&s.path), &s.hash) {
                // The hub failing ends the publish at once; a bad file only the uploads.
                Ok(bytes) if bad.is_empty() => uploaded += store_file(tx, &s.hash, &bytes)?,
                Ok(_) => {}
                Err(e) => {
                    bad_count += 1;
                    if bad.len() < SHOWN {
                        bad.push(format!("{e:#}"));
                    }
                }
            }
        }
        progress.advance(1);
        Ok(())
    })?;
    progress.finish();
    match bad.as_slice() {
        [] => Ok(uploaded),
        [one] if bad_count == 1 => bail!("{one}; nothing was put on the hub"),
        _ => bail!(
            "{bad_count} sample files cannot be put on the hub; nothing was:\n  {}{}",
            bad.join("\n  "),
            if bad_count > bad.len() {
                format!("\n  … and {} more", bad_count - bad.len())
            } else {
                String::new()
            }
        ),
    }
}

/// The bytes of `file`, refused unless their content hash is `hash` (as import computed
/// it).
fn read_checked(file: &Path, hash: &str) -> Result<Vec<u8>> {
    let bytes = crate::media::read_file(file)
        .with_context(|| format!("cannot read `{}` to put it on the hub", file.display()))?;
    if blake3::hash(&bytes).to_hex().as_str() != hash {
        bail!(
            "`{}` changed since it was imported (its content hash differs): import it again \
             before putting it on the hub with its file",
            file.display()
        );
    }
    Ok(bytes)
}

/// Stores the bytes of `file` on the hub under its content hash, which must be `hash` (as
/// import computed it); how many files were new (0 or 1).
fn upload_file(tx: &mut postgres::Transaction<'_>, file: &Path, hash: &str) -> Result<u64> {
    store_file(tx, hash, &read_checked(file, hash)?)
}

/// Stores `bytes`, of content hash `hash`, on the hub; how many files were new (0 or 1).
fn store_file(tx: &mut postgres::Transaction<'_>, hash: &str, bytes: &[u8]) -> Result<u64> {
    Ok(tx.execute(
        "INSERT INTO keylabel.files(hash, bytes) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&hash, &bytes],
    )?)
}

/// The error of a publish of `project` cancelled before its end.
fn publish_cancelled(project: &Project) -> anyhow::Error {
    anyhow::anyhow!(
        "publishing `{}` was cancelled: nothing was put on the hub",
        project.path().display()
    )
}

/// Puts `samples` into hub project `project`, with their queue rows needing the decisions
/// `rule` asks.
fn insert_samples(
    tx: &mut postgres::Transaction<'_>,
    project: i64,
    rule: &claims::Rule,
    samples: &[Sample],
) -> Result<u64> {
    if samples.is_empty() {
        return Ok(0);
    }
    // One statement per batch, its columns as arrays.
    let col = |f: fn(&Sample) -> Option<&str>| samples.iter().map(f).collect::<Vec<_>>();
    let ids: Vec<i64> = samples.iter().map(|s| s.id.0).collect();
    let features: Vec<Option<String>> = samples
        .iter()
        .map(|s| {
            s.features
                .as_ref()
                .map(|f| serde_json::Value::Object(f.clone()).to_string())
        })
        .collect();
    let n = tx.execute(
        "INSERT INTO keylabel.samples(project_id, id, kind, name, path, row, hash, bytes, width, \
         height, format, text, features, imported_at, sha256) SELECT $1, * FROM \
         unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], \
         $8::bigint[], $9::integer[], $10::integer[], $11::text[], $12::text[], $13::text[], \
         $14::text[], $15::bytea[])",
        &[
            &project,
            &ids,
            &col(|s| Some(s.kind.as_str())),
            &col(|s| Some(&s.name)),
            &col(|s| Some(&s.path)),
            &samples.iter().map(|s| s.row).collect::<Vec<_>>(),
            &col(|s| Some(&s.hash)),
            &samples.iter().map(|s| s.bytes as i64).collect::<Vec<_>>(),
            &samples
                .iter()
                .map(|s| s.width.map(|w| w as i32))
                .collect::<Vec<_>>(),
            &samples
                .iter()
                .map(|s| s.height.map(|h| h as i32))
                .collect::<Vec<_>>(),
            &col(|s| s.format.as_deref()),
            &col(|s| s.text.as_deref()),
            &features,
            &col(|s| Some(&s.imported_at)),
            &samples
                .iter()
                .map(|s| s.sha256.as_ref().map(|d| d.as_slice()))
                .collect::<Vec<_>>(),
        ],
    )?;
    let qa: Vec<i64> = samples
        .iter()
        .map(|s| crate::project::qa_rank(&s.hash))
        .collect();
    let need = claims::need_sql("$4", "$5", "u.qa");
    tx.execute(
        &format!(
            "INSERT INTO keylabel.queue(project_id, sample_id, qa_rank, need) \
             SELECT $1, u.id, u.qa, {need} FROM unnest($2::bigint[], $3::bigint[]) u(id, qa)"
        ),
        &[
            &project,
            &ids,
            &qa,
            &i64::from(rule.overlap),
            &rule.qa_threshold,
        ],
    )?;
    Ok(n)
}

/// The hub's per-project locks (PostgreSQL advisory locks, held to the end of the
/// transaction that takes them).
#[derive(Clone, Copy, Debug)]
enum Lock {
    /// Appending events: sequence numbers become visible in commit order (see [`schema`]).
    Events = 1,
    /// Changing the classes: one change at a time, each seeing the one before.
    Classes = 2,
    /// Adding samples: ids are handed out in commit order (see [`samples`]).
    Samples = 3,
}

/// Takes `which` lock of hub project `project` in `tx`, waiting for whoever holds it.
fn lock(tx: &mut postgres::Transaction<'_>, which: Lock, project: i64) -> Result<()> {
    tx.execute(
        "SELECT pg_advisory_xact_lock($1::integer, $2::integer)",
        &[&(which as i32), &(project as i32)],
    )?;
    Ok(())
}

/// Appends `events` to the hub's log (those it holds already are skipped); returns how
/// many were new. Takes the project's append lock (see [`schema`]).
fn push_batch(
    tx: &mut postgres::Transaction<'_>,
    project: i64,
    events: &[LoggedEvent],
) -> Result<u64> {
    if events.is_empty() {
        return Ok(0);
    }
    // One call per batch, its columns as arrays; the lock is taken inside it (hub schema
    // 10), and replicas listening for this project are told at the commit.
    let text = |f: &dyn Fn(&NewEvent) -> Option<String>| -> Vec<Option<String>> {
        events.iter().map(|e| f(&e.event)).collect()
    };
    let labels = events
        .iter()
        .map(|e| serde_json::to_string(&e.event.labels))
        .collect::<Result<Vec<_>, _>>()?;
    let result = tx.query_one(
        "SELECT keylabel.append_events($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
         $13, $14, $15)",
        &[
            &(Lock::Events as i32),
            &project,
            &events_channel(project),
            &events.iter().map(|e| e.uid.as_str()).collect::<Vec<_>>(),
            &events.iter().map(|e| e.event.sample.0).collect::<Vec<_>>(),
            &events
                .iter()
                .map(|e| e.event.annotator.as_str())
                .collect::<Vec<_>>(),
            &events
                .iter()
                .map(|e| e.event.kind.as_str())
                .collect::<Vec<_>>(),
            &labels,
            &text(&|e| e.target.clone()),
            &text(&|e| e.note.clone()),
            &events.iter().map(|e| e.event.score).collect::<Vec<_>>(),
            &events
                .iter()
                .map(|e| e.event.source.as_str())
                .collect::<Vec<_>>(),
            &events.iter().map(|e| e.at.as_str()).collect::<Vec<_>>(),
            &events
                .iter()
                .map(|e| e.event.spent_ms.map(|m| m as i64))
                .collect::<Vec<_>>(),
            &text(&|e| e.boxes.as_deref().map(crate::project::boxes::to_json)),
        ],
    );
    match (result, events) {
        (Ok(row), _) => Ok(row.get::<_, i64>(0) as u64),
        (Err(err), [e]) => Err(refused(err, e)),
        (Err(err), _) => Err(anyhow::Error::new(err)
            .context(format!("cannot append {} events to the hub", events.len()))),
    }
}

/// The notification channel on which the hub announces new events of hub project
/// `project` (see [`listen`]).
fn events_channel(project: i64) -> String {
    format!("keylabel_events_{project}")
}

/// Makes `client` hear of every event another connection appends to hub project
/// `project`: [`new_events_from_others`] then says whether any came.
pub fn listen(client: &mut postgres::Client, project: i64) -> Result<Listening> {
    client.batch_execute(&format!("LISTEN {}", events_channel(project)))?;
    let own: i32 = client.query_one("SELECT pg_backend_pid()", &[])?.get(0);
    Ok(Listening { own })
}

/// A connection that listens for new events (see [`listen`]).
#[derive(Clone, Copy, Debug)]
pub struct Listening {
    /// The connection's own server process: its own appends are not news.
    own: i32,
}

/// Waits up to `wait` for events appended by other connections to the project `client`
/// listens to: `Ok(true)` when some were (all notifications so far are taken), `Ok(false)`
/// when none came. An error when the connection is lost.
pub fn new_events_from_others(
    client: &mut postgres::Client,
    listening: Listening,
    wait: std::time::Duration,
) -> Result<bool> {
    use postgres::fallible_iterator::FallibleIterator;
    let mut news = false;
    let first = client.notifications().timeout_iter(wait).next()?;
    if let Some(n) = first {
        news |= n.process_id() != listening.own;
        let mut notes = client.notifications();
        let mut more = notes.iter();
        while let Some(n) = more.next()? {
            news |= n.process_id() != listening.own;
        }
    }
    if client.is_closed() {
        bail!("the connection to the hub was lost");
    }
    Ok(news)
}

/// The first read of a hub's project failing, said in keylabel's words: a hub without
/// keylabel's schema, or a login that holds no keylabel role there.
fn first_read_failed(err: postgres::Error, login: &str) -> anyhow::Error {
    use postgres::error::SqlState;
    let why = match err.code() {
        Some(c) if *c == SqlState::INVALID_SCHEMA_NAME || *c == SqlState::UNDEFINED_TABLE => {
            "the hub has no keylabel schema: run `keylabel hub init URL` first".to_string()
        }
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => format!(
            "the hub refused the login `{login}`: it holds no keylabel role there (none was \
             given, or it was taken away); ask the hub's admin to give it one (`GRANT \
             keylabel_annotator TO \"{login}\"`, or a new user with `keylabel hub user add`)"
        ),
        _ => "cannot read the project from the hub".to_string(),
    };
    anyhow::Error::new(err).context(why)
}

/// A write to a hub project's `what` (its classes, its settings) refused for want of the
/// admin role, said so.
fn refused_unless_admin(err: postgres::Error, login: &str, what: &str) -> anyhow::Error {
    let denied = err
        .code()
        .is_some_and(|c| *c == postgres::error::SqlState::INSUFFICIENT_PRIVILEGE);
    let e = anyhow::Error::new(err);
    if denied {
        e.context(format!(
            "only a hub admin changes {what} of a hub project, and `{login}` is not one"
        ))
    } else {
        e
    }
}

/// Whether `e` is the hub refusing an append (a permission, or an event on a sample the
/// hub project lacks), not a failure to reach it: the other events still go.
fn is_refusal(e: &anyhow::Error) -> bool {
    use postgres::error::SqlState;
    e.chain()
        .filter_map(|c| c.downcast_ref::<postgres::Error>())
        .any(|pg| {
            pg.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE)
                || pg.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION)
        })
}

/// A refused append of `e`, said in keylabel's words.
fn refused(err: postgres::Error, e: &LoggedEvent) -> anyhow::Error {
    use postgres::error::SqlState;
    let (uid, who, kind) = (&e.uid, &e.event.annotator, e.event.kind.as_str());
    let why = match err.code() {
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => format!(
            "the hub refused event {uid} ({kind} by `{who}`): a hub user appends only their own \
             events, and only a reviewer review decisions"
        ),
        Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => format!(
            "the hub refused event {uid} ({kind} by `{who}`): its sample #{} is not in the hub \
             project (it was added to this replica only)",
            e.event.sample
        ),
        _ => format!("cannot append event {uid} to the hub"),
    };
    anyhow::Error::new(err).context(why)
}

/// Whether the file at `path` has the BLAKE3 content hash `hash` (as import computed it).
/// An unreadable file does not.
fn same_content(path: &Path, hash: &str) -> bool {
    let mut hasher = blake3::Hasher::new();
    std::fs::File::open(path)
        .and_then(|f| hasher.update_reader(f).map(|_| ()))
        .is_ok()
        && hasher.finalize().to_hex().as_str() == hash
}

/// What `join` made.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Joined {
    pub samples: u64,
    pub events: u64,
    /// Samples whose file is not under `--files` (or not published with the project).
    pub missing_files: u64,
    /// Samples whose file under `--files` is not the published one (its content hash
    /// differs), and the first few of their paths.
    pub changed_files: u64,
    pub changed: Vec<String>,
    /// For a project published with its files and joined without `--files`: the folder
    /// the files are fetched into when first needed.
    pub fetched_into: Option<PathBuf>,
}

/// Makes a new local replica at `local` of the hub project `name`, linked to it. Sample
/// files are looked for under `files` by their stored relative path and checked by
/// content hash (a file that is not there or differs is counted; validation names it);
/// without `files`, a project published with its files has them fetched on demand into
/// the cache folder beside `local` (see [`files`]). Refuses an existing `local` file. The replica
/// is made under a temporary name beside `local` and appears there only when complete:
/// a join that fails or is killed leaves nothing at `local`.
pub fn join(url: &HubUrl, name: &str, local: &Path, files: Option<&Path>) -> Result<Joined> {
    if local.file_name().is_none() {
        bail!("`{}` is not a file name", local.display());
    }
    // What a killed join left beside `local` goes first.
    crate::leftovers::remove_stale_project_files(local, "join");
    let temp = crate::leftovers::temporary_beside(local, "join");
    let remove_temp = || crate::leftovers::remove_project_files(&temp);
    remove_temp();
    let source = match files {
        Some(dir) => Files::Under(std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())),
        None => Files::FromHub(std::path::absolute(files::cache_folder_for(local))?),
    };
    let joined = join_into(url, name, &temp, source).and_then(|j| {
        // No other file may be replaced: a hard link fails when `local` exists.
        std::fs::hard_link(&temp, local).with_context(|| {
            format!(
                "cannot make the replica `{}` (it exists already?)",
                local.display()
            )
        })?;
        Ok(j)
    });
    remove_temp();
    joined
}

/// Where a new replica finds its sample files.
enum Files {
    /// Under this folder, by their stored relative paths.
    Under(PathBuf),
    /// Fetched from the hub into this cache folder, when the project was published with
    /// its files (else they are missing).
    FromHub(PathBuf),
}

/// [`join`] into the new project file `local`.
fn join_into(url: &HubUrl, name: &str, local: &Path, files: Files) -> Result<Joined> {
    let mut client = url.connect()?;
    let row = client
        .query_opt(
            "SELECT id, task, settings, with_files FROM keylabel.projects WHERE name = $1",
            &[&name],
        )
        .map_err(|e| first_read_failed(e, url.user()))?
        .with_context(|| format!("the hub has no project named `{name}`"))?;
    let (id, task, settings): (i64, String, String) = (row.get(0), row.get(1), row.get(2));
    let frame = match (files, row.get::<_, bool>(3)) {
        (Files::Under(dir), _) => samples::Frame::Under(dir),
        (Files::FromHub(cache), true) => samples::Frame::Cache(cache),
        (Files::FromHub(_), false) => samples::Frame::Own,
    };
    let task: crate::TaskKind = StoredEnum::from_stored(&task)
        .with_context(|| format!("the hub project `{name}` has an unknown task `{task}`"))?;
    let settings = settings::parse(name, &settings)?;
    let classes = classes::on_hub(&mut client, id)?;
    let mut project = project_with_classes(local, &classes, task)
        .with_context(|| format!("cannot copy the hub project `{name}`"))?;
    project.set_settings(&settings)?;
    // Copied in batches with one fsync at the end: an unfinished copy is discarded.
    project.set_bulk_writes(true)?;
    frame.record(&project)?;
    project.set_hub_link(&HubLink {
        url: url.shown().to_string(),
        name: name.to_string(),
        project: id,
        pulled: 0,
        last_sync: None,
    })?;
    let pulled = samples::pull(&mut project, &mut client, id)?;
    let synced = sync_with(&mut project, &mut client, Refused::Skip)?;
    project.set_bulk_writes(false)?;
    project.checkpoint()?;
    Ok(Joined {
        samples: pulled.samples,
        events: synced.pulled,
        missing_files: pulled.missing_files,
        changed_files: pulled.changed_files,
        changed: pulled.changed,
        fetched_into: match frame {
            samples::Frame::Cache(cache) => Some(cache),
            _ => None,
        },
    })
}

/// A new project file at `path` with exactly `classes` (ids, names, keys, colours, order),
/// for `task`: a replica, or the scratch file an import into one fills first.
fn project_with_classes(
    path: &Path,
    classes: &[crate::project::Class],
    task: crate::TaskKind,
) -> Result<Project> {
    let names: Vec<String> = classes.iter().map(|c| c.name.clone()).collect();
    let mut project = Project::create(path, &names, task)?;
    let made = project.classes()?;
    if made.iter().map(|c| c.id).ne(classes.iter().map(|c| c.id)) {
        bail!("its class ids cannot be copied (a class was removed before publishing)");
    }
    project.restore_classes(classes)?;
    Ok(project)
}

/// What one sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Synced {
    /// Local events the hub did not have.
    pub pushed: u64,
    /// Hub events the replica did not have.
    pub pulled: u64,
    /// Samples an admin added on the hub since the last sync (not in `sync --json`, whose
    /// shape is fixed).
    #[serde(skip)]
    pub samples: u64,
    /// Local events still not on the hub after the run.
    pub pending: u64,
    /// Of `pending`, the events the hub refused (now or at an earlier sync): kept on the
    /// replica, offered again only when a sync is asked to ([`Refused::Retry`]). Not in
    /// `sync --json`, whose shape is fixed: `status` and the window show it.
    #[serde(skip)]
    pub refused: u64,
    /// Why the hub refused events this run (an event recorded under another name than
    /// this replica's login, say), one line each; they hold nothing else up.
    #[serde(skip)]
    pub refusals: Vec<String>,
    /// The hub's classes changed since the last sync (and were taken in).
    #[serde(skip)]
    pub classes_changed: bool,
    /// The hub project's settings changed since the last sync (and were taken in).
    #[serde(skip)]
    pub settings_changed: bool,
}

/// Who labels on `project` when it is a replica of a hub: the login of its hub URL (the
/// hub lets nobody else append under that name). `None` for a project that is not linked.
pub fn replica_annotator(project: &Project) -> Result<Option<String>> {
    match project.hub_link()? {
        Some(link) => Ok(Some(HubUrl::parse(&link.url)?.user().to_string())),
        None => Ok(None),
    }
}

/// Whether `e` is the hub being out of reach (no connection, a connection lost, a server
/// shutting down, starting up or out of connection slots), rather than the hub answering
/// with a refusal.
pub fn is_unreachable(e: &anyhow::Error) -> bool {
    if password_problem(e).is_some() {
        return false;
    }
    match e.chain().find_map(|c| c.downcast_ref::<postgres::Error>()) {
        Some(pg) => match pg.as_db_error() {
            None => true,
            Some(db) => {
                let code = db.code().code();
                // Class 08: connection exception; class 57: operator intervention
                // (shutdown, crash, cannot connect now); 53300: too many connections.
                code.starts_with("08") || code.starts_with("57") || code == "53300"
            }
        },
        None => false,
    }
}

/// The hub `project` is linked to, refused when it is not linked.
pub fn link_of(project: &Project) -> Result<(HubLink, HubUrl)> {
    let link = project.hub_link()?.with_context(|| {
        format!(
            "`{}` is not linked to a team hub (see `keylabel hub publish` and `keylabel join`)",
            project.path().display()
        )
    })?;
    let url = HubUrl::parse(&link.url)?;
    Ok((link, url))
}

/// Whether a sync offers the hub again the events it refused before. A refusal lasts
/// until something changes on the hub (a role granted, say), so the syncs that run by
/// themselves skip them and an explicit `keylabel sync` or a new connection retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    Retry,
    Skip,
}

/// Pushes what the hub lacks and pulls what the replica lacks. Idempotent: a sync killed
/// halfway is finished by the next one (pushes skip what the hub holds, pulls what the
/// replica holds).
pub fn sync(project: &mut Project, refused: Refused) -> Result<Synced> {
    let (_, url) = link_of(project)?;
    let mut client = url.connect()?;
    sync_with(project, &mut client, refused)
}

fn sync_with(
    project: &mut Project,
    client: &mut postgres::Client,
    refused: Refused,
) -> Result<Synced> {
    // The classes first: an event pulled may use a class added since the last sync.
    let (link, url) = link_of(project)?;
    let hub_classes = classes::on_hub(client, link.project).map_err(|e| {
        match e.downcast::<postgres::Error>() {
            Ok(pg) => first_read_failed(pg, url.user()),
            Err(e) => e,
        }
    })?;
    let classes_changed = project.adopt_classes(&hub_classes)?;
    let settings_changed = settings::adopt(project, &settings::on_hub(client, link.project)?)?;
    let mut out = push_on(project, client, BATCH * 5, refused)?;
    out.classes_changed = classes_changed;
    out.settings_changed = settings_changed;
    // The samples before the events that name them.
    out.samples = samples::pull(project, client, link.project)?.samples;
    out.pulled = pull_on(project, client)?;
    project.hub_advance_pushed()?;
    project.hub_synced(&crate::project::now_rfc3339())?;
    out.pending = project.hub_pending()?;
    out.refused = project.hub_refused_count()?;
    Ok(out)
}

/// The push half of a sync, on a kept connection: appends the local events the hub lacks,
/// at most `batch` per transaction, and notes on the replica those it refuses (`pulled`
/// stays 0, `pending` and `refused` are not counted).
pub fn push_on(
    project: &mut Project,
    client: &mut postgres::Client,
    batch: usize,
    retry: Refused,
) -> Result<Synced> {
    let (link, _) = link_of(project)?;
    let mut out = Synced::default();
    let mut refused = std::collections::HashSet::new();
    loop {
        let events: Vec<LoggedEvent> = project
            .hub_unpushed(batch.max(1) + refused.len(), retry == Refused::Retry)?
            .into_iter()
            .filter(|e| !refused.contains(&e.uid))
            .collect();
        if events.is_empty() {
            break;
        }
        let mut tx = client.transaction()?;
        match push_batch(&mut tx, link.project, &events) {
            Ok(n) => {
                tx.commit()?;
                out.pushed += n;
                let uids: Vec<String> = events.into_iter().map(|e| e.uid).collect();
                project.hub_mark_held(&uids)?;
                project.hub_advance_pushed()?;
            }
            Err(e) if is_refusal(&e) => {
                drop(tx);
                // One at a time, so that the events the hub takes go and the others are
                // named.
                for ev in events {
                    let mut tx = client.transaction()?;
                    match push_batch(&mut tx, link.project, std::slice::from_ref(&ev)) {
                        Ok(n) => {
                            tx.commit()?;
                            out.pushed += n;
                            project.hub_mark_held(std::slice::from_ref(&ev.uid))?;
                        }
                        Err(e) if is_refusal(&e) => {
                            // The hub's reason in keylabel's words, without the SQL error.
                            let why = format!("{e}");
                            project.hub_note_refused(&ev.uid, &why)?;
                            out.refusals.push(why);
                            refused.insert(ev.uid);
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
    project.hub_advance_pushed()?;
    Ok(out)
}

/// The pull half of a sync: adds the hub's events the replica lacks; how many.
fn pull_on(project: &mut Project, client: &mut postgres::Client) -> Result<u64> {
    let (link, _) = link_of(project)?;
    let mut pulled = 0;
    let mut pulled_to = link.pulled;
    loop {
        let rows = client.query(
            "SELECT seq, uid, at, sample_id, annotator, kind, labels, target, note, score, \
             source, spent_ms, boxes FROM keylabel.events WHERE project_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT 10000",
            &[&link.project, &pulled_to],
        )?;
        let Some(last) = rows.last().map(|r| r.get::<_, i64>(0)) else {
            break;
        };
        let events = rows.iter().map(row_to_logged).collect::<Result<Vec<_>>>()?;
        pulled += project.add_logged_events(&events)?;
        pulled_to = last;
        project.set_hub_link(&HubLink {
            pulled: pulled_to,
            ..link.clone()
        })?;
    }
    Ok(pulled)
}

fn row_to_logged(r: &postgres::Row) -> Result<LoggedEvent> {
    let uid: String = r.get(1);
    let bad = |what: &str, v: String| anyhow::anyhow!("the hub's event {uid} has {what} `{v}`");
    let kind: String = r.get(5);
    let source: String = r.get(10);
    let labels: String = r.get(6);
    let boxes: Option<String> = r.get(12);
    Ok(LoggedEvent {
        at: r.get(2),
        event: NewEvent {
            sample: SampleId(r.get(3)),
            annotator: r.get(4),
            kind: StoredEnum::from_stored(&kind).ok_or_else(|| bad("the kind", kind.clone()))?,
            labels: serde_json::from_str(&labels).map_err(|_| bad("the labels", labels.clone()))?,
            target: r.get(7),
            note: r.get(8),
            score: r.get(9),
            source: StoredEnum::from_stored(&source)
                .ok_or_else(|| bad("the source", source.clone()))?,
            spent_ms: r.get::<_, Option<i64>>(11).map(|m| m.max(0) as u64),
            boxes: boxes
                .map(|b| serde_json::from_str(&b).map_err(|_| bad("the boxes", b.clone())))
                .transpose()?,
        },
        uid,
    })
}

/// The next sample for this replica's hub user, claimed on the hub (after a sync, so that
/// the hub knows every decision made here); `None` when nothing is left for them. Asking
/// again before labeling it hands out the same sample (its lease renewed).
pub fn next(project: &mut Project) -> Result<Option<SampleId>> {
    let (_, claimed) = sync_claiming(project, 1, None, Refused::Skip)?;
    Ok(claimed.first().copied())
}

/// A sync, then the claims this replica's hub user holds: `showing` (the sample on
/// screen, when the annotator chose it) and the next ones up to `ahead`, their leases
/// renewed (see [`claims::claim_ahead`]), in queue order. With `ahead` 0, only the sync:
/// the claims held are left to expire.
pub fn sync_claiming(
    project: &mut Project,
    ahead: usize,
    showing: Option<SampleId>,
    refused: Refused,
) -> Result<(Synced, Vec<SampleId>)> {
    let (_, url) = link_of(project)?;
    sync_claiming_on(project, &mut url.connect()?, ahead, showing, refused)
}

/// [`sync_claiming`] on a connection to the hub that is kept between syncs.
pub fn sync_claiming_on(
    project: &mut Project,
    client: &mut postgres::Client,
    ahead: usize,
    showing: Option<SampleId>,
    refused: Refused,
) -> Result<(Synced, Vec<SampleId>)> {
    let (link, _) = link_of(project)?;
    let synced = sync_with(project, client, refused)?;
    if ahead == 0 {
        return Ok((synced, Vec::new()));
    }
    let held = claims::claim_ahead(
        client,
        link.project,
        &claims::Rule::of(&project.settings()?),
        ahead,
        showing.map(|s| s.0),
    )?;
    Ok((synced, held.into_iter().map(SampleId).collect()))
}
