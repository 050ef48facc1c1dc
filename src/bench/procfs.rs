//! What Linux says about a running process: resident memory and how often its threads
//! were woken (context switches), from `/proc`.

use std::fs;

/// A process's counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    /// Resident set size, KiB (`VmRSS`).
    pub rss_kib: u64,
    /// Voluntary context switches summed over every thread: each is a thread going to
    /// sleep after it ran, so their growth over a window counts wake-ups.
    pub voluntary: u64,
    /// Involuntary switches (preemption) summed over every thread.
    pub involuntary: u64,
    pub threads: u64,
}

/// Reads `pid`'s memory and context switches; `None` if the process is gone.
pub fn sample(pid: u32) -> Option<Sample> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut s = Sample {
        rss_kib: field(&status, "VmRSS:")?,
        ..Sample::default()
    };
    for task in fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let Ok(t) = fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        s.voluntary += field(&t, "voluntary_ctxt_switches:").unwrap_or(0);
        s.involuntary += field(&t, "nonvoluntary_ctxt_switches:").unwrap_or(0);
        s.threads += 1;
    }
    Some(s)
}

/// Resident memory in KiB of `pid` and all its descendants (npx runs node under a shell).
pub fn tree_rss_kib(pid: u32) -> Option<u64> {
    let mut total = sample(pid)?.rss_kib;
    for child in children(pid) {
        total += tree_rss_kib(child).unwrap_or(0);
    }
    Some(total)
}

/// CPU time (user + system) this process has used, seconds.
pub fn self_cpu_secs() -> Option<f64> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at state, field 3.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// CPU time the whole machine spent busy (not idle, not waiting for I/O), seconds.
pub fn machine_busy_secs() -> Option<f64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let f: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = f.iter().take(8).sum();
    let idle = f.get(3)? + f.get(4)?;
    Some((total - idle) as f64 / 100.0)
}

/// The machine's memory, KiB.
pub fn mem_total_kib() -> Option<u64> {
    field(&fs::read_to_string("/proc/meminfo").ok()?, "MemTotal:")
}

fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        if let Ok(list) = fs::read_to_string(task.path().join("children")) {
            out.extend(
                list.split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
    }
    out
}

fn field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let s = sample(std::process::id()).expect("/proc is mounted");
        assert!(s.rss_kib > 0 && s.threads >= 1);
        assert!(self_cpu_secs().is_some() && machine_busy_secs().is_some());
    }
}
