//! `edgecite dga --csv FILE --eval COLUMN`: the verdict and each method against a column of
//! known conditions, as confusion counts per condition (correct / wrong family / called
//! normal / no diagnosis, and false faults on no-fault rows).
//!
//! Labels are read by keyword, case-insensitive (docs/verdict.md):
//! `no fault`, `normal` (alone) → no fault; `pd`, `partial` → PD; `thermal`, `overheat`,
//! `circulating`, `hot spot` → T; `discharge`, `arc`, `spark`, `d1`, `d2` → D;
//! `electrical` → D or PD; a label with both thermal and electrical words → mixed (DT, or
//! either part). A label with no known word is not counted (listed as unread).

use super::lab::LabReport;
use super::verdict::Family;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;

/// What a label says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    NoFault,
    /// Any of these families is right.
    Fault {
        name: &'static str,
        accept: Vec<Family>,
    },
}

pub fn read_label(label: &str) -> Option<Expected> {
    let l = label.to_lowercase();
    let has = |w: &[&str]| w.iter().any(|x| l.contains(x));
    let pd = has(&["pd", "partial"]);
    let thermal = has(&["thermal", "overheat", "circulating", "hot spot", "hotspot"]);
    let discharge = has(&["discharge", "arc", "spark", "d1", "d2"]);
    let electrical = has(&["electrical"]);
    let e = pd || discharge || electrical;
    if thermal && e {
        let mut accept = vec![Family::DT, Family::T];
        if pd {
            accept.push(Family::PD);
        }
        if discharge || electrical {
            accept.push(Family::D);
        }
        return Some(Expected::Fault { name: "mixed", accept });
    }
    if thermal {
        return Some(Expected::Fault { name: "thermal", accept: vec![Family::T] });
    }
    if pd && !discharge && !electrical {
        return Some(Expected::Fault { name: "PD", accept: vec![Family::PD] });
    }
    if discharge {
        return Some(Expected::Fault { name: "discharge", accept: vec![Family::D] });
    }
    if electrical {
        return Some(Expected::Fault { name: "electrical", accept: vec![Family::D, Family::PD] });
    }
    if has(&["no fault", "normal", "healthy"]) {
        return Some(Expected::NoFault);
    }
    None
}

/// One row of the table: counts for one condition.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub rows: usize,
    /// The right family (fault rows) or no fault named (no-fault rows: normal).
    pub correct: usize,
    /// Fault rows: a family the label excludes.
    pub wrong: usize,
    /// Fault rows called normal.
    pub called_normal: usize,
    /// No-fault rows where a fault was named.
    pub false_fault: usize,
    /// Abstained: methods disagree, not enough evidence.
    pub no_diagnosis: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Table {
    /// Per condition (`no fault`, `thermal`, …) for the verdict.
    pub verdict: BTreeMap<String, Counts>,
    /// Per method (criterion id), all conditions together.
    pub methods: BTreeMap<String, Counts>,
    /// The verdict, all conditions together.
    pub verdict_total: Counts,
    /// Labels with no known word (not counted).
    pub unread: Vec<String>,
}

/// What a result (verdict or method) said: a family, normal, or nothing.
enum Said {
    Family(Option<Family>),
    Normal,
    Nothing,
}

fn tally(c: &mut Counts, exp: &Expected, said: Said) {
    c.rows += 1;
    match (exp, said) {
        (Expected::NoFault, Said::Normal) => c.correct += 1,
        (Expected::NoFault, Said::Family(_)) => c.false_fault += 1,
        (Expected::NoFault, Said::Nothing) => c.no_diagnosis += 1,
        (Expected::Fault { accept, .. }, Said::Family(Some(f))) if accept.contains(&f) => c.correct += 1,
        (Expected::Fault { .. }, Said::Family(_)) => c.wrong += 1,
        (Expected::Fault { .. }, Said::Normal) => c.called_normal += 1,
        (Expected::Fault { .. }, Said::Nothing) => c.no_diagnosis += 1,
    }
}

