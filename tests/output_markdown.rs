//! The Markdown format as a renderer reads it: hostile names stay text in
//! their own cells, no HTML but ours gets through, long sections are cut
//! with a count, and no colour code ever appears.

mod output_scenario;

use output_scenario::{
    HOSTILE_IDENTITY, HOSTILE_NODE, HOSTILE_REASON, HOSTILE_ROLE, code, hostile, run, stderr,
    stdout, write,
};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// The HTML elements the Markdown format writes itself.
const OUR_ELEMENTS: [&str; 4] = ["details", "summary", "code", "br"];

/// Tables as rows of cell texts (entities decoded, inline HTML left out), and
/// every HTML element name the document contains.
fn parse(markdown: &str) -> (Vec<Vec<String>>, Vec<String>) {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut elements = Vec::new();
    let mut cell: Option<String> = None;
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::TableHead | Tag::TableRow) => rows.push(Vec::new()),
            Event::Start(Tag::TableCell) => cell = Some(String::new()),
            Event::End(TagEnd::TableCell) => {
                let text = cell.take().expect("a cell was open");
                rows.last_mut().expect("a row was open").push(text);
            }
            Event::Text(text) | Event::Code(text) => {
                if let Some(cell) = cell.as_mut() {
                    cell.push_str(&text);
                }
            }
            Event::Html(html) | Event::InlineHtml(html) => {
                elements.extend(element_names(&html));
            }
            _ => {}
        }
    }
    (rows, elements)
}

fn element_names(html: &str) -> Vec<String> {
    html.split('<')
        .skip(1)
        .map(|tag| {
            tag.trim_start_matches('/')
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect::<String>()
                .to_lowercase()
        })
        .collect()
}

#[test]
fn hostile_names_stay_text_in_their_own_cells() {
    let dir = hostile();
    let output = run(dir.path(), "plan", &["--format", "markdown"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let markdown = stdout(&output);
    let (rows, elements) = parse(&markdown);

    for element in &elements {
        assert!(
            OUR_ELEMENTS.contains(&element.as_str()),
            "element <{element}> got through:\n{markdown}"
        );
    }
    assert!(!markdown.contains("<script"), "{markdown}");

    // Every row of every table has as many cells as its header: one table
    // of summary counts (9 columns), then item tables (6 columns).
    assert!(rows.len() >= 6, "{rows:?}");
    for row in &rows {
        assert!(
            row.len() == 9 || row.len() == 6,
            "a row was split or merged: {row:?}\n{markdown}"
        );
    }

    let reason = HOSTILE_REASON.replace('\n', " ");
    let unresolved = rows
        .iter()
        .find(|row| row[0] == HOSTILE_IDENTITY)
        .unwrap_or_else(|| panic!("no row for the hostile identity: {rows:?}"));
    assert_eq!(unresolved[1], HOSTILE_ROLE);
    assert_eq!(unresolved[2], HOSTILE_NODE);
    assert!(
        unresolved[5].contains(&format!("unknown identity \"{HOSTILE_IDENTITY}\"")),
        "{unresolved:?}"
    );
    assert!(unresolved[5].ends_with(&reason), "{unresolved:?}");

    let create = rows
        .iter()
        .find(|row| row[0] == "ana@corp.example")
        .unwrap_or_else(|| panic!("no row for the create: {rows:?}"));
    assert_eq!(create[5], reason);
}

#[test]
fn long_sections_stop_with_a_count_of_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let people: Vec<String> = (0..130).map(|i| format!("p{i:03}@corp.example")).collect();
    let identities: String = people
        .iter()
        .map(|p| format!("      - {{email: {p}}}\n"))
        .collect();
    write(
        dir.path(),
        "directory.yaml",
        &format!(
            "environments:\n  - name: Production\n    api_keys: [sk_prod_many]\n    identities:\n{identities}    nodes: [{{key: corp}}]\n    roles: [{{key: viewer}}]\n"
        ),
    );
    write(
        dir.path(),
        "access/all.yaml",
        &format!(
            "grants:\n  - node: corp\n    role: viewer\n    identities: [{}]\n",
            people.join(", ")
        ),
    );
    write(
        dir.path(),
        "grantsync.yaml",
        "environments:\n  - name: Production\n    api: {url: sandbox}\n    sandbox: {directory: directory.yaml}\n    sources: [{grants: access/*.yaml}]\n",
    );

    let output = run(dir.path(), "plan", &["--format", "markdown"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let markdown = stdout(&output);
    assert!(
        markdown.contains("<summary>Create: 130</summary>"),
        "{markdown}"
    );
    assert!(markdown.contains("\n… and 30 more\n"), "{markdown}");
    let (rows, _) = parse(&markdown);
    let item_rows = rows.iter().filter(|r| r.len() == 6).count();
    assert_eq!(item_rows, 1 + 100, "a header and the first hundred items");
}

#[test]
fn markdown_has_no_colour_even_when_colour_is_forced() {
    let dir = hostile();
    let output = run(
        dir.path(),
        "plan",
        &["--format", "markdown", "--color", "always"],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(!stdout(&output).contains('\u{1b}'), "{}", stdout(&output));
}
