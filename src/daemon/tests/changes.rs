//! Each way a deployment replaces a file is one sync; a change to nothing is none.

use std::os::unix::fs::symlink;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::*;

#[tokio::test]
async fn start_syncs_once_and_is_ready() {
    let tree = Tree::new();
    let mut daemon = start(&tree, RecordingSyncer::default()).await;
    assert!(daemon.now().ready);
    assert_eq!(
        daemon.last_call(),
        [("Production".to_owned(), DesiredFrom::Files, 1)]
    );
    let status = daemon.daemon.status();
    assert_eq!(status.watch.files, 2);
    assert_eq!(status.watch.directories.len(), 2);
    daemon.expect_exactly_one_sync(Progress::default()).await;
    daemon.stop().await;
}

#[tokio::test]
async fn vim_save_by_rename_causes_one_sync() {
    let tree = Tree::new();
    let mut daemon = start(&tree, RecordingSyncer::default()).await;
    let before = daemon.now();

    // vim with backups: the original becomes the backup, a new file is written.
    let file = tree.path("conf/access/eng.yaml");
    std::fs::write(tree.path("conf/access/.eng.yaml.swp"), "swap").unwrap();
    std::fs::rename(&file, tree.path("conf/access/eng.yaml~")).unwrap();
    std::fs::write(&file, GRANTS_AB).unwrap();
    std::fs::remove_file(tree.path("conf/access/eng.yaml~")).unwrap();
    std::fs::remove_file(tree.path("conf/access/.eng.yaml.swp")).unwrap();

    daemon.expect_exactly_one_sync(before).await;
    assert_eq!(daemon.last_call()[0].2, 2);
    daemon.stop().await;
}

#[tokio::test]
async fn jetbrains_safe_write_causes_one_sync() {
    let tree = Tree::new();
    let mut daemon = start(&tree, RecordingSyncer::default()).await;
    let before = daemon.now();

    let file = tree.path("conf/access/eng.yaml");
    let new = tree.path("conf/access/eng.yaml___jb_tmp___");
    let old = tree.path("conf/access/eng.yaml___jb_old___");
    std::fs::write(&new, GRANTS_AB).unwrap();
    std::fs::rename(&file, &old).unwrap();
    std::fs::rename(&new, &file).unwrap();
    std::fs::remove_file(&old).unwrap();

    daemon.expect_exactly_one_sync(before).await;
    assert_eq!(daemon.last_call()[0].2, 2);
    daemon.stop().await;
}

#[tokio::test]
async fn truncate_then_write_causes_one_sync() {
    use std::io::Write;
    let tree = Tree::new();
    let mut daemon = start(&tree, RecordingSyncer::default()).await;
    let before = daemon.now();

    let mut file = std::fs::File::create(tree.path("conf/access/eng.yaml")).unwrap();
    file.flush().unwrap();
    let (first, rest) = GRANTS_AB.split_at(30);
    file.write_all(first.as_bytes()).unwrap();
    file.flush().unwrap();
    file.write_all(rest.as_bytes()).unwrap();
    drop(file);

    daemon.expect_exactly_one_sync(before).await;
    assert_eq!(daemon.last_call()[0].2, 2);
    daemon.stop().await;
}

#[tokio::test]
async fn a_new_file_matching_the_glob_causes_one_sync() {
    let tree = Tree::new();
    let mut daemon = start(&tree, RecordingSyncer::default()).await;
    let before = daemon.now();

    std::fs::write(
        tree.path("conf/access/ops.yaml"),
        "grants:\n  - {identity: carol@example.com, node: acme/ops, role: viewer}\n",
    )
    .unwrap();

    daemon.expect_exactly_one_sync(before).await;
    assert_eq!(daemon.last_call()[0].2, 2);
    assert_eq!(daemon.daemon.status().watch.files, 3);
    daemon.stop().await;
}

#[tokio::test]
async fn a_directory_deleted_and_recreated_causes_one_sync() {
    let tree = Tree::new();
    let mut daemon = start(&tree, RecordingSyncer::default()).await;
    let before = daemon.now();

    std::fs::remove_dir_all(tree.path("conf/access")).unwrap();
    std::fs::create_dir(tree.path("conf/access")).unwrap();
    std::fs::write(tree.path("conf/access/eng.yaml"), GRANTS_AB).unwrap();
    daemon.expect_exactly_one_sync(before).await;
    assert_eq!(daemon.last_call()[0].2, 2);

    // The new directory is watched: a later edit in it is seen.
    let before = daemon.now();
    std::fs::write(tree.path("conf/access/eng.yaml"), GRANTS_A).unwrap();
    daemon.expect_exactly_one_sync(before).await;
    assert_eq!(daemon.last_call()[0].2, 1);
    daemon.stop().await;
}

