//! The 31 provincial divisions of mainland China and their portal hosts.
//!
//! A province's code is the prefix of its portal's host name,
//! `{code}cainfo.miitbeian.gov.cn`. The pilot provinces' codes are the ones the
//! real portals use (Hainan is `hn`), and Beijing is `bj`. For the rest the
//! codes follow ISO 3166-2:CN where that does not clash with a pilot: Henan
//! is `ha` (its ISO code), and Hunan, whose ISO code `hn` belongs to Hainan
//! here, is `hu`. Hebei is `he`, Shanxi `sx` and Shaanxi `sn`, as in ISO.

/// Domain under which every real province portal lives.
const PORTAL_DOMAIN: &str = "miitbeian.gov.cn";

/// What follows the province code in the first label of a portal's host.
const HOST_SUFFIX: &str = "cainfo";

#[derive(Debug, PartialEq, Eq)]
pub struct Province {
    /// Lowercase two-letter code, unique among the 31.
    pub code: &'static str,
    /// Full Chinese name, as in the name of its communications administration
    /// (甘肃省 for 甘肃省通信管理局).
    pub name_zh: &'static str,
    pub name_en: &'static str,
    /// One-character abbreviation that opens the province's ICP numbers.
    pub abbr: &'static str,
}

const fn p(
    code: &'static str,
    name_zh: &'static str,
    name_en: &'static str,
    abbr: &'static str,
) -> Province {
    Province {
        code,
        name_zh,
        name_en,
        abbr,
    }
}

/// Every provincial division, in the order of the national administrative
/// division codes (Beijing 11 … Xinjiang 65).
///
/// Abbreviations are those that open the province's ICP numbers, which is why
/// Sichuan has 蜀 rather than 川. Gansu's real ICP numbers open with 陇; the
/// design fixes 甘 for it (as in `甘ICP备2026000123号`), and the emulator
/// follows the design.
pub static PROVINCES: [Province; 31] = [
    p("bj", "北京市", "Beijing", "京"),
    p("tj", "天津市", "Tianjin", "津"),
    p("he", "河北省", "Hebei", "冀"),
    p("sx", "山西省", "Shanxi", "晋"),
    p("nm", "内蒙古自治区", "Inner Mongolia", "蒙"),
    p("ln", "辽宁省", "Liaoning", "辽"),
    p("jl", "吉林省", "Jilin", "吉"),
    p("hl", "黑龙江省", "Heilongjiang", "黑"),
    p("sh", "上海市", "Shanghai", "沪"),
    p("js", "江苏省", "Jiangsu", "苏"),
    p("zj", "浙江省", "Zhejiang", "浙"),
    p("ah", "安徽省", "Anhui", "皖"),
    p("fj", "福建省", "Fujian", "闽"),
    p("jx", "江西省", "Jiangxi", "赣"),
    p("sd", "山东省", "Shandong", "鲁"),
    p("ha", "河南省", "Henan", "豫"),
    p("hb", "湖北省", "Hubei", "鄂"),
    p("hu", "湖南省", "Hunan", "湘"),
    p("gd", "广东省", "Guangdong", "粤"),
    p("gx", "广西壮族自治区", "Guangxi", "桂"),
    p("hn", "海南省", "Hainan", "琼"),
    p("cq", "重庆市", "Chongqing", "渝"),
    p("sc", "四川省", "Sichuan", "蜀"),
    p("gz", "贵州省", "Guizhou", "黔"),
    p("yn", "云南省", "Yunnan", "滇"),
    p("xz", "西藏自治区", "Tibet", "藏"),
    p("sn", "陕西省", "Shaanxi", "陕"),
    p("gs", "甘肃省", "Gansu", "甘"),
    p("qh", "青海省", "Qinghai", "青"),
    p("nx", "宁夏回族自治区", "Ningxia", "宁"),
    p("xj", "新疆维吾尔自治区", "Xinjiang", "新"),
];

/// The provinces where SMS verification applies unless configured otherwise.
pub const DEFAULT_PILOTS: [&str; 7] = ["gs", "xz", "nx", "hn", "xj", "qh", "tj"];

/// The province with this code, in any letter case.
pub fn find(code: &str) -> Option<&'static Province> {
    PROVINCES.iter().find(|p| p.code.eq_ignore_ascii_case(code))
}

