//! What the benches share: the machine they ran on, how busy it was, and PASS/MISS.
//! (`benches/common/mod.rs`, not `benches/common.rs`: a file of its own would be a bench.)

pub fn machine() -> (String, usize) {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == "model name").then(|| value.trim().to_string())
            })
        })
        .unwrap_or_else(|| "an unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    (model, cores)
}

/// Busy CPU time of the whole machine (all cores, interrupts aside), in seconds, from /proc/stat.
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .filter_map(|field| field.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal. Interrupt time is left out: the loopback
    // traffic of the bench itself is mostly processed in softirq, charged to no process.
    let busy: u64 = [0, 1, 2, 7]
        .iter()
        .filter_map(|&index| fields.get(index))
        .sum();
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then(|| busy as f64 / ticks as f64)
}

pub fn verdict(pass: bool) -> &'static str {
    if pass {
        "PASS"
    } else {
        "MISS"
    }
}

/// `command` without the caller's tollgate, AWS, log and proxy settings: a bench records into
/// its own files, never the database of the person running it.
pub fn hermetic(command: &mut std::process::Command) -> &mut std::process::Command {
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let upper = name.to_ascii_uppercase();
        let proxy = matches!(
            upper.as_str(),
            "HTTP_PROXY" | "HTTPS_PROXY" | "ALL_PROXY" | "NO_PROXY"
        );
        if upper.starts_with("TOLLGATE_")
            || upper.starts_with("AWS_")
            || upper == "RUST_LOG"
            || proxy
        {
            command.env_remove(name);
        }
    }
    command
}

/// The median of `values` (sorted in place); the mean of the two middle ones for an even count.
#[allow(dead_code)] // not every bench that shares this module takes medians
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    if values.len() % 2 == 0 {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}
