//! Check-digit algorithms named by the `tracking_number_data` specs.
//!
//! Each algorithm computes the *expected* check character for a serial, so
//! that callers can both validate and explain a mismatch ("should be 4, not 5").

/// A check-digit algorithm with its parameters, as declared in a spec's
/// `validation.checksum` object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Checksum {
    /// Weighted sum mod 10; even indexes (0-based, from the left) use
    /// `evens`, odd ones `odds`. Letters count as `(ascii - 3) % 10` (UPS).
    Mod10 { evens: u32, odds: u32 },
    /// The serial read as a decimal number, mod 7 (DHL Express).
    Mod7,
    /// UPU S10: weights 8,6,4,2,3,5,9,7, mod 11 with 10→0 and 11→5.
    S10,
    /// Weighted sum, then `% modulo1 % modulo2` (FedEx).
    SumProduct {
        weights: Vec<u32>,
        modulo1: u32,
        modulo2: u32,
    },
    /// Classic Luhn (doubling every second digit from the right).
    Luhn,
    /// ISO 7064 MOD 37,36 hybrid system over 0-9A-Z (DPD).
    Mod37_36,
}

const ALNUM36: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Numeric value of a serial character for the mod10 family: digits are
/// themselves, letters follow the UPS convention `(ascii - 3) % 10`
/// (A=2, B=3, … I=0, J=1 …).
fn mod10_value(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'Z' => Some((u32::from(c) - 3) % 10),
        _ => None,
    }
}

fn digit(c: u8) -> Option<u32> {
    c.is_ascii_digit().then(|| u32::from(c - b'0'))
}

impl Checksum {
    /// The check character `serial` should be followed by, or `None` when the
    /// serial contains characters the algorithm cannot weigh.
    pub(crate) fn expected(&self, serial: &[u8]) -> Option<u8> {
        match self {
            Checksum::Mod10 { evens, odds } => {
                let mut total: u32 = 0;
                for (i, &c) in serial.iter().enumerate() {
                    let m = if i % 2 == 0 { *evens } else { *odds };
                    total = total.wrapping_add(mod10_value(c)? * m);
                }
                let x = total % 10;
                Some(b'0' + ((10 - x) % 10) as u8)
            }
            Checksum::Mod7 => {
                // Incremental remainder: no overflow whatever the length.
                let mut r: u32 = 0;
                for &c in serial {
                    r = (r * 10 + digit(c)?) % 7;
                }
                Some(b'0' + r as u8)
            }
            Checksum::S10 => {
                const W: [u32; 8] = [8, 6, 4, 2, 3, 5, 9, 7];
                if serial.len() != W.len() {
                    return None;
                }
                let mut sum = 0;
                for (&c, w) in serial.iter().zip(W) {
                    sum += digit(c)? * w;
                }
                let r = match sum % 11 {
                    1 => 0,
                    0 => 5,
                    r => 11 - r,
                };
                Some(b'0' + r as u8)
            }
            Checksum::SumProduct {
                weights,
                modulo1,
                modulo2,
            } => {
                let mut sum: u32 = 0;
                for (&c, &w) in serial.iter().zip(weights) {
                    sum = sum.wrapping_add(digit(c)? * w);
                }
                let r = sum % modulo1 % modulo2;
                // A two-digit remainder cannot be a single check character.
                (r < 10).then(|| b'0' + r as u8)
            }
            Checksum::Luhn => {
                let mut sum = 0;
                // The check digit will sit to the right, so the rightmost
                // serial digit is the first one doubled.
                for (i, &c) in serial.iter().rev().enumerate() {
                    let mut d = digit(c)?;
                    if i % 2 == 0 {
                        d *= 2;
                        if d > 9 {
                            d -= 9;
                        }
                    }
                    sum += d;
                }
                Some(b'0' + ((10 - sum % 10) % 10) as u8)
            }
            Checksum::Mod37_36 => {
                let mut p: u32 = 36;
                for &c in serial {
                    let v = ALNUM36.iter().position(|&a| a == c)? as u32;
                    let mut s = (p + v) % 36;
                    if s == 0 {
                        s = 36;
                    }
                    p = (s * 2) % 37;
                }
                Some(ALNUM36[((37 - p) % 36) as usize])
            }
        }
    }

