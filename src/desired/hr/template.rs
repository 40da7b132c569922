//! Node templates such as `northwind/{department|slug}`, and the slug filter.
//!
//! A template is parsed once, when the mapping is loaded, so that a typo in a
//! column name is a mapping error rather than one row error per row.

/// A parsed node template.
#[derive(Debug, Clone)]
pub(super) struct Template {
    text: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    /// A cell of the row: index into the mapping's columns.
    Column {
        column: usize,
        slug: bool,
    },
}

/// Why a template could not be filled from a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RenderError {
    /// The cell is empty.
    EmptyColumn(usize),
    /// The cell holds no letter or digit, so its slug is empty.
    EmptySlug(usize),
}

impl Template {
    /// Parses `text`; `find` maps a column name to its index.
    pub(super) fn parse(
        text: &str,
        find: &dyn Fn(&str) -> Option<usize>,
    ) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err(format!("node \"{text}\" has a `}}` without its `{{`"));
            }
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                return Err(format!("node \"{text}\" has a `{{` without its `}}`"));
            };
            let inner = &after[..close];
            if inner.contains('{') {
                return Err(format!("node \"{text}\" has a `{{` inside `{{...}}`"));
            }
            let (name, filter) = match inner.split_once('|') {
                Some((name, filter)) => (name.trim(), Some(filter.trim())),
                None => (inner.trim(), None),
            };
            let slug = match filter {
                None => false,
                Some("slug") => true,
                Some(other) => {
                    return Err(format!(
                        "node \"{text}\": unknown filter \"{other}\" (the only filter is slug)"
                    ));
                }
            };
            let Some(column) = find(name) else {
                return Err(format!(
                    "node \"{text}\" names column \"{name}\", which is not under columns"
                ));
            };
            parts.push(Part::Column { column, slug });
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Template {
            text: text.to_owned(),
            parts,
        })
    }

    /// True when the template names no column.
    pub(super) fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// The template as written in the mapping.
    pub(super) fn text(&self) -> &str {
        &self.text
    }

    /// Fills the template from a row's values, indexed like the mapping's
    /// columns and already trimmed.
    pub(super) fn render(&self, values: &[String]) -> Result<String, RenderError> {
        let mut out = String::with_capacity(self.text.len() + 16);
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Column { column, slug } => {
                    let value = values[*column].as_str();
                    if value.is_empty() {
                        return Err(RenderError::EmptyColumn(*column));
                    }
                    if *slug {
                        let slugged = self::slug(value);
                        if slugged.is_empty() {
                            return Err(RenderError::EmptySlug(*column));
                        }
                        out.push_str(&slugged);
                    } else {
                        out.push_str(value);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Lowercases `text` and turns every run of characters other than letters and
/// digits into one `-`, with none at either end.
///
/// Letters are Unicode letters: `Zoë Müller` becomes `zoë-müller`, not
/// `zoe-muller`, because folding accents would make distinct names collide
/// and would need a transliteration table per language.
pub(super) fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_dash = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            if pending_dash && !out.is_empty() {
                out.push('-');
            }
            pending_dash = false;
            out.push(c);
        } else {
            pending_dash = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(name: &str) -> Option<usize> {
        ["department", "title"].iter().position(|c| *c == name)
    }

    #[test]
    fn slug_collapses_runs_and_trims_dashes() {
        assert_eq!(slug("Research & Development"), "research-development");
        assert_eq!(slug("  Sales -- EMEA  "), "sales-emea");
        assert_eq!(slug("--Tier 2--"), "tier-2");
        assert_eq!(slug("R&D/Ops"), "r-d-ops");
        assert_eq!(slug("***"), "");
    }

    #[test]
    fn slug_keeps_accented_letters() {
        assert_eq!(slug("Zoë Müller"), "zoë-müller");
        assert_eq!(slug("ÞRÓUN"), "þróun");
    }

    #[test]
    fn template_fills_columns_and_slugs() {
        let t = Template::parse("acme/{department|slug}/{ title }", &columns).unwrap();
        let values = vec!["Research & Development".to_owned(), "Lead".to_owned()];
        assert_eq!(t.render(&values).unwrap(), "acme/research-development/Lead");
        assert!(!t.is_literal());
        assert!(
            Template::parse("acme/finance", &columns)
                .unwrap()
                .is_literal()
        );
    }

    #[test]
    fn template_reports_empty_cells() {
        let t = Template::parse("acme/{department|slug}", &columns).unwrap();
        assert_eq!(
            t.render(&[String::new(), "x".into()]),
            Err(RenderError::EmptyColumn(0))
        );
        assert_eq!(
            t.render(&["&&".into(), "x".into()]),
            Err(RenderError::EmptySlug(0))
        );
    }

    #[test]
    fn template_rejects_unknown_columns_filters_and_braces() {
        let err = Template::parse("acme/{dept}", &columns).unwrap_err();
        assert!(err.contains("\"dept\""), "{err}");
        let err = Template::parse("acme/{department|upper}", &columns).unwrap_err();
        assert!(err.contains("unknown filter \"upper\""), "{err}");
        assert!(Template::parse("acme/{department", &columns).is_err());
        assert!(Template::parse("acme/department}", &columns).is_err());
    }
}
