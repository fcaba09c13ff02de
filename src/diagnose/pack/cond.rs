//! The condition language of pack regions: `"c2h4 >= 20 & c2h4 < 50 & c2h2 < 4"`.
//! Terms `name op number` joined by `&`; `op` is one of `<`, `<=`, `>`, `>=`. A region
//! matches when any of its `when` strings matches (each string is one alternative).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub var: String,
    pub op: Op,
    pub value: f64,
}

/// One alternative: all terms must hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cond(pub Vec<Term>);

impl Cond {
    pub fn parse(s: &str) -> Result<Cond, String> {
        let mut terms = Vec::new();
        for raw in s.split('&') {
            let t = raw.trim();
            if t.is_empty() {
                return Err(format!("empty term in `{s}`"));
            }
            let (pos, op, len) = ["<=", ">=", "<", ">"]
                .iter()
                .filter_map(|o| t.find(o).map(|p| (p, *o)))
                .min_by_key(|(p, o)| (*p, std::cmp::Reverse(o.len())))
                .map(|(p, o)| {
                    let op = match o {
                        "<=" => Op::Le,
                        ">=" => Op::Ge,
                        "<" => Op::Lt,
                        _ => Op::Gt,
                    };
                    (p, op, o.len())
                })
                .ok_or_else(|| format!("term `{t}` has no comparison: expected `name < number` (<, <=, >, >=)"))?;
            let var = t[..pos].trim();
            let num = t[pos + len..].trim();
            if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("term `{t}`: `{var}` is not a variable name"));
            }
            let value: f64 = num.parse().map_err(|_| format!("term `{t}`: `{num}` is not a number"))?;
            terms.push(Term { var: var.to_string(), op, value });
        }
        Ok(Cond(terms))
    }

    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|t| t.var.as_str())
    }

    /// Three-valued: `Some(true)` when every term holds for every value in each variable's
    /// range `[lo, hi]`, `Some(false)` when some term fails for all of them, `None` when it
    /// depends on where in its range a value lies. An unknown variable never matches.
    pub fn holds3(&self, get: &dyn Fn(&str) -> Option<(f64, f64)>) -> Option<bool> {
        let mut all = true;
        for t in &self.0 {
            let Some((lo, hi)) = get(&t.var) else { return Some(false) };
            let c = t.value;
            let (yes, no) = match t.op {
                Op::Lt => (hi < c, lo >= c),
                Op::Le => (hi <= c, lo > c),
                Op::Gt => (lo > c, hi <= c),
                Op::Ge => (lo >= c, hi < c),
            };
            if no {
                return Some(false);
            }
            all &= yes;
        }
        if all {
            Some(true)
        } else {
            None
        }
    }

    /// Whether every term holds; `get` returns a variable's value.
    pub fn holds(&self, get: &dyn Fn(&str) -> Option<f64>) -> bool {
        self.0.iter().all(|t| {
            let Some(x) = get(&t.var) else { return false };
            match t.op {
                Op::Lt => x < t.value,
                Op::Le => x <= t.value,
                Op::Gt => x > t.value,
                Op::Ge => x >= t.value,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_evaluates() {
        let c = Cond::parse("c2h4 >= 20 & c2h4<50 & c2h2 < 4").unwrap();
        assert_eq!(c.0.len(), 3);
        assert_eq!(c.0[1], Term { var: "c2h4".into(), op: Op::Lt, value: 50.0 });
        let at = |a: f64, b: f64| move |v: &str| if v == "c2h4" { Some(a) } else { Some(b) };
        assert!(c.holds(&at(20.0, 3.9)));
        assert!(!c.holds(&at(50.0, 3.9)));
        assert!(!c.holds(&at(19.99, 1.0)));
        assert!(!c.holds(&|_| None), "an unknown value never matches");
        // Ranges: inside, outside, straddling.
        let r = |a: (f64, f64), b: (f64, f64)| move |v: &str| if v == "c2h4" { Some(a) } else { Some(b) };
        assert_eq!(c.holds3(&r((20.0, 30.0), (0.0, 3.9))), Some(true));
        assert_eq!(c.holds3(&r((50.0, 60.0), (0.0, 1.0))), Some(false));
        assert_eq!(c.holds3(&r((40.0, 60.0), (0.0, 1.0))), None);
        assert_eq!(c.holds3(&r((20.0, 30.0), (3.0, 5.0))), None);
        assert_eq!(c.holds3(&|_| None), Some(false));
        for bad in ["c2h4", "c2h4 < x", "< 3", "a < 1 &", "a-b < 1"] {
            assert!(Cond::parse(bad).is_err(), "{bad}");
        }
    }
}
