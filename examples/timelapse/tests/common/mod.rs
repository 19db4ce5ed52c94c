//! The service under test: built in-process on a fresh data dir and served
//! on 127.0.0.1:0 by a runtime of its own, so that blocking tests (curl,
//! Chromium) and async ones (reqwest) drive it alike.
#![allow(dead_code)] // Each test binary uses its own part of this.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cached_etag::Stats;
use timelapse::{AppState, Config};

/// How long a test waits for something that should happen at once (an
/// event to be applied, a child process to finish) before it fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A running service. Dropping it shuts the service down.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The service's state: its cache, database and event channel.
    pub state: AppState,
    /// Where its database lives.
    pub data_dir: PathBuf,
    keep_data: bool,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// A service on a fresh data dir, sending stats every 200 ms.
    pub fn start() -> Server {
        Server::start_in(Config::fresh_data_dir())
    }

    /// A service on `data_dir` (kept if it exists).
    pub fn start_in(data_dir: PathBuf) -> Server {
        Server::start_with(data_dir, None)
    }

    /// A service on `data_dir` sharing entries through the Redis at `redis`.
    pub fn start_with(data_dir: PathBuf, redis: Option<String>) -> Server {
        Server::start_config(Config {
            stats_interval: Duration::from_millis(200),
            redis,
            ..Config::new(&data_dir)
        })
    }

    /// A service set up as `config` says.
    pub fn start_config(config: Config) -> Server {
        let data_dir = config.data_dir.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let state = timelapse::build(&config).await.expect("service builds");
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                let addr = listener.local_addr()?;
                ready_tx
                    .send((addr, state.clone()))
                    .expect("the test waits for the server");
                timelapse::serve(listener, state, async {
                    let _ = stopped.await;
                })
                .await
            })
        });
        let (addr, state) = ready_rx.recv().expect("server started");
        Server {
            base: format!("http://{addr}"),
            state,
            data_dir,
            keep_data: false,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The cache's counters now.
    pub fn stats(&self) -> Stats {
        self.state.cache.stats()
    }

    /// The counters right after a write answered, which must already satisfy
    /// `done`: a write's `#[invalidates]` applies its event to the cache
    /// before the response is sent, so a client reading after its write
    /// never gets what the write replaced.
    pub fn settle(&self, what: &str, done: impl Fn(&Stats) -> bool) -> Stats {
        let stats = self.stats();
        assert!(
            done(&stats),
            "{what} was not applied when the write answered; stats: {stats:?}"
        );
        stats
    }

    /// Shuts the service down gracefully and waits for it, failing if it
    /// does not stop within [`PATIENCE`]. Returns the data dir, kept for a
    /// restart.
    pub fn shutdown(mut self) -> PathBuf {
        self.stop_and_join();
        self.keep_data = true;
        self.data_dir.clone()
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let deadline = Instant::now() + PATIENCE;
            while !thread.is_finished() {
                assert!(Instant::now() < deadline, "the service did not shut down");
                std::thread::sleep(Duration::from_millis(10));
            }
            thread
                .join()
                .expect("server thread")
                .expect("server ran cleanly");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failing test is already unwinding: do not wait, just signal.
        if std::thread::panicking() {
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
            return;
        }
        self.stop_and_join();
        if !self.keep_data {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}
