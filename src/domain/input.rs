//! Input as people type it, normalised and parsed into domain types at the
//! boundary.
//!
//! Every field is folded with NFKC and trimmed before it is judged, so the
//! full-width digits of a Chinese input method count as digits. Types that
//! hold a secret or a person's data (`Mobile`, `CertificateNumber`,
//! `CertificateTail`, `SmsCode`) print masked or not at all, so that a
//! `{:?}` in a log line cannot leak them; `as_str` is the only way to the
//! value.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

/// Longest mobile input accepted before parsing: room for a country prefix,
/// spaces, dashes and parentheses around eleven digits, and not much more.
const MOBILE_MAX_CHARS: usize = 64;
const CERTIFICATE_MIN_CHARS: usize = 6;
const CERTIFICATE_MAX_CHARS: usize = 32;
const TAIL_CHARS: usize = 6;
const CODE_DIGITS: usize = 6;
const MOBILE_DIGITS: usize = 11;

/// Folds full-width and other compatibility characters (NFKC), then trims
/// surrounding white space: `"　１３８ "` becomes `"138"`.
pub fn normalize(raw: &str) -> String {
    raw.nfkc().collect::<String>().trim().to_string()
}

/// Why a field was refused. The message names what to fix, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputError {
    Missing,
    TooLong {
        max: usize,
    },
    /// A short English explanation that completes "the field …".
    Malformed(&'static str),
}

