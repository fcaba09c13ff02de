//! The command line's commands (binary-edge code: anyhow errors, printing): here
//! `edgecite dga` (lab DGA results), `edgecite ask` / `edgecite refs` (reference library)
//! and `edgecite version`; `check.rs`: `edgecite check`; `status.rs`: `edgecite status`;
//! `simulate.rs`: `edgecite simulate`; `modbus.rs`: `edgecite modbus plan` / `write`;
//! `model.rs`: `edgecite model eval` / `parity`; `user.rs`: `edgecite user` / `token`;
//! `baseline.rs`: `edgecite baseline`. `main.rs` parses the arguments, starts the runtime
//! and the signal handling, and calls these; the library layers below return thiserror
//! errors.

pub mod baseline;
pub mod bundle;
pub mod check;
pub mod modbus;
pub mod model;
pub mod simulate;
pub mod status;
pub mod user;

use crate::config::packs::Lang;
use crate::config::Config;
use crate::diagnose::lab::{self, LabDiagnoser, LabReport, LabSample};
use crate::diagnose::pack::PackSet;
use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;

/// `edgecite version`.
pub fn version() -> anyhow::Result<()> {
    println!("edgecite {}", env!("CARGO_PKG_VERSION"));
    Ok(())
}

/// Rows diagnosed per parallel window in `edgecite dga --csv`.
const WINDOW: usize = 4096;

/// Diagnose lab DGA results: one sample from flags, or a CSV file.
#[derive(clap::Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct DgaArgs {
    /// CSV with columns H2,CH4,C2H6,C2H4,C2H2,CO,CO2 [,O2,N2,age_years,id,date,voltage_class];
    /// an empty cell means not reported. Rows with the same id form a series (file order).
    #[arg(long, conflicts_with_all = ["h2", "ch4", "c2h6", "c2h4", "c2h2", "co", "co2"])]
    pub csv: Option<PathBuf>,
    /// What an empty CSV cell means: not-reported (the gas was not analysed; default) or
    /// not-detected (the lab leaves a cell empty when it found nothing). `ND`, `n.d.`, `未检出`
    /// and `<x` cells are read as such either way; `-` is always not reported.
    #[arg(long, value_enum, default_value = "not-reported")]
    pub blank: lab::Blank,
    /// Evaluate against the known condition in this CSV column: print the confusion table of
    /// the verdict and of each method (correct / wrong / normal / no diagnosis) instead of the
    /// reports. Labels are read by keyword (docs/verdict.md).
    #[arg(long, requires = "csv", value_name = "COLUMN")]
    pub eval: Option<String>,
    /// Skip CSV columns edgecite does not know (a lab's own export) instead of refusing the
    /// file; they are listed on stderr.
    #[arg(long, requires = "csv")]
    pub ignore_unknown_columns: bool,
    /// Print one JSON object per sample.
    #[arg(long)]
    pub json: bool,
    /// Language of the text output.
    #[arg(long, value_parser = parse_lang, default_value = "en")]
    pub lang: Lang,
    /// A config whose [packs] dirs add plant packs (the built-in packs are always there).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    #[arg(long, value_parser = lab::Reading::parse, allow_hyphen_values = true)]
    pub h2: Option<lab::Reading>,
    #[arg(long, value_parser = lab::Reading::parse, allow_hyphen_values = true)]
    pub ch4: Option<lab::Reading>,
    #[arg(long, value_parser = lab::Reading::parse, allow_hyphen_values = true)]
    pub c2h6: Option<lab::Reading>,
    #[arg(long, value_parser = lab::Reading::parse, allow_hyphen_values = true)]
    pub c2h4: Option<lab::Reading>,
    #[arg(long, value_parser = lab::Reading::parse, allow_hyphen_values = true)]
    pub c2h2: Option<lab::Reading>,
    #[arg(long, value_parser = lab::Reading::parse, allow_hyphen_values = true)]
    pub co: Option<lab::Reading>,
    #[arg(long, value_parser = lab::Reading::parse, allow_hyphen_values = true)]
    pub co2: Option<lab::Reading>,
    #[arg(long, value_parser = lab::Reading::parse, allow_hyphen_values = true)]
    pub o2: Option<lab::Reading>,
    #[arg(long, value_parser = lab::Reading::parse, allow_hyphen_values = true)]
    pub n2: Option<lab::Reading>,
    #[arg(long)]
    pub age_years: Option<f64>,
    /// `ge330kv` or `le220kv` (selects the DL/T 722 C2H2 attention value).
    #[arg(long)]
    pub voltage_class: Option<String>,
}

