//! Hash functions: CRC32 (CRC-32C, as Redshift), FNV_HASH and MURMUR3_32_HASH over the values'
//! binary forms, FARMFINGERPRINT64, SHA1 and SHA2 as hex text. MD5 is DataFusion's.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    TimestampMicrosecondType,
};
use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::logical_expr::ScalarUDF;
use sha1::Digest;

use super::{Udf, arity, int_arg, is_text};

pub(super) fn udfs() -> Vec<ScalarUDF> {
    vec![
        Udf::new(
            "crc32",
            one_text,
            |_| Ok(DataType::Utf8),
            |a, _| Ok(hex_of(&a[0], |bytes| format!("{:08x}", crc32c::crc32c(bytes)))),
        )
        .build(),
        Udf::new("sha1", one_text, |_| Ok(DataType::Utf8), |a, _| Ok(hex_of(&a[0], |b| hex(&sha1::Sha1::digest(b)))))
            .aliases(&["sha", "func_sha1"])
            .build(),
        Udf::new("sha2", sha2_coerce, |_| Ok(DataType::Utf8), sha2).build(),
        Udf::new(
            "farmfingerprint64",
            one_text,
            |_| Ok(DataType::Int64),
            |a, _| {
                let texts = a[0].as_string::<i32>();
                Ok(Arc::new(
                    texts.iter().map(|t| t.map(|t| fingerprint64(t.as_bytes()) as i64)).collect::<Int64Array>(),
                ))
            },
        )
        .build(),
        Udf::new("fnv_hash", seeded_coerce, |_| Ok(DataType::Int64), fnv_hash).build(),
        Udf::new("murmur3_32_hash", seeded_coerce, |_| Ok(DataType::Int32), murmur3_hash).build(),
    ]
}

fn one_text(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 1..=1)?;
    Ok(vec![DataType::Utf8])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_of(texts: &ArrayRef, f: impl Fn(&[u8]) -> String) -> ArrayRef {
    Arc::new(texts.as_string::<i32>().iter().map(|t| t.map(|t| f(t.as_bytes()))).collect::<StringArray>())
}

fn sha2_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 2..=2)?;
    Ok(vec![DataType::Utf8, int_arg(name, &types[1])?])
}

/// `SHA2(text, bits)`: 0 means 256; a size SHA-2 does not have gives an empty string.
fn sha2(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let (texts, bits) = (args[0].as_string::<i32>(), args[1].as_primitive::<Int64Type>());
    let out = texts
        .iter()
        .zip(bits.iter())
        .map(|(t, bits)| {
            let b = t?.as_bytes();
            Some(match bits? {
                0 | 256 => hex(&sha2::Sha256::digest(b)),
                224 => hex(&sha2::Sha224::digest(b)),
                384 => hex(&sha2::Sha384::digest(b)),
                512 => hex(&sha2::Sha512::digest(b)),
                _ => String::new(),
            })
        })
        .collect::<StringArray>();
    Ok(Arc::new(out))
}

/// `(value [, seed])`: the value keeps its type (its binary form is hashed).
fn seeded_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 1..=2)?;
    let value = match &types[0] {
        t if is_text(t) => DataType::Utf8,
        t @ (DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64) => t.clone(),
        DataType::UInt8 | DataType::UInt16 => DataType::Int32,
        DataType::UInt32 | DataType::UInt64 => DataType::Int64,
        t @ (DataType::Float32 | DataType::Float64 | DataType::Boolean | DataType::Date32) => t.clone(),
        DataType::Decimal128(..) => types[0].clone(),
        DataType::Decimal256(p, s) => DataType::Decimal128((*p).min(38), *s),
        DataType::Timestamp(..) => super::TIMESTAMP,
        other => return plan_err!("function {name} cannot hash {other} values"),
    };
    let mut out = vec![value];
    if types.len() == 2 {
        out.push(int_arg(name, &types[1])?);
    }
    Ok(out)
}

