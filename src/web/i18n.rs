//! The two languages of the portal and the operator pages. Every word a page
//! shows comes from the catalogue `locales/app.yml`, read by `rust-i18n` when
//! the crate is built; the language is picked by `?lang=`, then the `lang`
//! cookie, then `Accept-Language`, and is Chinese when none of them says.
//!
//! Pages read their words from [`Texts`], a struct with one field per
//! catalogue entry, so a template that names a missing entry does not build;
//! stored values (states, kinds, carriers, timeline events) are named through
//! [`Lang::label`].

use std::borrow::Cow;
use std::sync::LazyLock;

use axum::extract::FromRequestParts;
use axum::http::HeaderValue;
use axum::http::header::{ACCEPT_LANGUAGE, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use rust_i18n::t;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The catalogue's name for the language.
    fn locale(self) -> &'static str {
        self.code()
    }

    /// The one to offer on the switch.
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// What `?lang=` and the cookie say for this language.
    pub fn short(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    pub fn texts(self) -> &'static Texts {
        static ZH: LazyLock<Texts> = LazyLock::new(|| Texts::load(Lang::Zh.locale()));
        static EN: LazyLock<Texts> = LazyLock::new(|| Texts::load(Lang::En.locale()));
        match self {
            Lang::Zh => &ZH,
            Lang::En => &EN,
        }
    }

    /// A province's name in this language, from its code.
    pub fn province(self, code: &str) -> String {
        match crate::domain::province::find(code) {
            Some(p) if self == Lang::Zh => p.name_zh.to_string(),
            Some(p) => p.name_en.to_string(),
            None => code.to_string(),
        }
    }

    /// The name of a stored value of `group` (`filing_state`, `sms_kind`, ...)
    /// in this language; the value itself when the catalogue has no name.
    pub fn label(self, group: &str, value: &str) -> String {
        let key = format!("{group}.{value}");
        let name = t!(&key, locale = self.locale());
        if name == key {
            value.to_string()
        } else {
            name.into_owned()
        }
    }

    fn parse(value: &str) -> Option<Lang> {
        let value = value.trim().to_ascii_lowercase();
        if value.starts_with("zh") {
            Some(Lang::Zh)
        } else if value.starts_with("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The first language of `Accept-Language` that the portal speaks, by weight.
    fn from_accept_language(header: &str) -> Option<Lang> {
        let mut ranked: Vec<(f32, Lang)> = header
            .split(',')
            .filter_map(|item| {
                let mut parts = item.split(';');
                let lang = Lang::parse(parts.next()?)?;
                let weight = parts
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse().ok())
                    .unwrap_or(1.0);
                Some((weight, lang))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranked.first().map(|(_, lang)| *lang)
    }
}

/// The language of a request, and whether `?lang=` asked for it (then the
/// page sets the cookie so the choice sticks).
#[derive(Debug, Clone)]
pub struct Chosen {
    pub lang: Lang,
    pub from_query: bool,
    /// The request's query without `lang`, so the switch keeps a page's filters.
    kept_query: String,
}

impl Chosen {
    /// A language chosen by no request, for pages rendered in tests.
    #[cfg(test)]
    pub fn fixed(lang: Lang) -> Chosen {
        Chosen {
            lang,
            from_query: false,
            kept_query: String::new(),
        }
    }

    /// Sets the language cookie on `response` when `?lang=` chose the
    /// language, so the choice sticks on every page.
    pub fn remember(&self, response: impl IntoResponse) -> Response {
        let mut response = response.into_response();
        if self.from_query {
            let cookie = format!(
                "lang={}; Path=/; Max-Age=31536000; SameSite=Lax",
                self.lang.short()
            );
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(SET_COOKIE, value);
            }
        }
        response
    }

    /// The link to this page, at `path`, in the other language.
    pub fn switch_href(&self, path: &str) -> String {
        let other = self.lang.other().short();
        if self.kept_query.is_empty() {
            format!("{path}?lang={other}")
        } else {
            format!("{path}?{}&lang={other}", self.kept_query)
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Chosen {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let asked = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("lang="))
            .and_then(Lang::parse);
        let kept_query = query
            .split('&')
            .filter(|pair| !pair.is_empty() && !pair.starts_with("lang="))
            .collect::<Vec<_>>()
            .join("&");
        if let Some(lang) = asked {
            return Ok(Chosen {
                lang,
                from_query: true,
                kept_query,
            });
        }
        let cookie = parts
            .headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| c.trim().strip_prefix("lang="))
            .and_then(Lang::parse);
        let accept = parts
            .headers
            .get(ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(Lang::from_accept_language);
        Ok(Chosen {
            lang: cookie.or(accept).unwrap_or(Lang::Zh),
            from_query: false,
            kept_query,
        })
    }
}

/// Declares [`Texts`] with one field per catalogue entry.
macro_rules! texts {
    ($($key:ident,)*) => {
        pub struct Texts {
            $(pub $key: Cow<'static, str>,)*
        }

        impl Texts {
            fn load(locale: &str) -> Texts {
                Texts {
                    $($key: t!(stringify!($key), locale = locale),)*
                }
            }

            #[cfg(test)]
            fn entries(&self) -> Vec<(&'static str, &str)> {
                vec![$((stringify!($key), &*self.$key),)*]
            }
        }
    };
}

/// Fills the `%{name}` places of a catalogue text.
pub fn fill(text: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(text.to_string(), |text, (name, value)| {
        text.replace(&format!("%{{{name}}}"), value)
    })
}

texts! {
    portal_list_title,
    portal_list_intro,
    portal_suffix,
    home_intro,
    go_verify,
    go_resend,
    verify_title,
    verify_intro,
    resend_title,
    resend_intro,
    certificate_last6,
    certificate_hint,
    mobile,
    code,
    captcha,
    captcha_refresh,
    verify_button,
    resend_button,
    back_home,
    switch_to,
    deadline_note,
    verified,
    still_waiting,
    all_verified,
    not_found,
    returned_expired,
    returned_attempts,
    captcha_invalid,
    invalid_input,
    rate_limited,
    sent,
    resend_not_found,
    form_expired,
    page_not_found,
    not_a_pilot,
    server_error,
    error_id,
    bad_certificate,
    bad_mobile,
    bad_code,
    ops_brand,
    ops_nav_filings,
    ops_nav_sms,
    ops_nav_isps,
    ops_sign_in,
    ops_sign_out,
    ops_sign_in_failed,
    ops_username,
    ops_password,
    ops_any,
    ops_filter,
    ops_state,
    ops_province,
    ops_kind,
    ops_isp,
    ops_reference,
    ops_search,
    ops_search_hint,
    ops_filings_title,
    ops_submitted_china,
    ops_no_filing,
    ops_older_filings,
    ops_filing_title,
    ops_all_filings,
    ops_icp_number,
    ops_submitted,
    ops_deadline,
    ops_subject,
    ops_websites,
    ops_verifications,
    ops_person,
    ops_roles,
    ops_wrong_certificates,
    ops_no_verification,
    ops_reveal,
    ops_review,
    ops_approve,
    ops_reject,
    ops_reject_reason,
    ops_timeline,
    ops_approved_as,
    ops_rejected,
    ops_not_awaiting_review,
    ops_reason_invalid,
    ops_no_such_filing,
    ops_sms_title,
    ops_written_china,
    ops_due,
    ops_carrier,
    ops_sender,
    ops_filing,
    ops_open,
    ops_no_sms,
    ops_older_sms,
    ops_handset_title,
    ops_handset_log,
    ops_set,
    ops_no_messages,
    ops_handset_state_set,
    ops_handset_state_invalid,
    ops_not_a_mobile,
    ops_no_filing_for_mobile,
    ops_isps_title,
    ops_key_once,
    ops_webhook_secret,
    ops_api_key,
    ops_webhook_saved,
    ops_add_isp,
    ops_name,
    ops_webhook_url,
    ops_add,
    ops_save,
    ops_added,
    ops_filings_count,
    ops_event,
    ops_queued,
    ops_tries,
    ops_isp_name_invalid,
    ops_webhook_url_invalid,
    ops_no_such_isp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_heaviest_spoken_language() {
        assert_eq!(
            Lang::from_accept_language("en-US,en;q=0.9,zh-CN;q=0.8"),
            Some(Lang::En)
        );
        assert_eq!(
            Lang::from_accept_language("fr;q=1,zh;q=0.5,en;q=0.4"),
            Some(Lang::Zh)
        );
        assert_eq!(Lang::from_accept_language("fr,de"), None);
    }

    #[test]
    fn every_entry_has_both_languages() {
        for lang in [Lang::Zh, Lang::En] {
            for (key, text) in lang.texts().entries() {
                assert_ne!(text, key, "{key} has no {} text", lang.code());
                assert!(!text.trim().is_empty(), "{key} is empty in {}", lang.code());
            }
        }
        assert_eq!(Lang::Zh.texts().verify_button, "核验");
        assert_eq!(Lang::En.texts().verify_button, "Verify");
    }

    #[test]
    fn the_catalogue_holds_no_entry_that_no_page_uses() {
        let catalogue = include_str!("../../locales/app.yml");
        let known: Vec<&str> = Lang::Zh.texts().entries().iter().map(|e| e.0).collect();
        for line in catalogue.lines() {
            let Some(key) = line.strip_suffix(':') else {
                continue;
            };
            if key.starts_with(|c: char| c.is_ascii_lowercase()) && !key.contains(' ') {
                assert!(
                    known.contains(&key) || LABEL_GROUPS.contains(&key),
                    "{key} is in the catalogue but not in Texts"
                );
            }
        }
    }

    const LABEL_GROUPS: [&str; 11] = [
        "filing_state",
        "filing_kind",
        "return_reason",
        "verification_state",
        "role",
        "sms_kind",
        "sms_state",
        "handset_state",
        "carrier",
        "delivery_state",
        "event",
    ];

    #[test]
    fn stored_values_have_names_in_both_languages() {
        let stored: &[(&str, &[&str])] = &[
            ("filing_state", &crate::web::ops::STATES),
            (
                "filing_kind",
                &[
                    "new_filing",
                    "new_website",
                    "new_access",
                    "change",
                    "logout_subject",
                    "logout_website",
                    "cancel_access",
                ],
            ),
            (
                "return_reason",
                &["verification_expired", "certificate_attempts_exceeded"],
            ),
            ("verification_state", &["pending", "verified"]),
            ("role", &["subject", "website"]),
            ("sms_kind", &["first", "manual_resend", "noon_resend"]),
            ("sms_state", &crate::web::ops::sms::SMS_STATES),
            ("handset_state", &crate::web::ops::sms::HANDSET_STATES),
            ("carrier", &["mobile", "unicom", "telecom", "unknown"]),
            ("delivery_state", &["pending", "delivered", "failed"]),
            (
                "event",
                &[
                    "submitted",
                    "sms_scheduled",
                    "sms_undeliverable",
                    "sms_delivered",
                    "sms_held",
                    "sms_dropped",
                    "verify_attempt",
                    "resend_requested",
                    "noon_resend",
                    "state_changed",
                ],
            ),
        ];
        assert_eq!(stored.len(), LABEL_GROUPS.len());
        for (group, values) in stored {
            for value in *values {
                let zh = Lang::Zh.label(group, value);
                let en = Lang::En.label(group, value);
                assert!(!zh.is_ascii(), "{group}.{value} has no Chinese name: {zh}");
                assert!(!en.is_empty(), "{group}.{value}");
            }
        }
        assert_eq!(Lang::Zh.label("filing_state", "approved"), "已通过");
        assert_eq!(
            Lang::En.label("filing_state", "no_such_state"),
            "no_such_state"
        );
    }

    #[test]
    fn fill_replaces_named_places() {
        assert_eq!(
            fill(
                "within %{hours} h at %{time}",
                &[("hours", "24"), ("time", "12:00")]
            ),
            "within 24 h at 12:00"
        );
    }
}
