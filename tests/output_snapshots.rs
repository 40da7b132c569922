//! The real binary's human output, pinned: text, Markdown, diff and JUnit
//! for the quickstart and for a plan with every category, plan and apply.

mod output_scenario;

use output_scenario::{code, every_category, quickstart, run, settings, stderr, stdout};

#[test]
fn quickstart_plan_as_text() {
    let dir = quickstart();
    let output = run(dir.path(), "plan", &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    settings(dir.path()).bind(|| insta::assert_snapshot!(stdout(&output)));
}

#[test]
fn quickstart_plan_as_markdown() {
    let dir = quickstart();
    let output = run(dir.path(), "plan", &["--format", "markdown"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    settings(dir.path()).bind(|| insta::assert_snapshot!(stdout(&output)));
}

#[test]
fn quickstart_plan_as_diff() {
    let dir = quickstart();
    let output = run(dir.path(), "plan", &["--format", "diff"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    settings(dir.path()).bind(|| insta::assert_snapshot!(stdout(&output)));
}

#[test]
fn quickstart_apply_shows_each_outcome_and_then_no_changes() {
    let dir = quickstart();
    let applied = run(dir.path(), "apply", &[]);
    assert_eq!(code(&applied), 0, "{}", stderr(&applied));
    let again = run(dir.path(), "plan", &[]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let diff = run(dir.path(), "plan", &["--format", "diff"]);
    assert_eq!(stdout(&diff), "", "a converged plan has an empty diff");

    settings(dir.path()).bind(|| {
        insta::assert_snapshot!("quickstart_apply_text", stdout(&applied));
        insta::assert_snapshot!("quickstart_plan_after_apply_text", stdout(&again));
    });
}

#[test]
fn every_category_plan_as_text() {
    let dir = every_category();
    let output = run(dir.path(), "plan", &["--show-unmanaged", "-q"]);
    assert_eq!(code(&output), 1, "the refusal makes the plan fail");
    settings(dir.path()).bind(|| {
        insta::assert_snapshot!("every_category_plan_text", stdout(&output));
        insta::assert_snapshot!("every_category_plan_text_stderr", stderr(&output));
    });
}

#[test]
fn every_category_plan_hides_unmanaged_without_the_flag() {
    let dir = every_category();
    let text = stdout(&run(dir.path(), "plan", &["-q"]));
    assert!(!text.contains("eve@corp.example"), "{text}");
    assert!(
        text.contains("(1 unmanaged not listed; --show-unmanaged lists them)"),
        "{text}"
    );
}

#[test]
fn every_category_plan_as_markdown() {
    let dir = every_category();
    let output = run(
        dir.path(),
        "plan",
        &["--format", "markdown", "--show-unmanaged", "-q"],
    );
    assert_eq!(code(&output), 1);
    settings(dir.path()).bind(|| insta::assert_snapshot!(stdout(&output)));
}

#[test]
fn every_category_plan_as_diff() {
    let dir = every_category();
    let output = run(dir.path(), "plan", &["--format", "diff"]);
    assert_eq!(code(&output), 1);
    // What the diff cannot show is said on stderr.
    let errors = stderr(&output);
    let warnings: Vec<&str> = errors
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    settings(dir.path()).bind(|| {
        insta::assert_snapshot!("every_category_plan_diff", stdout(&output));
        insta::assert_snapshot!("every_category_plan_diff_warnings", warnings.join("\n"));
    });
}

#[test]
fn every_category_plan_as_junit() {
    let dir = every_category();
    let output = run(dir.path(), "plan", &["--format", "junit", "-q"]);
    assert_eq!(code(&output), 1);
    settings(dir.path()).bind(|| insta::assert_snapshot!(stdout(&output)));
}

#[test]
fn every_category_apply_as_text() {
    let dir = every_category();
    let output = run(dir.path(), "apply", &["--allow-mass-revoke", "-q"]);
    assert_eq!(code(&output), 3, "unresolved items fail the apply");
    settings(dir.path()).bind(|| insta::assert_snapshot!(stdout(&output)));
}

#[test]
fn every_category_apply_as_markdown() {
    let dir = every_category();
    let output = run(
        dir.path(),
        "apply",
        &["--allow-mass-revoke", "--format", "markdown", "-q"],
    );
    assert_eq!(code(&output), 3, "unresolved items fail the apply");
    settings(dir.path()).bind(|| insta::assert_snapshot!(stdout(&output)));
}
