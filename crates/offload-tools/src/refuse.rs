//! `ringvpn-refuse [--tun-offload] [--uso] [--udp-gro] -- CMD ARGS...`: runs CMD under a seccomp
//! filter that makes the kernel refuse the chosen offloads, as a kernel without them would: the
//! TUNSETOFFLOAD ioctl fails with EINVAL (`--uso`: only when it asks for the TCP offloads together
//! with USO4 and USO6, as before Linux 6.2), setsockopt(SOL_UDP, UDP_GRO) with ENOPROTOOPT
//! (kernels before 5.0). Every other system call passes. Test tooling only: never part of a node.

use std::os::unix::process::CommandExt;
use std::process::{exit, Command};

/// linux/if_tun.h: _IOW('T', 208, unsigned int)
const TUNSETOFFLOAD: u32 = 0x4004_54d0;
/// linux/if_tun.h: TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6
const TCP_AND_USO: u32 = 0x67;
/// linux/udp.h
const UDP_GRO: u32 = 104;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

// struct seccomp_data: nr at 0, arch at 4, instruction pointer at 8, args[i] at 16 + 8 i (the
// low 32 bits first on these little-endian targets)
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const fn off_arg(i: u32) -> u32 {
    16 + 8 * i
}

const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;

/// One refusal: system call `nr` whose 32-bit arguments match `args` fails with `errno`.
struct Rule {
    nr: u32,
    args: Vec<(u32, u32)>,
    errno: i32,
}

fn ins(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The filter: another architecture's calls pass; each rule is a block that either returns its
/// errno or jumps past itself; the end allows.
fn program(rules: &[Rule]) -> Vec<libc::sock_filter> {
    let mut p = vec![
        ins(BPF_LD_W_ABS, 0, 0, OFF_ARCH),
        ins(BPF_JEQ_K, 1, 0, AUDIT_ARCH),
        ins(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ];
    for r in rules {
        let len = 2 + 2 * r.args.len() + 1;
        p.push(ins(BPF_LD_W_ABS, 0, 0, OFF_NR));
        p.push(ins(BPF_JEQ_K, 0, (len - 2) as u8, r.nr));
        for (i, &(arg, value)) in r.args.iter().enumerate() {
            let at = 2 + 2 * i + 1; // the jump's place in the block
            p.push(ins(BPF_LD_W_ABS, 0, 0, off_arg(arg)));
            p.push(ins(BPF_JEQ_K, 0, (len - at - 1) as u8, value));
        }
        p.push(ins(
            BPF_RET_K,
            0,
            0,
            SECCOMP_RET_ERRNO | (r.errno as u32 & 0xffff),
        ));
    }
    p.push(ins(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW));
    p
}

fn usage() -> ! {
    eprintln!("usage: ringvpn-refuse [--tun-offload] [--uso] [--udp-gro] -- CMD [ARGS...]");
    exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(sep) = args.iter().position(|a| a == "--") else {
        usage()
    };
    let (flags, cmd) = (&args[..sep], &args[sep + 1..]);
    if cmd.is_empty() {
        usage();
    }
    let mut rules = Vec::new();
    for f in flags {
        match f.as_str() {
            "--tun-offload" => rules.push(Rule {
                nr: libc::SYS_ioctl as u32,
                args: vec![(1, TUNSETOFFLOAD)],
                errno: libc::EINVAL,
            }),
            "--uso" => rules.push(Rule {
                nr: libc::SYS_ioctl as u32,
                args: vec![(1, TUNSETOFFLOAD), (2, TCP_AND_USO)],
                errno: libc::EINVAL,
            }),
            "--udp-gro" => rules.push(Rule {
                nr: libc::SYS_setsockopt as u32,
                args: vec![(1, libc::SOL_UDP as u32), (2, UDP_GRO)],
                errno: libc::ENOPROTOOPT,
            }),
            _ => usage(),
        }
    }
    let mut filter = program(&rules);
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: prctl with integer arguments; the filter outlives the call, which copies it.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog,
            ) != 0
        {
            eprintln!(
                "ringvpn-refuse: seccomp: {}",
                std::io::Error::last_os_error()
            );
            exit(1);
        }
    }
    let e = Command::new(&cmd[0]).args(&cmd[1..]).exec();
    eprintln!("ringvpn-refuse: {}: {e}", cmd[0]);
    exit(127)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the filter program on one system call, as the kernel would.
    fn run(p: &[libc::sock_filter], nr: u32, args: [u32; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&AUDIT_ARCH.to_le_bytes());
        for (i, a) in args.iter().enumerate() {
            let o = off_arg(i as u32) as usize;
            data[o..o + 4].copy_from_slice(&a.to_le_bytes());
        }
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = p[pc];
            match i.code {
                BPF_LD_W_ABS => {
                    let k = i.k as usize;
                    acc = u32::from_le_bytes(data[k..k + 4].try_into().unwrap());
                    pc += 1;
                }
                BPF_JEQ_K => pc += 1 + usize::from(if acc == i.k { i.jt } else { i.jf }),
                BPF_RET_K => return i.k,
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    #[test]
    fn the_filter_refuses_exactly_the_chosen_calls() {
        let rules = [
            Rule {
                nr: libc::SYS_ioctl as u32,
                args: vec![(1, TUNSETOFFLOAD)],
                errno: libc::EINVAL,
            },
            Rule {
                nr: libc::SYS_setsockopt as u32,
                args: vec![(1, 17), (2, UDP_GRO)],
                errno: libc::ENOPROTOOPT,
            },
        ];
        let p = program(&rules);
        let ioctl = libc::SYS_ioctl as u32;
        let sso = libc::SYS_setsockopt as u32;
        assert_eq!(
            run(&p, ioctl, [3, TUNSETOFFLOAD, 7, 0, 0, 0]),
            SECCOMP_RET_ERRNO | libc::EINVAL as u32
        );
        assert_eq!(
            run(&p, ioctl, [3, 0x400454ca, 7, 0, 0, 0]),
            SECCOMP_RET_ALLOW,
            "TUNSETIFF passes"
        );
        assert_eq!(
            run(&p, sso, [3, 17, UDP_GRO, 0, 0, 0]),
            SECCOMP_RET_ERRNO | libc::ENOPROTOOPT as u32
        );
        assert_eq!(
            run(&p, sso, [3, 1, UDP_GRO, 0, 0, 0]),
            SECCOMP_RET_ALLOW,
            "another level passes"
        );
        assert_eq!(
            run(&p, sso, [3, 17, 103, 0, 0, 0]),
            SECCOMP_RET_ALLOW,
            "another option passes"
        );
        assert_eq!(
            run(&p, libc::SYS_read as u32, [3, TUNSETOFFLOAD, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(
            run(&program(&[]), ioctl, [3, TUNSETOFFLOAD, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
    }
}
