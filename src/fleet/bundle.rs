//! Bundles: what a deploy carries. A bundle is an archive (a deterministic `.tar.gz` of a
//! pack directory, a model directory, or one config file) and a manifest (JSON) that names
//! its kind, name and version, the archive's SHA-256 and size, and ed25519 signatures over
//! the manifest's other fields. A gateway accepts a bundle only when a signature verifies
//! with a key in its trust directory and the archive's hash is the manifest's.

use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::path::{Path, PathBuf};

pub const FORMAT: &str = "edgecite-bundle/1";
/// The file name a config bundle's archive holds.
pub const CONFIG_ENTRY: &str = "edgecite.toml";

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{what}: not a bundle manifest: {source}")]
    Manifest { what: String, source: serde_json::Error },
    #[error("manifest format `{0}` is not `{FORMAT}`")]
    Format(String),
    #[error("bundle name `{0}` is not valid: expected letters, digits, `_`, `-` or `.` (not starting with `.`)")]
    Name(String),
    #[error("archive SHA-256 {got} is not the manifest's {want}: the archive was changed or is not this bundle's")]
    Hash { want: String, got: String },
    #[error("archive is {got} bytes, the manifest says {want}")]
    Size { want: u64, got: u64 },
    #[error("archive is {0} bytes, above the limit of {1} ([fleet] max_bundle_bytes)")]
    TooLarge(u64, u64),
    #[error("the manifest has no signature")]
    Unsigned,
    #[error("no signature verifies with a trusted key in {dir} (signed by {keys}; trusted: {trusted})")]
    Untrusted { dir: PathBuf, keys: String, trusted: String },
    #[error("trust key {path}: {why}")]
    TrustKey { path: PathBuf, why: String },
    #[error("signing key {path}: {why}")]
    SigningKey { path: PathBuf, why: String },
    #[error("archive entry `{entry}`: {why}")]
    Entry { entry: String, why: String },
    #[error("{0}")]
    Source(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Io { path: path.to_path_buf(), source }
}

/// What a bundle deploys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A diagnostic pack directory (`pack.toml` and its files), installed under
    /// `[fleet] packs_dir`.
    Pack,
    /// A model directory (`manifest.toml`, the ONNX file), installed under
    /// `[inference] models_dir`.
    Model,
    /// The daemon's config file.
    Config,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pack => "pack",
            Kind::Model => "model",
            Kind::Config => "config",
        }
    }
}

/// The signed part of a manifest, in a fixed field order (what the signature covers is
/// `serde_json::to_vec` of this).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signed {
    pub format: String,
    pub kind: Kind,
    /// The pack's id, the model's name, or the config's name (any label).
    pub name: String,
    pub version: String,
    /// Hex SHA-256 of the archive.
    pub sha256: String,
    pub size: u64,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// First 16 hex digits of the SHA-256 of the public key.
    pub key_id: String,
    /// Base64 of the 64-byte ed25519 signature over the signed part.
    pub ed25519: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(flatten)]
    pub signed: Signed,
    #[serde(default)]
    pub signatures: Vec<Signature>,
}

