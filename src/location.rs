//! Line and column of a byte span in a text file: how config, pack, reference and glossary
//! errors point at the problem.

use std::ops::Range;

/// Where in the file a problem sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
    /// The text of that line, for the excerpt.
    pub line_text: String,
    /// How many characters to underline.
    pub width: usize,
}

impl Location {
    /// Line and column (both 1-based) of a byte span in `text`.
    pub fn from_span(text: &str, span: Range<usize>) -> Self {
        let start = span.start.min(text.len());
        let before = &text[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = text[line_start..start].chars().count() + 1;
        let line_end = text[start..].find('\n').map(|i| start + i).unwrap_or(text.len());
        let line_text = text[line_start..line_end].trim_end_matches('\r').to_string();
        let width = text[start..span.end.clamp(start, line_end)].chars().count().max(1);
        Location { line, column, line_text, width }
    }
}
