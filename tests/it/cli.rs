//! The command line, run as a person would run it.

use std::process::Command;

fn beian_sms(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_beian-sms"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("the binary runs")
}

#[test]
fn test_hooks_are_refused_on_a_public_address_unless_forced() {
    let refused = beian_sms(&["serve", "--test-hooks", "--bind", "0.0.0.0:0"]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("--allow-remote-test-hooks"), "{said}");
}

#[test]
fn a_bad_setting_is_named() {
    let refused = beian_sms(&["serve", "--pilots", "gs,zz"]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("--pilots") && said.contains("zz"), "{said}");
    let refused = beian_sms(&["serve", "--resend-time", "noon"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--resend-time"));
}

#[tokio::test]
async fn a_taken_address_is_named() {
    let url = crate::helpers::fresh_database().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let refused = tokio::task::spawn_blocking(move || {
        beian_sms(&["serve", "--bind", &address, "--database-url", &url])
    })
    .await
    .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    let address = taken.local_addr().unwrap().to_string();
    assert!(said.contains(&address) && said.contains("--bind"), "{said}");
}

#[tokio::test]
async fn operators_are_added_reset_and_removed_from_the_command_line() {
    use std::io::Write;
    let url = crate::helpers::fresh_database().await;
    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_beian-sms"))
            .args(args)
            .args(["--database-url", &url])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the binary runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let added = run(
        &["operator", "add", "Qian.Yu", "--password-stdin"],
        "a long enough secret\n",
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let again = run(
        &["operator", "add", "qian.yu", "--password-stdin"],
        "another long secret\n",
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    let short = run(
        &["operator", "reset", "qian.yu", "--password-stdin"],
        "short\n",
    );
    assert!(String::from_utf8_lossy(&short.stderr).contains("password"));
    assert!(
        run(
            &["operator", "reset", "qian.yu", "--password-stdin"],
            "a new long secret\n"
        )
        .status
        .success()
    );
    assert!(run(&["operator", "remove", "qian.yu"], "").status.success());
    let gone = run(&["operator", "remove", "qian.yu"], "");
    assert!(String::from_utf8_lossy(&gone.stderr).contains("no operator named"));
}
