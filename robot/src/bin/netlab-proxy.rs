//! `netlab-proxy --listen 127.0.0.1:9000 --upstream 10.77.0.1:8080 --delay-ms 8 --jitter-ms 4`: a TCP
//! forwarder that adds delay and jitter to each direction (`robot::netlab`), for `scripts/wifi_lab.sh`
//! on kernels without `tc netem`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

/// Forwards TCP connections, delaying each direction by --delay-ms ± --jitter-ms (uniform).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Address to accept connections on.
    #[arg(long)]
    listen: SocketAddr,
    /// Address every connection is forwarded to.
    #[arg(long)]
    upstream: SocketAddr,
    /// Added delay per direction, in milliseconds.
    #[arg(long, default_value_t = 0.0)]
    delay_ms: f64,
    /// Uniform jitter around the delay, in milliseconds (the stream stays in order).
    #[arg(long, default_value_t = 0.0)]
    jitter_ms: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let ms = |v: f64, flag: &str| {
        anyhow::ensure!(v.is_finite() && v >= 0.0, "{flag} must be 0 or more milliseconds");
        Ok(Duration::from_secs_f64(v / 1e3))
    };
    let delay =
        robot::netlab::Delay { delay: ms(cli.delay_ms, "--delay-ms")?, jitter: ms(cli.jitter_ms, "--jitter-ms")? };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(cli.listen).await?;
        eprintln!("netlab-proxy: {} -> {}, {:?} ± {:?} each way", cli.listen, cli.upstream, delay.delay, delay.jitter);
        robot::netlab::forward(listener, cli.upstream, delay, cli.seed).await
    })?;
    Ok(())
}
