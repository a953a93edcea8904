//! Python's `repr(float)`, which is also how `json.dumps` prints a float.
//!
//! Python prints the shortest decimal that reads back as the same double, in
//! positional notation when the decimal exponent is in `-4..16` (always with a
//! fractional part: `100.0`) and in scientific notation otherwise, with a signed
//! exponent of at least two digits (`1e-07`, `1.5e+16`, `5e-324`).

use std::fmt;

/// Appends Python 3's `repr(x)` to `out`.
///
/// For finite `x` this is byte for byte what `repr(x)` and `json.dumps(x)` print.
/// Non-finite values give `repr`'s `inf`, `-inf` and `nan` (`json.dumps` would
/// print `Infinity`, `-Infinity` and `NaN`, which are not JSON).
///
/// ```
/// let mut s = String::new();
/// tracemem::record::pyfloat::write_py_float(&mut s, 1.1e-5);
/// assert_eq!(s, "1.1e-05");
/// ```
pub fn write_py_float(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("nan");
        return;
    }
    if x.is_sign_negative() {
        out.push('-');
    }
    if x.is_infinite() {
        out.push_str("inf");
        return;
    }
    let Some((digits, exponent)) = repr_digits(x.abs()) else {
        // Not reached: Rust's `{:e}` of a finite double is always `d[.ddd]e[-]n`.
        out.push_str(&format!("{:e}", x.abs()));
        return;
    };
    if (-4..16).contains(&exponent) {
        push_positional(out, &digits, exponent);
    } else {
        push_scientific(out, &digits, exponent);
    }
}

/// Returns Python 3's `repr(x)` as a new string; see [`write_py_float`].
#[must_use]
pub fn py_float_repr(x: f64) -> String {
    let mut out = String::with_capacity(24);
    write_py_float(&mut out, x);
    out
}

/// A double that displays as Python 3's `repr` of it; see [`write_py_float`].
///
/// Width and alignment flags apply to the whole text: `format!("{:>8}", PyFloat(1.5))`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PyFloat(pub f64);

impl fmt::Display for PyFloat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&py_float_repr(self.0))
    }
}

/// The significant digits and decimal exponent of Python's `repr` of a finite,
/// non-negative `x`: the fewest digits that read back as `x` and, of those, the
/// ones nearest to `x`, ties going to the even last digit (David Gay's `dtoa`).
fn repr_digits(x: f64) -> Option<(String, i32)> {
    // `{:e}` gives the fewest digits that read back as `x` ("1.1e-5", "5e-324",
    // "0e0"), but of two equally near candidates it takes the upper one:
    // 999999999999988.25 gives ...88.3 where Python prints ...88.2.
    let (digits, exponent) = split_scientific(&format!("{x:e}"))?;
    // `{:.Ne}` rounds exactly and ties to even; keep that when it reads back as `x`.
    let nearest = format!("{x:.*e}", digits.len() - 1);
    if nearest.parse() == Ok(x) {
        split_scientific(&nearest)
    } else {
        Some((digits, exponent))
    }
}

