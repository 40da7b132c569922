//! The command line around the output: exit codes as DESIGN.md §4 defines
//! them, colour only where it belongs, no progress bar on a pipe, shell
//! completions and man pages.

mod output_scenario;

use output_scenario::{
    NOW, code, every_category, grantsync, quickstart, run, stderr, stdout, write,
};

#[test]
fn detailed_exit_codes_follow_the_design() {
    let dir = quickstart();
    let root = dir.path();
    assert_eq!(
        code(&run(root, "plan", &[])),
        0,
        "changes alone are success"
    );
    assert_eq!(
        code(&run(root, "plan", &["--detailed-exitcode"])),
        2,
        "changes pending"
    );
    assert_eq!(
        code(&run(root, "apply", &["--detailed-exitcode"])),
        0,
        "an apply that did its work leaves nothing pending"
    );
    assert_eq!(
        code(&run(root, "plan", &["--detailed-exitcode"])),
        0,
        "nothing to change"
    );
}

#[test]
fn refusals_errors_and_failed_items_have_their_own_codes() {
    let dir = every_category();
    let root = dir.path();
    assert_eq!(
        code(&run(root, "plan", &["--detailed-exitcode", "-q"])),
        1,
        "a refusal wins over pending changes"
    );
    assert_eq!(
        code(&run(root, "apply", &["--allow-mass-revoke", "-q"])),
        3,
        "unresolved items are failed items of an apply"
    );
    assert_eq!(
        code(&run(root, "plan", &["--detailed-exitcode", "-q"])),
        0,
        "unresolved and skipped items are not changes"
    );
    assert_eq!(
        code(&run(
            root,
            "plan",
            &["--strict", "--detailed-exitcode", "-q"]
        )),
        1,
        "--strict refuses unresolved items"
    );

    write(root, "access/broken.yaml", "grants: [\n");
    assert_eq!(
        code(&run(root, "plan", &["--detailed-exitcode", "-q"])),
        1,
        "an invalid file is an error"
    );
}

#[test]
fn text_is_coloured_only_when_asked_or_on_a_terminal() {
    let dir = every_category();
    let root = dir.path();
    let forced = run(root, "plan", &["--color", "always", "-q"]);
    assert!(stdout(&forced).contains("\u{1b}["), "{}", stdout(&forced));

    let never = run(root, "plan", &["--color", "never", "-q"]);
    assert!(!stdout(&never).contains('\u{1b}'), "{}", stdout(&never));

    // A pipe is not a terminal, whether or not NO_COLOR is set.
    let piped = grantsync()
        .env_remove("NO_COLOR")
        .current_dir(root)
        .args(["plan", "-q", "--config", "grantsync.yaml", "--now", NOW])
        .output()
        .unwrap();
    assert!(!stdout(&piped).contains('\u{1b}'), "{}", stdout(&piped));
    assert_eq!(stdout(&piped), stdout(&never));
}

#[test]
fn a_long_apply_draws_no_progress_bar_on_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let people: Vec<String> = (0..80).map(|i| format!("p{i:02}@corp.example")).collect();
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

    let output = run(dir.path(), "apply", &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(stdout(&output).contains("Outcomes: 80 created"));
    let errors = stderr(&output);
    assert!(!errors.contains('\r'), "{errors:?}");
    assert!(!errors.contains("applying"), "{errors:?}");
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let output = grantsync().args(["completions", shell]).output().unwrap();
        assert_eq!(code(&output), 0, "{shell}: {}", stderr(&output));
        let script = stdout(&output);
        assert!(script.contains("grantsync"), "{shell}: {script}");
        assert!(script.contains("detailed-exitcode"), "{shell}: {script}");
    }
}

#[test]
fn man_pages_are_printed_as_roff() {
    let main = grantsync().arg("man").output().unwrap();
    assert_eq!(code(&main), 0, "{}", stderr(&main));
    let page = stdout(&main);
    assert!(page.contains(".TH grantsync 1"), "{page}");
    assert!(page.contains("EXIT STATUS"), "{page}");

    let plan = grantsync().args(["man", "plan"]).output().unwrap();
    assert_eq!(code(&plan), 0, "{}", stderr(&plan));
    let page = stdout(&plan);
    assert!(page.contains(".TH grantsync-plan 1"), "{page}");
    assert!(
        page.contains("grantsync 0."),
        "the source names grantsync: {page}"
    );
    assert!(page.contains("detailed\\-exitcode"), "{page}");

    let unknown = grantsync().args(["man", "plna"]).output().unwrap();
    assert_eq!(code(&unknown), 1);
    assert!(
        stderr(&unknown).contains("no command \"plna\""),
        "{}",
        stderr(&unknown)
    );
}

/// Runs with a stdout whose reader is already gone, as `| head` leaves it.
fn with_closed_stdout(command: &mut std::process::Command) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    command
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn a_closed_pipe_is_a_quiet_exit() {
    let dir = quickstart();
    let mut plan = std::process::Command::new(env!("CARGO_BIN_EXE_grantsync"));
    plan.current_dir(dir.path())
        .args(["plan", "--config", "grantsync.yaml", "--now", NOW]);
    let mut completions = std::process::Command::new(env!("CARGO_BIN_EXE_grantsync"));
    completions.args(["completions", "bash"]);
    let mut man = std::process::Command::new(env!("CARGO_BIN_EXE_grantsync"));
    man.arg("man");

    for command in [&mut plan, &mut completions, &mut man] {
        let output = with_closed_stdout(command);
        assert_eq!(code(&output), 0, "{command:?}: {}", stderr(&output));
        assert_eq!(stderr(&output), "", "{command:?}");
    }
}

#[test]
fn a_usage_error_exits_1_not_the_changes_pending_code() {
    for args in [
        vec!["plan", "--detailed-exitcode", "--now", "bogus"],
        vec!["plan", "--bogus-flag"],
        vec!["plan", "--format", "yaml"],
    ] {
        let output = grantsync_usage(&args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
    }
    assert_eq!(grantsync_usage(&["--help"]).status.code(), Some(0));
}

fn grantsync_usage(args: &[&str]) -> std::process::Output {
    assert_cmd::Command::cargo_bin("grantsync")
        .unwrap()
        .args(args)
        .output()
        .unwrap()
}
