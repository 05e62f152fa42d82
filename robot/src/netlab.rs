//! A TCP forwarder that delays each direction of every connection by a fixed delay plus uniform
//! jitter, for the Wi-Fi lab (`scripts/wifi_lab.sh`) on kernels without `tc netem`. Packet loss is
//! not its job: the lab drops real packets with nftables, so TCP really retransmits.
//!
//! Each chunk read from one side is written to the other at `arrival + delay ± jitter`, but never
//! before the chunk ahead of it (a TCP stream stays in order, so jitter shows as a delay that varies,
//! as it does on a real link). Buffers are bounded: a side that stops reading holds the other back.

use std::net::SocketAddr;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// One direction's delay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Delay {
    pub delay: Duration,
    pub jitter: Duration,
}

impl Delay {
    fn sample(&self, rng: &mut impl Rng) -> Duration {
        let j = self.jitter.as_secs_f64();
        let d = self.delay.as_secs_f64() + if j > 0.0 { rng.random_range(-j..=j) } else { 0.0 };
        Duration::from_secs_f64(d.max(0.0))
    }
}

/// Chunks in flight per direction before the reader waits.
const IN_FLIGHT: usize = 1024;

async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Delay, seed: u64) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT);
    let writer = tokio::spawn(async move {
        while let Some((at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut last = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let at = (Instant::now() + delay.sample(&mut rng)).max(last);
        last = at;
        if tx.send((at, buf[..n].to_vec())).await.is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// Forwards every connection accepted on `listener` to `upstream`, each direction delayed by `delay`.
/// Runs until the listener fails.
pub async fn forward(listener: TcpListener, upstream: SocketAddr, delay: Delay, seed: u64) -> std::io::Result<()> {
    for n in 0u64.. {
        let (down, _) = listener.accept().await?;
        tokio::spawn(async move {
            let Ok(up) = TcpStream::connect(upstream).await else { return };
            let _ = (down.set_nodelay(true), up.set_nodelay(true));
            let (down_r, down_w) = down.into_split();
            let (up_r, up_w) = up.into_split();
            let seed = seed.wrapping_add(n.wrapping_mul(2));
            let to_server = tokio::spawn(pipe(down_r, up_w, delay, seed));
            pipe(up_r, down_w, delay, seed + 1).await;
            let _ = to_server.await;
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on loopback; its address.
    async fn echo() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn proxied(delay: Delay) -> TcpStream {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(forward(l, echo().await, delay, 7));
        let s = TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        s
    }

    #[tokio::test]
    async fn each_direction_is_delayed_and_the_stream_stays_in_order() {
        let d = Delay { delay: Duration::from_millis(15), jitter: Duration::ZERO };
        let mut s = proxied(d).await;
        let t = std::time::Instant::now();
        s.write_all(b"ping").await.unwrap();
        let mut back = [0u8; 4];
        s.read_exact(&mut back).await.unwrap();
        let rtt = t.elapsed();
        assert_eq!(&back, b"ping");
        // Two proxy hops each way (there and back), at least 15 ms each.
        assert!(rtt >= Duration::from_millis(30) && rtt < Duration::from_secs(2), "{rtt:?}");

        // With jitter as large as the delay, many small writes still arrive whole and in order.
        let mut s = proxied(Delay { delay: Duration::from_millis(2), jitter: Duration::from_millis(2) }).await;
        let sent: Vec<u8> = (0..=255u8).cycle().take(4000).collect();
        for chunk in sent.chunks(40) {
            s.write_all(chunk).await.unwrap();
        }
        let mut got = vec![0u8; sent.len()];
        tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut got)).await.unwrap().unwrap();
        assert_eq!(got, sent);
    }
}