impl Manifest {
    pub fn parse(what: &str, bytes: &[u8]) -> Result<Manifest, BundleError> {
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|source| BundleError::Manifest { what: what.into(), source })?;
        if m.signed.format != FORMAT {
            return Err(BundleError::Format(m.signed.format));
        }
        check_name(&m.signed.name)?;
        Ok(m)
    }

    pub fn read(path: &Path) -> Result<Manifest, BundleError> {
        Manifest::parse(&path.display().to_string(), &std::fs::read(path).map_err(io(path))?)
    }

    pub fn write(&self, path: &Path) -> Result<(), BundleError> {
        let mut text = serde_json::to_vec_pretty(self).expect("manifest serialises");
        text.push(b'\n');
        std::fs::write(path, text).map_err(io(path))
    }

    fn message(&self) -> Vec<u8> {
        serde_json::to_vec(&self.signed).expect("manifest serialises")
    }

    /// Add a signature with the key in `key` (PKCS#8, as `keygen` writes it).
    pub fn sign(&mut self, key: &Path) -> Result<String, BundleError> {
        let der = std::fs::read(key).map_err(io(key))?;
        let pair = Ed25519KeyPair::from_pkcs8(&der).map_err(|e| BundleError::SigningKey {
            path: key.into(),
            why: format!("not an ed25519 PKCS#8 key ({e})"),
        })?;
        let key_id = key_id(pair.public_key().as_ref());
        let sig = pair.sign(&self.message());
        self.signatures.retain(|s| s.key_id != key_id);
        self.signatures.push(Signature { key_id: key_id.clone(), ed25519: b64(sig.as_ref()) });
        Ok(key_id)
    }

    /// The key id of the first signature that verifies with a key of `trust_dir`.
    pub fn verify_signature(&self, trust_dir: &Path) -> Result<String, BundleError> {
        if self.signatures.is_empty() {
            return Err(BundleError::Unsigned);
        }
        let trusted = trusted_keys(trust_dir)?;
        let message = self.message();
        for s in &self.signatures {
            let Some((_, key)) = trusted.iter().find(|(id, _)| *id == s.key_id) else { continue };
            let Ok(sig) = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &s.ed25519) else {
                continue;
            };
            if UnparsedPublicKey::new(&ED25519, key).verify(&message, &sig).is_ok() {
                return Ok(s.key_id.clone());
            }
        }
        Err(BundleError::Untrusted {
            dir: trust_dir.to_path_buf(),
            keys: self.signatures.iter().map(|s| s.key_id.as_str()).collect::<Vec<_>>().join(", "),
            trusted: if trusted.is_empty() {
                "none".into()
            } else {
                trusted.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>().join(", ")
            },
        })
    }

    /// Check an archive against the manifest: size, limit and hash.
    pub fn check_archive(&self, archive: &[u8], max_bytes: u64) -> Result<(), BundleError> {
        let got = archive.len() as u64;
        if got > max_bytes {
            return Err(BundleError::TooLarge(got, max_bytes));
        }
        if got != self.signed.size {
            return Err(BundleError::Size { want: self.signed.size, got });
        }
        let hash = hex::encode(sha2::Sha256::digest(archive));
        if hash != self.signed.sha256 {
            return Err(BundleError::Hash { want: self.signed.sha256.clone(), got: hash });
        }
        Ok(())
    }

    /// Signature, then archive: what a gateway checks before it stages anything.
    pub fn verify(&self, archive: &[u8], trust_dir: &Path, max_bytes: u64) -> Result<String, BundleError> {
        let key = self.verify_signature(trust_dir)?;
        self.check_archive(archive, max_bytes)?;
        Ok(key)
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
}

fn key_id(public: &[u8]) -> String {
    hex::encode(&sha2::Sha256::digest(public)[..8])
}

fn check_name(name: &str) -> Result<(), BundleError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(BundleError::Name(name.into()))
    }
}

/// The keys in a trust directory: every `*.pub` file holds one base64 ed25519 public key.
pub fn trusted_keys(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, BundleError> {
    let mut out = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pub"))
        .collect();
    paths.sort();
    for p in paths {
        let text = std::fs::read_to_string(&p).map_err(io(&p))?;
        let key = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, text.trim())
            .map_err(|e| BundleError::TrustKey { path: p.clone(), why: format!("not base64 ({e})") })?;
        if key.len() != 32 {
            return Err(BundleError::TrustKey {
                path: p,
                why: format!("{} bytes: an ed25519 public key is 32", key.len()),
            });
        }
        out.push((key_id(&key), key));
    }
    Ok(out)
}

/// A new key pair: the private key (PKCS#8, mode 0600) at `out`, the public key at
/// `out.pub`. Returns the key id.
pub fn keygen(out: &Path) -> Result<String, BundleError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let rng = ring::rand::SystemRandom::new();
    let der = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|e| BundleError::SigningKey { path: out.into(), why: format!("cannot generate ({e})") })?;
    let pair = Ed25519KeyPair::from_pkcs8(der.as_ref()).expect("a key just generated parses");
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(out).map_err(io(out))?;
    f.write_all(der.as_ref()).map_err(io(out))?;
    let public = public_path(out);
    std::fs::write(&public, format!("{}\n", b64(pair.public_key().as_ref()))).map_err(io(&public))?;
    Ok(key_id(pair.public_key().as_ref()))
}