pub fn parse_lang(s: &str) -> Result<Lang, String> {
    Lang::parse(s).ok_or_else(|| format!("`{s}`: expected en or zh"))
}

/// The packs of a config (or the built-in ones).
pub fn packs(config: Option<&PathBuf>) -> anyhow::Result<(PackSet, Option<Config>)> {
    match config {
        Some(p) => {
            let c = Config::load(p)?;
            Ok((PackSet::load(c.packs.builtin, &c.packs.dirs)?, Some(c)))
        }
        None => Ok((PackSet::builtin()?, None)),
    }
}

/// Run `edgecite dga`. Returns whether every row could be read.
pub fn dga(a: &DgaArgs) -> anyhow::Result<bool> {
    let (packs, _) = packs(a.config.as_ref())?;
    let diag = LabDiagnoser::new(&packs)?;
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    let mut all_ok = true;
    match &a.csv {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
            let opts =
                lab::CsvOptions { blank: a.blank, label: a.eval.clone(), ignore_unknown: a.ignore_unknown_columns };
            let parsed = lab::parse_csv_with(&path.display().to_string(), &text, &opts)?;
            if !parsed.ignored.is_empty() {
                eprintln!("{}: ignored columns: {}", path.display(), parsed.ignored.join(", "));
            }
            if let Some(col) = &a.eval {
                let (rows, errors): (Vec<_>, Vec<_>) = parsed.rows.into_iter().partition(|(_, r)| r.is_ok());
                for (line, e) in &errors {
                    if let Err(e) = e {
                        eprintln!("line {line}: ERROR: {e}");
                    }
                }
                let rows: Vec<(Option<usize>, LabSample)> =
                    rows.into_iter().filter_map(|(l, r)| r.ok().map(|s| (Some(l), s))).collect();
                let reports = diag.diagnose_series(rows.iter().map(|(l, s)| (*l, s)));
                let table =
                    crate::diagnose::lab_eval::evaluate(rows.iter().map(|(_, s)| s.label.as_deref()).zip(&reports));
                if a.json {
                    writeln!(out, "{}", serde_json::to_string(&table)?)?;
                } else {
                    crate::diagnose::lab_eval::print(&mut out, &table, col, &path.display().to_string())?;
                }
                out.flush()?;
                return Ok(errors.is_empty());
            }
            let rows = parsed.rows;
            let mut good: Vec<(Option<usize>, LabSample)> = Vec::new();
            let mut errors: Vec<(usize, String)> = Vec::new();
            for (line, r) in rows {
                match r {
                    Ok(s) => good.push((Some(line), s)),
                    Err(e) => errors.push((line, e)),
                }
            }
            all_ok = errors.is_empty();
            let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
            let render = |r: &LabReport| -> Vec<u8> {
                let mut buf = Vec::with_capacity(4096);
                // Writing into a Vec cannot fail.
                let _ = print_report(&mut buf, a, r);
                buf
            };
            // Windows of rows keep memory bounded; errors print in place (file order).
            let mut histories = std::collections::HashMap::new();
            let mut ei = errors.into_iter().peekable();
            for window in good.chunks(WINDOW) {
                let rendered = diag.diagnose_parallel(window, threads, &render, &mut histories);
                for ((line, _), bytes) in window.iter().zip(rendered) {
                    while ei.peek().is_some_and(|e| Some(e.0) < *line) {
                        print_error(&mut out, a, ei.next().unwrap())?;
                    }
                    out.write_all(&bytes)?;
                }
            }
            for e in ei {
                print_error(&mut out, a, e)?;
            }
        }
        None => {
            let s = LabSample {
                h2: a.h2,
                ch4: a.ch4,
                c2h6: a.c2h6,
                c2h4: a.c2h4,
                c2h2: a.c2h2,
                co: a.co,
                co2: a.co2,
                o2: a.o2,
                n2: a.n2,
                age_years: a.age_years,
                voltage_class: a.voltage_class.clone(),
                ..Default::default()
            };
            if lab::GASES.iter().all(|g| s.gas(g).is_none()) {
                anyhow::bail!(
                    "no gas given: pass --csv FILE or at least one of --h2 --ch4 --c2h6 --c2h4 --c2h2 --co --co2"
                );
            }
            s.validate().map_err(|e| anyhow::anyhow!("--{e}"))?;
            print_report(&mut out, a, &diag.diagnose(&s, &[], None))?;
        }
    }
    out.flush()?;
    Ok(all_ok)
}

