//! Where a hub login's password comes from, and what a refused one is called.
//!
//! A password is never stored in a project file, printed or put on a command line. It
//! comes, in this order, from the URL itself, from one typed this session (in the
//! window's prompt, or at a terminal's when a command finds none: kept in this process's
//! memory only), from `PGPASSWORD`, or from the first matching line of `PGPASSFILE` or
//! `~/.pgpass`, as libpq does. The window's prompt can also save the password typed in
//! that file (readable by its owner only, as libpq requires), once the hub has taken it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Passwords typed this session, by [`Login::key`].
static TYPED: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());

/// The logins ([`Login::key`]) whose typed password is to be saved in the password file
/// once the hub takes it.
static TO_SAVE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// What became of the last save in the password file, until the window takes it: the file,
/// or why it could not be written.
static SAVED: Mutex<Option<Result<PathBuf, String>>> = Mutex::new(None);

/// The password file libpq reads: `PGPASSFILE`, else `~/.pgpass`.
pub fn password_file() -> Option<PathBuf> {
    std::env::var_os("PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pgpass")))
}

/// What became of the last save of a typed password in the password file since the last
/// call: the file written, or why it could not be.
pub fn take_save_outcome() -> Option<Result<PathBuf, String>> {
    SAVED.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// Whether a connection that the hub refused for want of a password may ask for one at the
/// terminal (set by the command line; never by the window, which has a prompt of its own).
static MAY_PROMPT: AtomicBool = AtomicBool::new(false);

/// Lets connections ask for a missing password at the terminal, as `psql` does, when
/// standard input is one.
pub fn prompt_at_terminal() {
    MAY_PROMPT.store(true, Ordering::Relaxed);
}

/// Why the hub turned a login away, when it is about the password: not something that
/// waiting cures, and something the user can answer (the window asks for the password).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    #[error(
        "the hub asks for the password of `{login}` and none was given: type it when asked, \
         set PGPASSWORD, or add it to ~/.pgpass (keylabel saves one there only when asked to)"
    )]
    Missing { login: String },
    #[error("the hub refused the password given for `{login}` (or it has no such user)")]
    Refused { login: String },
}

impl PasswordProblem {
    /// The problem `err` (a failed connection as `login`) is, if it is one.
    pub(super) fn of(err: &postgres::Error, login: &str) -> Option<PasswordProblem> {
        let login = login.to_string();
        match err.as_db_error() {
            // invalid_password
            Some(db) => (db.code().code() == "28P01").then_some(PasswordProblem::Refused { login }),
            // The client's own refusal to go on when the server asks for a password and it
            // has none (tokio-postgres's "invalid configuration", caused by "password
            // missing").
            None => std::error::Error::source(err)
                .is_some_and(|cause| cause.to_string() == "password missing")
                .then_some(PasswordProblem::Missing { login }),
        }
    }

    pub fn login(&self) -> &str {
        match self {
            PasswordProblem::Missing { login } | PasswordProblem::Refused { login } => login,
        }
    }
}

/// The password problem anywhere in `err`'s chain.
pub fn password_problem(err: &anyhow::Error) -> Option<&PasswordProblem> {
    err.chain()
        .find_map(|c| c.downcast_ref::<PasswordProblem>())
}

/// Who logs in where: libpq's `host:port:database:user`, as `.pgpass` lines match it.
pub(super) struct Login {
    host: String,
    port: String,
    db: String,
    user: String,
}

impl Login {
    pub(super) fn of(config: &postgres::Config) -> Login {
        let host = match config.get_hosts().first() {
            Some(postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "localhost".to_string(),
        };
        let port = config
            .get_ports()
            .first()
            .copied()
            .unwrap_or(5432)
            .to_string();
        let db = config
            .get_dbname()
            .or(config.get_user())
            .unwrap_or_default()
            .to_string();
        let user = config.get_user().unwrap_or_default().to_string();
        Login {
            host,
            port,
            db,
            user,
        }
    }

    fn key(&self) -> String {
        format!("{}:{}:{}:{}", self.host, self.port, self.db, self.user)
    }

    /// Keeps `password`, typed for this login, for the rest of the session.
    pub(super) fn remember(&self, password: &str) {
        TYPED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(self.key(), password.to_string());
    }

    /// Keeps `password`, typed for this login, for the rest of the session, and saves it
    /// in the password file once a connection with it succeeds ([`Login::connected`]).
    pub(super) fn remember_and_save(&self, password: &str) {
        self.remember(password);
        TO_SAVE
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(self.key());
    }

    /// After the hub took `used` for this login: when it is the password typed to be
    /// saved, saves it (see [`take_save_outcome`]).
    pub(super) fn connected(&self, used: Option<&str>) {
        let key = self.key();
        let typed = TYPED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        let Some(typed) = typed.filter(|t| Some(t.as_str()) == used) else {
            return;
        };
        if !TO_SAVE
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key)
        {
            return;
        }
        let outcome = match password_file() {
            Some(file) => save_line(&file, self, &typed)
                .map(|()| file.clone())
                .map_err(|e| format!("cannot save the password in `{}`: {e}", file.display())),
            None => Err("cannot save the password: neither PGPASSFILE nor HOME is set".into()),
        };
        *SAVED.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
    }

