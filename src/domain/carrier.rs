//! Which network carries a mobile number's SMS, read from its number segment.

use serde::{Deserialize, Serialize};

use super::input::Mobile;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Carrier {
    Telecom,
    Unicom,
    Mobile,
}

impl Carrier {
    /// The number a province's verification SMS comes from on this network.
    pub fn sender(&self) -> &'static str {
        match self {
            Carrier::Telecom => "106598051001",
            Carrier::Unicom => "10655113",
            Carrier::Mobile => "106575000130",
        }
    }

    pub fn name_en(&self) -> &'static str {
        match self {
            Carrier::Telecom => "China Telecom",
            Carrier::Unicom => "China Unicom",
            Carrier::Mobile => "China Mobile",
        }
    }

    pub fn name_zh(&self) -> &'static str {
        match self {
            Carrier::Telecom => "中国电信",
            Carrier::Unicom => "中国联通",
            Carrier::Mobile => "中国移动",
        }
    }

    /// The value used in the API and the database.
    pub fn as_str(&self) -> &'static str {
        match self {
            Carrier::Telecom => "telecom",
            Carrier::Unicom => "unicom",
            Carrier::Mobile => "mobile",
        }
    }
}

// Short names keep the segment table at one readable entry a line.
use Carrier::{Mobile as CM, Telecom as CT, Unicom as CU};

/// Number segments of mainland China's public mobile networks, each with the
/// network whose SMS gateway reaches it.
///
/// The table follows MIIT's public allocation of the 13x–19x segments of
/// eleven-digit mobile numbers to China Telecom, China Unicom, China Mobile
/// and China Broadnet, as it stood in 2024. Two kinds of entries need a word:
///
/// - Virtual network operators (segments 162, 165, 167, 170, 171) are given
///   the host network their segment belongs to, because that network carries
///   their SMS.
/// - 192 belongs to China Broadnet, which runs on China Mobile's network under
///   their joint-build agreement, so it is listed as Mobile.
///
/// Longer prefixes override shorter ones (1349 within 134, and the split of
/// 170 by its fourth digit). Data-only and IoT segments that issue eleven-digit
/// numbers (145–149, 172) are included, since such numbers can receive SMS.
/// Segments with no public mobile allocation (e.g. 154, 194) and 174, kept for
/// satellite and emergency use, are left out: their numbers have no carrier.
const SEGMENTS: &[(&str, Carrier)] = &[
    ("130", CU),
    ("131", CU),
    ("132", CU),
    ("133", CT),
    ("134", CM),
    ("1349", CT), // satellite mobile, now run by China Telecom
    ("135", CM),
    ("136", CM),
    ("137", CM),
    ("138", CM),
    ("139", CM),
    ("145", CU),
    ("146", CU),
    ("147", CM),
    ("148", CM),
    ("149", CT),
    ("150", CM),
    ("151", CM),
    ("152", CM),
    ("153", CT),
    ("155", CU),
    ("156", CU),
    ("157", CM),
    ("158", CM),
    ("159", CM),
    ("162", CT),
    ("165", CM),
    ("166", CU),
    ("167", CU),
    ("1700", CT),
    ("1701", CT),
    ("1702", CT),
    ("1703", CM),
    ("1704", CU),
    ("1705", CM),
    ("1706", CM),
    ("1707", CU),
    ("1708", CU),
    ("1709", CU),
    ("171", CU),
    ("172", CM),
    ("173", CT),
    ("175", CU),
    ("176", CU),
    ("177", CT),
    ("178", CM),
    ("180", CT),
    ("181", CT),
    ("182", CM),
    ("183", CM),
    ("184", CM),
    ("185", CU),
    ("186", CU),
    ("187", CM),
    ("188", CM),
    ("189", CT),
    ("190", CT),
    ("191", CT),
    ("192", CM),
    ("193", CT),
    ("195", CM),
    ("196", CU),
    ("197", CM),
    ("198", CM),
    ("199", CT),
];

/// Segments allocated to virtual network operators rather than to a network.
const VIRTUAL_SEGMENTS: &[&str] = &["162", "165", "167", "170", "171"];

/// The network that delivers SMS to this number, or `None` when its segment is
/// not allocated to any.
pub fn carrier_of(mobile: &Mobile) -> Option<Carrier> {
    let number = mobile.as_str();
    SEGMENTS
        .iter()
        .filter(|(prefix, _)| number.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|&(_, carrier)| carrier)
}

/// Whether the number belongs to a virtual network operator, whose SMS go
/// through a host network's gateway.
pub fn is_virtual(mobile: &Mobile) -> bool {
    VIRTUAL_SEGMENTS
        .iter()
        .any(|prefix| mobile.as_str().starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn carrier(number: &str) -> Option<Carrier> {
        carrier_of(&Mobile::parse(number).unwrap())
    }

    #[test]
    fn each_prefix_appears_once_and_is_a_digit_string_starting_with_1() {
        let prefixes: HashSet<_> = SEGMENTS.iter().map(|(prefix, _)| prefix).collect();
        assert_eq!(prefixes.len(), SEGMENTS.len());
        for (prefix, _) in SEGMENTS {
            assert!(prefix.starts_with('1') && prefix.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn numbers_of_the_three_networks_get_their_carrier() {
        let cases = [
            ("13800138000", CM),
            ("13912345678", CM),
            ("19812345678", CM),
            ("13012345678", CU),
            ("18612345678", CU),
            ("16612345678", CU),
            ("13300133000", CT),
            ("18912345678", CT),
            ("19912345678", CT),
        ];
        for (number, expected) in cases {
            assert_eq!(carrier(number), Some(expected), "{number}");
        }
    }

    #[test]
    fn virtual_operators_numbers_go_through_their_host_network() {
        let cases = [
            ("17031234567", CM),
            ("17091234567", CU),
            ("17001234567", CT),
            ("16212345678", CT),
            ("16512345678", CM),
            ("16712345678", CU),
            ("17112345678", CU),
        ];
        for (number, expected) in cases {
            assert_eq!(carrier(number), Some(expected), "{number}");
            assert!(is_virtual(&Mobile::parse(number).unwrap()), "{number}");
        }
    }

    #[test]
    fn a_longer_prefix_wins_over_a_shorter_one() {
        assert_eq!(carrier("13491234567"), Some(CT));
        assert_eq!(carrier("13481234567"), Some(CM));
    }

    #[test]
    fn numbers_of_the_networks_themselves_are_not_virtual() {
        for number in ["13800138000", "13012345678", "13300133000", "19212345678"] {
            assert!(!is_virtual(&Mobile::parse(number).unwrap()), "{number}");
        }
    }

    #[test]
    fn a_number_in_no_allocated_segment_has_no_carrier() {
        for number in ["12000000000", "10000000000", "15412345678", "19412345678"] {
            assert_eq!(carrier(number), None, "{number}");
        }
    }

    #[test]
    fn each_carrier_has_its_sender_number_and_names() {
        assert_eq!(CT.sender(), "106598051001");
        assert_eq!(CU.sender(), "10655113");
        assert_eq!(CM.sender(), "106575000130");
        assert_eq!(CU.name_zh(), "中国联通");
        assert_eq!(CM.name_en(), "China Mobile");
        assert_eq!(CT.as_str(), "telecom");
    }

    #[test]
    fn serde_names_the_carriers_by_their_api_values() {
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error, StrDeserializer};
        for carrier in [CT, CU, CM] {
            let value: StrDeserializer<Error> = carrier.as_str().into_deserializer();
            assert_eq!(Carrier::deserialize(value), Ok(carrier));
        }
    }
}
