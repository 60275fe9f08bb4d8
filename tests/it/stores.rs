//! Tables in an object store: the example project's data uploaded to a real S3-compatible
//! server (moto's, from PyPI in the tests' virtualenv, driven by `tests/engines/s3_server.py`)
//! and read through `s3://` URLs gives the outputs of the local files byte for byte, here and
//! on a Ballista cluster whose processes have the credentials in their environment; a
//! missing bucket or object, an unreachable endpoint and `gs://` without credentials are
//! clear errors naming the path.

use crate::cluster::{Cluster, PATIENCE, output_within};
use crate::common::{example_dir, segql_command, stderr, stdout};
use crate::engines::test_python;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

/// The bucket the example data is uploaded to, under `coalition/data/`.
const BUCKET: &str = "segql-coalition";

/// The server's endpoint; the server stops when the test process ends (its standard input
/// closes).
fn s3_endpoint() -> &'static str {
    static SERVER: OnceLock<(String, Mutex<Child>)> = OnceLock::new();
    &SERVER
        .get_or_init(|| {
            let data = example_dir().join("data");
            let mut files: Vec<String> = Vec::new();
            for e in std::fs::read_dir(&data).unwrap().flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                files.push(format!(
                    "{:?}: {:?}",
                    format!("coalition/data/{name}"),
                    e.path().display().to_string()
                ));
            }
            let spec = format!("{{{BUCKET:?}: {{{}}}}}", files.join(", "));
            let driver =
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/engines/s3_server.py");
            let mut child = Command::new(test_python())
                .arg(driver)
                .arg(spec)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("the S3 server starts");
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            let endpoint = line.trim().to_string();
            assert!(
                endpoint.starts_with("http://127.0.0.1:"),
                "the S3 server did not start: {line:?}"
            );
            (endpoint, Mutex::new(child))
        })
        .0
}

/// The environment that reads the test server: its endpoint and credentials, nothing else
/// of AWS's.
fn s3_env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", s3_endpoint().to_string()),
        ("AWS_ACCESS_KEY_ID", "segql-test".into()),
        ("AWS_SECRET_ACCESS_KEY", "segql-test-secret".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ALLOW_HTTP", "true".into()),
    ]
}

/// `segql ARGS` with `env` added to a clean environment of object-store variables; it must
/// end within the cluster tests' patience.
fn segql_with(env: &[(&str, String)], args: &[&str]) -> Output {
    let mut c = segql_command();
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("GOOGLE_") || k.starts_with("GCE_") {
            c.env_remove(k);
        }
    }
    c.env_remove("SERVICE_ACCOUNT");
    let child = c
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("segql runs");
    output_within(child, 2 * PATIENCE)
}

/// Copies `from` into `to`, directories whole.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A copy of the example project without its data, its tables' paths replaced by `tables`
/// (the configured path, the new one).
fn project_with(tables: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["segments", "models", "snapshots"] {
        copy_dir(&example_dir().join(sub), &dir.path().join(sub));
    }
    let mut toml = std::fs::read_to_string(example_dir().join("segql.toml")).unwrap();
    for (old, new) in tables {
        let old = format!("path = \"{old}\"");
        assert!(toml.contains(&old), "segql.toml has no `{old}`");
        toml = toml.replace(&old, &format!("path = \"{new}\""));
    }
    std::fs::write(dir.path().join("segql.toml"), toml).unwrap();
    dir
}

/// The example project with every table in the bucket: a glob, and two single objects.
fn s3_project() -> tempfile::TempDir {
    project_with(&[
        (
            "data/*.parquet",
            &format!("s3://{BUCKET}/coalition/data/*.parquet"),
        ),
        (
            "data/customers.csv",
            &format!("s3://{BUCKET}/coalition/data/customers.csv"),
        ),
        (
            "data/communications.csv",
            &format!("s3://{BUCKET}/coalition/data/communications.csv"),
        ),
    ])
}