pub fn public_path(key: &Path) -> PathBuf {
    let mut p = key.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

/// Build a bundle from `source` (a directory for packs and models, one file for a config):
/// the archive's bytes and its unsigned manifest.
pub fn build(kind: Kind, name: &str, version: &str, source: &Path) -> Result<(Vec<u8>, Manifest), BundleError> {
    check_name(name)?;
    let mut files = Vec::new();
    match kind {
        Kind::Config => {
            if !source.is_file() {
                return Err(BundleError::Source(format!(
                    "{}: a config bundle is built from one file",
                    source.display()
                )));
            }
            files.push((CONFIG_ENTRY.to_string(), source.to_path_buf()));
        }
        Kind::Pack | Kind::Model => {
            if !source.is_dir() {
                return Err(BundleError::Source(format!(
                    "{}: a {} bundle is built from a directory",
                    source.display(),
                    kind.as_str()
                )));
            }
            let marker = if kind == Kind::Pack { "pack.toml" } else { "manifest.toml" };
            if !source.join(marker).is_file() {
                return Err(BundleError::Source(format!("{}: no {marker} in it", source.display())));
            }
            walk(source, source, &mut files)?;
        }
    }
    files.sort();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    {
        let mut tar = tar::Builder::new(&mut gz);
        tar.mode(tar::HeaderMode::Deterministic);
        for (name, path) in &files {
            tar.append_path_with_name(path, name).map_err(io(path))?;
        }
        tar.finish().map_err(io(source))?;
    }
    let archive = gz.finish().map_err(io(source))?;
    let manifest = Manifest {
        signed: Signed {
            format: FORMAT.into(),
            kind,
            name: name.into(),
            version: version.into(),
            sha256: hex::encode(sha2::Sha256::digest(&archive)),
            size: archive.len() as u64,
            created_ms: crate::time::now_ms(),
        },
        signatures: Vec::new(),
    };
    Ok((archive, manifest))
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<(), BundleError> {
    for e in std::fs::read_dir(dir).map_err(io(dir))? {
        let e = e.map_err(io(dir))?;
        let p = e.path();
        let t = e.file_type().map_err(io(&p))?;
        if t.is_dir() {
            walk(root, &p, out)?;
        } else if t.is_file() {
            let rel = p.strip_prefix(root).expect("under root").to_string_lossy().into_owned();
            out.push((rel, p));
        } else {
            return Err(BundleError::Source(format!("{}: only files and directories go in a bundle", p.display())));
        }
    }
    Ok(())
}

/// Unpack an archive into `dest` (which must not exist): regular files and directories
/// only, relative paths without `..`, at most `max_bytes` unpacked.
pub fn unpack(archive: &[u8], dest: &Path, max_bytes: u64) -> Result<Vec<String>, BundleError> {
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let mut names = Vec::new();
    let mut total = 0u64;
    let entries = tar.entries().map_err(io(dest))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| BundleError::Entry { entry: "?".into(), why: e.to_string() })?;
        let name = entry.path().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        let bad = |why: &str| BundleError::Entry { entry: name.clone(), why: why.into() };
        let path = entry.path().map_err(|_| bad("not a valid path"))?.into_owned();
        if path.is_absolute() || path.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
            return Err(bad("not a plain relative path"));
        }
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Directory => {}
            _ => return Err(bad("only files and directories may be in a bundle")),
        }
        total += entry.header().size().unwrap_or(0);
        if total > max_bytes {
            return Err(bad(&format!("the archive unpacks to more than {max_bytes} bytes")));
        }
        if !entry.unpack_in(dest).map_err(|e| bad(&e.to_string()))? {
            return Err(bad("outside the bundle's directory"));
        }
        names.push(name);
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack_dir(dir: &Path, version: &str) -> PathBuf {
        let p = dir.join("src");
        std::fs::create_dir_all(p.join("refs")).unwrap();
        std::fs::write(p.join("pack.toml"), format!("id = \"x\"\nversion = \"{version}\"\n")).unwrap();
        std::fs::write(p.join("refs/a.md"), "passage").unwrap();
        p
    }

    #[test]
    fn a_signed_bundle_verifies_and_any_change_to_manifest_or_archive_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let trust = dir.path().join("trust");
        std::fs::create_dir(&trust).unwrap();
        let key = dir.path().join("key");
        let id = keygen(&key).unwrap();
        std::fs::copy(public_path(&key), trust.join("ops.pub")).unwrap();
        let (archive, mut m) = build(Kind::Pack, "x", "1.0.0", &pack_dir(dir.path(), "1.0.0")).unwrap();
        assert!(matches!(m.verify(&archive, &trust, 1 << 20), Err(BundleError::Unsigned)));
        assert_eq!(m.sign(&key).unwrap(), id);
        assert_eq!(m.verify(&archive, &trust, 1 << 20).unwrap(), id);
        // Round trip through the file format.
        m.write(&dir.path().join("m.json")).unwrap();
        let back = Manifest::read(&dir.path().join("m.json")).unwrap();
        assert_eq!(back, m);

        let mut tampered = archive.clone();
        let last = tampered.len() - 9;
        tampered[last] ^= 1;
        assert!(matches!(m.verify(&tampered, &trust, 1 << 20), Err(BundleError::Hash { .. })));
        let mut renamed = m.clone();
        renamed.signed.version = "9.9.9".into();
        assert!(matches!(renamed.verify(&archive, &trust, 1 << 20), Err(BundleError::Untrusted { .. })));
        assert!(matches!(m.verify(&archive, &trust, 10), Err(BundleError::TooLarge(..))));

        // A key that is not trusted.
        let other = dir.path().join("other");
        keygen(&other).unwrap();
        let mut by_other = m.clone();
        by_other.signatures.clear();
        by_other.sign(&other).unwrap();
        let e = by_other.verify(&archive, &trust, 1 << 20).unwrap_err().to_string();
        assert!(e.contains("no signature verifies") && e.contains(&id), "{e}");
    }

    #[test]
    fn archives_are_reproducible_and_unpack_to_the_same_files() {
        let dir = tempfile::tempdir().unwrap();
        let src = pack_dir(dir.path(), "1.0.0");
        let (a, m1) = build(Kind::Pack, "x", "1.0.0", &src).unwrap();
        let (b, m2) = build(Kind::Pack, "x", "1.0.0", &src).unwrap();
        assert_eq!(a, b);
        assert_eq!(m1.signed.sha256, m2.signed.sha256);
        let out = dir.path().join("out");
        let names = unpack(&a, &out, 1 << 20).unwrap();
        assert_eq!(names, vec!["pack.toml", "refs/a.md"]);
        assert_eq!(std::fs::read_to_string(out.join("refs/a.md")).unwrap(), "passage");
        assert!(matches!(unpack(&a, &dir.path().join("small"), 3), Err(BundleError::Entry { .. })));
    }

    #[test]
    fn an_archive_entry_leaving_its_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        {
            let mut tar = tar::Builder::new(&mut gz);
            let mut h = tar::Header::new_gnu();
            let data = b"evil";
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            // `set_path` refuses `..`; write the raw name as a hostile archive would.
            h.as_old_mut().name[..9].copy_from_slice(b"../escape");
            h.set_cksum();
            tar.append(&h, &data[..]).unwrap();
            tar.finish().unwrap();
        }
        let archive = gz.finish().unwrap();
        let e = unpack(&archive, &dir.path().join("d"), 1 << 20).unwrap_err().to_string();
        assert!(e.contains("../escape"), "{e}");
        assert!(!dir.path().join("escape").exists());
    }

    #[test]
    fn a_bad_name_or_source_is_named() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(build(Kind::Pack, "../x", "1", dir.path()), Err(BundleError::Name(_))));
        let e = build(Kind::Model, "m", "1", dir.path()).unwrap_err().to_string();
        assert!(e.contains("no manifest.toml"), "{e}");
        let e = build(Kind::Config, "c", "1", dir.path()).unwrap_err().to_string();
        assert!(e.contains("one file"), "{e}");
    }
}