/// Count the verdict and each fault-type method over the labelled rows.
pub fn evaluate<'a>(rows: impl IntoIterator<Item = (Option<&'a str>, &'a LabReport)>) -> Table {
    let mut t = Table::default();
    for (label, r) in rows {
        let Some(label) = label.map(str::trim).filter(|l| !l.is_empty()) else { continue };
        let Some(exp) = read_label(label) else {
            if !t.unread.iter().any(|u| u == label) {
                t.unread.push(label.to_string());
            }
            continue;
        };
        let name = match &exp {
            Expected::NoFault => "no fault",
            Expected::Fault { name, .. } => name,
        };
        let said = match r.overall.status {
            "fault" => Said::Family(r.overall.family),
            "normal" => Said::Normal,
            _ => Said::Nothing,
        };
        let said2 = match &said {
            Said::Family(f) => Said::Family(*f),
            Said::Normal => Said::Normal,
            Said::Nothing => Said::Nothing,
        };
        tally(t.verdict.entry(name.to_string()).or_default(), &exp, said);
        tally(&mut t.verdict_total, &exp, said2);
        for m in &r.methods {
            // Methods that name fault types only; a level method says nothing of the type.
            if !matches!(m.role, super::pack::Role::Primary | super::pack::Role::Confirmation) {
                continue;
            }
            let said = match m.status {
                "fault" => Said::Family(m.family),
                // Below applicability: the method judged the levels normal.
                "normal" => Said::Normal,
                _ if m.reason == Some("below_applicability") => Said::Normal,
                _ => Said::Nothing,
            };
            tally(t.methods.entry(m.criterion.clone()).or_default(), &exp, said);
        }
    }
    t
}

/// The tables as text (Markdown, for README).
pub fn print(out: &mut impl Write, t: &Table, column: &str, file: &str) -> std::io::Result<()> {
    writeln!(out, "Verdict against `{column}` in {file} ({} labelled rows)", t.verdict_total.rows)?;
    writeln!(out)?;
    writeln!(out, "| condition | rows | correct | wrong family | called normal | false fault | no diagnosis |")?;
    writeln!(out, "|---|---:|---:|---:|---:|---:|---:|")?;
    let row = |out: &mut dyn Write, name: &str, c: &Counts| {
        writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {} |",
            c.rows, c.correct, c.wrong, c.called_normal, c.false_fault, c.no_diagnosis
        )
    };
    for (name, c) in &t.verdict {
        row(out, name, c)?;
    }
    row(out, "**all**", &t.verdict_total)?;
    writeln!(out)?;
    writeln!(out, "Each fault-type method alone, same rows (\"normal\" includes \"below its applicability\")")?;
    writeln!(out)?;
    writeln!(out, "| method | rows | correct | wrong family | called normal | false fault | no diagnosis |")?;
    writeln!(out, "|---|---:|---:|---:|---:|---:|---:|")?;
    for (name, c) in &t.methods {
        row(out, &format!("`{name}`"), c)?;
    }
    if !t.unread.is_empty() {
        writeln!(out)?;
        writeln!(out, "Labels not read (not counted): {}", t.unread.join("; "))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_read_by_keyword() {
        assert_eq!(read_label("No Fault"), Some(Expected::NoFault));
        assert_eq!(read_label("normal aging"), Some(Expected::NoFault));
        let fam = |l: &str| match read_label(l) {
            Some(Expected::Fault { accept, .. }) => accept,
            _ => vec![],
        };
        assert_eq!(fam("Thermal Fault"), vec![Family::T]);
        assert_eq!(fam("PD"), vec![Family::PD]);
        assert_eq!(fam("persistence sparking"), vec![Family::D]);
        assert_eq!(fam("Electrical Fault"), vec![Family::D, Family::PD]);
        assert_eq!(fam("arcing, normal aging"), vec![Family::D], "a fault word wins over 'normal'");
        assert!(fam("Discharge; Thermal").contains(&Family::DT));
        assert!(fam("PD;Thermal").contains(&Family::PD));
        assert_eq!(read_label("see report"), None);
    }
}
