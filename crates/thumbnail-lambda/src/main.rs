//! `thumbnail-lambda`: the parts built from the `THUMBNAIL_*` environment, serving Lambda
//! invocations. Clients, engines and buffers are made once, at init, and reused.

use std::time::{Instant, SystemTime};

use lambda_runtime::{LambdaEvent, service_fn};
use thumbnail_config::Settings;
use thumbnail_lambda::{Handler, Invocation};
use thumbnail_parts::Parts;
use thumbnail_parts::logs::{self, LogFormat};

fn main() -> Result<(), lambda_runtime::Error> {
    // Lambda starts the function without arguments; any argument is a person asking.
    if let Some(argument) = std::env::args().nth(1) {
        std::process::exit(usage(&argument));
    }
    // glibc raises its mmap threshold as large buffers are freed, after which later large buffers
    // come from the heap and are never given back: a warm function's resident memory then creeps
    // up image after image (measured: 101 MiB after six photos, 75 MiB with the threshold fixed).
    // Fixed at 128 KiB, every decode buffer is mapped and returned to the system when freed.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
    }
    // Lambda stamps every line with the time and the request id already; the function's logging
    // configuration picks text or JSON.
    let format = match std::env::var("AWS_LAMBDA_LOG_FORMAT").as_deref() {
        Ok("JSON") => LogFormat::Json,
        _ => LogFormat::Human,
    };
    logs::init(format, false);
    // One thread serves the invocations; the engine runs on the blocking pool.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve())
}

async fn serve() -> Result<(), lambda_runtime::Error> {
    let parts = Parts::connect(Settings::from_env()?).await?;
    let handler = Handler::new(parts.pipeline().await?, parts.dead_letters().await?)
        .with_job_timeout(parts.settings().job_timeout);
    tracing::info!(sizing = ?parts.settings().sizing(), "ready");
    let handler = &handler;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Invocation>| async move {
            // Lambda's deadline as a monotonic instant. One already past is none a real Lambda
            // gives: local emulators put a duration there (cargo lambda: 600000); the job timeout
            // alone bounds the work then.
            let deadline = event
                .context
                .deadline()
                .duration_since(SystemTime::now())
                .ok()
                .filter(|left| !left.is_zero())
                .map(|left| Instant::now() + left);
            handler
                .invoke(event.payload, deadline)
                .await
                .map_err(lambda_runtime::Error::from)
        },
    ))
    .await
}

/// What `--help` prints (exit 0); any other argument is a usage error (exit 2).
fn usage(argument: &str) -> i32 {
    let help = matches!(argument, "-h" | "--help");
    let mut text = String::from(
        "thumbnail-lambda: the thumbnail pipeline as an AWS Lambda function. The Lambda runtime \
         starts it, without arguments; it takes SQS, S3 and SNS events and is configured by \
         these variables:\n",
    );
    for setting in thumbnail_config::SETTINGS {
        text.push_str(&format!("  {}\n", setting.variable()));
    }
    if help {
        print!("{text}");
        0
    } else {
        eprint!("thumbnail-lambda: unexpected argument {argument:?}\n\n{text}");
        2
    }
}
