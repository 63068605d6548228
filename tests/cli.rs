//! The `fundledger` command line against a real writer: `fundledger serve` as
//! a child process (with its own embedded nats-server on a free port), driven
//! by the real binary as an operator, a fund manager and grant officers would.

use fundledger_core::crypto::sha256;
use fundledger_system_tests::cli::{self, Output, Serve};
use serde_json::Value;

/// A running writer, a directory for key files, and the records seen so far.
struct Session {
    serve: Serve,
    dir: tempfile::TempDir,
    records: u64,
}

impl Session {
    fn start() -> Session {
        let serve = Serve::start("hk");
        let dir = tempfile::Builder::new().prefix("fundledger-cli-keys-").tempdir().expect("temporary directory");
        Session { serve, dir, records: 0 }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn run(&self, args: &[&str]) -> Output {
        cli::run(args, Some(&self.serve.url), None)
    }

    fn run_with_input(&self, args: &[&str], input: &str) -> Output {
        cli::run(args, Some(&self.serve.url), Some(input))
    }

    fn ok(&self, args: &[&str]) -> Output {
        let output = self.run(args);
        assert!(output.success(), "fundledger {args:?} failed:\n{output}\n--- server log\n{}", self.serve.log());
        output
    }

    /// Runs a recording command that must append the next record; returns its output.
    fn records(&mut self, args: &[&str]) -> Output {
        let output = self.ok(args);
        self.records += 1;
        let number = record_number(&output.stdout);
        assert_eq!(number, self.records, "fundledger {args:?} should append record {}:\n{output}", self.records);
        assert!(output.stdout.starts_with("recorded "), "{output}");
        output
    }

    /// Runs a command the writer must refuse with `code`; returns its output.
    fn refused(&self, args: &[&str], code: &str) -> Output {
        let output = self.run(args);
        assert!(!output.success(), "fundledger {args:?} should have been refused with {code}:\n{output}");
        assert!(output.stderr.contains(&format!("refused [{code}]")), "fundledger {args:?} should be refused with [{code}]:\n{output}");
        assert!(!output.stdout.contains("recorded"), "{output}");
        output
    }

    fn status(&self) -> Value {
        let output = self.ok(&["status", "--json"]);
        serde_json::from_str(output.stdout.trim()).unwrap_or_else(|error| panic!("status --json is not JSON ({error}):\n{output}"))
    }
}

/// The N of `... as record N (...)` or `... (record N, ...)`.
fn record_number(stdout: &str) -> u64 {
    let after = stdout
        .split_once("as record ")
        .or_else(|| stdout.split_once("(record "))
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no record number in {stdout:?}"));
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or_else(|_| panic!("no record number in {stdout:?}"))
}

fn keygen(session: &Session, name: &str) -> String {
    let file = session.path(&format!("{name}.json"));
    let output = cli::run(&["keygen", "--out", &file], None, None);
    assert!(output.success(), "{output}");
    let public = output.stdout.trim().to_string();
    assert_eq!(public.len(), 64, "keygen prints the 64-hex-digit public key:\n{output}");
    assert!(public.bytes().all(|byte| byte.is_ascii_hexdigit()), "{output}");
    let file_json: Value = serde_json::from_str(&std::fs::read_to_string(&file).expect("key file written")).expect("key file is JSON");
    assert_eq!(file_json["public"], public.as_str());
    assert_eq!(file_json["holder"], name);
    public
}

#[test]
fn records_a_scenario_through_the_cli() {
    let mut session = Session::start();
    let status = session.status();
    assert_eq!(status["ledger"], "hk", "{status}");
    assert_eq!(status["size"], 0, "a fresh ledger is empty: {status}");
    assert_eq!(status["ready"], true, "{status}");

    // Keys, generated locally.
    let operator_public = keygen(&session, "operator");
    let manager_public = keygen(&session, "manager");
    let manager_two_public = keygen(&session, "manager-two");
    keygen(&session, "officer");
    keygen(&session, "officer-two");
    let (operator_file, manager_file) = (session.path("operator.json"), session.path("manager.json"));
    let (officer_file, officer_two_file) = (session.path("officer.json"), session.path("officer-two.json"));
    let (operator, manager) = (operator_file.as_str(), manager_file.as_str());
    let (officer, officer_two) = (officer_file.as_str(), officer_two_file.as_str());
    let again = cli::run(&["keygen", "--out", operator], None, None);
    assert!(!again.success() && again.stderr.contains("already exists"), "keygen must not overwrite a key:\n{again}");
    let still: Value = serde_json::from_str(&std::fs::read_to_string(operator).expect("key file")).expect("JSON");
    assert_eq!(still["public"], operator_public.as_str(), "the refused keygen left the key file alone");

    // Genesis, the fund and the scheme, keys and roles, signed by the operator.
    let genesis = session.records(&["init", "--key", operator, "--name", "CLI test ledger"]);
    assert!(genesis.stdout.contains("ledger.genesis"), "{genesis}");
    let fund = session.records(&["fund", "establish", "--key", operator, "--fund", "itif"]);
    assert!(fund.stdout.contains("fund.established itif HK$10,000,000,000.00"), "the ITIF preset is the default:\n{fund}");
    session.records(&["scheme", "establish", "--key", operator, "--scheme", "nias", "--preset", "nias"]);
    session.records(&["key", "register", "--key", operator, "--public", manager, "--holder", "Fund Manager"]);
    session.records(&["role", "grant", "--key", operator, "--public", &manager_public, "--role", "fund_manager", "--scope", "fund:itif"]);
    // Government commitments of HK$100M or more need two fund managers (issue 19).
    let manager_two_file = session.path("manager-two.json");
    let manager_two = manager_two_file.as_str();
    session.records(&["key", "register", "--key", operator, "--public", manager_two, "--holder", "Fund Manager Two"]);
    session.records(&["role", "grant", "--key", operator, "--public", &manager_two_public, "--role", "fund_manager", "--scope", "fund:itif"]);
    for file in [officer, officer_two] {
        session.records(&["key", "register", "--key", operator, "--public", file, "--holder", "Grant Officer"]);
        session.records(&["role", "grant", "--key", operator, "--public", file, "--role", "grant_officer", "--scope", "scheme:nias"]);
    }
    // The manager holds no admin role.
    let outsider = keygen(&session, "outsider");
    session.refused(&["key", "register", "--key", manager, "--public", &outsider, "--holder", "Outsider"], "signer_unauthorised");

    // A sub-fund of the I&T Industry-Oriented Fund.
    session.records(&[
        "subfund",
        "admit",
        "--key",
        manager,
        "--fund",
        "itif",
        "--subfund",
        "sf-ai",
        "--name",
        "AI Fund I",
        "--theme",
        "ai-robotics",
        "--general-partner",
        "GP Limited",
        "--target-size",
        "4,000,000,000",
    ]);
    session.records(&["subfund", "market-commit", "--key", manager, "--subfund", "sf-ai", "--investor", "Market LP", "--amount", "3,000,000,000"]);
    let over = session.refused(
        &["subfund", "government-commit", "--key", manager, "--cosign", manager_two, "--subfund", "sf-ai", "--amount", "1,000,000,000.01"],
        "government_commitment_cap",
    );
    assert!(over.stderr.contains("HK$1,000,000,000.01"), "the refusal names the amount:\n{over}");
    let committed =
        session.records(&["subfund", "government-commit", "--key", manager, "--cosign", manager_two, "--subfund", "sf-ai", "--amount", "HK$1,000,000,000"]);
    assert!(committed.stdout.contains("subfund.government_committed sf-ai HK$1,000,000,000.00"), "{committed}");

    // --json prints the writer's receipt.
    let nav = session.ok(&["subfund", "nav", "--key", manager, "--subfund", "sf-ai", "--as-of", "2026-03-31", "--amount", "0.01", "--json"]);
    session.records += 1;
    let answer: Value = serde_json::from_str(nav.stdout.trim()).unwrap_or_else(|error| panic!("--json prints JSON ({error}):\n{nav}"));
    assert_eq!(answer["status"], 201, "{answer}");
    assert_eq!(answer["receipt"]["seq"], session.records, "{answer}");
    assert_eq!(answer["receipt"]["duplicate"], false, "{answer}");

    // The same writer over NATS request/reply (the URL of serve's embedded nats-server is in its log).
    let log = session.serve.log();
    let nats_url = log.split_whitespace().find(|word| word.starts_with("nats://")).unwrap_or_else(|| panic!("serve names its NATS URL:\n{log}")).to_string();
    let over_nats = session.records(&[
        "subfund",
        "nav",
        "--key",
        manager,
        "--subfund",
        "sf-ai",
        "--as-of",
        "2026-06-30",
        "--amount",
        "0.02",
        "--via-nats",
        &nats_url,
        "--writer",
        "http://127.0.0.1:9",
    ]);
    assert!(over_nats.stdout.contains("subfund.nav_reported sf-ai HK$0.02 as of 2026-06-30"), "{over_nats}");

    // A grant, recorded twice with the same id.
    let approve = [
        "grant",
        "approve",
        "--key",
        officer,
        "--cosign",
        officer_two,
        "--scheme",
        "nias",
        "--grant",
        "nias-g1",
        "--enterprise",
        "ent-1",
        "--enterprise-name",
        "Factory Limited",
        "--project",
        "Smart production line",
        "--approved-cost",
        "300,000,000",
        "--amount",
        "100,000,000",
        "--duration-months",
        "24",
        "--id",
        "cli-approve-1",
        "--occurred-at",
        "2026-02-01T10:00:00Z",
    ];
    let first = session.records(&approve);
    assert!(first.stdout.contains("grant.approved nias-g1"), "{first}");
    let repeat = session.ok(&approve);
    assert!(repeat.stdout.starts_with("already recorded: grant.approved nias-g1"), "{repeat}");
    assert_eq!(record_number(&repeat.stdout), record_number(&first.stdout), "the duplicate names the original record:\n{repeat}");
    let mut changed = approve.to_vec();
    let amount = changed.iter().position(|arg| *arg == "100,000,000").expect("amount");
    changed[amount] = "90,000,000";
    session.refused(&changed, "id_conflict");

    // Verified spend anchored by the evidence's SHA-256 (the file is not sent).
    let evidence = session.dir.path().join("invoice-2026-001.pdf");
    std::fs::write(&evidence, b"%PDF-1.4 invoice 2026-001: HK$9,000,000 of production line equipment").expect("evidence file");
    let digest: String = sha256(&[&std::fs::read(&evidence).expect("evidence")]).iter().map(|byte| format!("{byte:02x}")).collect();
    let evidence_path = evidence.display().to_string();
    let verified = session.records(&["grant", "verify-spend", "--key", officer, "--grant", "nias-g1", "--amount", "9,000,000", "--evidence", &evidence_path]);
    assert!(verified.stdout.contains(&digest[..12]), "the output shows the evidence digest {digest}:\n{verified}");

    // Reimbursement: at most 1/3 of verified spend (HK$3,000,000 of HK$9,000,000).
    let over_share = session.refused(
        &["grant", "disburse", "--key", officer, "--grant", "nias-g1", "--amount", "3,000,000.01", "--payment-reference", "PAY-1"],
        "reimbursement_share",
    );
    assert!(over_share.stderr.contains("HK$3,000,000.01"), "{over_share}");
    session.records(&["grant", "disburse", "--key", officer, "--grant", "nias-g1", "--amount", "3,000,000", "--payment-reference", "PAY-1"]);

    // Dual control: HK$10M or more needs a co-signer.
    let more_evidence = "ab".repeat(32);
    session.records(&["grant", "verify-spend", "--key", officer, "--grant", "nias-g1", "--amount", "30,000,000", "--evidence-sha256", &more_evidence]);
    let big = ["grant", "disburse", "--key", officer, "--grant", "nias-g1", "--amount", "10,000,000", "--payment-reference", "PAY-2"];
    session.refused(&big, "dual_control");
    let mut cosigned = big.to_vec();
    cosigned.extend(["--cosign", officer_two]);
    session.records(&cosigned);
    let same_twice = session.run(&["grant", "complete", "--key", officer, "--cosign", officer, "--grant", "nias-g1"]);
    assert!(!same_twice.success() && same_twice.stderr.contains("distinct signers"), "{same_twice}");

    // Offline: --dry-run signs without sending; `submit` sends it later.
    let dry = session.ok(&["grant", "complete", "--key", officer, "--grant", "nias-g1", "--id", "cli-complete-1", "--dry-run"]);
    let status = session.status();
    assert_eq!(status["size"], session.records, "--dry-run sends nothing: {status}");
    let submission: Value = serde_json::from_str(dry.stdout.trim()).unwrap_or_else(|error| panic!("--dry-run prints JSON ({error}):\n{dry}"));
    assert_eq!(submission["body"]["type"], "grant.completed", "{submission}");
    let submission_file = session.dir.path().join("complete.json");
    std::fs::write(&submission_file, dry.stdout.trim()).expect("writes the submission");
    session.records(&["submit", &submission_file.display().to_string()]);
    let resubmitted = session.run_with_input(&["submit", "-"], dry.stdout.trim());
    assert!(resubmitted.success() && resubmitted.stdout.starts_with("already recorded: grant.completed"), "{resubmitted}");

    // `sign`: a body without signers is signed by the keys given, then submitted.
    let mut body = submission["body"].clone();
    body["id"] = Value::from("cli-close-1");
    body["type"] = Value::from("grant.closed");
    body["data"] = serde_json::json!({ "grant": "nias-g1", "reason": "completed" });
    body.as_object_mut().expect("object").remove("signers");
    let body_file = session.dir.path().join("close-body.json");
    std::fs::write(&body_file, body.to_string()).expect("writes the body");
    let filled = session.run(&["sign", "--key", manager, &body_file.display().to_string()]);
    assert!(filled.success(), "a body without signers is signed by --key:\n{filled}");
    let filled: Value = serde_json::from_str(filled.stdout.trim()).expect("sign prints JSON");
    assert_eq!(filled["body"]["signers"], serde_json::json!([manager_public]), "{filled}");
    assert_eq!(filled["signatures"].as_array().map(Vec::len), Some(1), "{filled}");
    let mut listed = body.clone();
    listed["signers"] = serde_json::json!([officer_public_key(officer)]);
    let listed_file = session.dir.path().join("close-listed.json");
    std::fs::write(&listed_file, listed.to_string()).expect("writes the body");
    let not_signer = session.run(&["sign", "--key", manager, &listed_file.display().to_string()]);
    assert!(!not_signer.success() && not_signer.stderr.contains("is not among the body's signers"), "{not_signer}");
    let signed = session.ok(&["sign", "--key", officer, &listed_file.display().to_string()]);
    let batch = format!("[{}, {}]", dry.stdout.trim(), signed.stdout.trim());
    let answer = session.run_with_input(&["submit"], &batch);
    assert!(answer.success(), "{answer}");
    let lines: Vec<&str> = answer.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{answer}");
    assert!(lines[0].starts_with("1: already recorded: grant.completed"), "{answer}");
    session.records += 1;
    assert!(lines[1].starts_with("2: recorded grant.closed nias-g1") && record_number(lines[1]) == session.records, "{answer}");
    let refused_batch = session.run_with_input(&["submit"], &format!("[{}]", dry.stdout.trim().replace("cli-complete-1", "cli-complete-2")));
    assert!(!refused_batch.success() && refused_batch.stdout.contains("refused ["), "a body changed after signing is refused:\n{refused_batch}");

    // The writer saw exactly the records the commands reported.
    let status = session.status();
    assert_eq!(status["size"], session.records, "{status}");
    assert_eq!(status["ready"], true, "{status}");
    let human = session.ok(&["status"]);
    assert!(human.stdout.contains(&format!("size    {} records", session.records)), "{human}");
}

fn officer_public_key(file: &str) -> String {
    let json: Value = serde_json::from_str(&std::fs::read_to_string(file).expect("key file")).expect("JSON");
    json["public"].as_str().expect("public key").to_string()
}

#[test]
fn help_names_every_flag() {
    let cases: [(&[&str], &[&str]); 6] = [
        (
            &["grant", "disburse", "--help"],
            &["--amount", "--payment-reference", "--key", "--cosign", "--id", "--occurred-at", "--ledger", "--json", "--writer", "--via-nats"],
        ),
        (&["grant", "verify-spend", "--help"], &["--evidence", "--evidence-sha256", "SHA-256"]),
        (&["subfund", "invest", "--help"], &["--hk-enterprise", "--innovation-technology", "--investment"]),
        (&["scheme", "establish", "--help"], &["--preset", "--terms", "--budget", "nias", "nifs", "pilot"]),
        (&["fund", "establish", "--help"], &["--subfund-commitment-max", "--government-share-max-bps", "--dual-control-threshold", "itif"]),
        (&["role", "grant", "--help"], &["--role", "--scope", "fund_manager", "grant_officer"]),
    ];
    for (args, flags) in cases {
        let output = cli::run(args, None, None);
        assert!(output.success(), "{args:?}:\n{output}");
        for flag in flags {
            assert!(output.stdout.contains(flag), "`fundledger {}` does not mention {flag}:\n{output}", args.join(" "));
        }
    }
}

/// `fundledger ... | head -1`: output into a pipe whose reader is gone ends
/// the command quietly (SIGPIPE, as for other Unix tools), never in a panic.
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::process::ExitStatusExt;