fn print_error(out: &mut impl Write, a: &DgaArgs, (line, e): (usize, String)) -> anyhow::Result<()> {
    if a.json {
        writeln!(out, "{}", serde_json::json!({"line": line, "error": e}))?;
    } else {
        writeln!(out, "line {line}: ERROR: {e}")?;
    }
    Ok(())
}

fn print_report(out: &mut impl Write, a: &DgaArgs, r: &LabReport) -> anyhow::Result<()> {
    if a.json {
        serde_json::to_writer(&mut *out, r)?;
        writeln!(out)?;
        return Ok(());
    }
    let zh = a.lang == Lang::Zh;
    let pick = |t: &crate::diagnose::Text| t.pick(a.lang).to_string();
    let head = match (&r.line, &r.id) {
        (Some(l), Some(id)) => {
            format!("line {l} ({id}{})", r.date.as_ref().map(|d| format!(", {d}")).unwrap_or_default())
        }
        (Some(l), None) => format!("line {l}"),
        (None, _) => "sample".to_string(),
    };
    writeln!(out, "{head}: {}", pick(&r.overall.summary))?;
    for m in &r.methods {
        let what = match m.status {
            "fault" => format!(
                "{} [{}] {}",
                m.code.as_deref().unwrap_or(""),
                m.severity.map(|s| s.as_str()).unwrap_or(""),
                m.finding.as_ref().map(&pick).unwrap_or_default()
            ),
            "normal" => a.lang.pick("normal", "正常").to_string(),
            _ if zh => format!("不作判断（{}）", m.reason.unwrap_or("")),
            _ => format!("abstains ({})", m.reason.unwrap_or("")),
        };
        let detail = m.detail.pick(a.lang);
        writeln!(out, "  {:<28} {what}: {detail}", m.criterion)?;
        if let Some(act) = m.action.as_ref() {
            writeln!(out, "  {:<28} {} {}", "", a.lang.pick("action:", "建议："), pick(act))?;
        }
    }
    for c in &r.citations {
        let clause = c.clause.pick(a.lang);
        let status = match (zh, c.verification) {
            (true, crate::knowledge::Verification::Verified) => "已核实".to_string(),
            (true, crate::knowledge::Verification::Secondary) => "二手来源".to_string(),
            (_, v) => format!("{v:?}"),
        };
        writeln!(out, "  [{}] {}, {clause} ({status})", c.passage_id, c.title)?;
    }
    Ok(())
}

/// Search the reference library. No generated text: passages with their citations, or
/// "no supported answer" with the nearest references.
#[derive(clap::Args, Debug)]
pub struct AskArgs {
    /// The question (English or Chinese).
    #[arg(required_unless_present = "eval")]
    pub query: Option<String>,
    /// Ask from this asset: its open findings' passages rank first, then its class's and
    /// those naming its parameters (machine group, foundation, voltage and insulation
    /// class). Needs --config (reads its store).
    #[arg(long)]
    pub asset: Option<String>,
    /// Run a question set (TOML `[[question]]` with `q` and `answers` or `abstain = true`)
    /// and print supported / wrong citation / correct abstention / wrong abstention.
    #[arg(long, conflicts_with = "query")]
    pub eval: Option<PathBuf>,
    /// With --eval: the counts for support floors 0.30 to 0.90 (how the floor is chosen).
    #[arg(long, requires = "eval")]
    pub sweep: bool,
    #[arg(long)]
    pub json: bool,
    /// Language of the answer (default: the config's [packs] language, else en).
    #[arg(long, value_parser = parse_lang)]
    pub lang: Option<Lang>,
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=50))]
    pub limit: u16,
    /// Config: its reference database (with imported plant documents) and store.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
