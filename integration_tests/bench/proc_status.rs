//! One line of a live process's `/proc/PID/status`, for the benchmarks' memory figures.

/// The value in KiB of a memory line such as `VmRSS` or `VmHWM`; `None` once the process is gone.
pub fn kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?;
    line.split_whitespace().next()?.parse().ok()
}
