//! Who may write the state database from the command line.
//!
//! Under the systemd unit the daemon runs as a `DynamicUser` that owns the state directory.
//! `edgecite user add` or `token create` run by root would open that database as root, and
//! SQLite would create `-wal`/`-shm` files (and a journal) owned by root that the daemon can
//! then no longer open for writing. Rather than chown files behind SQLite's back (racy while
//! the daemon runs, and wrong if root crashes half way), root is refused with the command that
//! runs the same thing as the owner.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    #[error(
        "{path} belongs to {owner}, and this command runs as root: SQLite would leave root-owned \
         {db}-wal/-shm files that the edgecite service can no longer open. Run it as the database's owner. \
         Under the shipped systemd unit (DynamicUser):\n  \
         systemd-run --pipe --wait --quiet -p DynamicUser=yes -p User=edgecite -p StateDirectory=edgecite \
         -p ConfigurationDirectory=edgecite -p LoadCredential=edgecite:/etc/edgecite/credentials -- {args}\n\
         With a static service user:\n  sudo -u {sudo_user} -- {args}"
    )]
    RootOnForeignDb { path: PathBuf, db: String, owner: String, sudo_user: String, args: String },
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
}

/// Refuse to open `db` for writing when this process runs as root and the database (or, if
/// it does not exist yet, its directory) belongs to another user. `args` is the command line
/// to show in the advice (this process's own arguments).
pub fn refuse_root_on_foreign_db(db: &Path, args: &[String]) -> Result<(), OwnerError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let probe = if db.exists() {
        db.to_path_buf()
    } else {
        match db.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    };
    let meta = std::fs::metadata(&probe)
        .map_err(|e| OwnerError::Io { path: probe.clone(), message: format!("cannot read its owner: {e}") })?;
    let uid = meta.uid();
    if uid == 0 {
        return Ok(());
    }
    let name = user_name(uid);
    let owner = match &name {
        Some(n) => format!("user {n} (uid {uid})"),
        None => format!("uid {uid}"),
    };
    Err(OwnerError::RootOnForeignDb {
        path: probe,
        db: db.display().to_string(),
        owner,
        sudo_user: name.unwrap_or_else(|| format!("'#{uid}'")),
        args: shell_words(&absolute(args)),
    })
}

fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r writes only into `pwd` and `buf` (sizes given) and sets `out`.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut out) };
    if rc != 0 || out.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points into `buf`, NUL-terminated.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

/// The advice runs from another working directory (systemd-run starts in `/`): the program
/// and relative paths that exist become absolute.
fn absolute(args: &[String]) -> Vec<String> {
    args.iter()
        .enumerate()
        .map(|(i, a)| {
            let p = Path::new(a);
            let exe = if i == 0 { std::env::current_exe().ok() } else { None };
            match exe {
                Some(e) => e.display().to_string(),
                None if p.is_relative() && (a.contains('/') || p.is_file()) => {
                    std::fs::canonicalize(p).map(|c| c.display().to_string()).unwrap_or_else(|_| a.clone())
                }
                None => a.clone(),
            }
        })
        .collect()
}

fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:@,+".contains(c)) {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_quoted_for_a_shell() {
        let a = ["/usr/bin/edgecite", "user", "add", "li wei", "--label", "it's"].map(String::from);
        assert_eq!(shell_words(&a), r"/usr/bin/edgecite user add 'li wei' --label 'it'\''s'");
    }

    #[test]
    fn root_is_refused_on_a_directory_owned_by_someone_else() {
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root (CI runs as root)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("e.db");
        assert!(refuse_root_on_foreign_db(&db, &[]).is_ok(), "root-owned directory: allowed");
        std::os::unix::fs::chown(dir.path(), Some(4242), Some(4242)).unwrap();
        let e = refuse_root_on_foreign_db(&db, &["edgecite".into(), "user".into()]).unwrap_err().to_string();
        // The program is shown as this executable's absolute path (systemd-run starts in `/`).
        let exe = std::env::current_exe().unwrap().display().to_string();
        assert!(e.contains("uid 4242") && e.contains("systemd-run") && e.contains(&format!("-- {exe} user")), "{e}");
        // An existing database decides by its own owner.
        std::fs::write(&db, b"").unwrap();
        assert!(refuse_root_on_foreign_db(&db, &[]).is_ok());
        std::os::unix::fs::chown(&db, Some(4242), None).unwrap();
        assert!(refuse_root_on_foreign_db(&db, &[]).is_err());
    }
}