/// The province whose portal a `Host` header names.
///
/// Only the first label counts, so the real host, `gscainfo.localhost:8080`
/// (which browsers resolve without DNS set-up) and a test domain behind a
/// proxy all reach Gansu. A port, letter case and a trailing dot are ignored.
pub fn from_host(host: &str) -> Option<&'static Province> {
    // An IPv6 literal ("[::1]:8080") has colons before any port; it never
    // names a portal, so it needs no parsing.
    if host.starts_with('[') {
        return None;
    }
    let without_port = host.split(':').next().unwrap_or_default();
    let first_label = without_port.split('.').next().unwrap_or_default();
    let label = first_label.to_ascii_lowercase();
    let code = label.strip_suffix(HOST_SUFFIX)?;
    // `find` ignores case, but the label is lowercased already; an empty code
    // ("cainfo.localhost") matches nothing.
    find(code)
}

impl Province {
    /// The real portal's host name, e.g. `gscainfo.miitbeian.gov.cn`.
    pub fn host(&self) -> String {
        format!("{}{HOST_SUFFIX}.{PORTAL_DOMAIN}", self.code)
    }

    /// The ICP number assigned to an approved filing, e.g.
    /// `甘ICP备2026000123号` for serial 123 in 2026.
    pub fn icp_number(&self, year: i32, serial: u32) -> String {
        format!("{}ICP备{year}{serial:06}号", self.abbr)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn there_are_31_provinces_with_unique_lowercase_codes_and_hosts() {
        let codes: HashSet<_> = PROVINCES.iter().map(|p| p.code).collect();
        let hosts: HashSet<_> = PROVINCES.iter().map(Province::host).collect();
        let abbrs: HashSet<_> = PROVINCES.iter().map(|p| p.abbr).collect();
        assert_eq!(codes.len(), 31);
        assert_eq!(hosts.len(), 31);
        assert_eq!(abbrs.len(), 31);
        for p in &PROVINCES {
            assert_eq!(p.code.len(), 2, "{}", p.code);
            assert!(p.code.chars().all(|c| c.is_ascii_lowercase()), "{}", p.code);
            assert_eq!(p.abbr.chars().count(), 1, "{}", p.code);
        }
    }

    #[test]
    fn the_pilot_provinces_have_the_reference_codes() {
        let expected = [
            ("gs", "Gansu", "甘"),
            ("xz", "Tibet", "藏"),
            ("nx", "Ningxia", "宁"),
            ("hn", "Hainan", "琼"),
            ("xj", "Xinjiang", "新"),
            ("qh", "Qinghai", "青"),
            ("tj", "Tianjin", "津"),
            ("bj", "Beijing", "京"),
        ];
        for (code, name, abbr) in expected {
            let p = find(code).unwrap();
            assert_eq!((p.name_en, p.abbr), (name, abbr));
        }
        assert!(DEFAULT_PILOTS.iter().all(|code| find(code).is_some()));
    }

    #[test]
    fn henan_and_hunan_do_not_take_hainans_code() {
        assert_eq!(find("hn").unwrap().name_en, "Hainan");
        assert_eq!(find("ha").unwrap().name_en, "Henan");
        assert_eq!(find("hu").unwrap().name_en, "Hunan");
    }

    #[test]
    fn find_ignores_case_and_rejects_unknown_codes() {
        assert_eq!(find("GS").unwrap().code, "gs");
        assert!(find("zz").is_none());
        assert!(find("").is_none());
        assert!(find("gsx").is_none());
    }

    #[test]
    fn host_is_the_code_then_cainfo_under_miitbeian() {
        assert_eq!(find("gs").unwrap().host(), "gscainfo.miitbeian.gov.cn");
    }

    #[test]
    fn from_host_reads_the_first_label_whatever_follows() {
        let cases = [
            ("gscainfo.localhost:8080", "gs"),
            ("GSCAINFO.miitbeian.gov.cn", "gs"),
            ("tjcainfo.example.test", "tj"),
            ("hncainfo.miitbeian.gov.cn.", "hn"),
            ("xzcainfo", "xz"),
        ];
        for (host, code) in cases {
            assert_eq!(from_host(host).map(|p| p.code), Some(code), "{host}");
        }
    }

    #[test]
    fn from_host_gives_none_for_hosts_that_name_no_portal() {
        for host in [
            "localhost:8080",
            "cainfo.localhost",
            "zzcainfo.localhost",
            "127.0.0.1:8080",
            "[::1]:8080",
            "",
            "gs.localhost",
            "example.gscainfo.test",
        ] {
            assert!(from_host(host).is_none(), "{host}");
        }
    }

    #[test]
    fn every_provinces_own_host_leads_back_to_it() {
        for p in &PROVINCES {
            assert_eq!(from_host(&p.host()), Some(p));
        }
    }

    #[test]
    fn icp_number_opens_with_the_abbreviation_and_pads_the_serial() {
        assert_eq!(
            find("gs").unwrap().icp_number(2026, 123),
            "甘ICP备2026000123号"
        );
    }
}
