//! Hello world on lambda_runtime: what a Rust function costs to start before it does anything.
//! infra/scripts/measure-lambdas.py measures the four functions' init against this one's.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move { Ok::<Value, Error>(event.payload) })).await
}
