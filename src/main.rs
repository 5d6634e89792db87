//! Entry point: parse the command line, load the settings, pick the runtime and run what was
//! asked. The service is put together in `url_shortener::startup`, the one composition root.

use clap::Parser;

use url_shortener::cli::{Cli, Command, run_api_key, run_healthcheck, run_user};
use url_shortener::config::{ServerRuntime, Settings};
use url_shortener::startup::{Application, workers_only};

/// mimalloc instead of glibc's malloc: a request makes dozens of small, short-lived allocations
/// across two worker threads (hyper, axum, the handler), where glibc's malloc/free and their
/// fastbin consolidation took 12% of a redirect's CPU (perf, memory store under wrk).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref())?;
    let threads = settings.server.threads();
    let serving = matches!(cli.command, None | Some(Command::Serve));
    // Sharded: requests run on threads of their own (serve_sharded); this runtime keeps only
    // the start, the signals and the background work, which one thread carries.
    let shards = (serving && threads > 1 && settings.server.runtime == ServerRuntime::Sharded)
        .then_some(threads);
    runtime(if shards.is_some() { 1 } else { threads })?.block_on(run(cli, settings, shards))
}

/// The async runtime of `threads` threads. With one, a current-thread runtime: a
/// work-stealing scheduler with one worker only adds cross-thread queues and wake-ups
/// (measured: about 5% of a redirect's CPU).
fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    builder.enable_all().build()
}

async fn run(cli: Cli, settings: Settings, shards: Option<usize>) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::ApiKey(command)) => run_api_key(command, &settings).await,
        Some(Command::User(command)) => run_user(command, &settings).await,
        Some(Command::Healthcheck { path }) => run_healthcheck(&settings, &path).await,
        Some(Command::Worker) => workers_only(&settings).await,
        Some(Command::Serve) | None => Application::build(&settings, shards).await?.run().await,
    }
}
