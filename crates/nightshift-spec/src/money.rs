//! Exact decimal money. Dollars are written by people as decimals; we hold them as
//! integer nanodollars (1e-9 USD) and never pass through floating point arithmetic.

/// Nanodollars in one US dollar.
pub const NANOS_PER_USD: i64 = 1_000_000_000;

/// Parse a decimal USD amount such as `"2.50"` or `"0.000075"` into nanodollars.
///
/// At most nine digits after the point are accepted: anything finer than a nanodollar
/// cannot be represented exactly, and rounding money silently is what we refuse to do.
pub fn parse_usd(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let text = text.strip_prefix('$').unwrap_or(text);
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = match digits.split_once('.') {
        Some((w, f)) => (w, f),
        None => (digits, ""),
    };
    let whole = whole.replace('_', "");
    if whole.is_empty() && frac.is_empty() {
        return Err(format!("`{text}` is not a dollar amount"));
    }
    if !whole.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "`{text}` is not a dollar amount (expected digits like 2.50)"
        ));
    }
    if frac.len() > 9 {
        return Err(format!(
            "`{text}` has more than 9 decimal places; amounts are kept in whole nanodollars"
        ));
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole
            .parse()
            .map_err(|_| format!("`{text}` is too large"))?
    };
    let mut frac_nanos: i64 = 0;
    for (i, c) in frac.chars().enumerate() {
        frac_nanos += i64::from(c as u8 - b'0') * 10_i64.pow(8 - i as u32);
    }
    let nanos = whole
        .checked_mul(NANOS_PER_USD)
        .and_then(|n| n.checked_add(frac_nanos))
        .ok_or_else(|| format!("`{text}` is too large"))?;
    Ok(if negative { -nanos } else { nanos })
}

/// Parse a TOML float the way it was written. TOML hands us an `f64`; its shortest
/// round-trip decimal form is exactly the literal the person typed (for any literal of
/// up to 15 significant digits), so converting through it is exact.
pub fn parse_usd_f64(value: f64) -> Result<i64, String> {
    if !value.is_finite() {
        return Err("not a finite number".into());
    }
    let text = format!("{value}");
    if text.contains('e') || text.contains('E') {
        return Err(format!(
            "`{value}` is out of range; write it as a plain decimal string"
        ));
    }
    parse_usd(&text)
}

/// A dollar amount as written in TOML: a number (`2.5`) or a string (`"2.50"`).
#[derive(Debug, Clone, schemars::JsonSchema)]
#[serde(untagged)]
pub(crate) enum UsdAmount {
    Number(f64),
    Text(String),
}

/// By hand rather than `untagged`: serde's untagged message ("data did not match any
/// variant") does not say what to write.
impl<'de> serde::Deserialize<'de> for UsdAmount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Amount;
        impl serde::de::Visitor<'_> for Amount {
            type Value = UsdAmount;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a dollar amount: a number (2.5) or a string (\"2.50\")")
            }
            fn visit_f64<E>(self, v: f64) -> Result<UsdAmount, E> {
                Ok(UsdAmount::Number(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<UsdAmount, E> {
                Ok(UsdAmount::Text(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<UsdAmount, E> {
                Ok(UsdAmount::Text(v.to_string()))
            }
            fn visit_str<E>(self, v: &str) -> Result<UsdAmount, E> {
                Ok(UsdAmount::Text(v.to_owned()))
            }
        }
        d.deserialize_any(Amount)
    }
}

impl UsdAmount {
    pub(crate) fn nanos(&self) -> Result<i64, String> {
        match self {
            Self::Number(n) => parse_usd_f64(*n),
            Self::Text(t) => parse_usd(t),
        }
    }
}

/// Format nanodollars as dollars with all significant decimals, e.g. `$0.000125`.
pub fn format_usd(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let abs = nanos.unsigned_abs();
    let whole = abs / NANOS_PER_USD as u64;
    let frac = abs % NANOS_PER_USD as u64;
    let mut frac = format!("{frac:09}");
    while frac.len() > 2 && frac.ends_with('0') {
        frac.pop();
    }
    format!("{sign}${whole}.{frac}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(parse_usd("2.50"), Ok(2_500_000_000));
        assert_eq!(parse_usd("0.000000001"), Ok(1));
        assert_eq!(parse_usd("$10"), Ok(10_000_000_000));
        assert_eq!(parse_usd(".5"), Ok(500_000_000));
        assert_eq!(parse_usd("1_000.25"), Ok(1_000_250_000_000));
        assert!(parse_usd("0.0000000001").is_err());
        assert!(parse_usd("abc").is_err());
        assert!(parse_usd("").is_err());
    }

    #[test]
    fn floats_go_through_their_literal() {
        // 0.1 + 0.2 style errors must not leak in: 0.075 is 75_000_000 nanos exactly.
        assert_eq!(parse_usd_f64(0.075), Ok(75_000_000));
        assert_eq!(parse_usd_f64(2.5), Ok(2_500_000_000));
        assert_eq!(parse_usd_f64(0.0375), Ok(37_500_000));
        assert_eq!(parse_usd_f64(15.0), Ok(15_000_000_000));
    }

    #[test]
    fn formats_dollars() {
        assert_eq!(format_usd(2_500_000_000), "$2.50");
        assert_eq!(format_usd(125_000), "$0.000125");
        assert_eq!(format_usd(0), "$0.00");
        assert_eq!(format_usd(-1), "-$0.000000001");
    }
}