impl InputError {
    /// An English sentence fragment to follow the field's name, e.g.
    /// "mobile: must be 11 digits starting with 1".
    pub fn message(&self) -> String {
        match self {
            InputError::Missing => "is required".to_string(),
            InputError::TooLong { max } => format!("is too long (at most {max} characters)"),
            InputError::Malformed(explanation) => (*explanation).to_string(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for InputError {}

/// Normalises and refuses empty or over-long input, the first two checks of
/// every field.
fn bounded(raw: &str, max_chars: usize) -> Result<String, InputError> {
    let value = normalize(raw);
    if value.is_empty() {
        return Err(InputError::Missing);
    }
    if value.chars().count() > max_chars {
        return Err(InputError::TooLong { max: max_chars });
    }
    Ok(value)
}

/// A free-text field: normalised, not empty, at most `max_chars` characters,
/// and free of control characters (PostgreSQL text cannot even hold NUL).
pub fn text_field(raw: &str, max_chars: usize) -> Result<String, InputError> {
    let value = bounded(raw, max_chars)?;
    // U+2028 and U+2029 break lines as a newline does, without being control characters.
    if value
        .chars()
        .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
    {
        return Err(InputError::Malformed(
            "must not contain control characters or line breaks",
        ));
    }
    Ok(value)
}

fn is_upper_alphanumeric(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
}

/// A mainland China mobile number: eleven ASCII digits starting with 1.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Mobile(String);

impl Mobile {
    /// Accepts the number as people write it: `+86 133-0013-3000`,
    /// `0086 13300133000`, `(86) 133.0013.3000`.
    pub fn parse(raw: &str) -> Result<Mobile, InputError> {
        let value = bounded(raw, MOBILE_MAX_CHARS)?;
        let digits: String = value
            .chars()
            .filter(|c| !(c.is_whitespace() || matches!(c, '-' | '.' | '(' | ')')))
            .collect();
        // The country code is stripped only when eleven digits remain, so
        // that a mobile which itself begins with 86 is never cut short.
        let number = ["+86", "0086", "86"]
            .iter()
            .filter_map(|prefix| digits.strip_prefix(prefix))
            .find(|rest| rest.len() == MOBILE_DIGITS && rest.bytes().all(|b| b.is_ascii_digit()))
            .unwrap_or(&digits);
        let well_formed = number.len() == MOBILE_DIGITS
            && number.starts_with('1')
            && number.bytes().all(|b| b.is_ascii_digit());
        if !well_formed {
            return Err(InputError::Malformed("must be 11 digits starting with 1"));
        }
        Ok(Mobile(number.to_string()))
    }

    /// The full number, for storage and for matching; never for logs.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number as people may see it anywhere: `138****5678`.
    pub fn masked(&self) -> String {
        // Always eleven ASCII digits, so byte offsets are character offsets.
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }
}

impl fmt::Display for Mobile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for Mobile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mobile({})", self.masked())
    }
}

/// A full certificate number (identity card, business licence …) as an ISP
/// submits it: 6 to 32 letters and digits, letters in upper case.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CertificateNumber(String);

impl CertificateNumber {
    pub fn parse(raw: &str) -> Result<CertificateNumber, InputError> {
        // Checked before upper-casing: some letters (ß) upper-case into ASCII.
        let value = bounded(raw, CERTIFICATE_MAX_CHARS)?;
        let ascii = value.bytes().all(|b| b.is_ascii_alphanumeric());
        let value = value.to_ascii_uppercase();
        if !ascii || value.len() < CERTIFICATE_MIN_CHARS || !is_upper_alphanumeric(&value) {
            return Err(InputError::Malformed(
                "must be 6 to 32 letters and digits, without spaces or hyphens",
            ));
        }
        Ok(CertificateNumber(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last six characters, which is what a filer types on the portal.
    pub fn tail(&self) -> CertificateTail {
        // ASCII only, and at least six long: parse made sure of both.
        CertificateTail(self.0[self.0.len() - TAIL_CHARS..].to_string())
    }
}

impl fmt::Display for CertificateNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("******")
    }
}

impl fmt::Debug for CertificateNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CertificateNumber(…)")
    }
}

/// The last six characters of a certificate number, as a filer types them;
/// a final `x` of an identity card number is taken as `X`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CertificateTail(String);

impl CertificateTail {
    pub fn parse(raw: &str) -> Result<CertificateTail, InputError> {
        let value = bounded(raw, TAIL_CHARS)?;
        let ascii = value.bytes().all(|b| b.is_ascii_alphanumeric());
        let value = value.to_ascii_uppercase();
        if !ascii || value.len() != TAIL_CHARS || !is_upper_alphanumeric(&value) {
            return Err(InputError::Malformed(
                "must be the last 6 characters of the certificate number, letters and digits",
            ));
        }
        Ok(CertificateTail(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CertificateTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("******")
    }
}

impl fmt::Debug for CertificateTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CertificateTail(…)")
    }
}

/// A six-digit SMS verification code, kept as text because its leading zeros
/// are part of it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SmsCode(String);

impl SmsCode {
    pub fn parse(raw: &str) -> Result<SmsCode, InputError> {
        let value = bounded(raw, CODE_DIGITS)?;
        if value.len() != CODE_DIGITS || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InputError::Malformed("must be 6 digits"));
        }
        Ok(SmsCode(value))
    }

    /// A code drawn uniformly from `000000` to `999999`. Whether it clashes
    /// with a live code is for the caller, who knows the live ones.
    pub fn generate<R: rand::Rng + ?Sized>(rng: &mut R) -> SmsCode {
        let n: u32 = rng.random_range(0..10u32.pow(CODE_DIGITS as u32));
        SmsCode(format!("{n:0width$}", width = CODE_DIGITS))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SmsCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("******")
    }
}

