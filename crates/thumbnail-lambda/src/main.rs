//! `thumbnail-lambda`: wires the pipeline from the `THUMBNAIL_*` environment and serves Lambda
//! invocations with it. Clients, engines and buffers are made once, at init, and reused.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use thumbnail_config::Settings;
use thumbnail_config::aws::Aws;
use thumbnail_lambda::{Handler, sizing};
use thumbnail_pipeline::Pipeline;
use thumbnail_queue::Queue;

fn main() -> Result<(), lambda_runtime::Error> {
    // glibc raises its mmap threshold as large buffers are freed, after which later large buffers
    // come from the heap and are never given back: a warm function's resident memory then creeps
    // up image after image (measured: 101 MiB after six photos, 75 MiB with the threshold fixed).
    // Fixed at 128 KiB, every decode buffer is mapped and returned to the system when freed.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
    }
    // Lambda stamps every line with the time and the request id already.
    tracing_subscriber::fmt()
        .with_env_filter(thumbnail_config::log_filter())
        .with_ansi(false)
        .without_time()
        .init();
    // One thread serves the invocations; the engine runs on the blocking pool, `threads` at once.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve())
}

async fn serve() -> Result<(), lambda_runtime::Error> {
    let settings = Settings::from_env()?;
    let mut config = settings.pipeline_config()?;
    let memory_mb = std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        .ok()
        .and_then(|mb| mb.parse().ok());
    let threads = match memory_mb {
        Some(mb) => {
            let (threads, budget) = sizing(mb);
            // THUMBNAIL_MEMORY_BUDGET, when set, wins.
            config.memory_budget.get_or_insert(budget);
            threads
        }
        None => 1,
    };
    let aws = Aws::load().await;
    let pipeline = Pipeline::new(
        aws.bucket(&settings, &settings.source_bucket),
        aws.bucket(&settings, &settings.dest_bucket),
        aws.notifier(&settings).await?,
        config,
        threads,
    );
    let dead_letters = aws
        .dead_letters(&settings)
        .await?
        .map(|q| Arc::new(q) as Arc<dyn Queue>);
    let handler = Handler::new(pipeline, dead_letters);
    tracing::info!(?memory_mb, threads, "ready");
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler
            .handle(event.payload)
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}
