//! End-to-end test on the loopback underlay: two engines with their own TUN (or TAP)
//! devices, packets injected/captured with AF_PACKET sockets bound to those devices
//! (helpers in common/). The devices get no addresses, so no route of the namespace changes.
//! Needs root; otherwise each test prints why it skipped and passes.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ringvpn_core::DropReason;
use ringvpn_dataplane::device::{if_index, if_ipv4};
use ringvpn_dataplane::{DeviceMode, Engine, EngineConfig, Event, PeerOpts, SessionKeys};

mod common;
use common::*;

fn link(a: &Engine, b: &Engine) {
    let (ka, kb) = (
        SessionKeys {
            local_index: 11,
            remote_index: 22,
            send_key: [7; 32],
            recv_key: [8; 32],
            initiator: true,
        },
        SessionKeys {
            local_index: 22,
            remote_index: 11,
            send_key: [8; 32],
            recv_key: [7; 32],
            initiator: false,
        },
    );
    a.set_peer(
        1,
        Some(b.local_addr()),
        vec!["239.255.77.0/24".parse().expect("net")],
        PeerOpts::default(),
    )
    .expect("peer a");
    // B does not know A's endpoint yet: it learns it from the first authenticated packet.
    b.set_peer(
        1,
        None,
        vec!["10.201.0.1/32".parse().expect("net")],
        PeerOpts::default(),
    )
    .expect("peer b");
    a.set_session(1, &ka).expect("session a");
    b.set_session(1, &kb).expect("session b");
}

#[test]
fn tun_engines_forward_over_loopback() {
    if !can_run() {
        return;
    }
    let (na, nb) = (name("a"), name("b"));
    let (a, _) = engine(DeviceMode::Tun, &na);
    let (b, b_wakeups) = engine(DeviceMode::Tun, &nb);
    link(&a, &b);
    let (pa, ia) = packet_socket(&na, true);
    let (pb, _) = packet_socket(&nb, true);

    let pkt = multicast_udp([10, 201, 0, 1], b"through the tunnel");
    inject(&pa, ia, ETH_P_IP, &pkt);
    let got = capture(&pb, |p| p == &pkt[..]);
    assert!(
        got.is_some(),
        "packet crossed A -> B; stats A {:?} B {:?}",
        a.stats(),
        b.stats()
    );
    let ev = wait_events(&b, 1);
    assert_eq!(
        ev,
        vec![Event::Endpoint {
            peer: 1,
            addr: a.local_addr()
        }]
    );
    assert!(b_wakeups.load(Ordering::SeqCst) >= 1);

    // Spoofed inner source is dropped and counted at B.
    inject(
        &pa,
        ia,
        ETH_P_IP,
        &multicast_udp([10, 201, 0, 99], b"spoof"),
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    while b.stats().drops[DropReason::SourceNotAllowed as usize].1 == 0 && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(b.stats().drops[DropReason::SourceNotAllowed as usize].1, 1);

    // Control frames, keepalives and raw handshake frames in both directions.
    b.send_control(1, b"hello control").expect("control");
    a.send_keepalive(1).expect("keepalive");
    a.send_frame(b.local_addr(), &[1, 2, 3]).expect("raw frame");
    let ev = wait_events(&a, 1);
    assert_eq!(
        ev,
        vec![Event::Control {
            peer: 1,
            data: b"hello control".to_vec()
        }]
    );
    let ev = wait_events(&b, 1);
    assert_eq!(
        ev,
        vec![Event::Handshake {
            from: a.local_addr(),
            data: vec![1, 2, 3]
        }]
    );

    let sa = a.stats();
    let sb = b.stats();
    assert!(sa.tx_packets >= 3 && sb.rx_packets >= 4, "{sa:?} {sb:?}");
    let pb1 = &sb.peers[0];
    assert_eq!(
        (pb1.peer, pb1.endpoint, pb1.sessions),
        (1, Some(a.local_addr()), 1)
    );
    assert!(pb1.rx_packets >= 3 && pb1.last_rx_ms.is_some() && pb1.last_handshake_ms.is_some());

    // Unknown peer / no session errors carry stable codes.
    assert_eq!(a.send_control(9, b"x").map_err(|e| e.code()), Err("E_PEER"));
    assert!(a.remove_session(11));
    assert_eq!(
        a.send_control(1, b"x").map_err(|e| e.code()),
        Err("E_SESSION")
    );
    inject(&pa, ia, ETH_P_IP, &pkt);
    let ev = wait_events(&a, 1);
    assert_eq!(ev, vec![Event::NeedSession { peer: 1 }]);

    // Clean shutdown: threads joined, device gone, further sends refused.
    a.shutdown();
    b.shutdown();
    assert_eq!(if_index(&na), 0, "device removed on close");
    assert_eq!(a.send_keepalive(1).map_err(|e| e.code()), Err("E_CLOSED"));
    let _: SocketAddr = b.local_addr();
}

#[test]
fn tap_engine_answers_arp() {
    if !can_run() {
        return;
    }
    let n = name("t");
    let mut cfg = EngineConfig::new(DeviceMode::Tap, &n, "127.0.0.1:0".parse().expect("addr"));
    cfg.address = None;
    let e = Engine::start(cfg, Box::new(|| {})).expect("tap engine");
    e.set_peer(
        1,
        None,
        vec!["10.202.0.2/32".parse().expect("net")],
        PeerOpts::default(),
    )
    .expect("peer");
    let (p, idx) = packet_socket(&n, false);
    let asker = [0x02, 0xaa, 0, 0, 0, 1];
    let mut req = vec![0xff; 6];
    req.extend_from_slice(&asker);
    req.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    req.extend_from_slice(&asker);
    req.extend_from_slice(&[10, 202, 0, 1, 0, 0, 0, 0, 0, 0, 10, 202, 0, 2]);
    inject(&p, idx, 0x0806, &req);
    let reply = capture(&p, |f| {
        f.len() >= 42 && f[12..14] == [0x08, 0x06] && f[20..22] == [0, 2]
    })
    .expect("ARP reply");
    assert_eq!(&reply[0..6], &asker);
    assert_eq!(&reply[22..28], &[0x02, 0x52, 0x56, 0, 0, 1]);
    assert_eq!(&reply[28..32], &[10, 202, 0, 2]);
    e.shutdown();
}

/// Run `f` on a thread inside a fresh network namespace of its own (so assigning addresses
/// changes no route of the namespace the tests run in). `false` if namespaces are unavailable.
fn in_own_netns(f: impl FnOnce() + Send + 'static) -> bool {
    std::thread::spawn(move || {
        // SAFETY: unshare affects only this thread (and the engine threads it spawns).
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            eprintln!(
                "SKIP: unshare(CLONE_NEWNET) failed: {}",
                std::io::Error::last_os_error()
            );
            return false;
        }
        f();
        true
    })
    .join()
    .expect("netns test thread")
}

