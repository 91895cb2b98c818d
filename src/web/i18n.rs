//! The portal's two languages. Every word a page shows comes from one of the
//! two catalogues below, picked by `?lang=`, then the `lang` cookie, then
//! `Accept-Language`.

use axum::extract::FromRequestParts;
use axum::http::header::{ACCEPT_LANGUAGE, COOKIE};
use axum::http::request::Parts;

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

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::Zh => &ZH,
            Lang::En => &EN,
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
#[derive(Debug, Clone, Copy)]
pub struct Chosen {
    pub lang: Lang,
    pub from_query: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for Chosen {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let asked = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("lang="))
            .and_then(Lang::parse);
        if let Some(lang) = asked {
            return Ok(Chosen {
                lang,
                from_query: true,
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
        })
    }
}

pub struct Texts {
    pub portal_list_title: &'static str,
    pub portal_list_intro: &'static str,
    pub portal_suffix: &'static str,
    pub home_intro: &'static str,
    pub go_verify: &'static str,
    pub go_resend: &'static str,
    pub verify_title: &'static str,
    pub verify_intro: &'static str,
    pub resend_title: &'static str,
    pub resend_intro: &'static str,
    pub certificate_last6: &'static str,
    pub certificate_hint: &'static str,
    pub mobile: &'static str,
    pub code: &'static str,
    pub captcha: &'static str,
    pub captcha_refresh: &'static str,
    pub verify_button: &'static str,
    pub resend_button: &'static str,
    pub back_home: &'static str,
    pub switch_to: &'static str,
    /// `{hours}` and `{time}` are filled in with the portal's own settings.
    pub deadline_note: &'static str,
    pub verified: &'static str,
    pub still_waiting: &'static str,
    pub all_verified: &'static str,
    pub not_found: &'static str,
    pub returned_expired: &'static str,
    pub returned_attempts: &'static str,
    pub captcha_invalid: &'static str,
    pub invalid_input: &'static str,
    pub rate_limited: &'static str,
    pub sent: &'static str,
    pub resend_not_found: &'static str,
    pub form_expired: &'static str,
    pub page_not_found: &'static str,
    pub not_a_pilot: &'static str,
    pub server_error: &'static str,
    pub error_id: &'static str,
    pub bad_certificate: &'static str,
    pub bad_mobile: &'static str,
    pub bad_code: &'static str,
}

pub static ZH: Texts = Texts {
    portal_list_title: "备案短信核验平台",
    portal_list_intro: "以下省（自治区、直辖市）通信管理局要求备案负责人完成手机短信核验。请选择备案所在省份：",
    portal_suffix: "通信管理局",
    home_intro: "收到工业和信息化部发送的备案核验短信后，请在规定时间内填写证件号码后六位、手机号码和短信核验码，完成核验。",
    go_verify: "备案短信核验",
    go_resend: "重新发送核验短信",
    verify_title: "备案短信核验",
    verify_intro: "请填写备案信息中负责人的证件号码后六位、手机号码和收到的短信核验码。",
    resend_title: "重新发送核验短信",
    resend_intro: "没有收到或误删了核验短信？填写手机号码和证件号码后六位，系统将重新发送核验码，原核验码随即失效。",
    certificate_last6: "证件号码后六位",
    certificate_hint: "末位为字母 X 的请填写 X",
    mobile: "手机号码",
    code: "短信核验码",
    captcha: "图形验证码",
    captcha_refresh: "看不清？换一张",
    verify_button: "核验",
    resend_button: "发送短信",
    back_home: "返回首页",
    switch_to: "English",
    deadline_note: "核验须在提交备案后 {hours} 小时内完成，否则备案将退回接入商。每天 {time}（北京时间）系统会向尚未核验的手机重新发送核验码。",
    verified: "核验成功。",
    still_waiting: "该备案还有以下手机号码需要核验：",
    all_verified: "该备案所有手机号码均已核验，备案已转入管局审核。",
    not_found: "未找到相关备案信息，请核对证件号码后六位、手机号码和核验码后重新输入。",
    returned_expired: "短信核验失败：未在规定时间内完成核验，备案已退回接入商，请重新提交备案。",
    returned_attempts: "短信核验失败：证件号码输错次数过多，备案已退回接入商，请重新提交备案。",
    captcha_invalid: "图形验证码不正确或已失效，请重新输入。",
    invalid_input: "填写的内容有误，请按提示修改。",
    rate_limited: "操作过于频繁，请稍后再试。",
    sent: "短信发送成功，请注意查收。",
    resend_not_found: "未找到待核验的备案信息，请核对手机号码和证件号码后六位。",
    form_expired: "页面已过期，请重新填写。",
    page_not_found: "页面不存在。",
    not_a_pilot: "该省份未开展备案短信核验。",
    server_error: "系统繁忙，请稍后再试。",
    error_id: "错误编号",
    bad_certificate: "请填写 6 位数字或字母。",
    bad_mobile: "请填写 11 位手机号码。",
    bad_code: "请填写短信中的 6 位数字核验码。",
};

