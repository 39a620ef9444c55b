//! Where a hub login's password comes from, and what a refused one is called.
//!
//! A password is never stored in a project file, printed or put on a command line. It
//! comes, in this order, from the URL itself, from one typed this session (in the
//! window's prompt, or at a terminal's when a command finds none: kept in this process's
//! memory only), from `PGPASSWORD`, or from the first matching line of `PGPASSFILE` or
//! `~/.pgpass`, as libpq does.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Passwords typed this session, by [`Login::key`].
static TYPED: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());

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
         set PGPASSWORD, or add it to ~/.pgpass (keylabel never stores a password)"
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
        let file = std::env::var_os("PGPASSFILE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pgpass")))?;
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