/// The commands compared: every segment file's members and counts, a campaign, reports
/// over every table.
fn commands(project: &Path) -> Vec<Vec<String>> {
    let p = project.display().to_string();
    let seg = |name: &str| project.join("segments").join(name).display().to_string();
    let mut all = Vec::new();
    for file in ["lifecycle.seg", "value.seg", "partners.seg", "clusters.seg"] {
        all.push(vec![
            "run".into(),
            seg(file),
            "--format".into(),
            "csv".into(),
        ]);
    }
    all.push(vec![
        "run".into(),
        seg("offers.seg"),
        "-s".into(),
        "autumn_bonus".into(),
        "--format".into(),
        "csv".into(),
    ]);
    all.push(vec!["rfm".into(), "--format".into(), "csv".into()]);
    all.push(vec![
        "kpis".into(),
        "--from".into(),
        "2026-01-01".into(),
        "--to".into(),
        "2026-06-30".into(),
        "--format".into(),
        "csv".into(),
    ]);
    all.push(vec![
        "measure".into(),
        "autumn_bonus".into(),
        seg("offers.seg"),
    ]);
    for c in &mut all {
        c.extend(["--project".into(), p.clone()]);
    }
    all
}

/// Each command of `commands` on the example's local files and on `project` (with `extra`
/// arguments): both succeed with the same bytes.
fn same_as_local(project: &Path, extra: &[&str], env: &[(&str, String)]) {
    let here = commands(&example_dir());
    let there = commands(project);
    for (local, remote) in here.iter().zip(&there) {
        let local: Vec<&str> = local.iter().map(String::as_str).collect();
        let mut remote: Vec<&str> = remote.iter().map(String::as_str).collect();
        remote.extend(extra);
        let a = segql_with(&[], &local);
        assert!(a.status.success(), "{local:?}: {}", stderr(&a));
        let b = segql_with(env, &remote);
        assert!(b.status.success(), "{remote:?}: {}", stderr(&b));
        assert!(!a.stdout.is_empty(), "{local:?} printed nothing");
        assert!(
            a.stdout == b.stdout,
            "{remote:?} differs from the local files:\n--- local\n{}\n--- s3\n{}",
            stdout(&a),
            stdout(&b)
        );
    }
}

