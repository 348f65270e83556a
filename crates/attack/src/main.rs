//! Owns `ringvpn-flood`: the hostile traffic generator of the flood tests (tests/net/flood.test.ts)
//! and benches/attack. It sends junk at a member's UDP port as fast as asked and prints what it
//! sent as one JSON line. It must never be linked into a node or aimed outside a lab namespace.
//!
//! Kinds (`--kind`):
//! - `junk-init`: type 1 handshake initiations of 148..548 random bytes (a bad mac1).
//! - `mac1-init`: 148-byte initiations with a valid mac1 for `--pubkey` (anyone who knows a
//!   member's public key can make these; only the cookie mechanism keeps them from costing DH).
//! - `inits`: junk-init and mac1-init alternately (mac1-init needs `--pubkey`).
//! - `data`: DATA frames (type 4) with random receiver indices, counters and bodies.
//! - `mixed`: all of the above plus random bytes of every type and length.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use blake2::{Blake2s256, Digest};
use hmac::{Mac, SimpleHmac};

struct Args {
    target: SocketAddr,
    kind: String,
    rate: u64,
    seconds: f64,
    threads: usize,
    sources: Vec<String>,
    pubkey: Option<[u8; 32]>,
}

fn usage() -> ! {
    eprintln!(
        "usage: ringvpn-flood --target IP:PORT [--kind junk-init|mac1-init|inits|data|mixed] [--rate N/s, 0 = as fast as possible]\n\
         \x20                   [--seconds S] [--threads T] [--sources IP,IP,...] [--pubkey BASE64 (mac1-init)]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        target: "127.0.0.1:51820".parse().unwrap_or_else(|_| usage()),
        kind: "junk-init".into(),
        rate: 0,
        seconds: 5.0,
        threads: 1,
        sources: vec![],
        pubkey: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.chunks(2);
    for pair in &mut it {
        let [k, v] = pair else { usage() };
        match k.as_str() {
            "--target" => a.target = v.parse().unwrap_or_else(|_| usage()),
            "--kind" => a.kind = v.clone(),
            "--rate" => a.rate = v.parse().unwrap_or_else(|_| usage()),
            "--seconds" => a.seconds = v.parse().unwrap_or_else(|_| usage()),
            "--threads" => a.threads = v.parse::<usize>().unwrap_or_else(|_| usage()).max(1),
            "--sources" => a.sources = v.split(',').map(str::to_string).collect(),
            "--pubkey" => a.pubkey = Some(decode_key(v).unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    if !["junk-init", "mac1-init", "inits", "data", "mixed"].contains(&a.kind.as_str()) {
        usage()
    }
    if (a.kind == "mac1-init" || a.kind == "inits") && a.pubkey.is_none() {
        eprintln!("ringvpn-flood: --kind {} needs --pubkey", a.kind);
        std::process::exit(2)
    }
    a
}

fn decode_key(s: &str) -> Option<[u8; 32]> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::with_capacity(33);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = A.iter().position(|&x| x == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out.try_into().ok()
}

/// xorshift64*: fast, not cryptographic (junk only has to be unpredictable to nobody).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn fill(&mut self, b: &mut [u8]) {
        for c in b.chunks_mut(8) {
            let r = self.next().to_le_bytes();
            c.copy_from_slice(&r[..c.len()]);
        }
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The mac1 of ts/handshake/frames.ts: HMAC-BLAKE2s(BLAKE2s("mac1----" || pub), body)[..16].
fn mac1(key: &[u8; 32], body: &[u8]) -> [u8; 16] {
    let mut m = <SimpleHmac<Blake2s256> as Mac>::new_from_slice(key).expect("any key length");
    m.update(body);
    let full = m.finalize().into_bytes();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

fn datagram(kind: &str, rng: &mut Rng, mac_key: Option<&[u8; 32]>, buf: &mut [u8]) -> usize {
    let kind = match kind {
        "mixed" => ["junk-init", "data", "random", "mac1-init"]
            [rng.below(if mac_key.is_some() { 4 } else { 3 }) as usize],
        "inits" => ["junk-init", "mac1-init"][rng.below(2) as usize],
        k => k,
    };
    let kind = if kind == "mac1-init" && mac_key.is_none() {
        "random"
    } else {
        kind
    };
    match kind {
        "junk-init" => {
            let n = 148 + rng.below(401) as usize;
            rng.fill(&mut buf[..n]);
            buf[..4].copy_from_slice(&[1, 0, 0, 0]);
            n
        }
        "mac1-init" => {
            // header 8, Noise IK message 1 without a certificate 108, mac1 16, mac2 16 (zero)
            let n = 148;
            rng.fill(&mut buf[..n]);
            buf[..4].copy_from_slice(&[1, 0, 0, 0]);
            let m = mac1(mac_key.expect("checked"), &buf[..116]);
            buf[116..132].copy_from_slice(&m);
            buf[132..148].fill(0);
            n
        }
        "data" => {
            let n = 32 + rng.below(1369) as usize;
            rng.fill(&mut buf[..n]);
            buf[..4].copy_from_slice(&[4, 0, 0, 0]);
            n
        }
        _ => {
            let n = 1 + rng.below(1500) as usize;
            rng.fill(&mut buf[..n]);
            buf[0] = rng.below(9) as u8;
            n
        }
    }
}

fn main() {
    let a = parse_args();
    let mac_key: Option<[u8; 32]> = a.pubkey.map(|pk| {
        let mut h = Blake2s256::new();
        h.update(b"mac1----");
        h.update(pk);
        h.finalize().into()
    });
    let sources = if a.sources.is_empty() {
        vec!["0.0.0.0".to_string()]
    } else {
        a.sources.clone()
    };
    let mut sockets = Vec::new();
    for s in &sources {
        let sock = UdpSocket::bind((s.as_str(), 0)).unwrap_or_else(|e| {
            eprintln!("ringvpn-flood: cannot bind {s}: {e}");
            std::process::exit(1)
        });
        sock.connect(a.target).unwrap_or_else(|e| {
            eprintln!("ringvpn-flood: cannot reach {}: {e}", a.target);
            std::process::exit(1)
        });
        sockets.push(sock);
    }
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(a.seconds);
    let per_thread = a.rate / a.threads as u64;
    let handles: Vec<_> = (0..a.threads)
        .map(|t| {
            let socks: Vec<UdpSocket> = sockets
                .iter()
                .map(|s| s.try_clone().expect("clone socket"))
                .collect();
            let kind = a.kind.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15
                    ^ ((t as u64 + 1) << 32)
                    ^ start.elapsed().as_nanos() as u64);
                let mut buf = [0u8; 1500];
                let (mut sent, mut failed) = (0u64, 0u64);
                let t0 = Instant::now();
                loop {
                    let now = Instant::now();
                    if now >= until {
                        break;
                    }
                    if per_thread > 0 {
                        let due = (now - t0).as_secs_f64() * per_thread as f64;
                        if (sent + failed) as f64 >= due {
                            std::thread::sleep(Duration::from_micros(200));
                            continue;
                        }
                    }
                    for _ in 0..32 {
                        let n = datagram(&kind, &mut rng, mac_key.as_ref(), &mut buf);
                        let s = &socks[rng.below(socks.len() as u64) as usize];
                        match s.send(&buf[..n]) {
                            Ok(_) => sent += 1,
                            Err(_) => failed += 1,
                        }
                    }
                }
                (sent, failed)
            })
        })
        .collect();
    let (mut sent, mut failed) = (0u64, 0u64);
    for h in handles {
        let (s, f) = h.join().unwrap_or((0, 0));
        sent += s;
        failed += f;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"kind\":\"{}\",\"sent\":{sent},\"failed\":{failed},\"seconds\":{secs:.3},\"rate\":{:.0}}}",
        a.kind,
        sent as f64 / secs
    );
}
