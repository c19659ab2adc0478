//! The CRC-64 that ends an RDB file and a `DUMP` payload: Jones's
//! polynomial, reflected, starting at 0 with no final xor (Redis's
//! `crc64.c`), computed eight bytes at a time with the slicing-by-8 tables
//! Redis's `crcspeed.c` also uses.

/// The polynomial, bit-reflected (`0xad93d23594c935a9` reversed).
const POLY: u64 = 0x95ac_9329_ac4b_c9b5;

/// Eight tables of 256: `TABLES[0]` is the byte-at-a-time table, and
/// `TABLES[k][b]` is the CRC of byte `b` followed by `k` zero bytes.
static TABLES: [[u64; 256]; 8] = tables();

const fn tables() -> [[u64; 256]; 8] {
    let mut t = [[0u64; 256]; 8];
    let mut b = 0;
    while b < 256 {
        let mut crc = b as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        t[0][b] = crc;
        b += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut b = 0;
        while b < 256 {
            let prev = t[k - 1][b];
            t[k][b] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            b += 1;
        }
        k += 1;
    }
    t
}

/// Continues `crc` over `data`.
pub fn crc64(crc: u64, data: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if data.len() >= 64
        && std::arch::is_x86_feature_detected!("pclmulqdq")
        && std::arch::is_x86_feature_detected!("sse4.1")
    {
        // SAFETY: the CPU has the features the function is compiled for.
        let (crc, rest) = unsafe { clmul::fold(crc, data) };
        return crc64_tables(crc, rest);
    }
    crc64_tables(crc, data)
}

