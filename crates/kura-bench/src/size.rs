//! Parsing and formatting of byte sizes (`4KiB`, `1MiB`, `4KB`, `4096`) and durations (`30s`, `2m`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A byte count given on the command line, e.g. `4KiB`, `64MiB`, `1GiB`, `4096` or `4KB` (decimal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Size(pub u64);

/// Largest object a single S3 PUT may carry (5 GiB).
pub const MAX_SIZE: u64 = 5 << 30;

impl Size {
    /// The number of bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl FromStr for Size {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_size(s).map(Size)
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_size(self.0))
    }
}

/// Parses a size: a decimal number (fractions allowed with a unit) and an optional unit.
/// Binary units (`KiB`, `MiB`, `GiB`, `TiB`, also `K`, `M`, `G`, `T`) are powers of 1024; decimal
/// units (`KB`, `MB`, `GB`, `TB`) are powers of 1000; `B` or no unit means bytes. Case-insensitive.
pub fn parse_size(input: &str) -> Result<u64, String> {
    let s = input.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let unit = unit.trim();
    let bad = || format!("invalid size {input:?}: expected e.g. 4KiB, 1MiB, 64MiB, 1GiB, 4096 or 4KB");
    if num.is_empty() {
        return Err(bad());
    }
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(bad()),
    };
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(mult).ok_or_else(|| format!("size {input:?} is too large"));
    }
    let f: f64 = num.parse().map_err(|_| bad())?;
    let exact = f * mult as f64;
    let v = exact.round();
    if !v.is_finite() || v > u64::MAX as f64 {
        return Err(format!("size {input:?} is too large"));
    }
    if (exact - v).abs() > 1e-6 {
        return Err(format!("size {input:?} is not a whole number of bytes"));
    }
    Ok(v as u64)
}

/// Formats a byte count with the largest binary unit that divides it evenly (`4KiB`, `1GiB`),
/// or to one decimal place (`1.5MiB`) when none does and it is at least 1 KiB.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (name, mult) in UNITS {
        if bytes >= mult && bytes.is_multiple_of(mult) {
            return format!("{}{name}", bytes / mult);
        }
    }
    for (name, mult) in UNITS {
        if bytes >= mult {
            return format!("{:.1}{name}", bytes as f64 / mult as f64);
        }
    }
    format!("{bytes}B")
}

/// Parses a duration: a number with an optional unit `ms`, `s` (default), `m` or `h`, e.g. `30s`,
/// `2m`, `500ms`, `1.5s`.
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let bad = || format!("invalid duration {input:?}: expected e.g. 30s, 2m, 500ms or 1h");
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit.trim().to_ascii_lowercase().as_str() {
        "ms" => n / 1000.0,
        "" | "s" | "sec" | "secs" => n,
        "m" | "min" | "mins" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_binary_and_decimal_units() {
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4KB"), Ok(4000));
        assert_eq!(parse_size("4kb"), Ok(4000));
        assert_eq!(parse_size("2M"), Ok(2 << 20));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size(" 10 B "), Ok(10));
        assert_eq!(parse_size("1.5MiB"), Ok(3 << 19));
        assert_eq!("4KiB".parse::<Size>(), Ok(Size(4096)));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "KiB", "4XB", "-1", "1.5", "1.0000001KiB", "99999999999TiB", "4 KiB extra"] {
            assert!(parse_size(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn formats_sizes() {
        assert_eq!(format_size(4096), "4KiB");
        assert_eq!(format_size(1 << 30), "1GiB");
        assert_eq!(format_size(64 << 20), "64MiB");
        assert_eq!(format_size(3 << 19), "1536KiB");
        assert_eq!(format_size((1 << 20) + 1), "1.0MiB");
        assert_eq!(format_size(4000), "3.9KiB");
        assert_eq!(format_size(100), "100B");
        assert_eq!(Size(1 << 20).to_string(), "1MiB");
        for s in ["4KiB", "1MiB", "1GiB", "100B"] {
            assert_eq!(format_size(parse_size(s).unwrap()), s);
        }
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").is_err());
    }
}
