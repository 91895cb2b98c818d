//! The responsible people of a filing, and the rule "one person, one code".
//!
//! People are the same person when their mobile numbers are equal; each
//! distinct mobile is verified once, and that covers every role it holds.

use std::fmt;

use super::input::{CertificateNumber, Mobile};
use super::kind::Role;

/// A responsible person as a filing names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub certificate: CertificateNumber,
    pub mobile: Mobile,
}

/// One mobile to verify, with every role it holds in the filing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    pub mobile: Mobile,
    pub certificate: CertificateNumber,
    /// In the order the roles were given; never empty.
    pub roles: Vec<Role>,
}

/// The same mobile given with two different certificate numbers: the filing
/// cannot say who that mobile belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeConflict {
    pub mobile: Mobile,
    /// The role where the mobile first appeared.
    pub first: Role,
    /// The role that gave it with another certificate number.
    pub second: Role,
}

impl fmt::Display for MergeConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Display of Mobile is masked, so this is safe to show and to log.
        write!(
            f,
            "mobile {} is given with two different certificate numbers",
            self.mobile
        )
    }
}

impl std::error::Error for MergeConflict {}

/// Groups the people of a filing by mobile: one `Verifier` per distinct
/// mobile, in order of first appearance, holding all its roles.
pub fn merge_by_mobile(people: &[(Role, &Person)]) -> Result<Vec<Verifier>, MergeConflict> {
    let mut verifiers: Vec<Verifier> = Vec::new();
    for &(role, person) in people {
        let Some(verifier) = verifiers.iter_mut().find(|v| v.mobile == person.mobile) else {
            verifiers.push(Verifier {
                mobile: person.mobile.clone(),
                certificate: person.certificate.clone(),
                roles: vec![role],
            });
            continue;
        };
        if verifier.certificate != person.certificate {
            return Err(MergeConflict {
                mobile: person.mobile.clone(),
                first: verifier.roles[0],
                second: role,
            });
        }
        if !verifier.roles.contains(&role) {
            verifier.roles.push(role);
        }
    }
    Ok(verifiers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::{Subject, Website};

    fn person(name: &str, certificate: &str, mobile: &str) -> Person {
        Person {
            name: name.to_string(),
            certificate: CertificateNumber::parse(certificate).unwrap(),
            mobile: Mobile::parse(mobile).unwrap(),
        }
    }

    #[test]
    fn the_same_person_in_two_roles_is_one_verifier_with_both_roles() {
        let zhang = person("张三", "62010219800101123X", "13800138000");
        let verifiers = merge_by_mobile(&[(Subject, &zhang), (Website(0), &zhang)]).unwrap();
        assert_eq!(verifiers.len(), 1);
        assert_eq!(verifiers[0].mobile, zhang.mobile);
        assert_eq!(verifiers[0].certificate, zhang.certificate);
        assert_eq!(verifiers[0].roles, vec![Subject, Website(0)]);
    }

    #[test]
    fn a_mobile_typed_differently_is_still_the_same_person() {
        let typed_plain = person("张三", "62010219800101123X", "13800138000");
        let typed_wide = person("张三", "62010219800101123x", "+86 138-0013-8000");
        let verifiers =
            merge_by_mobile(&[(Subject, &typed_plain), (Website(0), &typed_wide)]).unwrap();
        assert_eq!(verifiers.len(), 1);
    }

    #[test]
    fn distinct_mobiles_keep_the_order_of_first_appearance() {
        let zhang = person("张三", "62010219800101123X", "13800138000");
        let li = person("李四", "620102198202024567", "13300133000");
        let people = [(Subject, &zhang), (Website(0), &li), (Website(1), &zhang)];
        let verifiers = merge_by_mobile(&people).unwrap();
        let summary: Vec<_> = verifiers
            .iter()
            .map(|v| (v.mobile.as_str(), v.roles.clone()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("13800138000", vec![Subject, Website(1)]),
                ("13300133000", vec![Website(0)]),
            ]
        );
    }

    #[test]
    fn one_mobile_with_two_certificate_numbers_is_a_conflict_naming_both_roles() {
        let zhang = person("张三", "62010219800101123X", "13800138000");
        let li = person("李四", "620102198202024567", "13800138000");
        let wang = person("王五", "620102198303035678", "13300133000");
        let people = [(Subject, &zhang), (Website(0), &wang), (Website(1), &li)];
        let conflict = merge_by_mobile(&people).unwrap_err();
        assert_eq!(conflict.first, Subject);
        assert_eq!(conflict.second, Website(1));
        assert_eq!(conflict.mobile, zhang.mobile);
        assert!(!conflict.to_string().contains("13800138000"));
    }

    #[test]
    fn no_people_make_no_verifiers() {
        assert_eq!(merge_by_mobile(&[]), Ok(Vec::new()));
    }
}
