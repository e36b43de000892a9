//! Logging setup. Secrets never reach a log line: they live in types whose `Debug` is redacted,
//! and handlers log ids and outcomes, never request bodies or provider responses.

use std::io::Write;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// One JSON object per line, for CloudWatch (the functions' `LoggingConfig` is `JSON`):
/// `level`, `message`, the event's fields (`tenant_id`, `event_id`, `code`, ...) and the fields of
/// the spans around it, all at the top level. lambda_runtime wraps every invocation in a span with
/// `requestId` (and `xrayTraceId` when traced), so every line of an invocation carries them. No
/// timestamp: CloudWatch stamps every line.
pub(crate) fn json_layer<W>(make_writer: W) -> impl Layer<Registry> + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let mut layer = json_subscriber::JsonLayer::new(make_writer);
    layer.with_level("level");
    layer.with_flattened_event();
    layer.with_top_level_flattened_span_list();
    layer
}

/// The level from `RUST_LOG` (the stack's `LogLevel` parameter), default `info`.
fn env_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// JSON logs on stdout for Lambda. Never run with `trace` in production: the Lambda runtime logs
/// raw payloads at that level.
pub fn init_lambda() {
    let _ = tracing_subscriber::registry().with(json_layer(|| LineWriter).with_filter(env_filter())).try_init();
}

/// Human-readable logs for the local stack.
pub fn init_local() {
    let _ = tracing_subscriber::fmt().with_env_filter(env_filter()).with_target(false).with_writer(std::io::stderr).try_init();
}

/// Writes each log line to stdout in one call on the locked handle, so a line never interleaves
/// with an EMF metrics line (which `metrics` writes the same way) from another thread.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LineWriter;

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut out = std::io::stdout().lock();
        out.write_all(buf)?;
        out.flush()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
