//! File permissions for the databases the daemon creates, and file stamps (has a file
//! been written since?).

use std::path::{Path, PathBuf};

/// Restrict a database file (and its WAL and shared-memory files) to its owner and group:
/// it holds password hashes and the plant's data. Under systemd the unit's UMask does this
/// already; run by hand, the process umask (often 022) would leave them world-readable.
pub fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let p = PathBuf::from(p);
        if let Ok(m) = std::fs::metadata(&p) {
            if m.permissions().mode() & 0o007 != 0 {
                let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m.permissions().mode() & 0o770));
            }
        }
    }
}

/// A file's modification time and size; `None` when it cannot be read. A different stamp
/// means the file was written (how renewed certificates are noticed).
pub type Stamp = Option<(Option<std::time::SystemTime>, u64)>;

pub fn stamp(path: &Path) -> Stamp {
    std::fs::metadata(path).ok().map(|m| (m.modified().ok(), m.len()))
}
