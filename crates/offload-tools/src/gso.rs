//! `ringvpn-gso send --to IP:PORT --size S --segments K --sends N [--gap-us G]` sends N UDP_SEGMENT
//! (GSO) messages of K datagrams of S bytes each; `ringvpn-gso recv --port P --size S [--idle-ms I]`
//! counts what arrives and checks each datagram's length and bytes. Each prints one JSON line.
//! Datagram j carries its number (8 bytes, little-endian) and then bytes (j + i) mod 256, so a
//! merged, split or damaged datagram shows. Test tooling only: it must never be part of a node.

use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::exit;
use std::time::{Duration, Instant};

/// linux/udp.h: the segment size of a GSO send, as a socket option at SOL_UDP.
const UDP_SEGMENT: libc::c_int = 103;

fn usage() -> ! {
    eprintln!(
        "usage: ringvpn-gso send --to IP:PORT --size S --segments K --sends N [--gap-us G]\n       ringvpn-gso recv --port P --size S [--idle-ms I]"
    );
    exit(2)
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: Option<T>) -> T {
    match args
        .iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
    {
        Some(v) => v.parse().unwrap_or_else(|_| usage()),
        None => default.unwrap_or_else(|| usage()),
    }
}

fn fill(buf: &mut [u8], j: u64) {
    buf[..8].copy_from_slice(&j.to_le_bytes());
    for (i, b) in buf.iter_mut().enumerate().skip(8) {
        *b = (j as usize).wrapping_add(i) as u8;
    }
}

fn intact(buf: &[u8], size: usize) -> Option<u64> {
    if buf.len() != size || size < 8 {
        return None;
    }
    let j = u64::from_le_bytes(buf[..8].try_into().ok()?);
    let ok = buf
        .iter()
        .enumerate()
        .skip(8)
        .all(|(i, &b)| b == (j as usize).wrapping_add(i) as u8);
    ok.then_some(j)
}

fn setopt(
    s: &UdpSocket,
    level: libc::c_int,
    opt: libc::c_int,
    v: libc::c_int,
) -> std::io::Result<()> {
    // SAFETY: setsockopt with a valid int pointer and length.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            level,
            opt,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn send(args: &[String]) {
    let to: SocketAddr = arg(args, "--to", None);
    let size: usize = arg(args, "--size", None);
    let segments: usize = arg(args, "--segments", None);
    let sends: usize = arg(args, "--sends", None);
    let gap = Duration::from_micros(arg(args, "--gap-us", Some(0)));
    if size < 8 || segments == 0 || size * segments > 65_000 {
        eprintln!("ringvpn-gso: --size must be at least 8 and size × segments at most 65,000");
        exit(2);
    }
    let s =
        UdpSocket::bind(if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }).unwrap_or_else(|e| {
            eprintln!("ringvpn-gso: bind: {e}");
            exit(1)
        });
    if let Err(e) = setopt(&s, libc::SOL_UDP, UDP_SEGMENT, size as libc::c_int) {
        eprintln!("ringvpn-gso: UDP_SEGMENT: {e}");
        exit(1);
    }
    let mut buf = vec![0u8; size * segments];
    let (mut datagrams, mut failed) = (0u64, 0u64);
    for k in 0..sends {
        for (i, d) in buf.chunks_mut(size).enumerate() {
            fill(d, (k * segments + i) as u64);
        }
        match s.send_to(&buf, to) {
            Ok(_) => datagrams += segments as u64,
            Err(_) => failed += 1,
        }
        if !gap.is_zero() {
            std::thread::sleep(gap);
        }
    }
    println!("{{\"datagrams\":{datagrams},\"sends\":{sends},\"failed\":{failed}}}");
}

fn recv(args: &[String]) {
    let port: u16 = arg(args, "--port", None);
    let size: usize = arg(args, "--size", None);
    let idle = Duration::from_millis(arg(args, "--idle-ms", Some(2_000)));
    let s = UdpSocket::bind(("0.0.0.0", port)).unwrap_or_else(|e| {
        eprintln!("ringvpn-gso: bind: {e}");
        exit(1)
    });
    // room for a burst while this process waits for the CPU (FORCE needs CAP_NET_ADMIN)
    let _ = setopt(&s, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 32 << 20)
        .or_else(|_| setopt(&s, libc::SOL_SOCKET, libc::SO_RCVBUF, 32 << 20));
    println!("{{\"ready\":true}}");
    let mut buf = vec![0u8; 65_536];
    let (mut datagrams, mut bytes, mut bad) = (0u64, 0u64, 0u64);
    let mut seen = HashSet::new();
    let mut last = Instant::now();
    // until `idle` passes with nothing (the first datagram may take up to 30 s)
    let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
    loop {
        match s.recv(&mut buf) {
            Ok(n) => {
                datagrams += 1;
                bytes += n as u64;
                match intact(&buf[..n], size) {
                    Some(j) => {
                        seen.insert(j);
                    }
                    None => bad += 1,
                }
                last = Instant::now();
            }
            Err(_) => {
                let wait = if datagrams == 0 {
                    Duration::from_secs(30)
                } else {
                    idle
                };
                if last.elapsed() >= wait {
                    break;
                }
            }
        }
    }
    println!(
        "{{\"datagrams\":{datagrams},\"bytes\":{bytes},\"bad\":{bad},\"distinct\":{}}}",
        seen.len()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("send") => send(&args[1..]),
        Some("recv") => recv(&args[1..]),
        _ => usage(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_check_their_number_length_and_bytes() {
        let mut d = vec![0u8; 100];
        fill(&mut d, 77);
        assert_eq!(intact(&d, 100), Some(77));
        assert_eq!(intact(&d[..99], 100), None, "shortened");
        d[50] ^= 1;
        assert_eq!(intact(&d, 100), None, "damaged");
        let mut two = vec![0u8; 200];
        fill(&mut two[..100], 1);
        fill(&mut two[100..], 2);
        assert_eq!(intact(&two, 100), None, "merged");
    }
}
