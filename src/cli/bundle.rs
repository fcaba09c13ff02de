//! `edgecite bundle`: make a signing key, build a bundle from a pack, model or config, sign
//! it, verify it as a gateway would, and write the deploy request that carries it.

use crate::fleet::bundle::{self, Kind, Manifest};
use anyhow::Context;
use std::path::{Path, PathBuf};

#[derive(clap::Subcommand)]
pub enum BundleCommand {
    /// Make an ed25519 key pair: the private key at OUT (mode 0600), the public key at
    /// OUT.pub (copy that one into the gateways' [fleet] trust_dir).
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Build a bundle: PREFIX.tar.gz (the archive) and PREFIX.json (its manifest, unsigned).
    Build {
        #[arg(long, value_enum)]
        kind: Kind,
        /// The pack's id, the model's name, or a label for a config.
        #[arg(long)]
        name: String,
        #[arg(long)]
        version: String,
        /// A pack or model directory, or a config file.
        source: PathBuf,
        /// Where to write: PREFIX.tar.gz and PREFIX.json.
        #[arg(long)]
        out: PathBuf,
    },
    /// Add a signature to a manifest with a private key from `keygen`.
    Sign {
        #[arg(long)]
        key: PathBuf,
        manifest: PathBuf,
    },
    /// Check a bundle as a gateway does: a signature by a trusted key, the archive's size and
    /// hash. Exits non-zero with the reason.
    Verify {
        /// Directory of trusted public keys (*.pub).
        #[arg(long)]
        trust: PathBuf,
        manifest: PathBuf,
        /// The archive (default: beside the manifest, PREFIX.tar.gz).
        #[arg(long)]
        archive: Option<PathBuf>,
        /// Largest archive accepted, bytes.
        #[arg(long, default_value_t = 64 << 20)]
        max_bytes: u64,
    },
    /// Print the deploy request (JSON) for `…/_gateway/cmd/deploy`: the manifest and the
    /// archive inline (base64), or the path where the archive is on the gateway.
    Request {
        manifest: PathBuf,
        #[arg(long)]
        archive: Option<PathBuf>,
        /// Name the archive by its path on the gateway instead of sending it inline.
        #[arg(long, value_name = "PATH_ON_GATEWAY")]
        path: Option<PathBuf>,
        /// MQTT 3.1.1: where the gateway sends the result besides `…/_gateway/deploy`.
        #[arg(long)]
        response_topic: Option<String>,
        /// MQTT 3.1.1: echoed in the result.
        #[arg(long)]
        correlation: Option<String>,
        /// Bytes of base64 per chunk.
        #[arg(long, default_value_t = 1 << 20)]
        chunk_bytes: usize,
    },
}

fn with_ext(prefix: &Path, ext: &str) -> PathBuf {
    let mut p = prefix.as_os_str().to_owned();
    p.push(ext);
    PathBuf::from(p)
}

/// The archive beside a manifest: `x.json` -> `x.tar.gz`.
fn archive_of(manifest: &Path) -> PathBuf {
    with_ext(&manifest.with_extension(""), ".tar.gz")
}

pub fn run(command: BundleCommand) -> anyhow::Result<()> {
    match command {
        BundleCommand::Keygen { out } => {
            let id = bundle::keygen(&out)?;
            println!(
                "key {id}: private {} (keep it off the gateways), public {}",
                out.display(),
                bundle::public_path(&out).display()
            );
        }
        BundleCommand::Build { kind, name, version, source, out } => {
            let (archive, manifest) = bundle::build(kind, &name, &version, &source)?;
            let (a, m) = (with_ext(&out, ".tar.gz"), with_ext(&out, ".json"));
            if let Some(parent) = a.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).with_context(|| format!("{}", parent.display()))?;
            }
            std::fs::write(&a, &archive).with_context(|| format!("{}", a.display()))?;
            manifest.write(&m)?;
            println!(
                "{} {name} {version}: {} ({} bytes, sha256 {}) and {} (unsigned: sign it with `edgecite bundle sign`)",
                kind.as_str(),
                a.display(),
                archive.len(),
                manifest.signed.sha256,
                m.display()
            );
        }
        BundleCommand::Sign { key, manifest } => {
            let mut m = Manifest::read(&manifest)?;
            let id = m.sign(&key)?;
            m.write(&manifest)?;
            println!("{}: signed by key {id} ({} signature(s))", manifest.display(), m.signatures.len());
        }
        BundleCommand::Verify { trust, manifest, archive, max_bytes } => {
            let m = Manifest::read(&manifest)?;
            let a = archive.unwrap_or_else(|| archive_of(&manifest));
            let bytes = std::fs::read(&a).with_context(|| format!("{}", a.display()))?;
            let key = m.verify(&bytes, &trust, max_bytes).with_context(|| format!("{}", manifest.display()))?;
            println!(
                "{}: OK: {} {} {}, sha256 {}, signed by trusted key {key}",
                manifest.display(),
                m.signed.kind.as_str(),
                m.signed.name,
                m.signed.version,
                m.signed.sha256
            );
        }
        BundleCommand::Request { manifest, archive, path, response_topic, correlation, chunk_bytes } => {
            let m = Manifest::read(&manifest)?;
            let chunks = match &path {
                Some(_) => Vec::new(),
                None => {
                    let a = archive.unwrap_or_else(|| archive_of(&manifest));
                    let bytes = std::fs::read(&a).with_context(|| format!("{}", a.display()))?;
                    let text = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes);
                    // Base64 is ASCII: every byte index is a character boundary.
                    text.as_bytes()
                        .chunks((chunk_bytes / 4).max(1) * 4)
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect()
                }
            };
            let mut req = serde_json::json!({ "manifest": m, "chunks": chunks });
            let obj = req.as_object_mut().expect("an object");
            if let Some(p) = path {
                obj.insert("path".into(), serde_json::json!(p));
            }
            if let Some(t) = response_topic {
                obj.insert("response_topic".into(), serde_json::json!(t));
            }
            if let Some(c) = correlation {
                obj.insert("correlation".into(), serde_json::json!(c));
            }
            println!("{req}");
        }
    }
    Ok(())
}
