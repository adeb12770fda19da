//! Peak resident memory for the benches (Linux `/proc`).

/// Resident memory now and at its peak since the last reset, in KiB.
pub fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Resets the peak (`VmHWM`) to the current resident size.
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Checks the instrument: touching 32 MB must show in the peak. The kernel
/// folds each thread's page counts into the process's at intervals, so the
/// peak may lag by a few MB: at least 24 MB must show.
pub fn check_peak_follows_rss() {
    reset_peak();
    let (before, _) = rss_kib();
    let probe = std::hint::black_box(vec![1u8; 32 << 20]);
    let (_, peak) = rss_kib();
    drop(probe);
    assert!(peak >= before + 24 * 1024, "VmHWM does not follow the resident size ({before} → {peak} KiB)");
}