pub static EN: Texts = Texts {
    portal_list_title: "ICP Filing SMS Verification",
    portal_list_intro: "The communications administrations of these provinces ask the responsible people of a filing to verify their mobile numbers by SMS. Choose the province of your filing:",
    portal_suffix: "Communications Administration",
    home_intro: "When the SMS with your verification code arrives, enter the last six characters of your certificate number, your mobile number and the code in time to complete the verification.",
    go_verify: "Filing SMS verification",
    go_resend: "Send the SMS again",
    verify_title: "Filing SMS verification",
    verify_intro: "Enter the last six characters of the responsible person's certificate number, the mobile number and the code you received.",
    resend_title: "Send the verification SMS again",
    resend_intro: "No SMS, or deleted it by mistake? Enter your mobile number and the last six characters of your certificate number and a new code will be sent; the old one stops working.",
    certificate_last6: "Last six characters of the certificate number",
    certificate_hint: "If it ends in the letter X, type X",
    mobile: "Mobile number",
    code: "SMS verification code",
    captcha: "Characters in the picture",
    captcha_refresh: "Another picture",
    verify_button: "Verify",
    resend_button: "Send SMS",
    back_home: "Back to the portal",
    switch_to: "中文",
    deadline_note: "Verification must be complete within {hours} hours of the filing's submission, or the filing is returned to the ISP. Every day at {time} China time a new code is sent to each mobile still unverified.",
    verified: "Verification complete.",
    still_waiting: "These mobile numbers of the same filing still need to be verified:",
    all_verified: "Every mobile number of this filing is verified; the filing now awaits the administration's review.",
    not_found: "No matching record was found. Check the certificate characters, the mobile number and the code, and try again.",
    returned_expired: "Verification failed: it was not completed in time, and the filing was returned to the ISP. Please submit the filing again.",
    returned_attempts: "Verification failed: the certificate number was entered wrongly too many times, and the filing was returned to the ISP. Please submit the filing again.",
    captcha_invalid: "The characters from the picture are wrong or expired. Please try again.",
    invalid_input: "Some fields need correcting; see the notes beside them.",
    rate_limited: "Too many attempts. Please wait a moment and try again.",
    sent: "Your SMS is sending successfully.",
    resend_not_found: "No filing awaiting verification was found for this mobile number and certificate.",
    form_expired: "This form has expired. Please fill it in again.",
    page_not_found: "There is no such page.",
    not_a_pilot: "This province does not use filing SMS verification.",
    server_error: "Something went wrong on our side. Please try again later.",
    error_id: "Error id",
    bad_certificate: "Enter six digits or letters.",
    bad_mobile: "Enter an 11-digit mobile number.",
    bad_code: "Enter the six-digit code from the SMS.",
};

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
}
