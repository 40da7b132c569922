//! The CI examples: valid YAML, the jobs the README promises, every
//! grantsync command in them accepted by the real command line, and the key
//! kept out of every script.

use clap::Parser;
use grantsync::cli::Cli;
use serde_json::Value;

fn load(relative: &str) -> (String, Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    let text = std::fs::read_to_string(&path).unwrap();
    let yaml: Value = serde_saphyr::from_str(&text)
        .unwrap_or_else(|e| panic!("{relative} is not valid YAML: {e}"));
    (text, yaml)
}

/// Every shell script in the file: GitHub `run:` steps, GitLab `script:`
/// and `before_script:` lines.
fn scripts(yaml: &Value) -> Vec<String> {
    let mut found = Vec::new();
    collect_scripts(yaml, &mut found);
    found
}

fn collect_scripts(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("run", Value::String(script)) => found.push(script.clone()),
                    ("script" | "before_script", Value::Array(lines)) => found.extend(
                        lines
                            .iter()
                            .map(|l| l.as_str().expect("script lines are strings").to_owned()),
                    ),
                    _ => collect_scripts(value, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_scripts(v, found)),
        _ => {}
    }
}

/// The grantsync invocations of a script (lines that start with it), as
/// argument lists up to the first redirection or shell operator.
fn invocations(script: &str) -> Vec<Vec<String>> {
    script
        .lines()
        .map(str::trim_start)
        .filter(|line| line.starts_with("grantsync "))
        .map(|command| {
            let end = command.find(['>', '|', ';', '&']).unwrap_or(command.len());
            command[..end]
                .split_whitespace()
                .map(|word| word.trim_matches('"').to_owned())
                .collect()
        })
        .collect()
}

fn assert_key_kept_out(file: &str, text: &str, yaml: &Value) {
    for script in scripts(yaml) {
        for forbidden in [
            "GRANTSYNC_PRODUCTION_KEY",
            "secrets.",
            "set -x",
            "printenv",
            "env |",
            "--debug",
            "-vv",
        ] {
            assert!(
                !script.contains(forbidden),
                "{file}: a script mentions {forbidden:?}:\n{script}"
            );
        }
    }
    // The secret is only ever the value of an `env:` entry.
    for line in text.lines().filter(|l| l.contains("secrets.")) {
        assert!(
            line.trim_start()
                .starts_with("GRANTSYNC_PRODUCTION_KEY: ${{ secrets."),
            "{file}: the secret is used outside an env entry: {line}"
        );
    }
}

fn assert_commands_parse(file: &str, yaml: &Value) -> Vec<Vec<String>> {
    let all: Vec<Vec<String>> = scripts(yaml).iter().flat_map(|s| invocations(s)).collect();
    for args in &all {
        if let Err(error) = Cli::try_parse_from(args) {
            panic!(
                "{file}: `{}` is not a valid command: {error}",
                args.join(" ")
            );
        }
    }
    all
}

#[test]
fn the_github_workflow_plans_on_pull_requests_and_applies_on_main() {
    let file = "examples/github-actions/grantsync.yml";
    let (text, yaml) = load(file);
    assert!(yaml["on"]["pull_request"].is_object(), "{yaml}");
    assert_eq!(yaml["on"]["push"]["branches"][0], "main");

    let plan = &yaml["jobs"]["plan"];
    assert!(plan["if"].as_str().unwrap().contains("pull_request"));
    assert_eq!(plan["permissions"]["pull-requests"], "write");
    let comment = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/github-script"))
        })
        .expect("a step posts the comment");
    let script = comment["with"]["script"].as_str().unwrap();
    assert!(
        script.contains("updateComment"),
        "one comment, updated: {script}"
    );

    let apply = &yaml["jobs"]["apply"];
    assert!(apply["if"].as_str().unwrap().contains("refs/heads/main"));
    assert_eq!(apply["concurrency"]["cancel-in-progress"], false);

    assert_key_kept_out(file, &text, &yaml);
    let commands = assert_commands_parse(file, &yaml);
    assert!(
        commands
            .iter()
            .any(|c| c[1] == "plan" && c.windows(2).any(|w| w == ["--format", "markdown"]))
    );
    assert!(commands.iter().any(|c| c[1] == "apply"));
}

#[test]
fn the_gitlab_pipeline_plans_on_merge_requests_and_applies_on_the_default_branch() {
    let file = "examples/gitlab-ci.yml";
    let (text, yaml) = load(file);
    assert_eq!(yaml["stages"], serde_json::json!(["plan", "apply"]));

    let plan = &yaml["plan"];
    assert!(
        plan["rules"][0]["if"]
            .as_str()
            .unwrap()
            .contains("merge_request_event")
    );
    assert_eq!(plan["artifacts"]["reports"]["junit"], "plan-junit.xml");
    let note = plan["script"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find(|s| s.contains("notes"))
        .expect("a script writes the note");
    assert!(note.contains("-X PUT"), "one note, updated: {note}");

    let apply = &yaml["apply"];
    assert!(
        apply["rules"][0]["if"]
            .as_str()
            .unwrap()
            .contains("CI_DEFAULT_BRANCH")
    );
    assert!(apply["resource_group"].is_string(), "one apply at a time");

    assert_key_kept_out(file, &text, &yaml);
    let commands = assert_commands_parse(file, &yaml);
    assert!(
        commands
            .iter()
            .any(|c| c[1] == "plan" && c.windows(2).any(|w| w == ["--format", "markdown"]))
    );
    assert!(commands.iter().any(|c| c[1] == "apply"));
}
