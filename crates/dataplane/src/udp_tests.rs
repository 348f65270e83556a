//! Tests of udp.rs on loopback: batches, GSO runs by destination and size, GRO runs split back
//! into their datagrams, address storage round trips.

use super::*;

#[test]
fn batch_round_trip_on_loopback() {
    let a = bind("127.0.0.1:0".parse().expect("addr"), None).expect("bind a");
    let b = bind("127.0.0.1:0".parse().expect("addr"), None).expect("bind b");
    let to = b.local_addr().expect("addr");
    let bufs: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 100 + usize::from(i)]).collect();
    let mut sb = SendBatch::new();
    for buf in &bufs {
        assert!(sb.push(buf, &to));
    }
    let (mut failed, mut bytes, mut pkts) = (0, 0, 0);
    sb.flush(a.as_raw_fd(), &mut failed, &mut bytes, &mut pkts)
        .expect("flush");
    assert_eq!((failed, pkts, bytes), (0, 5, 510));
    let mut rb = RecvBatch::new(2048);
    let mut meta = [Received::EMPTY; BATCH];
    let mut got = 0;
    for _ in 0..100 {
        match rb.recv(b.as_raw_fd(), &mut meta) {
            Ok(n) => {
                for m in &meta[..n] {
                    assert_eq!(m.from, a.local_addr().ok());
                    assert!(!m.truncated);
                }
                for (i, m) in meta[..n].iter().enumerate() {
                    assert_eq!(&rb.bufs[i][..m.len], &bufs[got + i][..]);
                }
                got += n;
                if got == 5 {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(got, 5);
}

/// Receive `want` datagrams on `b` (polling), in order.
fn recv_all(b: &UdpSocket, want: usize) -> Vec<(Vec<u8>, Option<SocketAddr>)> {
    let mut rb = RecvBatch::new(2048);
    let mut meta = [Received::EMPTY; BATCH];
    let mut got = Vec::new();
    for _ in 0..200 {
        match rb.recv(b.as_raw_fd(), &mut meta) {
            Ok(n) => {
                for (i, m) in meta[..n].iter().enumerate() {
                    got.push((rb.bufs[i][..m.len].to_vec(), m.from));
                }
                if got.len() >= want {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            Err(e) => panic!("{e}"),
        }
    }
    got
}

#[test]
fn gso_runs_by_destination_and_size() {
    let a = bind("127.0.0.1:0".parse().expect("addr"), None).expect("bind a");
    let b = bind("127.0.0.1:0".parse().expect("addr"), None).expect("bind b");
    let c = bind("127.0.0.1:0".parse().expect("addr"), None).expect("bind c");
    let (tb, tc) = (b.local_addr().expect("addr"), c.local_addr().expect("addr"));
    // to b: 4 of 300 bytes and a last one of 120 (one GSO message); to c: 2 of 300; to b: 1
    let sizes = [300usize, 300, 300, 300, 120, 300, 300, 50];
    let bufs: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| vec![i as u8; n])
        .collect();
    let dest = |i: usize| if (5..7).contains(&i) { tc } else { tb };
    let mut sb = SendBatch::new();
    for (i, buf) in bufs.iter().enumerate() {
        assert!(sb.push(buf, &dest(i)));
    }
    let (mut failed, mut bytes, mut pkts) = (0, 0, 0);
    sb.flush(a.as_raw_fd(), &mut failed, &mut bytes, &mut pkts)
        .expect("flush");
    assert_eq!(
        (failed, pkts, bytes),
        (0, 8, sizes.iter().sum::<usize>() as u64)
    );
    assert_eq!(
        (sb.gso_sends, sb.gso_refused),
        (2, 0),
        "b's run of 5 and c's run of 2"
    );
    let at_b = recv_all(&b, 6);
    let want_b: Vec<Vec<u8>> = [0, 1, 2, 3, 4, 7]
        .iter()
        .map(|&i| bufs[i].clone())
        .collect();
    assert_eq!(
        at_b.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>(),
        want_b,
        "each datagram whole, in order"
    );
    assert!(at_b.iter().all(|(_, f)| *f == a.local_addr().ok()));
    assert_eq!(recv_all(&c, 2).len(), 2);
    // the same without GSO: one message each, the same datagrams
    let mut plain = SendBatch::new().without_gso();
    for (i, buf) in bufs.iter().enumerate() {
        plain.push(buf, &dest(i));
    }
    let (mut failed, mut bytes, mut pkts) = (0, 0, 0);
    plain
        .flush(a.as_raw_fd(), &mut failed, &mut bytes, &mut pkts)
        .expect("flush");
    assert_eq!((failed, pkts, plain.gso_sends), (0, 8, 0));
    assert_eq!(recv_all(&b, 6).len(), 6);
    // datagrams above the learned segment limit (EMSGSIZE: bigger than the route's MTU) go
    // one per message; smaller ones still in runs
    let mut capped = SendBatch::new().with_gso_segment_limit(299);
    let small = [vec![9u8; 200], vec![9u8; 200], vec![9u8; 200]];
    for buf in bufs.iter().chain(&small) {
        capped.push(buf, &tb);
    }
    let (mut failed, mut bytes, mut pkts) = (0, 0, 0);
    capped
        .flush(a.as_raw_fd(), &mut failed, &mut bytes, &mut pkts)
        .expect("flush");
    assert_eq!(
        (failed, pkts, capped.gso_sends),
        (0, 11, 1),
        "only the 200-byte run"
    );
    let got = recv_all(&b, 11);
    assert_eq!(
        got.iter().map(|(d, _)| d.len()).collect::<Vec<_>>(),
        [&sizes[..], &[200, 200, 200]].concat()
    );
}

#[test]
fn gro_delivers_a_run_as_one_buffer_split_by_datagrams() {
    let a = bind("127.0.0.1:0".parse().expect("addr"), None).expect("bind a");
    let b = bind("127.0.0.1:0".parse().expect("addr"), None).expect("bind b");
    assert!(enable_gro(&b), "this kernel has UDP GRO");
    let to = b.local_addr().expect("addr");
    let bufs: Vec<Vec<u8>> = (0..5u8)
        .map(|i| vec![i; if i == 4 { 90 } else { 300 }])
        .collect();
    let mut sb = SendBatch::new();
    for buf in &bufs {
        sb.push(buf, &to);
    }
    let (mut failed, mut bytes, mut pkts) = (0, 0, 0);
    sb.flush(a.as_raw_fd(), &mut failed, &mut bytes, &mut pkts)
        .expect("flush");
    assert_eq!(sb.gso_sends, 1);
    let mut rb = RecvBatch::new(65_536);
    let mut meta = [Received::EMPTY; BATCH];
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut runs = 0;
    for _ in 0..200 {
        match rb.recv(b.as_raw_fd(), &mut meta) {
            Ok(n) => {
                for (i, m) in meta[..n].iter().enumerate() {
                    runs += usize::from(m.seg > 0);
                    for d in m.datagrams() {
                        got.push(rb.bufs[i][d].to_vec());
                    }
                }
                if got.len() >= 5 {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(got, bufs, "the run split back into its datagrams, in order");
    assert_eq!(runs, 1, "delivered as one GRO buffer");
    let one = Received {
        len: 10,
        from: None,
        truncated: false,
        seg: 0,
    };
    assert_eq!(one.datagrams().collect::<Vec<_>>(), vec![0..10]);
    assert_eq!(Received::EMPTY.datagrams().count(), 0);
}

#[test]
fn storage_round_trip() {
    for s in ["127.0.0.1:9", "[fd00::1]:443", "10.1.2.3:65535"] {
        let a: SocketAddr = s.parse().expect("addr");
        let mut st: libc::sockaddr_storage = unsafe { zeroed() };
        to_storage(&a, &mut st);
        assert_eq!(from_storage(&st), Some(a));
    }
}

#[test]
fn fwmark_on_the_socket() {
    let addr = "127.0.0.1:0".parse().expect("addr");
    match bind(addr, Some(0x5256)) {
        Ok(s) => assert_eq!(socket2::SockRef::from(&s).mark().expect("SO_MARK"), 0x5256),
        // without CAP_NET_ADMIN the kernel refuses the mark, and bind says so
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "{e}"),
    }
    let s = bind(addr, None).expect("bind");
    assert_eq!(socket2::SockRef::from(&s).mark().expect("SO_MARK"), 0);
}