pub enum RefsCommand {
    /// Import a plant document (Markdown `.md`, plain text, a PDF's text layer, or failure
    /// cases `.toml`) into the config's reference database. Re-importing an id replaces it.
    Import {
        file: PathBuf,
        #[arg(long, short)]
        config: PathBuf,
        /// Document id (default: the file name without extension).
        #[arg(long)]
        id: Option<String>,
        /// Title (default: the first `# ` heading, else the id).
        #[arg(long)]
        title: Option<String>,
        #[arg(long, default_value = "")]
        edition: String,
        /// Largest file taken, MiB; a PDF's decompressed streams may total 8 times this
        /// (a decompression bomb is refused before extraction), with at most 5,000 pages.
        #[arg(long, default_value_t = 16)]
        max_mib: u64,
    },
    /// Count documents and passages in the config's reference database.
    Stats {
        #[arg(long, short)]
        config: PathBuf,
    },
}

pub fn ask(a: &AskArgs) -> anyhow::Result<()> {
    use crate::service::ask::answer;
    use crate::service::knowledge::Knowledge;
    let cfg = a.config.as_ref().map(|p| Config::load(p)).transpose()?;
    let know = match &cfg {
        Some(c) => Knowledge::open(&c.packs, false)?,
        None => Knowledge::open(&crate::config::packs::PacksConfig::default(), true)?,
    };
    if let Some(file) = &a.eval {
        return ask_eval(&know, file, a.sweep, a.json);
    }
    let query = a.query.as_deref().unwrap_or_default();
    let lang = a.lang.or(cfg.as_ref().map(|c| c.packs.language)).unwrap_or_default();
    let context = match (&a.asset, &cfg) {
        (Some(id), Some(c)) => {
            c.assets.iter().find(|x| &x.id == id).map(|x| crate::service::ask::AssetContext::new(x, &know.packs))
        }
        _ => None,
    };
    let findings = match (&a.asset, &cfg) {
        (None, _) => None,
        (Some(_), None) => anyhow::bail!("--asset needs --config (the asset's findings are in its store)"),
        (Some(id), Some(c)) => {
            if !c.assets.iter().any(|x| &x.id == id) {
                anyhow::bail!("--asset `{id}`: {} has no [[assets]] with that id", c.file.display());
            }
            let store = crate::store::Store::open_readonly(&c.store.path)
                .with_context(|| format!("store {} (is the daemon set up?)", c.store.path.display()))?;
            let filter = crate::store::FindingFilter {
                state: Some("open".into()),
                asset: Some(id.clone()),
                limit: None,
                severity: None,
            };
            Some(store.findings(&filter)?)
        }
    };
    let refs = know.refs.lock().unwrap_or_else(|p| p.into_inner());
    let r = answer(&refs, query, lang, a.limit as usize, context.as_ref(), findings.as_deref())?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    if let Some(ev) = &r.asset_evidence {
        println!("{} {}:", lang.pick("asset evidence", "资产当前证据"), a.asset.as_deref().unwrap_or(""));
        if ev.is_empty() {
            println!("  {}", lang.pick("no open findings", "无未关闭的发现"));
        }
        for e in ev {
            println!("  #{} {} [{}] {}: {}", e.finding_id, e.code, e.severity, e.title, e.summary);
        }
    }
    if !r.supported {
        println!("{}: {}", lang.pick("NO SUPPORTED ANSWER", "无有依据的答案"), r.reason.as_deref().unwrap_or(""));
    } else if let Some(why) = &r.reason {
        println!("{why}");
    }
    if let Some(note) = &r.context_note {
        println!("{note}");
    }
    for d in &r.depends_on {
        for v in &d.variants {
            println!("  {}: {} -> {}", d.label, v.label, v.passages.join(", "));
        }
    }
    for h in &r.results {
        println!(
            "\n{}[{}] {} {} — {} ({:?}, score {})",
            if h.nearest { lang.pick("(nearest) ", "（最接近）") } else { "" },
            h.passage_id,
            h.doc_title,
            h.edition,
            h.clause,
            h.verification,
            h.score
        );
        let plain = h.highlight.replace("<mark>", "**").replace("</mark>", "**");
        let plain = plain
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&");
        println!("  {plain}");
        for m in &h.matched {
            if m.via != m.term {
                println!("  ({} {} {})", m.term, lang.pick("matched as", "匹配为"), m.via);
            }
        }
    }
    Ok(())
}

