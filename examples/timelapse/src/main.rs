//! `cargo run -p timelapse -- [--port N] [--data-dir DIR] [--redis URL]`:
//! the timelapse service on 127.0.0.1 (port 3000, or `PORT`), logging as
//! `RUST_LOG` says, until Ctrl-C. With `--redis`, several instances share
//! entries and invalidations.
#![forbid(unsafe_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use timelapse::Config;
use tracing_subscriber::EnvFilter;

const USAGE: &str = "usage: timelapse [--port N] [--data-dir DIR] [--redis redis://HOST:PORT]";

struct Args {
    port: u16,
    data_dir: Option<PathBuf>,
    redis: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut port = match std::env::var("PORT") {
        Ok(text) => text
            .parse()
            .map_err(|_| format!("PORT={text} is not a port"))?,
        Err(_) => 3000,
    };
    let mut data_dir = None;
    let mut redis = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--port" => {
                let text = value("--port")?;
                port = text.parse().map_err(|_| format!("{text} is not a port"))?;
            }
            "--data-dir" => data_dir = Some(PathBuf::from(value("--data-dir")?)),
            "--redis" => redis = Some(value("--redis")?),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(Args {
        port,
        data_dir,
        redis,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "timelapse failed");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let data_dir = args.data_dir.unwrap_or_else(Config::fresh_data_dir);
    let config = Config {
        redis: args.redis,
        ..Config::new(data_dir)
    };
    let state = timelapse::build(&config).await?;
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port))).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    timelapse::serve(listener, state, async {
        // If the handler cannot be installed, run until killed instead.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
    .await?;
    Ok(())
}