    let dir = tempfile::tempdir().expect("temporary directory");
    let key_file = dir.path().join("k.json").display().to_string();
    // A pipe whose read end is closed before the command starts: its first write fails with EPIPE.
    let mut ends = [0; 2];
    // SAFETY: pipe() fills both descriptors on success; each is owned exactly once below.
    assert_eq!(unsafe { libc::pipe(ends.as_mut_ptr()) }, 0, "pipe()");
    let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
    drop(read_end);
    let output = cli::command()
        .args(["keygen", "--out", &key_file, "--json"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::from(write_end))
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("runs fundledger");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "printing into a closed pipe panicked ({:?}):\n{stderr}", output.status);
    assert!(
        output.status.success() || output.status.signal() == Some(libc::SIGPIPE),
        "a closed pipe ends the command quietly (status 0 or SIGPIPE), not {:?}:\n{stderr}",
        output.status
    );
}

#[test]
fn bad_input_gets_a_precise_error_before_anything_is_sent() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let key_file = dir.path().join("k.json").display().to_string();
    let key_path = key_file.as_str();
    assert!(cli::run(&["keygen", "--out", key_path, "--holder", "Someone"], None, None).success());
    // Nothing listens on this writer address: every case must fail before sending.
    let writer = format!("http://127.0.0.1:{}", cli::free_port());
    let base = ["grant", "disburse", "--key", key_path, "--grant", "g1", "--payment-reference", "P"];
    let with = |extra: &[&'static str]| -> Vec<&str> { base.iter().copied().chain(extra.iter().copied()).collect() };
    let cases: [(Vec<&str>, &[&str]); 5] = [
        (with(&["--amount", "12.345"]), &["--amount", "at most two decimal places"]),
        (with(&["--amount=-5"]), &["--amount", "negative"]),
        (with(&["--amount", "5", "--occurred-at", "2026-02-01 10:00"]), &["--occurred-at", "timestamp"]),
        (
            vec!["grant", "disburse", "--key", "/nonexistent/key.json", "--grant", "g1", "--amount", "5", "--payment-reference", "P"],
            &["--key", "/nonexistent/key.json"],
        ),
        (vec!["role", "grant", "--key", key_path, "--public", "nothex", "--role", "admin", "--scope", "ledger"], &["--public", "neither"]),
    ];
    for (args, expected) in cases {
        let output = cli::run(&args, Some(&writer), None);
        assert!(!output.success(), "{args:?} should fail:\n{output}");
        for text in expected {
            assert!(output.stderr.contains(text), "{args:?}: the error should mention {text:?}:\n{output}");
        }
        assert!(!output.stderr.contains("cannot reach the writer"), "{args:?} should fail before sending:\n{output}");
    }
    // A well-formed command with no writer says so, and how to retry safely.
    let output = cli::run(&with(&["--amount", "5", "--id", "retry-1"]), Some(&writer), None);
    assert!(!output.success(), "{output}");
    assert!(output.stderr.contains("cannot reach the writer") && output.stderr.contains("--id retry-1 --occurred-at"), "{output}");
}

