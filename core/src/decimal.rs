//! Decimals written as text without allocating.
//!
//! `rust_decimal`'s `Display` divides its 96-bit mantissa by ten one digit at a time (three-word
//! long division per digit) and a decision writes a dozen decimals — checks' observed values and
//! limits, messages, `remaining`, the amounts counted — into its record: that was ≈ 8k
//! instructions of a ≈ 200k-instruction decision. [`text`] writes the same characters from the
//! mantissa as a machine integer, into a buffer on the stack. Its output is `Display`'s, byte for
//! byte (property test below), including the sign of a negative zero.

use std::fmt;

use rust_decimal::Decimal;

/// The longest text: a sign, 29 digits, a point and a leading `0` (`-0.` and 28 digits is 31).
const CAP: usize = 40;

/// A decimal's text, held on the stack.
#[derive(Clone, Copy)]
pub(crate) struct DecimalText {
    buf: [u8; CAP],
    start: usize,
}

impl DecimalText {
    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits, `-` and `.` are written.
        std::str::from_utf8(self.buf.get(self.start..).unwrap_or_default()).unwrap_or("0")
    }

    fn push(&mut self, b: u8) {
        // `CAP` holds the longest text (above): `start` never reaches below zero.
        self.start = self.start.saturating_sub(1);
        if let Some(slot) = self.buf.get_mut(self.start) {
            *slot = b;
        }
    }
}

impl fmt::Display for DecimalText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `d` as its `Display` shows it: with its own scale (`600.00` stays `600.00`).
pub(crate) fn text(d: Decimal) -> DecimalText {
    let mut out = DecimalText {
        buf: [b'0'; CAP],
        start: CAP,
    };
    let scale = d.scale() as usize;
    let mut digits = Digits::new(d.mantissa().unsigned_abs());
    for _ in 0..scale {
        out.push(digits.next_digit());
    }
    if scale > 0 {
        out.push(b'.');
    }
    // The whole part: at least one digit (`0.5`, `0`).
    loop {
        out.push(digits.next_digit());
        if digits.is_empty() {
            break;
        }
    }
    if d.is_sign_negative() {
        out.push(b'-');
    }
    out
}

/// `d` normalised (`5.50` → `5.5`, `1E+2` → `100`) as text.
pub(crate) fn normalized(d: Decimal) -> DecimalText {
    text(d.normalize())
}

/// A mantissa's digits, lowest first: a `u128` only while it is above `u64::MAX` (a 96-bit
/// mantissa is at most 29 digits), then native 64-bit division, which compiles to a multiply.
struct Digits {
    wide: u128,
    narrow: u64,
}

impl Digits {
    fn new(m: u128) -> Digits {
        match u64::try_from(m) {
            Ok(narrow) => Digits { wide: 0, narrow },
            Err(_) => Digits { wide: m, narrow: 0 },
        }
    }

    /// The lowest digit, removed (`0` once the mantissa is spent).
    fn next_digit(&mut self) -> u8 {
        if self.wide != 0 {
            let d = (self.wide % 10) as u8;
            self.wide /= 10;
            if let Ok(n) = u64::try_from(self.wide) {
                (self.wide, self.narrow) = (0, n);
            }
            return b'0' + d;
        }
        let d = (self.narrow % 10) as u8;
        self.narrow /= 10;
        b'0' + d
    }

    fn is_empty(&self) -> bool {
        self.wide == 0 && self.narrow == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decimal(lo: u32, mid: u32, hi: u32, negative: bool, scale: u32) -> Decimal {
        Decimal::from_parts(lo, mid, hi, negative, scale)
    }

    #[test]
    fn edges_read_as_display_reads_them() {
        let cases = [
            Decimal::ZERO,
            decimal(0, 0, 0, true, 0),
            decimal(0, 0, 0, true, 3),
            decimal(0, 0, 0, false, 28),
            Decimal::MAX,
            Decimal::MIN,
            decimal(1, 0, 0, false, 28),
            decimal(1, 0, 0, true, 28),
            decimal(u32::MAX, u32::MAX, u32::MAX, false, 28),
            decimal(u32::MAX, u32::MAX, 0, false, 0),
            decimal(0, 0, 1, false, 0),
            Decimal::new(60000, 2),
            Decimal::new(-5, 1),
            Decimal::new(120, 0),
        ];
        for d in cases {
            assert_eq!(text(d).as_str(), d.to_string(), "{d:?}");
            assert_eq!(normalized(d).as_str(), d.normalize().to_string(), "{d:?}");
        }
    }

    proptest! {
        #[test]
        fn every_decimal_reads_as_display_reads_it(
            lo in any::<u32>(),
            mid in prop_oneof![Just(0u32), any::<u32>()],
            hi in prop_oneof![Just(0u32), any::<u32>()],
            negative in any::<bool>(),
            scale in 0u32..=28,
        ) {
            let d = decimal(lo, mid, hi, negative, scale);
            prop_assert_eq!(text(d).as_str().to_owned(), d.to_string());
            prop_assert_eq!(normalized(d).as_str().to_owned(), d.normalize().to_string());
            prop_assert_eq!(format!("{}", text(d)), d.to_string());
        }
    }
}
