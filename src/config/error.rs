//! Config errors that name the file, line and column, the key path, the value and what was
//! expected, with the offending line quoted.

use crate::location::Location;
use std::fmt;
use std::path::PathBuf;

/// One segment of a key path such as `sources.modbus[0].points[2].type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A key path into the config document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    pub fn root() -> Self {
        KeyPath(Vec::new())
    }
    pub fn key(&self, k: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_string()));
        KeyPath(v)
    }
    pub fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        KeyPath(v)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(document)");
        }
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read config file: {source}")]
    Read { path: PathBuf, source: std::io::Error },

    /// The file is not valid TOML, or a value has the wrong type or an unknown key.
    #[error("{}", render(file, location.as_ref(), key, message))]
    Invalid { file: PathBuf, location: Option<Location>, key: KeyPath, message: String },
}

impl ConfigError {
    /// The key path the error is about (empty for syntax errors at document level).
    pub fn key(&self) -> Option<&KeyPath> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            ConfigError::Read { .. } => None,
        }
    }
    /// The 1-based line the error points at, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Invalid { location: Some(l), .. } => Some(l.line),
            _ => None,
        }
    }
}

fn render(file: &std::path::Path, loc: Option<&Location>, key: &KeyPath, message: &str) -> String {
    let mut out = match loc {
        Some(l) => format!("{}:{}:{}: {}: {}", file.display(), l.line, l.column, key, message),
        None => format!("{}: {}: {}", file.display(), key, message),
    };
    if let Some(l) = loc {
        let gutter = l.line.to_string().len();
        out.push_str(&format!(
            "\n{:gutter$} |\n{} | {}\n{:gutter$} | {}{}",
            "",
            l.line,
            l.line_text,
            "",
            " ".repeat(l.column.saturating_sub(1)),
            "^".repeat(l.width),
        ));
    }
    out
}