/// `edgecite ask --eval FILE [--sweep]`: the question set's outcome at the support floor
/// (or at each floor of the sweep), and every question that was not right.
fn ask_eval(
    know: &crate::service::knowledge::Knowledge,
    file: &std::path::Path,
    sweep: bool,
    json: bool,
) -> anyhow::Result<()> {
    use crate::service::ask::{evaluate, load_questions};
    let text = std::fs::read_to_string(file).with_context(|| format!("question set {}", file.display()))?;
    let qs = load_questions(&file.display().to_string(), &text).map_err(anyhow::Error::msg)?;
    let mut refs = know.refs.lock().unwrap_or_else(|p| p.into_inner());
    let default = refs.floor();
    let floors: Vec<f64> = if sweep { (6..=18).map(|i| i as f64 * 0.05).collect() } else { vec![default] };
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for f in &floors {
        refs.set_floor(*f);
        let mut fl = Vec::new();
        let c = evaluate(&refs, &qs, &mut fl)?;
        if (*f - default).abs() < 1e-9 || !sweep {
            failures = fl;
        }
        rows.push((*f, c));
    }
    refs.set_floor(default);
    if json {
        let v: Vec<serde_json::Value> =
            rows.iter().map(|(f, c)| serde_json::json!({"floor": f, "counts": c})).collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"rows": v, "failures": failures}))?);
        return Ok(());
    }
    let pct = |n: usize, of: usize| if of == 0 { 0.0 } else { 100.0 * n as f64 / of as f64 };
    let c0 = rows[0].1;
    println!(
        "{}: {} questions ({} answerable, {} to abstain on)",
        file.display(),
        c0.questions,
        c0.answerable,
        c0.unanswerable
    );
    println!("floor  supported  wrong citation  correct abstention  wrong abstention");
    for (f, c) in &rows {
        println!(
            "{:.2}{} {:>4} ({:>5.1} %)  {:>4}            {:>4} ({:>5.1} %)       {:>4} ({:>4.1} %)",
            f,
            if (*f - default).abs() < 1e-9 { "*" } else { " " },
            c.supported,
            pct(c.supported, c.answerable),
            c.wrong_citation,
            c.correct_abstention,
            pct(c.correct_abstention, c.unanswerable),
            c.wrong_abstention,
            pct(c.wrong_abstention, c.answerable)
        );
    }
    println!("(* the support floor in use; % of answerable questions, correct abstentions of those to abstain on)");
    for f in &failures {
        println!("  {f}");
    }
    Ok(())
}

/// The text layer of a PDF, for the plain-text importer (numbered headings become anchors).
/// The extractor is run under `catch_unwind`: a PDF it cannot parse is an error, not a crash.
#[cfg(feature = "pdf")]
fn pdf_text(file: &std::path::Path, bytes: &[u8]) -> anyhow::Result<String> {
    let out = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem(bytes));
    let text = match out {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => anyhow::bail!("{}: cannot read the PDF: {e}", file.display()),
        Err(_) => anyhow::bail!(
            "{}: the PDF text extractor failed on this file (malformed or unsupported PDF)",
            file.display()
        ),
    };
    if text.trim().is_empty() {
        anyhow::bail!(
            "{}: the PDF has no text layer (a scan?): run OCR first, or import the text as .txt or .md",
            file.display()
        );
    }
    Ok(text)
}

/// Refuse a PDF whose pages or decompressed streams exceed the limits before the extractor
/// inflates it (a 1.4 MB bomb took it to 5.6 GB). Flate streams are inflated into a sink,
/// counting, and stop one byte past what is left of the limit.
#[cfg(feature = "pdf")]
fn pdf_guard(file: &std::path::Path, bytes: &[u8], max_bytes: u64, max_pages: usize) -> anyhow::Result<()> {
    use std::io::Read;
    let doc = lopdf::Document::load_mem(bytes)
        .map_err(|e| anyhow::anyhow!("{}: cannot read the PDF: {e}", file.display()))?;
    let pages = doc.get_pages().len();
    if pages > max_pages {
        anyhow::bail!(
            "{}: {pages} pages, more than the {max_pages} an import takes: split the document",
            file.display()
        );
    }
    let mut total = 0u64;
    for obj in doc.objects.values() {
        let Ok(stream) = obj.as_stream() else { continue };
        let flate = stream.filters().map(|f| f.contains(&&b"FlateDecode"[..])).unwrap_or(false);
        let left = max_bytes.saturating_sub(total);
        total += if flate {
            let mut d = flate2::read::ZlibDecoder::new(&stream.content[..]).take(left + 1);
            std::io::copy(&mut d, &mut std::io::sink()).unwrap_or(0)
        } else {
            stream.content.len() as u64
        };
        if total > max_bytes {
            anyhow::bail!(
                "{}: its streams decompress to more than {max_bytes} bytes (8 x --max-mib): refused as a possible decompression bomb; raise --max-mib if the document is genuine",
                file.display()
            );
        }
    }
    Ok(())
}