/// Splits Rust's `{:e}` text of a non-negative double (`d[.ddd]e[-]n`) into its
/// significant digits without the point and the decimal exponent of the first one.
fn split_scientific(text: &str) -> Option<(String, i32)> {
    let (mantissa, exponent) = text.split_once('e')?;
    let exponent = exponent.parse().ok()?;
    let (lead, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = [lead, fraction].concat();
    let well_formed = lead.len() == 1 && digits.bytes().all(|b| b.is_ascii_digit());
    well_formed.then_some((digits, exponent))
}

/// Writes `0.d…`, `d…d.d…` or `d…d0….0` for a decimal exponent in `-4..16`.
fn push_positional(out: &mut String, digits: &str, exponent: i32) {
    if exponent < 0 {
        out.push_str("0.");
        push_zeros(out, exponent.unsigned_abs() as usize - 1);
        out.push_str(digits);
        return;
    }
    let integer_len = exponent.unsigned_abs() as usize + 1;
    match digits.split_at_checked(integer_len) {
        Some((integer, fraction)) if !fraction.is_empty() => {
            out.push_str(integer);
            out.push('.');
            out.push_str(fraction);
        }
        _ => {
            out.push_str(digits);
            push_zeros(out, integer_len.saturating_sub(digits.len()));
            out.push_str(".0");
        }
    }
}

/// Writes `d[.ddd]e±XX`, the exponent with a sign and at least two digits.
fn push_scientific(out: &mut String, digits: &str, exponent: i32) {
    let (lead, fraction) = digits.split_at_checked(1).unwrap_or((digits, ""));
    out.push_str(lead);
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
    out.push_str(&format!("e{exponent:+03}"));
}

fn push_zeros(out: &mut String, count: usize) {
    out.extend(std::iter::repeat_n('0', count));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::test_util::python3;

    #[test]
    fn matches_python_on_known_vectors() {
        let vectors: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1e-07, "1e-07"),
            (1.1e-05, "1.1e-05"),
            (9.999999999999999e-06, "9.999999999999999e-06"),
            (0.0001, "0.0001"),
            (0.000123, "0.000123"),
            (25.499604000022263, "25.499604000022263"),
            (123456789.123, "123456789.123"),
            (1e+16, "1e+16"),
            (1.5, "1.5"),
            (100.0, "100.0"),
            (1e15, "1000000000000000.0"),
            (9999999999999998.0, "9999999999999998.0"),
            (1.2345e16, "1.2345e+16"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            // Exact ties between two shortest candidates go to the even digit.
            (999_999_999_999_988.0 + 0.25, "999999999999988.2"),
            (999_999_999_999_989.0 + 0.25, "999999999999989.2"),
            (0.3, "0.3"),
            (1e23, "1e+23"),
            (-2.5e-300, "-2.5e-300"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ];
        for &(x, expected) in vectors {
            assert_eq!(py_float_repr(x), expected, "repr of {x:?}");
        }
    }

    #[test]
    fn display_wrapper_pads_the_whole_text() {
        assert_eq!(format!("{}", PyFloat(1e-7)), "1e-07");
        assert_eq!(format!("[{:>7}]", PyFloat(1.5)), "[    1.5]");
    }

    /// SplitMix64: a small deterministic generator for test data.
    struct SplitMix(u64);

    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// 20,000 doubles of the kinds a trace holds and of every other kind.
    fn sample_doubles() -> Vec<f64> {
        let mut rng = SplitMix(20_240_601);
        let mut values = Vec::with_capacity(20_000);
        // Timestamps as the recorder accumulates them: sums of k * 1e-6 steps.
        let mut t = 0.0;
        for _ in 0..5_000 {
            t += (1 + rng.below(50)) as f64 * 1e-6;
            values.push(t);
        }
        // The same from later starting points, where more digits are needed.
        let mut t = 12_345.678_9;
        for _ in 0..2_000 {
            t += (1 + rng.below(1_000)) as f64 * 1e-6;
            values.push(t);
        }
        // Raw bit patterns, every finite double being equally likely per pattern.
        while values.len() < 12_000 {
            let x = f64::from_bits(rng.next());
            if x.is_finite() {
                values.push(x);
            }
        }
        // Short decimals across the whole exponent range, read correctly rounded.
        for _ in 0..4_000 {
            let digits = 1 + rng.below(17) as u32;
            let mantissa = rng.below(10u64.pow(digits));
            let exponent = rng.below(640) as i64 - 330;
            let x: f64 = format!("{mantissa}e{exponent}").parse().expect("a decimal");
            if x.is_finite() {
                values.push(if rng.below(2) == 0 { x } else { -x });
            }
        }
        // Around the switches between positional and scientific notation.
        for base in [1e-5, 1e-4, 1e15, 1e16, 1e17] {
            let mut x = f64::from_bits(f64::to_bits(base) - 100);
            for _ in 0..200 {
                values.push(x);
                x = f64::from_bits(x.to_bits() + 1);
            }
        }
        // Integers, subnormals and the rest.
        while values.len() < 20_000 {
            values.push(match rng.below(3) {
                0 => rng.next() as f64,
                1 => rng.below(1 << 20) as f64,
                _ => f64::from_bits(rng.below(1 << 52)),
            });
        }
        values.truncate(20_000);
        values
    }

    /// `float.hex()`-style text that Python's `float.fromhex` reads exactly.
    fn hex_float(x: f64) -> String {
        let bits = x.to_bits();
        let sign = if x.is_sign_negative() { "-" } else { "" };
        let exponent = ((bits >> 52) & 0x7ff) as i64;
        let fraction = bits & ((1 << 52) - 1);
        if exponent == 0 {
            format!("{sign}0x0.{fraction:013x}p-1022")
        } else {
            format!("{sign}0x1.{fraction:013x}p{}", exponent - 1023)
        }
    }

    #[test]
    fn matches_python_on_20000_doubles() {
        let values = sample_doubles();
        assert_eq!(values.len(), 20_000);
        let dir = tempfile::tempdir().expect("a temp dir");
        let input = dir.path().join("doubles.txt");
        let hex: String = values.iter().map(|&x| hex_float(x) + "\n").collect();
        std::fs::write(&input, hex).expect("write the doubles");
        let script = "import sys\n\
                      with open(sys.argv[1]) as f:\n    \
                          sys.stdout.write(''.join(repr(float.fromhex(l)) + '\\n' for l in f))\n";
        let stdout = python3(&["-c", script, &input.to_string_lossy()]);
        let expected: Vec<&str> = stdout.lines().collect();
        assert_eq!(expected.len(), values.len(), "python printed one line per double");
        let mismatches: Vec<String> = values
            .iter()
            .zip(&expected)
            .filter(|&(&x, &want)| py_float_repr(x) != want)
            .map(|(&x, want)| format!("{}: python {want}, ours {}", hex_float(x), py_float_repr(x)))
            .collect();
        assert!(
            mismatches.is_empty(),
            "{} mismatches, first: {:#?}",
            mismatches.len(),
            &mismatches[..mismatches.len().min(10)]
        );
        for &x in &values {
            let back: f64 = py_float_repr(x).parse().expect("repr parses back");
            assert_eq!(back.to_bits(), x.to_bits(), "round trip of {}", hex_float(x));
        }
    }
}
