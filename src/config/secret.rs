//! Secrets outside the config file: `*_file` keys name a file whose contents are the secret
//! (the MQTT password, the demo user's password), so the config itself may stay 0644.
//!
//! Paths, here and for TLS certificates and keys, may start with `${CREDENTIALS_DIRECTORY}`:
//! systemd's `LoadCredential=` copies the files there, readable only by the service, and sets
//! the variable. Any other path is relative to the config file's directory.

use super::{ConfigError, Doc, KeyPath};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The prefix expanded from the environment.
pub const CREDENTIALS_VAR: &str = "CREDENTIALS_DIRECTORY";

/// Largest secret file read: a password or token, not a document.
pub const MAX_SECRET_BYTES: u64 = 4096;

/// Resolve a configured path: a leading `${CREDENTIALS_DIRECTORY}` from the environment
/// (an error when it is not set, as outside systemd), otherwise relative to `base`.
pub(super) fn anchor(doc: &Doc, key: &KeyPath, base: &Path, path: &Path) -> Result<PathBuf, ConfigError> {
    let text = path.to_string_lossy();
    let prefix = format!("${{{CREDENTIALS_VAR}}}");
    let Some(rest) = text.strip_prefix(&prefix) else { return Ok(base.join(path)) };
    match std::env::var_os(CREDENTIALS_VAR) {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir).join(rest.trim_start_matches('/'))),
        _ => Err(doc.invalid(
            key.clone(),
            format!(
                "value \"{text}\" needs ${CREDENTIALS_VAR}, which is not set: it is set by systemd for a unit \
                 with LoadCredential= (run edgecite as that service, or give a plain path)"
            ),
        )),
    }
}

/// Read the secret in `path` (already anchored): at most [`MAX_SECRET_BYTES`], UTF-8, one
/// trailing newline (as `echo` writes) dropped, not empty.
pub(super) fn read(doc: &Doc, key: &KeyPath, path: &Path) -> Result<String, ConfigError> {
    let fail = |why: String| doc.invalid(key.clone(), format!("cannot use {} as a secret: {why}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_BYTES + 1).read_to_end(&mut bytes).map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_SECRET_BYTES {
        return Err(fail(format!("larger than {MAX_SECRET_BYTES} bytes (expected one password)")));
    }
    let mut text = String::from_utf8(bytes).map_err(|_| fail("not UTF-8 text".into()))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    if text.is_empty() {
        return Err(fail("the file is empty".into()));
    }
    Ok(text)
}

/// One secret given either inline (`{name}`) or as a file (`{name}_file`): never both.
/// Returns the secret read from the file, if one is named.
pub(super) fn resolve(
    doc: &Doc,
    at: &KeyPath,
    name: &str,
    inline: &str,
    file: &mut Option<PathBuf>,
    base: &Path,
) -> Result<Option<String>, ConfigError> {
    let Some(p) = file.as_ref() else { return Ok(None) };
    let key = at.key(&format!("{name}_file"));
    if !inline.is_empty() {
        return Err(doc.invalid(
            key,
            format!("{name} and {name}_file are both set: keep one (the file keeps the secret out of this config)"),
        ));
    }
    let path = anchor(doc, &key, base, p)?;
    let secret = read(doc, &key, &path)?;
    *file = Some(path);
    Ok(Some(secret))
}

/// Warnings for the inline secrets of a config file others may read: `inline` is
/// `(key, written inline)` per secret. Empty when the file is private or holds none.
pub(super) fn exposed(file: &Path, inline: &[(&str, bool)]) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(file) else { return Vec::new() };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o004 == 0 {
        return Vec::new();
    }
    inline
        .iter()
        .filter(|(_, set)| *set)
        .map(|(key, _)| {
            format!(
                "{}: {key} is written in a file every local user can read (mode {mode:04o}): move it to \
                 {key}_file (mode 0600, or a systemd credential) or chmod 0640 the config",
                file.display()
            )
        })
        .collect()
}
