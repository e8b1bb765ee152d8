//! Randomness, only from the operating system's CSPRNG.
//!
//! Codes and nonces are drawn with `getrandom`, which reads the kernel's generator directly
//! (`getrandom(2)` on Linux). There is no user-space generator to seed, fork or misuse.

/// Fills `buf` from the OS CSPRNG.
///
/// # Panics
/// Only if the operating system cannot provide randomness at all, which on Linux means a kernel
/// without `getrandom(2)` (older than 3.17). Continuing without randomness would be worse.
pub fn fill(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the OS CSPRNG is unavailable");
}

/// A uniformly random integer in `lo..=hi`, for jitter (not for secrets).
pub fn jitter_millis(lo: u64, hi: u64) -> u64 {
    let mut b = [0u8; 8];
    fill(&mut b);
    let span = hi.saturating_sub(lo) + 1;
    lo + u64::from_le_bytes(b) % span
}