/// The bytes of row `i` as Redshift hashes them for FNV_HASH: integers and floats in their
/// little-endian binary form by width, text as UTF-8 (trailing blanks included).
fn binary_form(array: &ArrayRef, i: usize) -> Vec<u8> {
    match array.data_type() {
        DataType::Int8 => (array.as_primitive::<Int8Type>().value(i) as i16).to_le_bytes().to_vec(),
        DataType::Int16 => array.as_primitive::<Int16Type>().value(i).to_le_bytes().to_vec(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(i).to_le_bytes().to_vec(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(i).to_le_bytes().to_vec(),
        DataType::Float32 => array.as_primitive::<Float32Type>().value(i).to_le_bytes().to_vec(),
        DataType::Float64 => array.as_primitive::<Float64Type>().value(i).to_le_bytes().to_vec(),
        DataType::Boolean => vec![array.as_boolean().value(i) as u8],
        DataType::Date32 => array.as_primitive::<Date32Type>().value(i).to_le_bytes().to_vec(),
        DataType::Timestamp(..) => array.as_primitive::<TimestampMicrosecondType>().value(i).to_le_bytes().to_vec(),
        DataType::Decimal128(..) => array.as_primitive::<Decimal128Type>().value(i).to_le_bytes().to_vec(),
        _ => match cast(&array.slice(i, 1), &DataType::Utf8) {
            Ok(text) => text.as_string::<i32>().value(0).as_bytes().to_vec(),
            Err(_) => Vec::new(),
        },
    }
}

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a; the seed, when given, is the starting hash (so hashes chain).
fn fnv_hash(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let seeds = args.get(1).map(|s| s.as_primitive::<Int64Type>());
    let out = (0..args[0].len())
        .map(|i| {
            if args[0].is_null(i) || seeds.is_some_and(|s| s.is_null(i)) {
                return None;
            }
            let start = seeds.map_or(FNV_OFFSET_BASIS, |s| s.value(i) as u64);
            let hash = binary_form(&args[0], i).iter().fold(start, |h, b| (h ^ *b as u64).wrapping_mul(FNV_PRIME));
            Some(hash as i64)
        })
        .collect::<Int64Array>();
    Ok(Arc::new(out))
}

/// The bytes Apache Iceberg's spec hashes: integers and dates as 8-byte little-endian longs,
/// floats as doubles, text as UTF-8, decimals as their unscaled big-endian two's complement.
fn iceberg_form(array: &ArrayRef, i: usize) -> Vec<u8> {
    let long = |v: i64| v.to_le_bytes().to_vec();
    match array.data_type() {
        DataType::Int8 => long(array.as_primitive::<Int8Type>().value(i) as i64),
        DataType::Int16 => long(array.as_primitive::<Int16Type>().value(i) as i64),
        DataType::Int32 => long(array.as_primitive::<Int32Type>().value(i) as i64),
        DataType::Int64 => long(array.as_primitive::<Int64Type>().value(i)),
        DataType::Date32 => long(array.as_primitive::<Date32Type>().value(i) as i64),
        DataType::Timestamp(..) => long(array.as_primitive::<TimestampMicrosecondType>().value(i)),
        DataType::Boolean => long(array.as_boolean().value(i) as i64),
        DataType::Float32 => canonical_double(array.as_primitive::<Float32Type>().value(i) as f64),
        DataType::Float64 => canonical_double(array.as_primitive::<Float64Type>().value(i)),
        DataType::Decimal128(..) => {
            let bytes = array.as_primitive::<Decimal128Type>().value(i).to_be_bytes();
            // The shortest two's complement form that keeps the sign.
            let mut start = 0;
            while start < 15
                && ((bytes[start] == 0 && bytes[start + 1] < 0x80)
                    || (bytes[start] == 0xff && bytes[start + 1] >= 0x80))
            {
                start += 1;
            }
            bytes[start..].to_vec()
        }
        _ => binary_form(array, i),
    }
}

fn canonical_double(v: f64) -> Vec<u8> {
    let v = if v == 0.0 {
        0.0
    } else if v.is_nan() {
        f64::NAN
    } else {
        v
    };
    v.to_bits().to_le_bytes().to_vec()
}

fn murmur3_hash(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let seeds = args.get(1).map(|s| s.as_primitive::<Int64Type>());
    let out = (0..args[0].len())
        .map(|i| {
            if args[0].is_null(i) || seeds.is_some_and(|s| s.is_null(i)) {
                return None;
            }
            let seed = seeds.map_or(0, |s| s.value(i) as u32);
            Some(murmur3_32(&iceberg_form(&args[0], i), seed) as i32)
        })
        .collect::<Int32Array>();
    Ok(Arc::new(out))
}

/// MurmurHash3, x86 32-bit.
fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h = seed;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes(chunk.try_into().expect("4 bytes"));
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h = (h ^ k).rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut k = 0u32;
        for (i, b) in tail.iter().enumerate() {
            k |= (*b as u32) << (8 * i);
        }
        h ^= k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

// FarmHash Fingerprint64 (farmhashna::Hash64), as Redshift's FARMFINGERPRINT64.

const K0: u64 = 0xc3a5_c85c_97cb_3127;
const K1: u64 = 0xb492_b66f_be98_f273;
const K2: u64 = 0x9ae1_6a3b_2f90_404f;

fn fetch64(s: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"))
}

fn fetch32(s: &[u8], at: usize) -> u64 {
    u32::from_le_bytes(s[at..at + 4].try_into().expect("4 bytes")) as u64
}

fn shift_mix(v: u64) -> u64 {
    v ^ (v >> 47)
}

fn hash_len16(u: u64, v: u64, mul: u64) -> u64 {
    let mut a = (u ^ v).wrapping_mul(mul);
    a ^= a >> 47;
    let mut b = (v ^ a).wrapping_mul(mul);
    b ^= b >> 47;
    b.wrapping_mul(mul)
}

fn hash_len0to16(s: &[u8]) -> u64 {
    let len = s.len();
    if len >= 8 {
        let mul = K2.wrapping_add(len as u64 * 2);
        let a = fetch64(s, 0).wrapping_add(K2);
        let b = fetch64(s, len - 8);
        let c = b.rotate_right(37).wrapping_mul(mul).wrapping_add(a);
        let d = a.rotate_right(25).wrapping_add(b).wrapping_mul(mul);
        return hash_len16(c, d, mul);
    }
    if len >= 4 {
        let mul = K2.wrapping_add(len as u64 * 2);
        let a = fetch32(s, 0);
        return hash_len16((len as u64).wrapping_add(a << 3), fetch32(s, len - 4), mul);
    }
    if len > 0 {
        let (a, b, c) = (s[0] as u64, s[len >> 1] as u64, s[len - 1] as u64);
        let y = a.wrapping_add(b << 8);
        let z = (len as u64).wrapping_add(c << 2);
        return shift_mix(y.wrapping_mul(K2) ^ z.wrapping_mul(K0)).wrapping_mul(K2);
    }
    K2
}

fn hash_len17to32(s: &[u8]) -> u64 {
    let len = s.len();
    let mul = K2.wrapping_add(len as u64 * 2);
    let a = fetch64(s, 0).wrapping_mul(K1);
    let b = fetch64(s, 8);
    let c = fetch64(s, len - 8).wrapping_mul(mul);
    let d = fetch64(s, len - 16).wrapping_mul(K2);
    hash_len16(
        a.wrapping_add(b).rotate_right(43).wrapping_add(c.rotate_right(30)).wrapping_add(d),
        a.wrapping_add(b.wrapping_add(K2).rotate_right(18)).wrapping_add(c),
        mul,
    )
}

fn hash_len33to64(s: &[u8]) -> u64 {
    let len = s.len();
    let mul = K2.wrapping_add(len as u64 * 2);
    let a = fetch64(s, 0).wrapping_mul(K2);
    let b = fetch64(s, 8);
    let c = fetch64(s, len - 8).wrapping_mul(mul);
    let d = fetch64(s, len - 16).wrapping_mul(K2);
    let y = a.wrapping_add(b).rotate_right(43).wrapping_add(c.rotate_right(30)).wrapping_add(d);
    let z = hash_len16(y, a.wrapping_add(b.wrapping_add(K2).rotate_right(18)).wrapping_add(c), mul);
    let e = fetch64(s, 16).wrapping_mul(mul);
    let f = fetch64(s, 24);
    let g = y.wrapping_add(fetch64(s, len - 32)).wrapping_mul(mul);
    let h = z.wrapping_add(fetch64(s, len - 24)).wrapping_mul(mul);
    hash_len16(
        e.wrapping_add(f).rotate_right(43).wrapping_add(g.rotate_right(30)).wrapping_add(h),
        e.wrapping_add(f.wrapping_add(a).rotate_right(18)).wrapping_add(g),
        mul,
    )
}

fn weak_hash_len32_with_seeds(s: &[u8], at: usize, a: u64, b: u64) -> (u64, u64) {
    let (w, x, y, z) = (fetch64(s, at), fetch64(s, at + 8), fetch64(s, at + 16), fetch64(s, at + 24));
    let mut a = a.wrapping_add(w);
    let mut b = b.wrapping_add(a).wrapping_add(z).rotate_right(21);
    let c = a;
    a = a.wrapping_add(x).wrapping_add(y);
    b = b.wrapping_add(a.rotate_right(44));
    (a.wrapping_add(z), b.wrapping_add(c))
}

fn fingerprint64(s: &[u8]) -> u64 {
    let len = s.len();
    if len <= 16 {
        return hash_len0to16(s);
    }
    if len <= 32 {
        return hash_len17to32(s);
    }
    if len <= 64 {
        return hash_len33to64(s);
    }
    let seed: u64 = 81;
    let mut x = seed;
    let mut y = seed.wrapping_mul(K1).wrapping_add(113);
    let mut z = shift_mix(y.wrapping_mul(K2).wrapping_add(113)).wrapping_mul(K2);
    let (mut v, mut w) = ((0u64, 0u64), (0u64, 0u64));
    x = x.wrapping_mul(K2).wrapping_add(fetch64(s, 0));
    let end = ((len - 1) / 64) * 64;
    let last64 = end + ((len - 1) & 63) - 63;
    let mut at = 0;
    loop {
        x = x.wrapping_add(y).wrapping_add(v.0).wrapping_add(fetch64(s, at + 8)).rotate_right(37).wrapping_mul(K1);
        y = y.wrapping_add(v.1).wrapping_add(fetch64(s, at + 48)).rotate_right(42).wrapping_mul(K1);
        x ^= w.1;
        y = y.wrapping_add(v.0).wrapping_add(fetch64(s, at + 40));
        z = z.wrapping_add(w.0).rotate_right(33).wrapping_mul(K1);
        v = weak_hash_len32_with_seeds(s, at, v.1.wrapping_mul(K1), x.wrapping_add(w.0));
        w = weak_hash_len32_with_seeds(s, at + 32, z.wrapping_add(w.1), y.wrapping_add(fetch64(s, at + 16)));
        std::mem::swap(&mut z, &mut x);
        at += 64;
        if at == end {
            break;
        }
    }
    let mul = K1.wrapping_add((z & 0xff) << 1);
    at = last64;
    w.0 = w.0.wrapping_add(((len - 1) & 63) as u64);
    v.0 = v.0.wrapping_add(w.0);
    w.0 = w.0.wrapping_add(v.0);
    x = x.wrapping_add(y).wrapping_add(v.0).wrapping_add(fetch64(s, at + 8)).rotate_right(37).wrapping_mul(mul);
    y = y.wrapping_add(v.1).wrapping_add(fetch64(s, at + 48)).rotate_right(42).wrapping_mul(mul);
    x ^= w.1.wrapping_mul(9);
    y = y.wrapping_add(v.0.wrapping_mul(9)).wrapping_add(fetch64(s, at + 40));
    z = z.wrapping_add(w.0).rotate_right(33).wrapping_mul(mul);
    v = weak_hash_len32_with_seeds(s, at, v.1.wrapping_mul(mul), x.wrapping_add(w.0));
    w = weak_hash_len32_with_seeds(s, at + 32, z.wrapping_add(w.1), y.wrapping_add(fetch64(s, at + 16)));
    std::mem::swap(&mut z, &mut x);
    hash_len16(
        hash_len16(v.0, w.0, mul).wrapping_add(shift_mix(y).wrapping_mul(K0)).wrapping_add(z),
        hash_len16(v.1, w.1, mul).wrapping_add(x),
        mul,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_hashes() {
        assert_eq!(format!("{:08x}", crc32c::crc32c(b"Amazon Redshift")), "f2726906");
        assert_eq!(fingerprint64(b"Amazon Redshift") as i64, 8085098817162212970);
        let fnv = |bytes: &[u8], start: u64| bytes.iter().fold(start, |h, b| (h ^ *b as u64).wrapping_mul(FNV_PRIME));
        assert_eq!(fnv(&1i32.to_le_bytes(), FNV_OFFSET_BASIS) as i64, -5968735742475085980);
        assert_eq!(fnv(&1i16.to_le_bytes(), FNV_OFFSET_BASIS) as i64, 589727492704079044);
        assert_eq!(fnv(&1i64.to_le_bytes(), FNV_OFFSET_BASIS) as i64, -8517097267634966620);
        assert_eq!(fnv(b"Amazon Redshift", FNV_OFFSET_BASIS) as i64, 7783490368944507294);
        assert_eq!(fnv(b"cd", fnv(b"ab", FNV_OFFSET_BASIS)) as i64, -281581062704388899);
        // Iceberg's reference values: 34 → 2017239379, "iceberg" → 1210000089.
        assert_eq!(murmur3_32(&34i64.to_le_bytes(), 0) as i32, 2017239379);
        assert_eq!(murmur3_32(b"iceberg", 0) as i32, 1210000089);
    }
}
