//! The knowledge the ask, DGA and findings services share: the packs, the lab DGA
//! diagnoser, the reference index (opened, or rebuilt when its file is unusable), the
//! default language and the configured assets' context. The API and the command line
//! open it the same way.

use super::ask::AssetContext;
use crate::config::packs::Lang;
use crate::diagnose::lab::LabDiagnoser;
use crate::diagnose::pack::PackSet;
use crate::knowledge::glossary::Glossary;
use crate::knowledge::search::query::Lexicon;
use crate::knowledge::search::{RefIndex, SearchError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What the knowledge routes need: the packs, the lab DGA diagnoser, the reference index
/// and the default language.
pub struct Knowledge {
    pub packs: PackSet,
    /// The lab DGA report (`POST /api/v1/dga`); `None` when the transformer-dga pack is not
    /// loaded (`[packs] builtin = false` and no pack dir holds it): a gateway without
    /// transformers runs without it.
    pub lab: Option<LabDiagnoser>,
    pub refs: Mutex<RefIndex>,
    pub language: Lang,
    /// Set when the reference index on disk could not be used and was rebuilt (or is kept
    /// in memory): why, for `/healthz`. Search still answers from the built-in library.
    pub refs_degraded: Option<String>,
    /// Each configured asset's class and parameters, for questions asked from it.
    pub assets: HashMap<String, AssetContext>,
}

/// Whether the file itself is broken (then it is moved aside and rebuilt).
fn is_corrupt(e: &SearchError) -> bool {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    match e {
        SearchError::Corrupt { .. } => true,
        SearchError::Db { source: rusqlite::Error::SqliteFailure(f, _), .. } => {
            matches!(f.code, DatabaseCorrupt | NotADatabase)
        }
        _ => false,
    }
}

/// Open the reference index at `path` with the built-in library loaded. A file that cannot
/// be used must not stop the daemon (issue 13 items 3 and 9): a corrupt one (or not a
/// database) is moved aside and a fresh index is built from the library; on other errors
/// (disk full, I/O), or if the rebuild fails, the index lives in memory. The second value
/// says what happened.
fn open_refs(
    path: &std::path::Path,
    lib: &crate::knowledge::Library,
) -> Result<(RefIndex, Option<String>), KnowledgeError> {
    let first = RefIndex::open(path).and_then(|mut r| {
        if let Some(p) = r.quick_check()? {
            return Err(SearchError::Corrupt { path: path.display().to_string(), problem: p });
        }
        r.load_library(lib)?;
        Ok(r)
    });
    let e = match first {
        Ok(r) => return Ok((r, None)),
        Err(e) => e,
    };
    if !is_corrupt(&e) {
        // A full disk or an I/O error says nothing about the file: it stays as it is, and
        // the index lives in memory until the next start.
        let why = format!("{e}; the reference index is in memory until the next start");
        tracing::error!(refs_db = %path.display(), problem = %why, "reference index unusable");
        let mut r = RefIndex::in_memory()?;
        r.load_library(lib)?;
        return Ok((r, Some(why)));
    }
    let aside = path.with_extension(format!("db.broken-{}", crate::time::now_ms()));
    let moved = std::fs::rename(path, &aside).is_ok();
    for suffix in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(side));
    }
    let why = if moved {
        format!("{e}; moved to {} and rebuilt from the built-in library (import documents again with `edgecite refs import`)", aside.display())
    } else {
        format!("{e}; rebuilt from the built-in library")
    };
    tracing::error!(refs_db = %path.display(), problem = %why, "reference index unusable");
    match RefIndex::open(path).and_then(|mut r| r.load_library(lib).map(|_| r)) {
        Ok(r) => Ok((r, Some(why))),
        Err(e2) => {
            let mut r = RefIndex::in_memory()?;
            r.load_library(lib)?;
            Ok((r, Some(format!("{why}; the new file failed too ({e2}): the index is in memory"))))
        }
    }
}

/// Why the packs, glossaries or reference index cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error(transparent)]
    Pack(#[from] crate::diagnose::pack::PackError),
    #[error(transparent)]
    Glossary(#[from] crate::knowledge::glossary::GlossaryError),
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error(transparent)]
    Lab(#[from] crate::diagnose::lab::LabError),
}

impl Knowledge {
    /// Load the packs and their glossaries, open the reference index and refresh its
    /// built-in content.
    pub fn open(cfg: &crate::config::packs::PacksConfig, in_memory: bool) -> Result<Knowledge, KnowledgeError> {
        let packs = PackSet::load(cfg.builtin, &cfg.dirs)?;
        let glossary = Glossary::load(cfg.builtin, &cfg.dirs)?;
        let (mut refs, refs_degraded) = if in_memory {
            let mut r = RefIndex::in_memory()?;
            r.load_library(&packs.library)?;
            (r, None)
        } else {
            open_refs(&cfg.refs_db, &packs.library)?
        };
        if !cfg.dirs.is_empty() || !cfg.builtin {
            refs.set_lexicon(Arc::new(Lexicon::new(glossary)))?;
        }
        Ok(Knowledge {
            lab: match LabDiagnoser::new(&packs) {
                Ok(l) => Some(l),
                Err(crate::diagnose::lab::LabError::NoPack) => None,
                Err(e) => return Err(e.into()),
            },
            packs,
            refs: Mutex::new(refs),
            language: cfg.language,
            refs_degraded,
            assets: HashMap::new(),
        })
    }

    /// Know the configured assets' classes and parameters (`asset=` on /api/v1/ask).
    pub fn with_assets(mut self, assets: &[crate::config::AssetConfig]) -> Knowledge {
        self.assets = assets.iter().map(|a| (a.id.clone(), AssetContext::new(a, &self.packs))).collect();
        self
    }
}
