//! The cold-start floor for `make bench`: the smallest `lambda_runtime` function, which returns
//! its event. Built in the same profile as the real function, so the difference between the two
//! is what this product adds.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
