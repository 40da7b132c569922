//! `grantsync run` as a process: its logs, its endpoints, and how it stops
//! on SIGTERM, idle or in the middle of a sync.

mod common;
mod daemon_workspace;

use std::process::Stdio;
use std::time::Duration;

use daemon_workspace::{DEADLINE, KEY, Workspace, get};
use grantsync::sandbox::Faults;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// How often a test looks again at something it cannot be notified of (the
/// daemon's endpoints, the sandbox's counters).
const POLL: Duration = Duration::from_millis(20);

/// A running `grantsync run`, its stderr read line by line.
struct Process {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl Process {
    fn start(workspace: &Workspace, extra: &[&str]) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_grantsync"))
            .args(["--log-format", "json", "run", "--config"])
            .arg(workspace.config())
            .arg("--state-dir")
            .arg(workspace.state())
            .args(extra)
            .env_remove("GRANTSYNC_LOG")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("grantsync starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Process {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a log line whose JSON satisfies `wanted`, and returns it.
    async fn wait_for_log(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!("no log line for {what}; seen:\n{}", self.seen.join("\n"))
                })
                .unwrap_or_else(|| {
                    panic!(
                        "stderr closed before {what}; seen:\n{}",
                        self.seen.join("\n")
                    )
                });
            self.seen.push(line.clone());
            if let Ok(json) = serde_json::from_str::<Value>(&line)
                && wanted(&json)
            {
                return json;
            }
        }
    }

    /// The address of the endpoints, from the daemon's log.
    async fn endpoints(&mut self) -> String {
        let line = self
            .wait_for_log("the endpoints", |json| {
                message(json).starts_with("status endpoints listening")
            })
            .await;
        format!("http://{}", line["fields"]["addr"].as_str().unwrap())
    }

    fn terminate(&self) {
        let pid = self.child.id().expect("still running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit, reads the rest of its log, returns its code.
    async fn exit_code(&mut self) -> i32 {
        let status = tokio::time::timeout(DEADLINE, self.child.wait())
            .await
            .expect("grantsync exits in time")
            .unwrap();
        while let Some(line) = self.lines.recv().await {
            self.seen.push(line);
        }
        status.code().expect("exited with a code")
    }

    fn logs(&self) -> Vec<Value> {
        self.seen
            .iter()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

fn message(json: &Value) -> &str {
    json["fields"]["message"].as_str().unwrap_or_default()
}

/// Polls `url` until it answers `code`.
async fn wait_for_status(url: &str, code: u16) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while get(url).await.0 != code {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url} never answered {code}"
        );
        tokio::time::sleep(POLL).await;
    }
}

fn embedded_sandbox(workspace: &Workspace) {
    workspace.write_config(
        "{url: sandbox}",
        "    sandbox: {directory: directory.yaml}\n",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_when_idle_exits_0_with_one_log_line_per_sync() {
    let workspace = Workspace::new();
    embedded_sandbox(&workspace);
    let mut daemon = Process::start(&workspace, &[]);
    let base = daemon.endpoints().await;
    wait_for_status(&format!("{base}/readyz"), 200).await;
    assert_eq!(get(&format!("{base}/healthz")).await.0, 200);

    daemon.terminate();
    assert_eq!(daemon.exit_code().await, 0);

    let logs = daemon.logs();
    let syncs: Vec<&Value> = logs
        .iter()
        .filter(|l| message(l) == "sync finished")
        .collect();
    assert_eq!(syncs.len(), 1, "{:#?}", daemon.seen);
    let fields = &syncs[0]["fields"];
    assert_eq!(fields["environment"], "Production");
    assert_eq!(fields["reason"], "start");
    assert_eq!(fields["result"], "success");
    assert_eq!(fields["create"], 3);
    assert_eq!(fields["unchanged"], 1);
    assert_eq!(syncs[0]["level"], "INFO");
    assert!(logs.iter().any(|l| message(l) == "stopped"));
    // The key the embedded sandbox hands out is never logged.
    assert!(!daemon.seen.iter().any(|line| line.contains(KEY)));
    assert_eq!(workspace.reports().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_sync_lets_calls_in_flight_finish_and_exits_0() {
    let workspace = Workspace::new();
    // Each request takes a while, so the test can stop the daemon between
    // the first create and the last.
    let faults = Faults {
        latency_ms: 300,
        ..Faults::default()
    };
    let sandbox = common::start_sandbox_with(
        &workspace.path("directory.yaml"),
        &workspace.path("sandbox-data"),
        None,
        faults,
    )
    .await;
    workspace.write_config_for(&sandbox.url());
    let mut daemon = Process::start(&workspace, &[]);

    let deadline = tokio::time::Instant::now() + DEADLINE;
    while sandbox.stats().writes == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no create was ever sent"
        );
        tokio::time::sleep(POLL).await;
    }
    daemon.terminate();
    assert_eq!(daemon.exit_code().await, 0);

    let reports = workspace.reports();
    assert_eq!(reports.len(), 1);
    let report = &reports[0];
    assert_eq!(report["interrupted"], true);
    let outcomes = &report["environments"][0]["outcomes"];
    let created = outcomes["created"].as_u64().unwrap_or(0);
    let not_attempted = outcomes["not_attempted"].as_u64().unwrap_or(0);
    assert_eq!(created + not_attempted, 3, "{outcomes}");
    assert!(created >= 1 && not_attempted >= 1, "{outcomes}");
    // What the report calls created is exactly what the service received.
    assert_eq!(sandbox.stats().writes, created);
    let logs = daemon.logs();
    let sync = logs.iter().find(|l| message(l) == "sync finished").unwrap();
    assert_eq!(sync["fields"]["result"], "interrupted");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_syncs_and_exits_with_the_apply_code() {
    let workspace = Workspace::new();
    embedded_sandbox(&workspace);
    let mut daemon = Process::start(&workspace, &["--once"]);
    assert_eq!(daemon.exit_code().await, 0);
    assert_eq!(workspace.reports().len(), 1);
    assert_eq!(
        workspace.reports()[0]["environments"][0]["outcomes"]["created"],
        3
    );

    // An invalid file at start: nothing is synced, exit 1, the place is named.
    std::fs::write(
        workspace.path("access/team.yaml"),
        "grants:\n  - {identity: bob@example.com, node: acme/eng}\n",
    )
    .unwrap();
    let mut daemon = Process::start(&workspace, &["--once"]);
    assert_eq!(daemon.exit_code().await, 1);
    let stderr = daemon.seen.join("\n");
    assert!(stderr.contains("access/team.yaml:2:"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_config_at_start_is_an_error() {
    let workspace = Workspace::new();
    embedded_sandbox(&workspace);
    let text = std::fs::read_to_string(workspace.config()).unwrap();
    std::fs::write(
        workspace.config(),
        text.replace(
            "debounce_ms: 100",
            "debounce_ms: 100\n  schedule: \"*/15 * * *\"",
        ),
    )
    .unwrap();
    let mut daemon = Process::start(&workspace, &[]);
    assert_eq!(daemon.exit_code().await, 1);
    let stderr = daemon.seen.join("\n");
    // The config's line and column, as any command reports it.
    let line = text
        .lines()
        .position(|l| l.contains("debounce_ms: 100"))
        .unwrap()
        + 2;
    assert!(
        stderr.contains(&format!(
            "grantsync.yaml:{line}:3: daemon.schedule \"*/15 * * *\" is not a valid crontab schedule of five fields"
        )),
        "{stderr}"
    );
}
