//! Finding every occurrence of a few bytes in a buffer where they are dense (a delimiter every
//! few bytes of CSV). `memchr`'s iterators restart their vector search after each match, which
//! costs more than the match when matches are a few bytes apart; here each 64-byte block is
//! compared once against all needles into a bit mask, and the matches are its set bits.

/// Positions in `bytes` of any of four needle bytes, in order.
pub struct Matches<'a> {
    bytes: &'a [u8],
    needles: [u8; 4],
    /// Offset of the block `mask` describes.
    block: usize,
    /// Matches of that block not yet returned (bit `i`: position `block + i`).
    mask: u64,
}

const BLOCK: usize = 64;

impl<'a> Matches<'a> {
    /// Needles may repeat (three distinct bytes: pass one twice).
    pub fn new(bytes: &'a [u8], needles: [u8; 4]) -> Self {
        let mask = block_mask(bytes, 0, &needles);
        Matches { bytes, needles, block: 0, mask }
    }
}

impl Iterator for Matches<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            self.block += BLOCK;
            if self.block >= self.bytes.len() {
                return None;
            }
            self.mask = block_mask(self.bytes, self.block, &self.needles);
        }
        let at = self.block + self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(at)
    }
}

/// The matches among `bytes[start..start + 64]` (fewer at the end of `bytes`).
#[inline]
fn block_mask(bytes: &[u8], start: usize, needles: &[u8; 4]) -> u64 {
    match bytes.get(start..).and_then(<[u8]>::first_chunk::<BLOCK>) {
        Some(block) => full_block_mask(block, needles),
        None => {
            let tail = bytes.get(start..).unwrap_or_default();
            if tail.is_empty() {
                return 0;
            }
            let mut padded = [0u8; BLOCK];
            padded[..tail.len()].copy_from_slice(tail);
            // Bits past the end stand for padding, not input.
            full_block_mask(&padded, needles) & (u64::MAX >> (BLOCK - tail.len()))
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn full_block_mask(block: &[u8; BLOCK], needles: &[u8; 4]) -> u64 {
    use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8};
    let mut mask = 0u64;
    // SAFETY: SSE2 is part of every x86_64 target, so its intrinsics are available; each load
    // reads 16 bytes of `lane` and has no alignment requirement.
    unsafe {
        let [a, b, c, d] = needles.map(|n| _mm_set1_epi8(n as i8));
        for (i, lane) in block.chunks_exact(16).enumerate() {
            let v = _mm_loadu_si128(lane.as_ptr().cast::<__m128i>());
            let hits = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, a), _mm_cmpeq_epi8(v, b)),
                _mm_or_si128(_mm_cmpeq_epi8(v, c), _mm_cmpeq_epi8(v, d)),
            );
            mask |= u64::from(_mm_movemask_epi8(hits) as u16) << (16 * i);
        }
    }
    mask
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn full_block_mask(block: &[u8; BLOCK], needles: &[u8; 4]) -> u64 {
    block.iter().enumerate().fold(0u64, |mask, (i, byte)| mask | (u64::from(needles.contains(byte)) << i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_a_byte_by_byte_search_finds() {
        // Lengths around the block size, needles at the edges of blocks and of the input.
        for len in [0, 1, 15, 16, 63, 64, 65, 127, 128, 129, 200] {
            let bytes: Vec<u8> = (0..len).map(|i| [b'a', b',', b'x', b'\n', b'"', 0][(i * 7 + i / 3) % 6]).collect();
            for needles in [[b',', b'\n', b'"', 0], [b',', b'\n', b'\n', 0], [b'|', b'|', b'|', b'|']] {
                let expected: Vec<usize> = (0..len).filter(|&i| needles.contains(&bytes[i])).collect();
                assert_eq!(Matches::new(&bytes, needles).collect::<Vec<_>>(), expected, "len {len} {needles:?}");
            }
        }
    }
}
