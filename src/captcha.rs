//! Drawing captcha pictures. Drawing costs a few milliseconds of CPU, so it
//! happens only when a picture is fetched, on the blocking pool, a few at a time.

use captcha::Captcha;
use captcha::filters::{Dots, Noise, Wave};

/// Draws `answer` as a PNG. The crate picks characters at random from a set,
/// so the set is narrowed to the one wanted before each character is added.
pub fn draw(answer: &str) -> Option<Vec<u8>> {
    let mut picture = Captcha::new();
    for ch in answer.chars() {
        picture.set_chars(&[ch]).add_char();
    }
    picture
        .apply_filter(Noise::new(0.1))
        .apply_filter(Wave::new(2.0, 8.0))
        .view(220, 90)
        .apply_filter(Dots::new(4));
    picture.as_png()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_every_character_of_the_captcha_alphabet() {
        let picture = Captcha::new();
        let supported = picture.supported_chars();
        for ch in "ABCDEFGHKMNPQRSTUVWXYZ2345678".chars() {
            assert!(supported.contains(&ch), "{ch} is not in the captcha font");
        }
        let png = draw("AB23K").expect("a picture");
        assert_eq!(&png[1..4], b"PNG");
    }
}
