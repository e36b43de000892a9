//! Logging setup. Secrets never reach a log line: they live in types whose `Debug` is redacted,
//! and handlers log ids and outcomes, never request bodies or provider responses.

/// JSON logs for Lambda (`RUST_LOG` or `AWS_LAMBDA_LOG_LEVEL` sets the level, default `info`).
/// Never run with `trace` in production: the Lambda runtime logs raw payloads at that level.
pub fn init_lambda() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .without_time() // CloudWatch stamps every line
        .try_init();
}

/// Human-readable logs for the local stack.
pub fn init_local() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).try_init();
}
