//! Which local process owns the other end of a TCP connection, from `/proc` (Linux): the client
//! of a proxied call. Best effort: `None` when the socket is gone or belongs to another user.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A client process: its pid and a short command line (program and first argument).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientProcess {
    pub pid: u32,
    pub command: String,
}

/// The process whose socket has local address `client` (the address the proxy sees as its
/// peer).
pub fn client_process(client: SocketAddr) -> Option<ClientProcess> {
    let inode = socket_inode(client)?;
    let target = format!("socket:[{inode}]");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let owns = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .map(|link| link.as_os_str() == target.as_str())
                .unwrap_or(false)
        });
        if owns {
            return Some(ClientProcess {
                pid,
                command: short_command(pid),
            });
        }
    }
    None
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

fn socket_inode(local: SocketAddr) -> Option<u64> {
    let table = match local.ip() {
        IpAddr::V4(_) => "/proc/net/tcp",
        IpAddr::V6(_) => "/proc/net/tcp6",
    };
    let text = std::fs::read_to_string(table).ok()?;
    text.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let address = parse_address(fields.get(1)?)?;
        (address == local).then(|| fields.get(9)?.parse().ok())?
    })
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
