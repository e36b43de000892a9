//! `sfbridge-local`: run everything on 127.0.0.1. See `--help`.

#![allow(clippy::print_stdout)]

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use sfbridge_local::{AwsSetup, Backend, LocalOptions};

const USAGE: &str = "\
sfbridge-local: the whole of sfbridge as one local process

USAGE: sfbridge-local [--simulate-salesforce] [--port N] [--data-file PATH] [--aws]

  --simulate-salesforce  also start a simulated Salesforce org with a demo External Client App
  --port N               port on 127.0.0.1 (default 3000; 0 picks a free one)
  --data-file PATH       keep data in PATH (and its AES key in PATH with .key) across restarts
  --aws                  use DynamoDB + KMS (SFBRIDGE_TABLE, SFBRIDGE_KMS_KEY_ID, AWS_* variables), and SQS
                         when SFBRIDGE_ACTIVITY_QUEUE_URL, SFBRIDGE_ACTIVITY_DLQ_URL and
                         SFBRIDGE_INBOUND_QUEUE_URL are set (else the queues stay in-process);
                         infra/scripts/local-on-moto.sh sets all of them up on moto (and builds
                         with the `aws` feature, which --aws needs)

ENVIRONMENT: SFBRIDGE_ADMIN_TOKEN (else one is generated), SFBRIDGE_APP_ORIGINS (origins of pages
that open the popup, comma-separated; default: this server), RUST_LOG.
";

fn parse_args() -> anyhow::Result<Option<LocalOptions>> {
    let mut options = LocalOptions {
        port: 3000,
        simulate_salesforce: false,
        admin_token: std::env::var("SFBRIDGE_ADMIN_TOKEN").ok().filter(|t| !t.is_empty()),
        app_origin: std::env::var("SFBRIDGE_APP_ORIGINS").ok().filter(|o| !o.is_empty()),
        backend: Backend::Embedded { data_file: None },
    };
    // Four flags do not justify an argument-parsing dependency in every build of the workspace.
    let mut args = std::env::args().skip(1);
    let mut aws = false;
    let mut data_file = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--simulate-salesforce" => options.simulate_salesforce = true,
            "--port" => {
                let value = args.next().context("--port needs a number")?;
                options.port = value.parse().with_context(|| format!("--port {value:?} is not a port number"))?;
            }
            "--data-file" => data_file = Some(PathBuf::from(args.next().context("--data-file needs a path")?)),
            "--aws" if cfg!(feature = "aws") => aws = true,
            // Before the AWS variables are read, so the answer is the rebuild, not a missing variable.
            "--aws" => bail!(sfbridge_local::AWS_NOT_BUILT),
            "-h" | "--help" => return Ok(None),
            other => bail!("unknown argument {other:?}\n\n{USAGE}"),
        }
    }
    options.backend = match (aws, data_file) {
        (true, Some(_)) => bail!("--aws and --data-file exclude each other"),
        (true, None) => Backend::Aws(AwsSetup::from_env()?),
        (false, data_file) => Backend::Embedded { data_file },
    };
    Ok(Some(options))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(options) = parse_args()? else {
        print!("{USAGE}");
        return Ok(());
    };
    sfbridge_core::telemetry::init_local();
    let on_aws = matches!(options.backend, Backend::Aws(_));
    let stack = sfbridge_local::start(options).await?;
    let base = &stack.base_url;
    println!("sfbridge local stack listening on {base}");
    println!("  admin API       {base}/v1/tenants/{{tenant}}/...");
    println!("  admin token     {}", stack.admin_token);
    println!("  OAuth callback  {base}/oauth/callback   (the Callback URL to register in an External Client App)");
    println!("  demo opener     {base}/demo   (plays the product's settings page: paste a connect_url, click Connect)");
    match (&stack.queue_urls, on_aws) {
        (Some(urls), _) => {
            println!("  queues          SQS: activity {}", urls.activity);
            println!("                  dead-letter {}", urls.activity_dead_letter);
            println!("                  inbound {}", urls.inbound);
        }
        (None, true) => println!(
            "  queues          in-process (set SFBRIDGE_ACTIVITY_QUEUE_URL, SFBRIDGE_ACTIVITY_DLQ_URL and \
             SFBRIDGE_INBOUND_QUEUE_URL to use SQS)"
        ),
        (None, false) => {}
    }
    if let Some(demo) = &stack.demo_app {
        println!();
        print!("{}", sfbridge_local::banner::demo_app(demo));
        print!("{}", sfbridge_local::banner::try_it(base, &stack.admin_token, demo));
    }
    stack.wait().await
}