fn udp_v4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let mut p = multicast_udp(src, b"body");
    p[16..20].copy_from_slice(&dst);
    p[10..12].fill(0);
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&dport.to_be_bytes());
    p
}

#[test]
fn services_address_and_device_writes() {
    if !can_run() {
        return;
    }
    let ran = in_own_netns(|| {
        let n = name("s");
        let mut cfg = EngineConfig::new(DeviceMode::Tun, &n, "0.0.0.0:0".parse().expect("addr"));
        cfg.mtu = 1400;
        cfg.intercept_dhcp = true;
        cfg.service_address = Some("10.203.0.53".parse().expect("ip"));
        cfg.node_id = Some([9; 20]);
        let e = Engine::start(cfg, Box::new(|| {})).expect("engine");
        assert_eq!(if_ipv4(&n).expect("query"), None);
        // Runtime address: assigned on the interface and used by the engine.
        e.set_address(Some(("10.203.0.1".parse().expect("ip"), 24)), true)
            .expect("set address");
        assert_eq!(
            if_ipv4(&n).expect("query"),
            Some("10.203.0.1".parse().expect("ip"))
        );
        e.set_address(Some(("10.203.0.7".parse().expect("ip"), 16)), true)
            .expect("replace address");
        assert_eq!(
            if_ipv4(&n).expect("query"),
            Some("10.203.0.7".parse().expect("ip"))
        );
        e.set_address(Some(("10.203.0.8".parse().expect("ip"), 16)), false)
            .expect("engine-only address");
        assert_eq!(e.address(), Some(("10.203.0.8".parse().expect("ip"), 16)));
        assert_eq!(
            if_ipv4(&n).expect("query"),
            Some("10.203.0.7".parse().expect("ip"))
        );
        e.set_address(None, true).expect("clear");
        assert_eq!(if_ipv4(&n).expect("query"), None);
        assert_eq!(e.address(), None);

        let (p, idx) = packet_socket(&n, true);
        // DNS to the service address and a DHCP discover go up whole; a miss is reported.
        let dns = udp_v4([10, 203, 0, 8], [10, 203, 0, 53], 5353, 53);
        let dhcp = udp_v4([0, 0, 0, 0], [255, 255, 255, 255], 68, 67);
        let lost = udp_v4([10, 203, 0, 8], [10, 203, 0, 99], 5353, 9);
        for pkt in [&dns, &dhcp, &lost] {
            inject(&p, idx, ETH_P_IP, pkt);
        }
        let mut ev = wait_events(&e, 3);
        ev.retain(|x| !matches!(x, Event::Miss { dst } if dst.to_string() != "10.203.0.99"));
        assert_eq!(
            ev,
            vec![
                Event::Device { data: dns.clone() },
                Event::Device { data: dhcp.clone() },
                Event::Miss {
                    dst: "10.203.0.99".parse().expect("ip")
                },
            ]
        );
        assert_eq!(e.stats().device_intercepted, 2);

        // writeDevice: a frame comes out of the interface; bad lengths are refused and counted.
        let reply = multicast_udp([10, 203, 0, 53], b"reply");
        e.write_device(&reply).expect("write");
        assert!(
            capture(&p, |f| f == &reply[..]).is_some(),
            "written packet seen"
        );
        assert_eq!(
            e.write_device(&[0x45; 5]).map_err(|x| x.code()),
            Err("E_FRAME")
        );
        assert_eq!(
            e.write_device(&vec![0x45; 1401]).map_err(|x| x.code()),
            Err("E_FRAME")
        );
        assert_eq!(e.stats().drops[DropReason::DeviceWrite as usize].1, 2);
        assert_eq!(
            e.set_peer(
                3,
                None,
                vec![],
                PeerOpts {
                    via: Some(Some(3)),
                    ..PeerOpts::default()
                }
            )
            .map_err(|x| x.code()),
            Err("E_PEER")
        );
        e.shutdown();
        assert_eq!(
            e.write_device(&reply).map_err(|x| x.code()),
            Err("E_CLOSED")
        );
        assert_eq!(
            e.set_address(None, true).map_err(|x| x.code()),
            Err("E_CLOSED")
        );
    });
    if !ran {
        eprintln!("SKIP: services_address_and_device_writes needs its own network namespace");
    }
}
