//! Lower-case hex, for the few byte strings that travel as text: the round nonce in the private
//! challenge parameters, the table's versions and keys, decoy stand-in addresses, log references.

/// `bytes` as lower-case hex.
pub fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Exactly `N` bytes from `2 * N` hex digits (either case), or `None` for anything else. Outside
/// input reaches this (the private challenge parameters, table items): it never panics.
pub fn decode<const N: usize>(s: &str) -> Option<[u8; N]> {
    // Digits only: `from_str_radix` alone would also take a sign ("+0").
    if s.len() != 2 * N || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let b = [0u8, 1, 0xab, 0xff];
        assert_eq!(encode(&b), "0001abff");
        assert_eq!(decode::<4>("0001abff"), Some(b));
        assert_eq!(decode::<4>("0001ABFF"), Some(b));
        assert_eq!(decode::<4>("0001abf"), None);
        assert_eq!(decode::<4>("0001abfg"), None);
        assert_eq!(decode::<4>("+001abff"), None);
        assert_eq!(decode::<2>("ééé"), None);
        assert_eq!(decode::<2>("é0"), None);
    }
}
