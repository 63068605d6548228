//! The subscriber recipe of docs/SUBSCRIBING.md, followed by the Python
//! reference client (examples/reporting_client.py): SIGKILLed three times at
//! random moments while the ledger is being appended to, restarted each time
//! with the same state file, it ends with every record applied exactly once,
//! in order. Skipped (with the reason printed) only when python3 or nats-py is
//! missing; scripts/setup installs nats-py in .tools/py.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fundledger_system_tests::*;

/// NAV reports appended after the setup events, in batches.
const NAV_REPORTS: u32 = 600;
const BATCH: u32 = 20;

/// A Python with nats-py: `FUNDLEDGER_PYTHON`, the venv scripts/setup makes, or python3.
fn python() -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates: Vec<PathBuf> = match std::env::var_os("FUNDLEDGER_PYTHON") {
        Some(path) => vec![PathBuf::from(path)],
        None => vec![root.join(".tools/py/bin/python"), PathBuf::from("python3")],
    };
    let mut reasons = Vec::new();
    for candidate in candidates {
        match Command::new(&candidate).args(["-c", "import nats"]).stdout(Stdio::null()).stderr(Stdio::null()).status() {
            Ok(status) if status.success() => return Ok(candidate),
            Ok(_) => reasons.push(format!("{} has no nats-py", candidate.display())),
            Err(error) => reasons.push(format!("{}: {error}", candidate.display())),
        }
    }
    Err(reasons.join("; "))
}

fn start_client(python: &Path, url: &str, dir: &Path, exit_at: u64) -> Child {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/reporting_client.py");
    let mut command = Command::new(python);
    command
        .arg(script)
        .args(["--nats", url, "--ledger", "test"])
        .arg("--state")
        .arg(dir.join("state.json"))
        .arg("--out")
        .arg(dir.join("out.txt"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if exit_at > 0 {
        command.args(["--exit-at-seq", &exit_at.to_string()]);
    }
    command.spawn().expect("the reporting client starts")
}

fn applied(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("out.txt")).map(|text| text.lines().count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_reporting_client_survives_sigkill_mid_batch_and_loses_nothing() {
    let python = match python() {
        Ok(python) => python,
        Err(reason) => {
            println!("SKIPPED: no python3 with nats-py ({reason}); run scripts/setup");
            return;
        }
    };
    let nats = start_nats().await;
    let writer_dir = tempfile::tempdir().expect("temporary directory");
    let writer = start_writer(&nats.url(), writer_dir.path()).await;
    let client_dir = tempfile::tempdir().expect("temporary directory");
    let actors = Actors::new("sub");
    let setup = actors.setup();
    let total = setup.len() as u64 + NAV_REPORTS as u64;
    append_all(&writer, setup).await;

    // Appends the NAV reports in the background while the client is killed and restarted.
    let appender = {
        let writer = writer.clone();
        tokio::spawn(async move {
            for batch in 0..NAV_REPORTS / BATCH {
                let events = (0..BATCH).map(|i| actors.nav_report(batch * BATCH + i)).collect();
                append_all(&writer, events).await;
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        })
    };

    let mut random = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos() as u64 | 1;
    let mut next = move || {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random
    };
    let mut client = start_client(&python, &nats.url(), client_dir.path(), 0);
    let mut kills = Vec::new();
    for _ in 0..3 {
        // Wait until the client has applied some more records, then a random moment more.
        let before = applied(client_dir.path());
        let deadline = Instant::now() + Duration::from_secs(20);
        while applied(client_dir.path()) < before + 5 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(next() % 400)).await;
        client.kill().expect("SIGKILL"); // Child::kill is SIGKILL on Unix
        client.wait().expect("reaped");
        kills.push(applied(client_dir.path()));
        client = start_client(&python, &nats.url(), client_dir.path(), 0);
    }
    appender.await.expect("appender");
    client.kill().expect("SIGKILL");
    client.wait().expect("reaped");

    // The last run catches up and exits once it has applied the last record.
    let mut client = start_client(&python, &nats.url(), client_dir.path(), total);
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(status) = client.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            client.kill().ok();
            panic!("the client did not catch up to seq {total} in time ({} lines)", applied(client_dir.path()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "the client failed: {status}");
    println!("killed with {kills:?} lines applied; {total} records");

    let expected = replay_stream(&nats.url()).await.expect("the stream verifies");
    assert_eq!(expected.len() as u64, total);
    let out = std::fs::read_to_string(client_dir.path().join("out.txt")).expect("out file");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), expected.len(), "one line per record, nothing missing or duplicated");
    for (line, (seq, id)) in lines.iter().zip(&expected) {
        let mut parts = line.split(' ');
        assert_eq!(parts.next(), Some(seq.to_string().as_str()), "line {line:?}");
        assert_eq!(parts.next(), Some(id.as_str()), "line {line:?}");
    }
}
