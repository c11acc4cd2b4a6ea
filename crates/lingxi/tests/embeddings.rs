//! `lingxi serve --embeddings`: a model that cannot be read stops the server at start with a message naming the
//! option and the file; a real one (`LINGXI_TEST_EMBEDDINGS`, fetched by `scripts/test`) is loaded and announced.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

#[test]
fn an_unreadable_model_stops_the_server_with_a_clear_message() -> TestResult {
    let dir = tempfile::tempdir()?;
    let output = Command::new(env!("CARGO_BIN_EXE_lingxi"))
        .args(["serve", "--no-demo", "--bind", "127.0.0.1:0", "--embeddings"])
        .arg(dir.path().join("no-such-model"))
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("LINGXI_DATABASE_URL")
        .env_remove("LINGXI_EMBEDDINGS")
        .stdin(Stdio::null())
        .output()?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--embeddings / LINGXI_EMBEDDINGS") && stderr.contains("config.json"), "{stderr}");
    Ok(())
}

#[test]
fn a_model_is_loaded_and_announced() -> TestResult {
    let Some(model) = std::env::var_os("LINGXI_TEST_EMBEDDINGS") else {
        eprintln!("LINGXI_TEST_EMBEDDINGS is not set: skipped (scripts/test fetches the model)");
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path)?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_lingxi"))
        .args(["serve", "--no-demo", "--bind", "127.0.0.1:0", "--embeddings"])
        .arg(&model)
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("LINGXI_DATABASE_URL")
        .stdout(log.try_clone()?)
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut text = String::new();
    while Instant::now() < deadline && !text.contains("join the bot's matching") {
        if child.try_wait()?.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        text = std::fs::read_to_string(&log_path).unwrap_or_default();
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(text.contains("sentence embeddings (384 dimensions) join the bot's matching"), "{text}");
    Ok(())
}