#[cfg(not(feature = "pdf"))]
fn pdf_guard(_: &std::path::Path, _: &[u8], _: u64, _: usize) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(not(feature = "pdf"))]
fn pdf_text(file: &std::path::Path, _: &[u8]) -> anyhow::Result<String> {
    anyhow::bail!(
        "{}: this edgecite was built without PDF import (cargo feature `pdf`): import the text as .txt or .md",
        file.display()
    )
}

pub fn refs(cmd: &RefsCommand) -> anyhow::Result<()> {
    use crate::knowledge::search::import::{import_cases, import_text};
    use crate::knowledge::search::RefIndex;
    match cmd {
        RefsCommand::Import { file, config, id, title, edition, max_mib } => {
            let c = Config::load(config)?;
            let limit = max_mib.saturating_mul(1024 * 1024);
            let size = std::fs::metadata(file).with_context(|| format!("{}: cannot read", file.display()))?.len();
            if size > limit {
                anyhow::bail!(
                    "{}: {size} bytes is more than --max-mib {max_mib}: split the document, or raise --max-mib",
                    file.display()
                );
            }
            let bytes = std::fs::read(file).with_context(|| format!("{}: cannot read", file.display()))?;
            let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
            let text = if ext == "pdf" || bytes.starts_with(b"%PDF-") {
                pdf_guard(file, &bytes, limit.saturating_mul(8), 5000)?;
                pdf_text(file, &bytes)?
            } else {
                String::from_utf8(bytes).map_err(|e| {
                    anyhow::anyhow!(
                        "{}: not UTF-8 text (byte {}): import Markdown, plain text, a PDF with a text layer, or failure cases (.toml)",
                        file.display(),
                        e.utf8_error().valid_up_to()
                    )
                })?
            };
            let name = file.display().to_string();
            let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("document").to_string();
            let id = id.clone().unwrap_or(stem);
            let doc = match ext.as_str() {
                "toml" => import_cases(&name, &text, &id)?,
                "md" | "markdown" => import_text(&name, &text, &id, title.as_deref(), edition, true)?,
                _ => import_text(&name, &text, &id, title.as_deref(), edition, false)?,
            };
            // Plant ids must not shadow a built-in document.
            let packs = PackSet::load(c.packs.builtin, &c.packs.dirs)?;
            if packs.library.documents().any(|d| d.id == doc.id) {
                anyhow::bail!("{name}: id `{}` is a built-in reference document: choose another with --id", doc.id);
            }
            crate::store::owner::refuse_root_on_foreign_db(&c.packs.refs_db, &std::env::args().collect::<Vec<_>>())?;
            let mut ix = RefIndex::open(&c.packs.refs_db)?;
            if !c.packs.dirs.is_empty() || !c.packs.builtin {
                // Segment with the same glossary as the daemon (plant packs' names included).
                let g = crate::knowledge::glossary::Glossary::load(c.packs.builtin, &c.packs.dirs)?;
                ix.set_lexicon(std::sync::Arc::new(crate::knowledge::search::query::Lexicon::new(g)))?;
            }
            ix.load_library(&packs.library)?;
            let n = ix.put_document(&doc, "plant")?;
            println!(
                "imported {} ({}, {}): {n} passage(s) into {}",
                doc.id,
                doc.title,
                doc.language,
                c.packs.refs_db.display()
            );
            for p in doc.passages.iter().take(20) {
                println!("  {}  {}", p.id, p.clause);
            }
            Ok(())
        }
        RefsCommand::Stats { config } => {
            let c = Config::load(config)?;
            let ix = RefIndex::open(&c.packs.refs_db)?;
            println!("{}: {} passage row(s)", c.packs.refs_db.display(), ix.passage_count()?);
            Ok(())
        }
    }
}