/// [`crc64`] eight bytes at a time through the tables.
fn crc64_tables(mut crc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let word = crc ^ u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        crc = TABLES[7][(word & 0xff) as usize]
            ^ TABLES[6][((word >> 8) & 0xff) as usize]
            ^ TABLES[5][((word >> 16) & 0xff) as usize]
            ^ TABLES[4][((word >> 24) & 0xff) as usize]
            ^ TABLES[3][((word >> 32) & 0xff) as usize]
            ^ TABLES[2][((word >> 40) & 0xff) as usize]
            ^ TABLES[1][((word >> 48) & 0xff) as usize]
            ^ TABLES[0][(word >> 56) as usize];
    }
    for &b in chunks.remainder() {
        crc = TABLES[0][((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

/// The CRC with carry-less multiplication, 16 bytes a step (Intel's "Fast
/// CRC Computation for Generic Polynomials Using PCLMULQDQ", for a
/// reflected CRC). In a register, bit `k` of a 128-bit value stands for
/// `x^(127-k)` (bit `i` of a 64-bit one for `x^(63-i)`), so a carry-less
/// product of two 64-bit values is the true product times `x`: each
/// constant is `x^(n-1) mod P` to make it `x^n`.
#[cfg(target_arch = "x86_64")]
mod clmul {
    use std::arch::x86_64::{
        __m128i, _mm_clmulepi64_si128, _mm_cvtsi128_si64, _mm_extract_epi64, _mm_loadu_si128,
        _mm_set_epi64x, _mm_srli_si128, _mm_xor_si128,
    };

    /// The polynomial without its `x^64`, in its normal bit order.
    const P: u64 = 0xad93_d235_94c9_35a9;

    /// `x^n mod P`, bit-reflected.
    const fn xpow(n: u32) -> u64 {
        let mut v: u64 = 1;
        let mut i = 0;
        while i < n {
            let carry = v >> 63;
            v <<= 1;
            if carry == 1 {
                v ^= P;
            }
            i += 1;
        }
        v.reverse_bits()
    }

    /// `floor(x^128 / P)` without its `x^64`, bit-reflected.
    const fn mu() -> u64 {
        let full: u128 = (1 << 64) | P as u128;
        let (mut r, mut q): (u128, u128) = (0, 0);
        let mut i = 129;
        while i > 0 {
            i -= 1;
            r = (r << 1) | (if i == 128 { 1 } else { 0 });
            if r >> 64 == 1 {
                r ^= full;
                q |= 1 << i;
            }
        }
        (q as u64).reverse_bits()
    }

    /// Folds 128 bits ahead: the high-degree half times `x^192`, the
    /// low-degree half times `x^128`.
    const FOLD: (u64, u64) = (xpow(191), xpow(127));
    const MU: u64 = mu();
    const POLY: u64 = P.reverse_bits();

    /// Folds `data`'s whole 16-byte blocks into `crc` (at least 16 bytes);
    /// returns the CRC so far and the bytes left.
    #[target_feature(enable = "pclmulqdq,sse4.1")]
    pub(super) unsafe fn fold(crc: u64, data: &[u8]) -> (u64, &[u8]) {
        let load = |b: &[u8]| {
            // SAFETY: `b` is 16 bytes; the load is unaligned.
            unsafe { _mm_loadu_si128(b.as_ptr().cast::<__m128i>()) }
        };
        let blocks = data.len() / 16;
        let k = _mm_set_epi64x(FOLD.1 as i64, FOLD.0 as i64);
        let mut s = _mm_xor_si128(load(&data[..16]), _mm_set_epi64x(0, crc as i64));
        for b in 1..blocks {
            let d = load(&data[16 * b..16 * b + 16]);
            let hi = _mm_clmulepi64_si128::<0x00>(s, k);
            let lo = _mm_clmulepi64_si128::<0x11>(s, k);
            s = _mm_xor_si128(_mm_xor_si128(hi, lo), d);
        }
        (reduce(s), &data[16 * blocks..])
    }

    /// The CRC of a 128-bit remainder `R`: `R * x^64 mod P`, by folding
    /// the high half down (`T = R_hi * x^128 + R_lo * x^64`) and Barrett
    /// reduction (`q = T_hi + floor(T_hi * mu / x^64)`, CRC = low 64 bits
    /// of `T + q * P`).
    #[target_feature(enable = "pclmulqdq,sse4.1")]
    fn reduce(s: __m128i) -> u64 {
        let k = _mm_set_epi64x(0, FOLD.1 as i64);
        let t = _mm_xor_si128(_mm_clmulepi64_si128::<0x00>(s, k), _mm_srli_si128::<8>(s));
        let t_hi = _mm_cvtsi128_si64(t) as u64;
        let t_lo = _mm_extract_epi64::<1>(t) as u64;
        let u = _mm_clmulepi64_si128::<0x00>(
            _mm_set_epi64x(0, t_hi as i64),
            _mm_set_epi64x(0, MU as i64),
        );
        let q = t_hi ^ ((_mm_cvtsi128_si64(u) as u64) << 1);
        let w = _mm_clmulepi64_si128::<0x00>(
            _mm_set_epi64x(0, q as i64),
            _mm_set_epi64x(0, POLY as i64),
        );
        let w_lo = _mm_cvtsi128_si64(w) as u64;
        let w_hi = _mm_extract_epi64::<1>(w) as u64;
        t_lo ^ (w_hi << 1 | w_lo >> 63)
    }
}

/// The payload `RESTORE` takes for a value of RDB object type `encoding`
/// serialized as `value` (as in an RDB file): the type byte and the value,
/// then the RDB version as 2 bytes little-endian, then the CRC-64 of all
/// that as 8 bytes little-endian. A server accepts it if it reads that RDB
/// version.
pub(super) fn restore_payload(encoding: u8, value: &[u8], version: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 11);
    out.push(encoding);
    out.extend_from_slice(value);
    out.extend_from_slice(&version.to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit by bit, as `crc64.c`'s generated `_crc64` does it.
    fn slow(data: &[u8]) -> u64 {
        let mut crc = 0u64;
        for &b in data {
            crc ^= u64::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ POLY
                } else {
                    crc >> 1
                };
            }
        }
        crc
    }

    #[test]
    fn matches_the_check_values_of_redis_crc64_test() {
        assert_eq!(crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        let li = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed \
do eiusmod tempor incididunt ut labore et dolore magna \
aliqua. Ut enim ad minim veniam, quis nostrud exercitation \
ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis \
aute irure dolor in reprehenderit in voluptate velit esse \
cillum dolore eu fugiat nulla pariatur. Excepteur sint \
occaecat cupidatat non proident, sunt in culpa qui officia \
deserunt mollit anim id est laborum.\0";
        assert_eq!(crc64(0, li), 0xc779_4709_e696_83b3);
    }

    #[test]
    fn the_carry_less_multiplication_agrees_with_the_tables() {
        let data: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in (0..300).chain([1000, 4095, 4096, 4097, 5000]) {
            for start in [0, 1, 7] {
                let d = &data[start..(start + len).min(data.len())];
                for crc in [0, 0x1234_5678_9abc_def0, u64::MAX] {
                    assert_eq!(
                        crc64(crc, d),
                        crc64_tables(crc, d),
                        "len {len} from {start}"
                    );
                }
            }
        }
    }

    #[test]
    fn continues_across_any_split_as_over_the_whole() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 251) as u8).collect();
        let whole = crc64(0, &data);
        assert_eq!(whole, slow(&data));
        for cut in [0, 1, 7, 8, 9, 500, 999, 1000] {
            assert_eq!(crc64(crc64(0, &data[..cut]), &data[cut..]), whole);
        }
    }

    #[test]
    fn builds_the_payload_dump_gives() {
        // Redis 7.0's DUMP of 100 a's (an LZF string, RDB version 10).
        let value = b"\xc3\t@d\x01aa\xe0W\x00\x01aa";
        let dump = b"\x00\xc3\t@d\x01aa\xe0W\x00\x01aa\n\x00\xe8\xa3\xb5\x07\xb0m\xf2q";
        assert_eq!(restore_payload(0, value, 10), dump);
    }
}
