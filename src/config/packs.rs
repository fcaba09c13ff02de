//! `[packs]`: where diagnostic packs and the reference-search database live, and the
//! default language of finding text. Asset `params` (used by pack variants and
//! quantities) are typed here too.

pub use crate::text::Lang;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A parameter of an asset (`params = { age_years = 12, insulation_class = "F" }`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Param {
    Num(f64),
    Str(String),
}

impl Param {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Param::Num(n) => Some(*n),
            Param::Str(s) => s.trim().parse().ok(),
        }
    }
    pub fn as_key(&self) -> String {
        match self {
            Param::Num(n) => n.to_string(),
            Param::Str(s) => s.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PacksConfig {
    /// Load the packs built into the binary.
    #[serde(default = "yes")]
    pub builtin: bool,
    /// Directories holding `pack.toml` (or subdirectories that do), relative to the config.
    #[serde(default)]
    pub dirs: Vec<PathBuf>,
    /// The reference-search database (SQLite), relative to the config. Default: beside the
    /// store, `<store name>.refs.db`.
    #[serde(default)]
    pub refs_db: PathBuf,
    /// Language of finding text when a request does not say (`en` or `zh`).
    #[serde(default)]
    pub language: Lang,
}

fn yes() -> bool {
    true
}

impl Default for PacksConfig {
    fn default() -> Self {
        PacksConfig { builtin: true, dirs: Vec::new(), refs_db: PathBuf::new(), language: Lang::En }
    }
}

impl PacksConfig {
    /// Make paths relative to the config file's directory.
    pub fn anchor(&mut self, base: &std::path::Path, store: &std::path::Path) {
        self.refs_db = if self.refs_db.as_os_str().is_empty() {
            store.with_extension("refs.db")
        } else {
            base.join(&self.refs_db)
        };
        for d in &mut self.dirs {
            *d = base.join(&*d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language() {
        assert_eq!(Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"), Some(Lang::Zh));
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9,zh;q=0.5"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("fr-FR, zh;q=0.4"), Some(Lang::Zh));
        assert_eq!(Lang::from_accept_language("fr"), None);
    }
}
