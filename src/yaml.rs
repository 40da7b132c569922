//! Reading YAML the same strict way everywhere.
//!
//! Every YAML file grantsync reads goes through [`from_str`]: duplicate keys
//! are errors, only `true`/`false` are booleans (so `NO` stays a country
//! code), and numbers with leading zeros stay strings (so `007123` stays an
//! employee id). Errors carry the line and column.

use std::path::Path;

use serde::de::DeserializeOwned;

/// A YAML error, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based; 0 when the parser could not say.
    pub line: u64,
    pub column: u64,
    pub message: String,
}

/// Parses `text` into `T` with grantsync's YAML options.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        budget: budget_for(text.len()),
    };
    serde_saphyr::from_str_with_options(text, options).map_err(|error| {
        let message = describe(&error);
        if message.contains("tab")
            && let Some(tabbed) = first_tab_indent(text)
        {
            return tabbed;
        }
        let (line, column) = error
            .location()
            .map(|at| (at.line(), at.column()))
            .unwrap_or((0, 0));
        YamlError {
            line,
            column,
            message,
        }
    })
}

/// The first line indented with a tab. The parser notices such a tab only
/// where it breaks the value before it, often on the line above; the line
/// itself is the one to fix.
fn first_tab_indent(text: &str) -> Option<YamlError> {
    text.lines().enumerate().find_map(|(index, line)| {
        let indent = &line[..line.len() - line.trim_start_matches([' ', '\t']).len()];
        let column = indent.find('\t')?;
        Some(YamlError {
            line: index as u64 + 1,
            column: column as u64 + 1,
            message: "a tab in the indentation; YAML indents with spaces only".into(),
        })
    })
}

/// The parser's limits for a text of `len` bytes. The default caps on nodes,
/// events and scalar bytes would refuse a plain file of a few tens of
/// thousands of grants; no text holds more nodes or events than a small
/// multiple of its bytes, so those caps grow with the text. The caps that
/// stop alias expansion, which can outgrow any text, stay as they are.
pub fn budget_for(len: usize) -> Option<serde_saphyr::Budget> {
    let defaults = serde_saphyr::Budget::default();
    serde_saphyr::budget! {
        max_events: defaults.max_events.max(len.saturating_mul(2)),
        max_nodes: defaults.max_nodes.max(len),
        max_total_scalar_bytes: defaults.max_total_scalar_bytes.max(len),
    }
}

/// The error's message without the snippet and location that the parser's
/// own rendering adds: grantsync puts the location first itself.
fn describe(error: &serde_saphyr::Error) -> String {
    let rendered = error.without_snippet().to_string();
    let first = rendered.lines().next().unwrap_or("invalid YAML").trim();
    // The parser appends " at line L, column C"; the location is shown first.
    let first = match first.rfind(" at line ") {
        Some(at) => &first[..at],
        None => first,
    };
    // The parser's advice names its own options, which a user cannot reach.
    let first = match first.find(", set DuplicateKeyPolicy") {
        Some(at) => &first[..at],
        None => first,
    };
    first.trim_end_matches('.').to_owned()
}

/// `text` as a YAML scalar that reads back as the same string: plain when
/// that is safe (an email, a node path, `external:E1`), otherwise quoted, so
/// that `no` stays a string, `007` keeps its zeros and `a: b` is no mapping.
/// JSON's string syntax is valid double-quoted YAML.
pub fn scalar(text: &str) -> String {
    let plain = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@._/:+-".contains(c))
        && !text.ends_with(':')
        && !matches!(
            text.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain {
        text.to_owned()
    } else {
        serde_json::to_string(text).expect("a string serializes")
    }
}

/// `path:line:column: message`, leaving out what is unknown.
pub fn located(path: &Path, line: u64, column: u64, message: &str) -> String {
    match (line, column) {
        (0, _) => format!("{}: {message}", path.display()),
        (line, 0) => format!("{}:{line}: {message}", path.display()),
        (line, column) => format!("{}:{line}:{column}: {message}", path.display()),
    }
}

/// The 1-based line and column of the first occurrence of `needle` in `text`,
/// for rules checked after parsing; (0, 0) when it is not found.
pub fn find_line(text: &str, needle: &str) -> (u64, u64) {
    for (number, line) in text.lines().enumerate() {
        if let Some(column) = line.find(needle) {
            return (number as u64 + 1, column as u64 + 1);
        }
    }
    (0, 0)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn scalars_are_plain_only_when_yaml_reads_them_back_the_same() {
        for plain in [
            "alice@example.com",
            "acme/engineering",
            "external:E1042",
            "_x",
        ] {
            assert_eq!(scalar(plain), plain);
        }
        for (text, quoted) in [
            ("no", "\"no\""),
            ("007", "\"007\""),
            ("dev ops", "\"dev ops\""),
            ("@team", "\"@team\""),
            ("a: b", "\"a: b\""),
            ("x\"#y", "\"x\\\"#y\""),
            ("", "\"\""),
        ] {
            assert_eq!(scalar(text), quoted);
            let back: String = from_str(&scalar(text)).unwrap();
            assert_eq!(back, text);
        }
    }

    #[test]
    fn a_tab_in_the_indentation_is_reported_on_its_own_line() {
        let text =
            "grants:\n  - node: acme/engineering/api\n\trole: deployer\n    identity: a@b.c\n";
        let error = from_str::<serde_json::Value>(text).unwrap_err();
        assert_eq!((error.line, error.column), (3, 1), "{error:?}");
        assert!(error.message.contains("spaces only"), "{error:?}");
    }

    #[test]
    fn no_stays_a_string_and_leading_zeros_stay() {
        let map: BTreeMap<String, String> = from_str("country: NO\nid: 007123\n").unwrap();
        assert_eq!(map["country"], "NO");
        assert_eq!(map["id"], "007123");
    }

    #[test]
    fn a_long_plain_list_is_within_the_limits() {
        let text: String = (0..200_000)
            .map(|i| format!("- {{a: {i}, b: x}}\n"))
            .collect();
        let list: Vec<BTreeMap<String, String>> = from_str(&text).unwrap();
        assert_eq!(list.len(), 200_000);
    }

    #[test]
    fn an_alias_bomb_is_still_refused() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..12 {
            let previous = level - 1;
            text.push_str(&format!(
                "l{level}: &l{level} [*{}, *{0}, *{0}, *{0}, *{0}, *{0}, *{0}, *{0}, *{0}, *{0}]\n",
                if previous == 0 {
                    "a".to_owned()
                } else {
                    format!("l{previous}")
                }
            ));
        }
        let parsed = from_str::<BTreeMap<String, serde_json::Value>>(&text);
        assert!(parsed.is_err());
    }

    #[test]
    fn duplicate_keys_are_refused_with_a_location() {
        let err = from_str::<BTreeMap<String, String>>("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.line, 3, "{err:?}");
        assert!(err.message.to_lowercase().contains("duplicate"), "{err:?}");
    }
}
