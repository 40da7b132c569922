//! Applying a hundred thousand creates to a fresh sandbox, end to end in
//! one process (read the files, list, plan, send, report), and then an
//! apply with nothing to do. Each run checks its call counts: ⌈creates /
//! bulk limit⌉ bulk calls for the first, no write at all for the second.
//!
//! ```sh
//! cargo bench --bench apply                          # 100,000 creates
//! GRANTSYNC_BENCH_SIZE=20000 cargo bench --bench apply
//! ```

mod support;

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use grantsync::report::{Mode, RunReport};
use grantsync::sandbox::DEFAULT_BULK_LIMIT;
use grantsync::scenario::Spec;
use grantsync::sync::{RunOptions, Runner};

const BULK_ROUTE: &str = "POST /api/v1/assignments/bulk-create";

async fn apply_once(config: &grantsync::config::Config, state: &std::path::Path) -> RunReport {
    let mut runner = Runner::new(config.clone(), Some(state.to_owned()));
    let report = runner
        .run(&RunOptions::new(Mode::Apply))
        .await
        .expect("environment known");
    let env = &report.environments[0];
    assert!(env.error.is_none(), "{:?}", env.error);
    assert!(env.refusals.is_empty(), "{:?}", env.refusals);
    report
}

fn apply(c: &mut Criterion) {
    let creates = support::size(100_000, 1_000);
    let spec = Spec::sized(1, 0, 0, creates, 0);
    let dir = support::scenario_dir("apply", &spec);
    let runtime = support::runtime();
    let bulk_calls = creates.div_ceil(DEFAULT_BULK_LIMIT) as u64;

    let mut group = c.benchmark_group(format!("apply_{creates}"));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30))
        .throughput(Throughput::Elements(creates as u64));

    group.bench_function("creates", |b| {
        b.iter_custom(|iterations| {
            let mut spent = Duration::ZERO;
            for _ in 0..iterations {
                // A fresh store each time, started outside the clock.
                let (sandbox, config) =
                    runtime.block_on(support::start_sandbox(&dir, "sandbox-apply", true));
                let state = tempfile::tempdir().expect("state directory");
                let started = Instant::now();
                let report = runtime.block_on(apply_once(&config, state.path()));
                spent += started.elapsed();

                let stats = sandbox.stats();
                let env = &report.environments[0];
                assert_eq!(env.summary.create, creates);
                assert_eq!(stats.by_route.get(BULK_ROUTE).copied(), Some(bulk_calls));
                assert_eq!(stats.writes, bulk_calls);
                runtime.block_on(sandbox.shutdown());
            }
            spent
        })
    });

    // The store the last create run left behind holds every grant.
    let (sandbox, config) = runtime.block_on(support::start_sandbox(&dir, "sandbox-apply", false));
    let state = tempfile::tempdir().expect("state directory");
    group.bench_function("noop", |b| {
        b.iter(|| {
            let before = sandbox.stats();
            let report = runtime.block_on(apply_once(&config, state.path()));
            let after = sandbox.stats();
            assert_eq!(report.environments[0].summary.unchanged, creates);
            assert_eq!(after.writes, before.writes, "a no-op apply writes nothing");
            assert_eq!(support::route_delta(&before, &after, BULK_ROUTE), 0);
            report
        })
    });
    group.finish();
    runtime.block_on(sandbox.shutdown());
}

criterion_group!(benches, apply);
criterion_main!(benches);
