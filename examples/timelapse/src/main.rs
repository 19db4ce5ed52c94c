//! `cargo run -p timelapse -- [--port N] [--data-dir DIR] [--redis URL]
//! [--watch-ms N]`: the timelapse service on 127.0.0.1 (port 3000, or
//! `PORT`), logging as `RUST_LOG` says, until Ctrl-C. With `--redis`,
//! several instances share entries and invalidations. Every 250 ms (or
//! `--watch-ms`; 0 turns it off) it checks whether another process wrote to
//! the database.
//!
//! `cargo run -p timelapse -- capture --data-dir DIR [--camera N]
//! [--every-ms N] [--count N]`: the capture worker, a separate process
//! that records images into the service's database (camera 1, one a
//! second, until stopped).
#![forbid(unsafe_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use timelapse::Config;
use tracing_subscriber::EnvFilter;

const USAGE: &str =
    "usage: timelapse [--port N] [--data-dir DIR] [--redis redis://HOST:PORT] [--watch-ms N]
       timelapse capture --data-dir DIR [--camera N] [--every-ms N] [--count N]";

struct Args {
    port: u16,
    data_dir: Option<PathBuf>,
    redis: Option<String>,
    watch: Option<Duration>,
}

/// The capture worker's arguments.
struct Capture {
    data_dir: PathBuf,
    camera: i64,
    every: Duration,
    count: u64,
}

fn number<T: std::str::FromStr>(name: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{name} {text} is not a number"))
}

fn parse_capture(mut args: impl Iterator<Item = String>) -> Result<Capture, String> {
    let mut data_dir = None;
    let (mut camera, mut every, mut count) = (1, Duration::from_secs(1), u64::MAX);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--data-dir" => data_dir = Some(PathBuf::from(value("--data-dir")?)),
            "--camera" => camera = number("--camera", &value("--camera")?)?,
            "--every-ms" => {
                every = Duration::from_millis(number("--every-ms", &value("--every-ms")?)?);
            }
            "--count" => count = number("--count", &value("--count")?)?,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    let data_dir = data_dir.ok_or(format!("capture needs --data-dir\n{USAGE}"))?;
    if every.is_zero() {
        return Err("--every-ms must be at least 1".to_owned());
    }
    Ok(Capture {
        data_dir,
        camera,
        every,
        count,
    })
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
    let mut watch = Some(Duration::from_millis(250));
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
            "--watch-ms" => {
                let ms: u64 = number("--watch-ms", &value("--watch-ms")?)?;
                watch = (ms > 0).then(|| Duration::from_millis(ms));
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(Args {
        port,
        data_dir,
        redis,
        watch,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    if std::env::args().nth(1).as_deref() == Some("capture") {
        return match parse_capture(std::env::args().skip(2)) {
            Err(message) => {
                eprintln!("{message}");
                ExitCode::FAILURE
            }
            Ok(capture) => {
                let done = timelapse::capture::run(
                    &capture.data_dir,
                    capture.camera,
                    capture.every,
                    capture.count,
                )
                .await;
                match done {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(error) => {
                        tracing::error!(%error, "capture failed");
                        ExitCode::FAILURE
                    }
                }
            }
        };
    }
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
        watch: args.watch,
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
