//! Planning a million desired grants against a million live assignments,
//! beside its two floors: parsing the same grants files alone, and listing
//! the same live assignments alone over HTTP. `diff` is the comparison
//! alone, on grants and assignments already in memory.
//!
//! ```sh
//! cargo bench --bench plan                           # 1,000,000 × 1,000,000
//! GRANTSYNC_BENCH_SIZE=100000 cargo bench --bench plan
//! ```

mod support;

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use grantsync::api::{ApiKey, Client, ClientOptions};
use grantsync::plan::{PlanInput, ResolvedScope, plan_environment};
use grantsync::report::Mode;
use grantsync::resolve::Catalog;
use grantsync::scenario::{KEY, Spec};
use grantsync::sync::{RunOptions, Runner, load_sources};
use jiff::Timestamp;

fn plan(c: &mut Criterion) {
    let size = support::size(1_000_000, 2_000);
    let spec = Spec::from_shares(1, size, size, 0.05, 0.05).expect("shares fit");
    let dir = support::scenario_dir("plan", &spec);
    let runtime = support::runtime();
    let (sandbox, config) = runtime.block_on(support::start_sandbox(&dir, "sandbox-data", false));
    let env = config.environments[0].clone();
    let client = Client::new(&sandbox.url(), ApiKey::new(KEY), ClientOptions::default())
        .expect("loopback client");
    let now = Timestamp::now();

    let mut group = c.benchmark_group(format!("plan_{size}"));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30))
        .throughput(Throughput::Elements(size as u64));

    group.bench_function("parse", |b| {
        b.iter(|| load_sources(&config.base_dir, &env, now).expect("sources load"))
    });
    group.bench_function("list", |b| {
        b.iter(|| {
            runtime
                .block_on(client.list_assignments())
                .expect("listing")
        })
    });

    let sources = load_sources(&config.base_dir, &env, now).expect("sources load");
    let (catalog, live) = runtime
        .block_on(async { tokio::try_join!(Catalog::fetch(&client), client.list_assignments()) })
        .expect("catalog and live");
    let scope = ResolvedScope {
        nodes: vec![catalog.node_by_path("org").expect("root node")],
        roles: Vec::new(),
    };
    group.bench_function("diff", |b| {
        b.iter(|| {
            plan_environment(PlanInput {
                name: &env.name,
                sources: &sources,
                live: &live,
                catalog: &catalog,
                now,
                prune: true,
                scope: &scope,
            })
            .expect("no conflicts")
        })
    });
    drop((sources, live, catalog));

    let state = tempfile::tempdir().expect("state directory");
    group.bench_function("plan", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut runner = Runner::new(config.clone(), Some(state.path().to_owned()));
                let report = runner
                    .run(&RunOptions::new(Mode::Plan))
                    .await
                    .expect("environment known");
                let env = &report.environments[0];
                assert!(env.error.is_none(), "{:?}", env.error);
                assert_eq!(env.summary.create, spec.creates);
                report
            })
        })
    });
    group.finish();
    runtime.block_on(sandbox.shutdown());
}

criterion_group!(benches, plan);
criterion_main!(benches);