impl fmt::Debug for SmsCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmsCode(…)")
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    const MALFORMED_MOBILE: InputError = InputError::Malformed("must be 11 digits starting with 1");

    #[test]
    fn normalize_folds_full_width_characters_and_trims() {
        assert_eq!(normalize("　１３８ "), "138");
        assert_eq!(normalize("\t ＡＢＣ\n"), "ABC");
        assert_eq!(normalize(""), "");
    }

    #[test]
    fn letters_that_upper_case_into_ascii_are_not_certificate_characters() {
        assert!(CertificateTail::parse("1234ß").is_err());
        assert!(CertificateTail::parse("12345ı").is_err());
        assert!(CertificateNumber::parse(&"ß".repeat(32)).is_err());
    }

    #[test]
    fn text_fields_refuse_control_characters() {
        assert!(text_field("Zhang\u{0}San", 20).is_err());
        assert!(text_field("Zhang\u{7}San", 20).is_err());
        assert!(text_field("Zhang\u{2028}San", 20).is_err());
        assert!(text_field("Zhang San", 20).is_ok());
    }

    #[test]
    fn text_field_is_required_and_bounded() {
        assert_eq!(text_field("  示例网站 ", 10), Ok("示例网站".to_string()));
        assert_eq!(text_field("　 ", 10), Err(InputError::Missing));
        assert_eq!(text_field("abcdef", 5), Err(InputError::TooLong { max: 5 }));
        // Characters are counted, not bytes: four Chinese characters fit in four.
        assert!(text_field("甘肃备案", 4).is_ok());
    }

    #[test]
    fn input_error_messages_say_what_to_fix() {
        assert_eq!(InputError::Missing.message(), "is required");
        assert_eq!(
            InputError::TooLong { max: 64 }.to_string(),
            "is too long (at most 64 characters)"
        );
        assert_eq!(
            MALFORMED_MOBILE.message(),
            "must be 11 digits starting with 1"
        );
    }

    #[test]
    fn a_plain_mobile_is_kept_as_typed() {
        assert_eq!(
            Mobile::parse("13800138000").unwrap().as_str(),
            "13800138000"
        );
    }

    #[test]
    fn full_width_digits_make_a_mobile() {
        assert_eq!(
            Mobile::parse("１３８００１３８０００").unwrap().as_str(),
            "13800138000"
        );
    }

    #[test]
    fn country_prefixes_spaces_and_dashes_are_dropped() {
        for raw in [
            "+86 133-0013-3000",
            "0086 13300133000",
            "86-13300133000",
            "(+86) 133.0013.3000",
            "＋８６　１３３００１３３０００",
            " 133 0013 3000 ",
        ] {
            assert_eq!(Mobile::parse(raw).unwrap().as_str(), "13300133000", "{raw}");
        }
    }

    #[test]
    fn a_mobile_of_ten_or_twelve_digits_is_refused() {
        assert_eq!(Mobile::parse("1380013800"), Err(MALFORMED_MOBILE));
        assert_eq!(Mobile::parse("138001380001"), Err(MALFORMED_MOBILE));
        // A prefix is only dropped when eleven digits remain.
        assert_eq!(Mobile::parse("+86 1380013800"), Err(MALFORMED_MOBILE));
    }

    #[test]
    fn a_mobile_must_start_with_1_and_hold_only_digits() {
        assert_eq!(Mobile::parse("23800138000"), Err(MALFORMED_MOBILE));
        assert_eq!(Mobile::parse("1380013800a"), Err(MALFORMED_MOBILE));
        assert_eq!(Mobile::parse("+8613800138000x"), Err(MALFORMED_MOBILE));
    }

    #[test]
    fn an_empty_mobile_is_missing_and_a_huge_one_too_long() {
        assert_eq!(Mobile::parse("  "), Err(InputError::Missing));
        let huge = "1".repeat(10_000);
        assert_eq!(Mobile::parse(&huge), Err(InputError::TooLong { max: 64 }));
    }

    #[test]
    fn masked_shows_the_first_three_and_last_four_digits() {
        let mobile = Mobile::parse("13812345678").unwrap();
        assert_eq!(mobile.masked(), "138****5678");
        assert_eq!(mobile.to_string(), "138****5678");
    }

    #[test]
    fn debug_never_prints_a_secret() {
        let mobile = Mobile::parse("13812345678").unwrap();
        let certificate = CertificateNumber::parse("11010519491231002X").unwrap();
        let tail = CertificateTail::parse("31002x").unwrap();
        let code = SmsCode::parse("042917").unwrap();
        let printed = format!(
            "{mobile:?} {mobile} {certificate:?} {certificate} {tail:?} {tail} {code:?} {code}"
        );
        for secret in ["13812345678", "11010519491231002X", "31002X", "042917"] {
            assert!(!printed.contains(secret), "{printed}");
        }
    }

    #[test]
    fn a_certificate_number_is_uppercased_and_gives_its_tail() {
        let certificate = CertificateNumber::parse(" 11010519491231002x ").unwrap();
        assert_eq!(certificate.as_str(), "11010519491231002X");
        assert_eq!(certificate.tail().as_str(), "31002X");
        assert_eq!(
            CertificateNumber::parse("９１６２０１０２ＭＡ７３")
                .unwrap()
                .as_str(),
            "91620102MA73"
        );
    }

    #[test]
    fn a_certificate_number_must_be_6_to_32_letters_and_digits() {
        assert!(CertificateNumber::parse("12345").is_err());
        assert!(CertificateNumber::parse("123456").is_ok());
        assert!(CertificateNumber::parse("110105-19491231").is_err());
        assert!(CertificateNumber::parse("1101 0519 4912").is_err());
        assert_eq!(CertificateNumber::parse(""), Err(InputError::Missing));
        assert_eq!(
            CertificateNumber::parse(&"1".repeat(33)),
            Err(InputError::TooLong { max: 32 })
        );
    }

    #[test]
    fn a_lowercase_x_in_a_certificate_tail_becomes_x() {
        assert_eq!(CertificateTail::parse("31002x").unwrap().as_str(), "31002X");
        assert_eq!(
            CertificateTail::parse("３１００２ｘ").unwrap().as_str(),
            "31002X"
        );
    }

    #[test]
    fn a_certificate_tail_is_exactly_six_letters_or_digits() {
        assert!(CertificateTail::parse("1002X").is_err());
        assert_eq!(
            CertificateTail::parse("231002X"),
            Err(InputError::TooLong { max: 6 })
        );
        assert!(CertificateTail::parse("31-02X").is_err());
        assert_eq!(CertificateTail::parse(""), Err(InputError::Missing));
    }

    #[test]
    fn a_code_keeps_its_leading_zeros() {
        assert_eq!(SmsCode::parse("000123").unwrap().as_str(), "000123");
        assert_eq!(SmsCode::parse(" ０００１２３ ").unwrap().as_str(), "000123");
    }

    #[test]
    fn a_code_of_the_wrong_length_or_with_letters_is_refused() {
        assert_eq!(
            SmsCode::parse("12345"),
            Err(InputError::Malformed("must be 6 digits"))
        );
        assert_eq!(
            SmsCode::parse("1234567"),
            Err(InputError::TooLong { max: 6 })
        );
        assert_eq!(
            SmsCode::parse("12a456"),
            Err(InputError::Malformed("must be 6 digits"))
        );
        assert_eq!(SmsCode::parse(""), Err(InputError::Missing));
    }

    #[test]
    fn a_10000_character_field_is_too_long_everywhere() {
        let huge = "9".repeat(10_000);
        assert_eq!(
            text_field(&huge, 200),
            Err(InputError::TooLong { max: 200 })
        );
        assert!(matches!(
            Mobile::parse(&huge),
            Err(InputError::TooLong { .. })
        ));
        assert!(matches!(
            CertificateNumber::parse(&huge),
            Err(InputError::TooLong { .. })
        ));
        assert!(matches!(
            CertificateTail::parse(&huge),
            Err(InputError::TooLong { .. })
        ));
        assert!(matches!(
            SmsCode::parse(&huge),
            Err(InputError::TooLong { .. })
        ));
    }

    #[test]
    fn generated_codes_are_always_six_digits_and_parse_back() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut saw_leading_zero = false;
        for _ in 0..20_000 {
            let code = SmsCode::generate(&mut rng);
            assert_eq!(code.as_str().len(), 6);
            assert!(code.as_str().bytes().all(|b| b.is_ascii_digit()));
            assert_eq!(SmsCode::parse(code.as_str()).as_ref(), Ok(&code));
            saw_leading_zero |= code.as_str().starts_with('0');
        }
        // One code in ten starts with 0; padding must keep that digit.
        assert!(saw_leading_zero);
    }

    #[test]
    fn the_same_seed_draws_the_same_codes() {
        let draw = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..5)
                .map(|_| SmsCode::generate(&mut rng).as_str().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(42), draw(42));
    }
}
