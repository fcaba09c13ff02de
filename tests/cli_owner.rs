//! `edgecite user add` / `token create` run as root against a state database owned by the
//! service's (dynamic) user: refused with the command to use, and no root-owned file is left
//! behind; run as the owner (what the advice does) they work and every file stays the owner's.
//! Real SQLite files in a directory chowned to another uid; needs root (CI runs as root).

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const OWNER: u32 = 4243;

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

fn run(args: &[&str], as_owner: bool, stdin: &str) -> Output {
    let bin = env!("CARGO_BIN_EXE_edgecite");
    let mut cmd = if as_owner {
        let mut c = Command::new("setpriv");
        c.args(["--reuid", &OWNER.to_string(), "--regid", &OWNER.to_string(), "--clear-groups", bin]);
        c
    } else {
        Command::new(bin)
    };
    let mut child = cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn owners(dir: &Path) -> Vec<(String, u32)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().uid())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn root_is_refused_on_the_service_database_and_the_owner_is_not() {
    if !is_root() {
        eprintln!("skipped: needs root to chown a state directory to another uid");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let config = dir.path().join("edgecite.toml");
    std::fs::write(&config, format!("[site]\nid = \"plant\"\n[store]\npath = \"{}/edgecite.db\"\n", state.display()))
        .unwrap();
    // The config and the temp dir must be readable by the owner too (as under the unit).
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(&state, Some(OWNER), Some(OWNER)).unwrap();
    let cfg = config.to_str().unwrap();
    assert!(config.is_absolute(), "the advice shows the path as given when it is absolute");

    // 1. No database yet, directory owned by the service user: root is refused.
    let out = run(&["user", "add", "ana", "--role", "technician", "--password-stdin", "--config", cfg], false, "");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(&format!("uid {OWNER}")) && err.contains("runs as root"), "{err}");
    assert!(
        err.contains("systemd-run --pipe --wait --quiet -p DynamicUser=yes")
            && err.contains("user add ana --role technician --password-stdin --config"),
        "{err}"
    );
    assert!(err.contains(&format!("sudo -u '#{OWNER}' -- ")), "{err}");
    assert!(owners(&state).is_empty(), "root created {:?}", owners(&state));

    // 2. The owner (what the advice runs) creates the user; every file is the owner's.
    let out = run(
        &["user", "add", "ana", "--role", "technician", "--password-stdin", "--config", cfg],
        true,
        "long-enough-pw\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let files = owners(&state);
    assert!(files.iter().any(|(n, _)| n == "edgecite.db"), "{files:?}");
    assert!(files.iter().all(|(_, uid)| *uid == OWNER), "{files:?}");

    // 3. The database exists now (owned by the service user): root's token create is refused
    //    too, before touching the file.
    let before = std::fs::metadata(state.join("edgecite.db")).unwrap().mtime_nsec();
    let out = run(&["token", "create", "ana", "--config", cfg], false, "");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("token create ana"), "{err}");
    assert!(owners(&state).iter().all(|(_, uid)| *uid == OWNER), "{:?}", owners(&state));
    assert_eq!(std::fs::metadata(state.join("edgecite.db")).unwrap().mtime_nsec(), before);

    // 4. The owner creates the token; the user is there and nothing became root's.
    let out = run(&["token", "create", "ana", "--config", cfg], true, "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).trim().starts_with("ect_"), "{:?}", out);
    assert!(owners(&state).iter().all(|(_, uid)| *uid == OWNER), "{:?}", owners(&state));

    // 5. Root on a root-owned database (a development box) is not refused.
    let mine = dir.path().join("mine.toml");
    std::fs::write(&mine, format!("[site]\nid = \"plant\"\n[store]\npath = \"{}/root.db\"\n", dir.path().display()))
        .unwrap();
    let out = run(&["user", "list", "--config", mine.to_str().unwrap()], false, "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