#[test]
fn s3_tables_answer_as_the_local_files_here_and_on_a_cluster() {
    let env = s3_env();
    let project = s3_project();
    same_as_local(project.path(), &[], &env);
    // The output is a local file, byte for byte the one of the local data.
    let out = project.path().join("members.parquet");
    let seg = project.path().join("segments/value.seg");
    let args = |p: &Path, out: &Path| {
        vec![
            "run".to_string(),
            seg.display().to_string(),
            "--project".into(),
            p.display().to_string(),
            "--output".into(),
            out.display().to_string(),
        ]
    };
    let local_out = project.path().join("local.parquet");
    let a = segql_with(&[], &to_strs(&args(&example_dir(), &local_out)));
    assert!(a.status.success(), "{}", stderr(&a));
    let b = segql_with(&env, &to_strs(&args(project.path(), &out)));
    assert!(b.status.success(), "{}", stderr(&b));
    assert_eq!(
        std::fs::read(&local_out).unwrap(),
        std::fs::read(&out).unwrap()
    );
    // `check --data` probes every object (headers, footers, every value).
    let o = segql_with(
        &env,
        &[
            "check",
            "--data",
            "--project",
            &project.path().display().to_string(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));

    // A cluster whose scheduler and executors read the bucket with their own environment.
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cluster = Cluster::start_with(2, 2, &env_refs);
    let url = cluster.url.clone();
    same_as_local(project.path(), &["--engine", &url], &env);
    drop(cluster);
}

fn to_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Whether `err` (standard error as `stderr` gives it: miette's lines joined by spaces, so
/// a long path may be split) says `text`.
fn says(err: &str, text: &str) -> bool {
    err.replace(' ', "").contains(&text.replace(' ', ""))
}

/// `segql run --count` over `project`, which fails: its standard error.
fn fails(project: &Path, env: &[(&str, String)]) -> String {
    let o = segql_with(
        env,
        &[
            "run",
            "-e",
            "frequency >= 1",
            "--count",
            "--project",
            &project.display().to_string(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn a_missing_bucket_or_object_or_server_is_a_clear_error() {
    let env = s3_env();
    // No such bucket.
    let path = "s3://segql-no-such-bucket/data/*.parquet";
    let project = project_with(&[("data/*.parquet", path)]);
    let err = fails(project.path(), &env);
    assert!(
        says(
            &err,
            &format!("cannot read the transactions path `{path}` from its object store")
        ) && says(&err, "NoSuchBucket: The specified bucket does not exist")
            && says(&err, "AWS_ENDPOINT_URL"),
        "{err}"
    );
    // The rendered diagnostic, the server's port and request ids aside.
    let o = segql_with(
        &env,
        &[
            "run",
            "-e",
            "frequency >= 1",
            "--count",
            "--project",
            &project.path().display().to_string(),
        ],
    );
    insta::assert_snapshot!(
        "missing_bucket",
        redact(&String::from_utf8_lossy(&o.stderr))
    );
    // No such object, and a glob that matches none.
    for path in [
        format!("s3://{BUCKET}/coalition/data/nothing.parquet"),
        format!("s3://{BUCKET}/coalition/nothing/*.parquet"),
    ] {
        let project = project_with(&[("data/*.parquet", &path)]);
        let err = fails(project.path(), &env);
        assert!(
            says(
                &err,
                &format!("the transactions path `{path}` matches no file")
            ) && says(&err, "check the bucket and the keys"),
            "{err}"
        );
    }
    // A server that is not there: refused connections, retried a few times, then the error.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut down = env.clone();
    down[0].1 = format!("http://127.0.0.1:{port}");
    let path = format!("s3://{BUCKET}/coalition/data/*.parquet");
    let project = project_with(&[("data/*.parquet", &path)]);
    let err = fails(project.path(), &down);
    assert!(
        says(
            &err,
            &format!("cannot read the transactions path `{path}` from its object store")
        ),
        "{err}"
    );
    // Outputs are local files: a URL as an output is refused, and no local file is made.
    let example = example_dir().display().to_string();
    let out = format!("s3://{BUCKET}/members.csv");
    let o = segql_with(
        &env,
        &[
            "run",
            "-e",
            "frequency >= 1",
            "--project",
            &example,
            "--output",
            &out,
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        says(&stderr(&o), "writes its outputs to local files only"),
        "{}",
        stderr(&o)
    );
    assert!(!Path::new("s3:").exists());
    // No credentials, and no instance metadata server to ask for a role's (as off AWS):
    // a port nothing listens on.
    let path = format!("s3://{BUCKET}/coalition/data/*.parquet");
    let project = project_with(&[("data/*.parquet", &path)]);
    let no_keys: Vec<(&str, String)> = env
        .iter()
        .filter(|(k, _)| !k.contains("KEY"))
        .cloned()
        .chain([("AWS_METADATA_ENDPOINT", format!("http://127.0.0.1:{port}"))])
        .collect();
    let err = fails(project.path(), &no_keys);
    assert!(
        says(
            &err,
            &format!("cannot read the transactions path `{path}` from its object store")
        ) && says(&err, "AWS_ACCESS_KEY_ID"),
        "{err}"
    );
    // A scheme segql does not read.
    let project = project_with(&[("data/*.parquet", "az://container/data/*.parquet")]);
    let err = fails(project.path(), &env);
    assert!(says(&err, "not `az://`"), "{err}");
}

#[test]
fn gs_without_credentials_is_a_clear_error() {
    // No GOOGLE_* variable, no application default credentials in the home directory, and
    // no metadata server (as off Google Cloud): a port nothing listens on.
    let home = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metadata = format!("127.0.0.1:{port}");
    let env = vec![
        ("HOME", home.path().display().to_string()),
        ("GCE_METADATA_HOST", metadata.clone()),
        ("GCE_METADATA_IP", metadata),
    ];
    let path = "gs://segql-coalition/coalition/data/*.parquet";
    let project = project_with(&[("data/*.parquet", path)]);
    let err = fails(project.path(), &env);
    assert!(
        says(
            &err,
            &format!("cannot read the transactions path `{path}` from its object store")
        ) && says(&err, "GOOGLE_SERVICE_ACCOUNT"),
        "{err}"
    );
}

/// `text` without the server's port (always 5 digits: the kernel's ports for port 0 are
/// 32768 and up, so miette wraps the lines at the same places).
fn redact(text: &str) -> String {
    text.replace(s3_endpoint(), "http://127.0.0.1:PORT")
}
