//! Benchmarks the one's-complement sum that splitting a TCP super-packet runs over every
//! segment (vnet::sum): one 1,400-byte segment. Run: `cargo bench -p ringvpn-core --bench checksum`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ringvpn_core::vnet::{fold, sum};

fn checksum(c: &mut Criterion) {
    let data: Vec<u8> = (0..1400u32).map(|i| (i * 31 + 7) as u8).collect();
    let mut g = c.benchmark_group("checksum_1400");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("vnet::sum", |b| b.iter(|| fold(sum(black_box(&data), 0))));
    g.finish();
}

criterion_group!(benches, checksum);
criterion_main!(benches);
