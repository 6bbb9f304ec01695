//! The binary run by a person rather than by Lambda: `--help` prints what it is and the variables
//! it reads; any other argument is a usage error.

use std::process::Command;

#[test]
fn help_is_printed_and_an_unknown_argument_is_a_usage_error() {
    let binary = env!("CARGO_BIN_EXE_thumbnail-lambda");
    let help = Command::new(binary).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert_eq!(help.status.code(), Some(0), "{help:?}");
    assert!(
        text.contains("AWS Lambda") && text.contains("THUMBNAIL_PRESETS"),
        "{text}"
    );
    let wrong = Command::new(binary).arg("--bogus").output().unwrap();
    assert_eq!(wrong.status.code(), Some(2), "{wrong:?}");
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("\"--bogus\""));
}
