//! LEB128 varints and zigzag, shared by the variants.

/// Appends `v` as an LEB128 varint.
#[inline]
pub(super) fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads an LEB128 varint at `*pos`, advancing it; `None` if truncated or longer than 10 bytes.
#[inline]
pub(super) fn get(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0u32;
    loop {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f).checked_shl(shift)?;
        if b < 0x80 {
            return Some(v);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

/// Maps a signed delta to an unsigned value with small magnitudes near zero.
#[inline]
pub(super) fn zigzag(d: i64) -> u64 {
    ((d << 1) ^ (d >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline]
pub(super) fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let mut buf = Vec::new();
        let vals = [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX];
        for &v in &vals {
            put(&mut buf, v);
        }
        let mut pos = 0;
        for &v in &vals {
            assert_eq!(get(&buf, &mut pos), Some(v));
        }
        assert_eq!(get(&buf, &mut pos), None);
        for d in [0, 1, -1, i64::MAX, i64::MIN, 12345, -12345] {
            assert_eq!(unzigzag(zigzag(d)), d);
        }
    }

    #[test]
    fn rejects_overlong() {
        let mut pos = 0;
        assert_eq!(get(&[0xff; 11], &mut pos), None);
    }
}
