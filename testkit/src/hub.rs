//! A hub of the benchmarks' own on a PostgreSQL server: a fresh database, `hub init`, and
//! users who all log in with one password.

use keylabel::hub::{self, HubUrl, Role};

/// The benchmarks' superuser URL of a PostgreSQL server: `KEYLABEL_BENCH_PG`, else
/// `KEYLABEL_TEST_PG` (see `scripts/pg-test-server`); `None` when neither is set.
pub fn server_url() -> Option<String> {
    ["KEYLABEL_BENCH_PG", "KEYLABEL_TEST_PG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|u| !u.trim().is_empty()))
}

/// The password of every user [`BenchHub::user`] adds.
pub const PASSWORD: &str = "keylabel-bench";

pub struct BenchHub {
    /// The superuser's URL of the hub's database.
    pub admin_url: String,
    /// `host:port`.
    server: String,
    db: String,
    /// Prefix of the users' names (roles are the whole server's).
    tag: String,
}

impl BenchHub {
    /// Database `db` on the server at superuser URL `url`, made afresh, with the hub
    /// schema in it; users named `<db>_…` left by an earlier run are dropped.
    pub fn fresh(url: &str, db: &str) -> BenchHub {
        let mut admin = postgres::Client::connect(url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            .unwrap();
        for r in admin
            .query(
                "SELECT rolname FROM pg_roles WHERE rolname LIKE $1",
                &[&format!("{db}\\_%")],
            )
            .unwrap()
        {
            let name: String = r.get(0);
            admin
                .batch_execute(&format!("DROP ROLE IF EXISTS \"{name}\""))
                .unwrap();
        }
        admin
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .unwrap();
        let (base, _) = url.rsplit_once('/').expect("a URL with a database");
        let server = base
            .split_once('@')
            .expect("a URL with a user")
            .1
            .to_string();
        let hub = BenchHub {
            admin_url: format!("{base}/{db}"),
            server,
            db: db.to_string(),
            tag: db.to_string(),
        };
        hub::init(&hub.admin()).unwrap();
        hub
    }

    pub fn admin(&self) -> HubUrl {
        HubUrl::parse(&self.admin_url).unwrap()
    }

    /// Adds the user `<db>_<name>` with `role`; returns the login.
    pub fn user(&self, name: &str, role: Role) -> String {
        let login = format!("{}_{name}", self.tag);
        hub::add_user(&self.admin(), &login, role, PASSWORD).unwrap();
        login
    }

    /// `login`'s URL, without a password (that comes from `PGPASSWORD`).
    pub fn url_of(&self, login: &str) -> String {
        format!("postgres://{login}@{}/{}", self.server, self.db)
    }
}
