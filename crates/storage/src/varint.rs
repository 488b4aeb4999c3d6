//! LEB128 varints and zigzag: the integer encoding of the WAL, the time columns and the
//! message codec.

/// Appends `v` as an unsigned LEB128 varint.
#[inline]
pub(crate) fn put_u64(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` zigzag-encoded, so small negative numbers stay short.
#[inline]
pub(crate) fn put_i64(out: &mut Vec<u8>, v: i64) {
    put_u64(out, zigzag(v));
}

/// Maps a signed value to an unsigned one with small magnitudes near zero.
#[inline]
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline]
pub(crate) fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// Reads a varint at `*pos`, advancing it; `None` if truncated or longer than 10 bytes.
#[inline]
pub(crate) fn get(buf: &[u8], pos: &mut usize) -> Option<u64> {
    // Most values in the columns are deltas that fit one byte.
    let b = *buf.get(*pos)?;
    if b < 0x80 {
        *pos += 1;
        return Some(u64::from(b));
    }
    get_long(buf, pos)
}

/// [`get`] for varints of two bytes or more.
#[inline]
fn get_long(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// A cursor over encoded bytes; every read is bounds-checked and returns `None` past the end.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        get(self.buf, &mut self.pos)
    }

    pub(crate) fn i64(&mut self) -> Option<i64> {
        self.u64().map(unzigzag)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(values in proptest::collection::vec(any::<i64>(), 0..50), u in any::<u64>()) {
            let mut buf = Vec::new();
            put_u64(&mut buf, u);
            for &v in &values {
                put_i64(&mut buf, v);
            }
            let mut r = Reader::new(&buf);
            prop_assert_eq!(r.u64(), Some(u));
            for &v in &values {
                prop_assert_eq!(r.i64(), Some(v));
            }
            prop_assert!(r.is_empty());
            prop_assert_eq!(r.u64(), None);
        }
    }

    #[test]
    fn overlong_varint_is_rejected() {
        assert_eq!(Reader::new(&[0xff; 11]).u64(), None);
    }
}
