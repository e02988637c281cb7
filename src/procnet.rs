//! Facts about local processes: which one owns the other end of a TCP connection, from `/proc` (Linux): the client
//! of a proxied call. Best effort: `None` when the socket is gone or belongs to another user.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub use crate::record::ClientProcess;

/// This machine's name.
pub fn hostname() -> Option<String> {
    nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
}

/// Whether `pid` is alive and a tollgate process (a reused pid of something else is not).
pub fn is_tollgate_process(pid: i32) -> bool {
    if pid <= 0 || nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err() {
        return false;
    }
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|comm| comm.trim().starts_with("tollgate"))
        .unwrap_or(true)
}

/// The process whose socket has local address `client` (the address the proxy sees as its
/// peer).
pub fn client_process(client: SocketAddr) -> Option<ClientProcess> {
    client_processes(&[client]).remove(&client)
}

/// The processes owning the client ends of several connections, in one pass over the socket
/// tables and one over the processes' descriptors (each pass costs milliseconds on a busy
/// machine, so they are shared by all the connections looked up together).
pub fn client_processes(clients: &[SocketAddr]) -> HashMap<SocketAddr, ClientProcess> {
    let mut found = HashMap::new();
    let inodes = socket_inodes(clients);
    if inodes.is_empty() {
        return found;
    }
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in processes.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(link) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let inode = link
                .to_str()
                .and_then(|l| l.strip_prefix("socket:["))
                .and_then(|l| l.strip_suffix(']'))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(client) = inode.and_then(|inode| inodes.get(&inode)) {
                found.insert(
                    *client,
                    ClientProcess {
                        pid,
                        command: short_command(pid),
                    },
                );
                if found.len() == inodes.len() {
                    return found;
                }
            }
        }
    }
    found
}

/// `python sync.py`: the program's name and its first argument, which names a script; later
/// arguments may carry secrets and are not kept.
fn short_command(pid: u32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let mut parts = raw
        .split(|b| *b == 0)
        .filter(|part| !part.is_empty())
        .map(|part| String::from_utf8_lossy(part).into_owned());
    let program = parts
        .next()
        .map(|p| p.rsplit('/').next().unwrap_or(&p).to_string())
        .unwrap_or_default();
    let first = parts.next().filter(|arg| !arg.contains('='));
    let mut command = match first {
        Some(first) => format!("{program} {first}"),
        None => program,
    };
    command.truncate(200);
    command
}

/// Socket inode → the local address it was looked up for.
fn socket_inodes(locals: &[SocketAddr]) -> HashMap<u64, SocketAddr> {
    let mut inodes = HashMap::new();
    for (table, v4) in [("/proc/net/tcp", true), ("/proc/net/tcp6", false)] {
        if !locals.iter().any(|l| l.is_ipv4() == v4) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let mut fields = line.split_whitespace();
            let Some(address) = fields.nth(1).and_then(parse_address) else {
                continue;
            };
            if locals.contains(&address) {
                if let Some(inode) = fields.nth(7).and_then(|f| f.parse().ok()) {
                    inodes.insert(inode, address);
                }
            }
        }
    }
    inodes
}

/// `0100007F:1F90` (IPv4, each 32-bit word in the kernel's byte order) or 32 hex digits for IPv6.
fn parse_address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |hex: &str| u32::from_str_radix(hex, 16).ok().map(u32::to_le_bytes);
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(ip)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(&ip[i * 8..i * 8 + 8])?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_addresses() {
        assert_eq!(
            parse_address("0100007F:1F90"),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            parse_address("00000000000000000000000001000000:0050"),
            Some("[::1]:80".parse().unwrap())
        );
    }

    #[test]
    fn finds_the_process_holding_a_connection() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server_side, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        let found = client_process(peer).expect("this process owns the client socket");
        assert_eq!(found.pid, std::process::id());
        assert!(!found.command.is_empty());
    }
}
