//! Benchmarks ChaCha20-Poly1305 implementations: seal + open of one 1,400-byte packet, in
//! place, with a warm per-session key (what the hot path does). Run:
//! `cargo bench -p ringvpn-core --features aws-lc --bench aead` (drop the feature if aws-lc-sys does not build).

use std::time::Instant;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ringvpn_core::aead::{Aead, RingAead, RustCryptoAead};
use ringvpn_core::frame::{HEADER_LEN, TAG_LEN, TYPE_DATA};
use ringvpn_core::session::{Session, SessionKeys};

const PACKET: usize = 1400;

fn seal_open<A: Aead>(c: &mut Criterion) {
    let a = A::new(&[0x42; 32]);
    let aad = [4u8; HEADER_LEN];
    let mut buf = vec![0x5au8; PACKET + TAG_LEN];
    let mut counter = 0u64;
    let mut g = c.benchmark_group("seal_open_1400");
    g.throughput(Throughput::Bytes(PACKET as u64));
    g.bench_function(A::NAME, |b| {
        b.iter(|| {
            counter += 1;
            let tag = a.seal_in_place(counter, &aad, &mut buf[..PACKET]);
            buf[PACKET..].copy_from_slice(&tag);
            let n = a
                .open_in_place(counter, &aad, black_box(&mut buf[..]))
                .expect("opens");
            black_box(n)
        })
    });
    g.finish();
}

fn session_seal_open(c: &mut Criterion) {
    let now = Instant::now();
    let ka = SessionKeys {
        local_index: 1,
        remote_index: 2,
        send_key: [1; 32],
        recv_key: [2; 32],
        initiator: true,
    };
    let kb = SessionKeys {
        local_index: 2,
        remote_index: 1,
        send_key: [2; 32],
        recv_key: [1; 32],
        initiator: false,
    };
    let (a, b) = (
        Session::<RingAead>::new(&ka, now),
        Session::<RingAead>::new(&kb, now),
    );
    let mut buf = vec![0x5au8; HEADER_LEN + PACKET + TAG_LEN];
    let mut g = c.benchmark_group("session_seal_open_1400");
    g.throughput(Throughput::Bytes(PACKET as u64));
    g.bench_function("ring+replay", |bch| {
        bch.iter(|| {
            let n = a.seal(TYPE_DATA, &mut buf, PACKET, now).expect("seal");
            let r = b.open(black_box(&mut buf[..n]), now).expect("open");
            black_box(r)
        })
    });
    g.finish();
}

fn all(c: &mut Criterion) {
    seal_open::<RingAead>(c);
    seal_open::<RustCryptoAead>(c);
    #[cfg(feature = "aws-lc")]
    seal_open::<ringvpn_core::aead::AwsLcAead>(c);
    session_seal_open(c);
}

criterion_group!(benches, all);
criterion_main!(benches);
