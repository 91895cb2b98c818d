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