    /// The password for this login (see the module's documentation for the order).
    pub(super) fn password(&self) -> Option<String> {
        if let Some(pw) = TYPED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&self.key())
        {
            return Some(pw.clone());
        }
        if let Ok(pw) = std::env::var("PGPASSWORD") {
            return Some(pw);
        }
        let file = password_file()?;
        let text = std::fs::read_to_string(file).ok()?;
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            let fields = split_pgpass(line);
            if fields.len() == 5
                && [&self.host, &self.port, &self.db, &self.user]
                    .iter()
                    .zip(&fields)
                    .all(|(want, got)| got == "*" || got == *want)
            {
                return Some(fields[4].clone());
            }
        }
        None
    }

    /// Asks for the password at the terminal, when the command line allows it and standard
    /// input is a terminal (never in a pipe or a test); remembers what was typed.
    pub(super) fn prompt(&self, hub: &str) -> Option<String> {
        if !MAY_PROMPT.load(Ordering::Relaxed) || !std::io::stdin().is_terminal() {
            return None;
        }
        let typed = rpassword::prompt_password(format!(
            "Password of `{}` on the hub at `{hub}`: ",
            self.user
        ))
        .ok()?;
        self.remember(&typed);
        Some(typed)
    }
}

/// A `.pgpass` field with `:` and `\` escaped.
fn escape_pgpass(field: &str) -> String {
    field.replace('\\', "\\\\").replace(':', "\\:")
}

/// Puts `password` for exactly `login` into the password file `file`: in place of the
/// line for that login when there is one (a wildcard line is left for other logins),
/// else at the end. Written to a temporary file readable by its owner only and renamed
/// over `file`, so that a failure leaves the file as it was.
fn save_line(file: &Path, login: &Login, password: &str) -> std::io::Result<()> {
    let old = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let who = [&login.host, &login.port, &login.db, &login.user];
    let line = who
        .iter()
        .map(|f| escape_pgpass(f))
        .chain([escape_pgpass(password)])
        .collect::<Vec<_>>()
        .join(":");
    let mut lines: Vec<String> = Vec::new();
    let mut replaced = false;
    for l in old.lines() {
        let fields = split_pgpass(l);
        let same = !l.starts_with('#')
            && fields.len() == 5
            && who.iter().zip(&fields).all(|(want, got)| got == *want);
        if same && !replaced {
            lines.push(line.clone());
            replaced = true;
        } else if !same {
            lines.push(l.to_string());
        }
    }
    if !replaced {
        lines.push(line);
    }
    let mut text = lines.join("\n");
    text.push('\n');
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = dir.join(format!(
        ".{}.keylabel-{}",
        file.file_name()
            .map_or("pgpass".into(), |n| n.to_string_lossy()),
        std::process::id()
    ));
    let written = (|| {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&temp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&temp, file)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// The fields of a `.pgpass` line (`\:` and `\\` escaped).
fn split_pgpass(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    fields.last_mut().expect("never empty").push(n);
                }
            }
            ':' => fields.push(String::new()),
            c => fields.last_mut().expect("never empty").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(host: &str, user: &str) -> Login {
        Login {
            host: host.into(),
            port: "5432".into(),
            db: "labels".into(),
            user: user.into(),
        }
    }

    #[test]
    fn saving_a_password_makes_a_private_file_and_replaces_only_that_logins_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        save_line(&file, &login("db.example", "alice"), "first:pw\\").unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text, "db.example:5432:labels:alice:first\\:pw\\\\\n");
        assert_eq!(
            split_pgpass(text.lines().next().unwrap())[4],
            "first:pw\\",
            "read back as written"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "libpq ignores a file others can read");
        }
        // Another login's line, a wildcard line and a comment are kept as they are; the
        // login's own line is replaced where it stands.
        std::fs::write(
            &file,
            "# team\n*:*:*:alice:wild\ndb.example:5432:labels:alice:old\nother:5432:labels:bob:b\n",
        )
        .unwrap();
        save_line(&file, &login("db.example", "alice"), "new").unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "# team\n*:*:*:alice:wild\ndb.example:5432:labels:alice:new\nother:5432:labels:bob:b\n"
        );
        save_line(&file, &login("db.example", "carol"), "c").unwrap();
        assert!(
            std::fs::read_to_string(&file)
                .unwrap()
                .ends_with("other:5432:labels:bob:b\ndb.example:5432:labels:carol:c\n")
        );
        // Nothing is left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_password_file_that_cannot_be_written_is_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("missing-folder").join("pgpass");
        let err = save_line(&file, &login("h", "alice"), "pw").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        assert!(!file.exists());
    }
}