/// Each benchmark runs end to end on its own embedded nats-server and reports
/// both sides of its comparison for every event it was asked for (rates are
/// not judged here: benchmarks measure, tests check they measure something).
#[test]
fn every_bench_measures_both_sides_on_a_small_ledger() {
    let run = |args: &[&str]| -> Value {
        let output = cli::run(args, None, None);
        assert!(output.success(), "{output}");
        serde_json::from_str(&output.stdout).unwrap_or_else(|error| panic!("{error}: {output}"))
    };
    let positive = |value: &Value| value.as_f64().is_some_and(|rate| rate > 0.0);
    let append = run(&["bench", "append", "--events", "3000", "--batch", "500", "--latency-events", "20", "--json"]);
    assert_eq!(append["events"], 3000, "{append}");
    assert!(positive(&append["ledger_append"]["events_per_second"]) && positive(&append["raw_jetstream_publish"]["events_per_second"]), "{append}");
    assert!(positive(&append["single_event_latency_ms"]["p99"]), "{append}");
    let verify = run(&["bench", "verify", "--events", "3000", "--json"]);
    assert!(verify["events"].as_u64().is_some_and(|events| events > 3000), "setup events come on top: {verify}");
    assert!(positive(&verify["full_verification"]["events_per_second"]) && positive(&verify["batch_verify_only"]["events_per_second"]), "{verify}");
    assert!(
        positive(&verify["full_verification_from_bundle"]["events_per_second"])
            && verify["full_verification_from_bundle"]["bundle_bytes"].as_u64().is_some_and(|bytes| bytes > 0),
        "{verify}"
    );
    // CPU is measured on both sides of the comparison, the embedded server's too.
    for side in ["full_verification", "full_verification_from_bundle", "batch_verify_only"] {
        assert!(positive(&verify[side]["process_cpu_seconds"]), "{side}: {verify}");
    }
    let budget = &verify["jetstream_budget"];
    assert!(positive(&verify["full_verification"]["server_cpu_seconds"]) && positive(&budget["server_core_seconds"]), "{verify}");
    assert!(positive(&budget["core_seconds_allowed"]) && budget["cores"].as_u64().is_some_and(|cores| cores > 0), "{budget}");
    // The floor is verification plus the server's share (to within the microsecond of rounding), and has a verdict.
    let seconds = |field: &str| budget[field].as_f64().unwrap_or(f64::NAN);
    assert!((seconds("floor_core_seconds") - seconds("verification_core_seconds") - seconds("server_core_seconds")).abs() < 1e-6, "{budget}");
    assert!(budget["reachable"].is_boolean(), "{budget}");
    let rebuild = run(&["bench", "rebuild", "--events", "3000", "--json"]);
    assert_eq!(rebuild["records"], verify["events"], "the same synthetic ledger shape: {rebuild}");
    assert!(positive(&rebuild["raw_fetch"]["records_per_second"]) && positive(&rebuild["rebuild"]["records_per_second"]), "{rebuild}");
    assert!(rebuild["rebuild"]["database_bytes"].as_u64().is_some_and(|bytes| bytes > 0), "{rebuild}");
}