#[tokio::test]
async fn a_configmap_update_causes_one_sync() {
    // The kubelet's layout: the files are symlinks through `..data`, which
    // points at a timestamped directory and is replaced by a rename.
    let tree = Tree::new();
    let mount = tree.path("mount");
    let write_version = |name: &str, grants: &str| {
        let dir = mount.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("grantsync.yaml"), config_text("grants-*.yaml")).unwrap();
        std::fs::write(dir.join("grants-eng.yaml"), grants).unwrap();
    };
    write_version("..2026_12_04_10_00_00.1", GRANTS_A);
    symlink("..2026_12_04_10_00_00.1", mount.join("..data")).unwrap();
    for file in ["grantsync.yaml", "grants-eng.yaml"] {
        symlink(format!("..data/{file}"), mount.join(file)).unwrap();
    }
    let options = Options {
        config: mount.join("grantsync.yaml"),
        ..tree.options()
    };
    let syncer = RecordingSyncer::default();
    let calls = Arc::clone(&syncer.calls);
    let shutdown = CancellationToken::new();
    let started = Daemon::start_with(options, shutdown.clone(), |_| syncer)
        .await
        .unwrap();
    let mut daemon = Running {
        progress: started.progress(),
        daemon: started,
        shutdown,
        calls,
    };
    daemon
        .wait_for("the first sync", |p| p.syncs_finished == 1)
        .await;
    assert_eq!(daemon.last_call()[0].2, 1);
    let before = daemon.now();

    write_version("..2026_12_04_11_00_00.2", GRANTS_AB);
    symlink("..2026_12_04_11_00_00.2", mount.join("..data_tmp")).unwrap();
    std::fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
    std::fs::remove_dir_all(mount.join("..2026_12_04_10_00_00.1")).unwrap();

    daemon.expect_exactly_one_sync(before).await;
    assert_eq!(daemon.last_call()[0].2, 2);

    // And the next update too, through the new timestamped directory.
    let before = daemon.now();
    write_version("..2026_12_04_12_00_00.3", GRANTS_A);
    symlink("..2026_12_04_12_00_00.3", mount.join("..data_tmp")).unwrap();
    std::fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
    std::fs::remove_dir_all(mount.join("..2026_12_04_11_00_00.2")).unwrap();
    daemon.expect_exactly_one_sync(before).await;
    assert_eq!(daemon.last_call()[0].2, 1);
    daemon.stop().await;
}

#[tokio::test]
async fn a_git_sync_worktree_swap_causes_one_sync() {
    // git-sync: `repo/current` is a symlink to a worktree, replaced by a
    // rename when a new commit is checked out.
    let tree = Tree::new();
    let repo = tree.path("repo");
    let worktree = |name: &str, grants: &str| {
        let dir = repo.join(".worktrees").join(name).join("access");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("eng.yaml"), grants).unwrap();
    };
    worktree("aaa111", GRANTS_A);
    symlink(".worktrees/aaa111", repo.join("current")).unwrap();
    let pattern = format!("{}/current/access/*.yaml", repo.display());
    std::fs::write(tree.config(), config_text(&pattern)).unwrap();
    let mut daemon = start(&tree, RecordingSyncer::default()).await;
    assert_eq!(daemon.last_call()[0].2, 1);
    let before = daemon.now();

    worktree("bbb222", GRANTS_AB);
    symlink(".worktrees/bbb222", repo.join("current.tmp")).unwrap();
    std::fs::rename(repo.join("current.tmp"), repo.join("current")).unwrap();
    std::fs::remove_dir_all(repo.join(".worktrees/aaa111")).unwrap();

    daemon.expect_exactly_one_sync(before).await;
    assert_eq!(daemon.last_call()[0].2, 2);
    daemon.stop().await;
}

#[tokio::test]
async fn a_touch_that_changes_nothing_causes_no_sync() {
    let tree = Tree::new();
    let mut daemon = start(&tree, RecordingSyncer::default()).await;
    let before = daemon.now();

    let file = std::fs::File::options()
        .append(true)
        .open(tree.path("conf/access/eng.yaml"))
        .unwrap();
    file.set_modified(std::time::SystemTime::now()).unwrap();
    drop(file);
    daemon.expect_no_sync(before).await;

    // Saving the same text again is no change either.
    let before = daemon.now();
    std::fs::write(tree.path("conf/access/eng.yaml"), GRANTS_A).unwrap();
    daemon.expect_no_sync(before).await;
    daemon.stop().await;
}