    /// A short human description, used in [`crate::Format::description`].
    pub(crate) fn describe(&self) -> String {
        match self {
            Checksum::Mod10 { evens, odds } => {
                format!("mod 10 check digit (weights {evens} and {odds})")
            }
            Checksum::Mod7 => "mod 7 check digit".to_owned(),
            Checksum::S10 => "UPU S10 mod 11 check digit (weights 8,6,4,2,3,5,9,7)".to_owned(),
            Checksum::SumProduct {
                weights,
                modulo1,
                modulo2,
            } => {
                let w: Vec<String> = weights.iter().take(3).map(u32::to_string).collect();
                format!(
                    "weighted check digit (weights {}…, mod {modulo1} mod {modulo2})",
                    w.join(",")
                )
            }
            Checksum::Luhn => "Luhn check digit".to_owned(),
            Checksum::Mod37_36 => "ISO 7064 MOD 37,36 check character".to_owned(),
        }
    }

    /// Weak checks let a large share of random numbers through (mod 7
    /// accepts one in seven), so their matches rank lower.
    pub(crate) fn is_weak(&self) -> bool {
        matches!(self, Checksum::Mod7)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(c: &Checksum, s: &str) -> char {
        c.expected(s.as_bytes()).unwrap() as char
    }

    #[test]
    fn mod10_ups_with_letters() {
        // 1Z5R89390357567127: serial after 1Z, check digit 7.
        let c = Checksum::Mod10 { evens: 1, odds: 2 };
        assert_eq!(exp(&c, "5R8939035756712"), '7');
        assert_eq!(exp(&c, "XX3150YW4407002"), '3');
    }

    #[test]
    fn mod10_usps_weights_3_1() {
        let c = Checksum::Mod10 { evens: 3, odds: 1 };
        assert_eq!(exp(&c, "0307179000052348374"), '1');
        assert_eq!(exp(&c, "123456789012345"), '2');
    }

    #[test]
    fn mod7_dhl() {
        assert_eq!(exp(&Checksum::Mod7, "331881002"), '5');
        assert_eq!(exp(&Checksum::Mod7, "7389105114"), '6');
        // Long serials must not overflow.
        assert!(Checksum::Mod7.expected(&[b'9'; 40]).is_some());
    }

    #[test]
    fn s10_weights_and_special_remainders() {
        assert_eq!(exp(&Checksum::S10, "12345678"), '5');
        assert_eq!(exp(&Checksum::S10, "87654321"), '6');
        // remainder 0 gives 5, remainder 1 gives 0
        assert_eq!(exp(&Checksum::S10, "00000000"), '5');
        assert_eq!(Checksum::S10.expected(b"1234567"), None);
    }

    #[test]
    fn sum_product_fedex() {
        let c = Checksum::SumProduct {
            weights: vec![3, 1, 7, 3, 1, 7, 3, 1, 7, 3, 1],
            modulo1: 11,
            modulo2: 10,
        };
        assert_eq!(exp(&c, "98657878885"), '5');
        assert_eq!(exp(&c, "47717908123"), '0');
    }

    #[test]
    fn luhn_known_values() {
        assert_eq!(exp(&Checksum::Luhn, "7992739871"), '3');
        assert_eq!(exp(&Checksum::Luhn, "411111111111111"), '1');
    }

    #[test]
    fn mod37_36_dpd() {
        assert_eq!(exp(&Checksum::Mod37_36, "008182709980000020033350276"), 'C');
        assert_eq!(exp(&Checksum::Mod37_36, "008182709980000020045327276"), 'N');
        assert_eq!(Checksum::Mod37_36.expected(b"00-1"), None);
    }

    #[test]
    fn non_digits_are_rejected_where_not_weighable() {
        assert_eq!(Checksum::Mod7.expected(b"12A"), None);
        assert_eq!(Checksum::Mod10 { evens: 1, odds: 2 }.expected(b"1-2"), None);
    }
}
