//! Projects on media that cannot be written: a read-only file system and a full disk, made
//! as real `tmpfs` mounts (this needs root, as in CI; `KEYLABEL_REQUIRE_MOUNT=1` turns
//! "cannot mount here" from a skip into a failure).

use std::path::{Path, PathBuf};
use std::process::Command;

use keylabel::Project;
use keylabel_testkit::cli::{stderr, stdout};

/// A `tmpfs` mounted on a temporary folder, unmounted on drop.
struct Mount {
    dir: tempfile::TempDir,
}

impl Mount {
    /// `None` where this process may not mount (not root): the test says so and stops,
    /// unless `KEYLABEL_REQUIRE_MOUNT=1`.
    fn tmpfs(size: &str) -> Option<Mount> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var("KEYLABEL_REQUIRE_MOUNT").is_err(),
                "cannot mount a tmpfs, and KEYLABEL_REQUIRE_MOUNT is set"
            );
            eprintln!("skipped: this process cannot mount a tmpfs (it needs root)");
            return None;
        }
        Some(Mount { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn read_only(&self) {
        let ok = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(self.path())
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// A labeled image project of six samples in `dir`; returns its path.
fn labeled_project(dir: &Path) -> PathBuf {
    let images = dir.join("img");
    std::fs::create_dir(&images).unwrap();
    for i in 0..6u32 {
        let img = keylabel_testkit::images::photo(32, 24, u64::from(i) * 7 + 1);
        keylabel_testkit::images::save(
            &images.join(format!("{i}.png")),
            img,
            image::ImageFormat::Png,
        );
    }
    let labels: String = (0..6)
        .map(|i| format!("img/{i}.png,{}\n", ["cat", "dog"][i % 2]))
        .collect();
    std::fs::write(dir.join("labels.csv"), format!("sample,label\n{labels}")).unwrap();
    let cli = crate::common::cli().cwd(dir).project("p.keylabel");
    cli.ok(&["init", "--classes", "cat,dog"]);
    cli.ok(&["import", "img"]);
    cli.ok(&["import-labels", "labels.csv"]);
    dir.join("p.keylabel")
}

/// A project on a read-only file system: every reading command works (before, each said
/// "not a keylabel project: unable to open database file"); `export` writes its dataset
/// elsewhere and exits 0, warning that it could not record it in the project; a command
/// that writes says the project is read-only, and nothing changes.
#[test]
fn a_project_on_a_read_only_file_system_can_be_read_and_exported() {
    let Some(mount) = Mount::tmpfs("20m") else {
        return;
    };
    let path = labeled_project(mount.path());
    let before = std::fs::read(&path).unwrap();
    mount.read_only();
    let out = tempfile::tempdir().unwrap();
    let cli = crate::common::cli().cwd(mount.path()).project(&path);
    for args in [
        &["status", "--json"][..],
        &["validate"],
        &["history", "img/0.png"],
        &["agreement", "--json"],
        &["annotators"],
        &["classes", "list"],
    ] {
        cli.ok(args);
    }
    assert_eq!(cli.json(&["status", "--json"])["labeled"], 6);
    let ds = out.path().join("ds");
    let exported = cli.run(&["export", "--format", "csv", "--out", ds.to_str().unwrap()]);
    assert!(exported.status.success(), "{}", stderr(&exported));
    assert!(stdout(&exported).contains("Exported 6 records"));
    assert!(
        stderr(&exported).contains("could not be recorded"),
        "{}",
        stderr(&exported)
    );
    assert!(ds.join("manifest.json").is_file());

    for args in [
        &["classes", "add", "owl"][..],
        &["settings", "set", "overlap", "2"],
    ] {
        let o = cli.run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&o).contains("is read-only") && stderr(&o).contains("nothing was changed"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let p = Project::open(&path).unwrap();
    assert!(p.is_read_only());
}

/// A project whose disk is full: an export to another disk writes its dataset and exits 0
/// (validation's caches and the record of the export are left out, with a warning), and
/// the project is intact and usable once space is freed.
#[test]
fn an_export_from_a_project_on_a_full_disk_succeeds_and_says_what_it_left_out() {
    let Some(mount) = Mount::tmpfs("4m") else {
        return;
    };
    let path = labeled_project(mount.path());
    // Fill the disk.
    let filler = mount.path().join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![7u8; 64 * 1024];
        while f.write_all(&block).and_then(|()| f.flush()).is_ok() {}
    }
    let out = tempfile::tempdir().unwrap();
    let ds = out.path().join("ds");
    let cli = crate::common::cli().cwd(mount.path()).project(&path);
    let exported = cli.run(&["export", "--format", "csv", "--out", ds.to_str().unwrap()]);
    assert!(exported.status.success(), "{}", stderr(&exported));
    assert!(ds.join("manifest.json").is_file());
    assert!(
        stderr(&exported).contains("could not be recorded"),
        "{}",
        stderr(&exported)
    );

    std::fs::remove_file(&filler).unwrap();
    let p = Project::open(&path).unwrap();
    p.integrity_check().unwrap();
    assert_eq!(p.status().unwrap().labeled, 6);
    drop(p);
    cli.ok(&["classes", "add", "owl"]);
}
