//! The product's two languages: [`Lang`] (en, zh), its parsing from `lang=`, `--lang`,
//! `[packs] language` and `Accept-Language`, the one pick with the English fallback, and
//! [`Text`], a string in both.

use serde::{Deserialize, Serialize};

/// A product language: `en` or `zh` (`zh-CN` is read as `zh`). Read through [`Lang::parse`]
/// wherever it comes from (config, query, command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
// Named as the API document has always named the `lang` parameter's values.
#[schema(as = LangParam)]
pub enum Lang {
    #[default]
    #[serde(rename = "en")]
    En,
    #[serde(rename = "zh")]
    Zh,
}

impl<'de> Deserialize<'de> for Lang {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Lang, D::Error> {
        let s = String::deserialize(d)?;
        Lang::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("`{s}`: expected en or zh")))
    }
}

impl Lang {
    /// `en`, `zh` or `zh-CN` (any case), as `lang=`, `--lang` and `[packs] language` take it.
    pub fn parse(s: &str) -> Option<Lang> {
        match s.to_ascii_lowercase().as_str() {
            "en" => Some(Lang::En),
            "zh" | "zh-cn" => Some(Lang::Zh),
            _ => None,
        }
    }

    /// The one language pick: the text in this language, Chinese falling back to English
    /// where it is missing (rows stored before the Chinese text existed, untranslated
    /// details).
    pub fn pick<'a>(self, en: &'a str, zh: &'a str) -> &'a str {
        match self {
            Lang::Zh if !zh.is_empty() => zh,
            _ => en,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    /// The preferred language of an `Accept-Language` header (en or zh), if it names one.
    pub fn from_accept_language(h: &str) -> Option<Lang> {
        let mut best: Option<(f32, Lang)> = None;
        for part in h.split(',') {
            let mut it = part.trim().split(';');
            let tag = it.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = it.find_map(|p| p.trim().strip_prefix("q=").and_then(|v| v.parse::<f32>().ok())).unwrap_or(1.0);
            let lang = if tag.starts_with("zh") {
                Lang::Zh
            } else if tag.starts_with("en") {
                Lang::En
            } else {
                continue;
            };
            if best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l)
    }
}

/// Text in both product languages.
// (An empty `zh` is text not translated: picks fall back to `en`. A plain comment: the doc
// comment above is the API document's description.)
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Text {
    pub en: String,
    pub zh: String,
}

impl Text {
    pub fn new(en: impl Into<String>, zh: impl Into<String>) -> Self {
        Text { en: en.into(), zh: zh.into() }
    }

    /// English only, the Chinese missing (empty: picks fall back to English).
    pub fn untranslated(en: impl Into<String>) -> Self {
        Text { en: en.into(), zh: String::new() }
    }

    /// The same text in both languages (ids, codes, numbers).
    pub fn same(s: impl Into<String>) -> Self {
        let s = s.into();
        Text { zh: s.clone(), en: s }
    }

    /// The text in `lang`; Chinese falls back to English where it is missing (rows stored
    /// before the Chinese text existed).
    pub fn pick(&self, lang: Lang) -> &str {
        lang.pick(&self.en, &self.zh)
    }

    /// Both texts, Chinese filled with English where it is missing: the `*_i18n` pairs
    /// answers carry beside the chosen text.
    pub fn filled(en: &str, zh: &str) -> Self {
        Text::new(en, Lang::Zh.pick(en, zh))
    }

    /// This text with its Chinese filled with English where it is missing.
    pub fn fill(&self) -> Self {
        Text::filled(&self.en, &self.zh)
    }
}

/// Gives `$ty` the OpenAPI schema (name, properties, description) of `$wire`, the struct it
/// is serialized through (`#[serde(from = .., into = ..)]`, or a `Serialize` that writes a
/// borrowed wire struct): a type that holds its text pairs as [`Text`] in memory keeps the
/// `x` / `x_zh` properties it has always had on the wire.
macro_rules! schema_from_wire {
    ($ty:ty => $wire:ty) => {
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                <$wire as utoipa::PartialSchema>::schema()
            }
        }
        impl utoipa::ToSchema for $ty {
            fn name() -> std::borrow::Cow<'static, str> {
                <$wire as utoipa::ToSchema>::name()
            }
            fn schemas(out: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
                <$wire as utoipa::ToSchema>::schemas(out)
            }
        }
    };
}
pub(crate) use schema_from_wire;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_parse_for_every_way_a_language_is_named() {
        for (s, want) in
            [("en", Some(Lang::En)), ("zh", Some(Lang::Zh)), ("zh-CN", Some(Lang::Zh)), ("ZH-cn", Some(Lang::Zh))]
        {
            assert_eq!(Lang::parse(s), want, "{s}");
        }
        assert_eq!(Lang::parse("fr"), None);
        assert_eq!(Lang::parse(""), None);
        // Config and query values go through the same parse.
        assert_eq!(serde_json::from_str::<Lang>("\"zh-CN\"").unwrap(), Lang::Zh);
        assert!(serde_json::from_str::<Lang>("\"fr\"").unwrap_err().to_string().contains("expected en or zh"));
    }

    #[test]
    fn chinese_falls_back_to_english_and_english_never_to_chinese() {
        assert_eq!(Lang::Zh.pick("Ratio", ""), "Ratio");
        assert_eq!(Lang::Zh.pick("Ratio", "比值"), "比值");
        assert_eq!(Lang::En.pick("Ratio", "比值"), "Ratio");
        assert_eq!(Lang::En.pick("", "比值"), "");
        assert_eq!(Text::new("Ratio", "").pick(Lang::Zh), "Ratio");
        assert_eq!(Text::filled("Ratio", ""), Text::new("Ratio", "Ratio"));
    }
}
