//! Kinds of filing, and whose mobile each kind has verified.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilingKind {
    /// A new subject with its websites.
    NewFiling,
    /// A website added to a subject already filed.
    NewWebsite,
    /// A filed website moving its hosting to this ISP.
    NewAccess,
    Change,
    LogoutSubject,
    LogoutWebsite,
    CancelAccess,
}

impl FilingKind {
    pub const ALL: [FilingKind; 7] = [
        FilingKind::NewFiling,
        FilingKind::NewWebsite,
        FilingKind::NewAccess,
        FilingKind::Change,
        FilingKind::LogoutSubject,
        FilingKind::LogoutWebsite,
        FilingKind::CancelAccess,
    ];

    /// The API and database value, e.g. `new_filing`.
    pub fn as_str(&self) -> &'static str {
        match self {
            FilingKind::NewFiling => "new_filing",
            FilingKind::NewWebsite => "new_website",
            FilingKind::NewAccess => "new_access",
            FilingKind::Change => "change",
            FilingKind::LogoutSubject => "logout_subject",
            FilingKind::LogoutWebsite => "logout_website",
            FilingKind::CancelAccess => "cancel_access",
        }
    }

    /// The kind with this API value; exact, as the API documents the values.
    pub fn parse(value: &str) -> Option<FilingKind> {
        FilingKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == value)
    }
}

/// A responsible person's place in a filing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Role {
    /// The subject's (the filing organisation's or individual's) person.
    Subject,
    /// The person of the website at this index in the filing's website list.
    Website(usize),
}

/// What the verification rule needs to know of a filing.
pub struct FilingShape<'a> {
    pub kind: FilingKind,
    /// For `change`: whether the subject's data changed.
    pub subject_changed: bool,
    /// One entry per website in the filing, in order: whether that website's
    /// data changed. Its length is the number of websites for every kind.
    pub websites_changed: &'a [bool],
    /// The setting that turns verification on for logouts and cancellations.
    pub verify_logouts: bool,
}

/// The roles whose mobiles must be verified, subject first, then websites in
/// their order. Empty means the filing goes straight to review.
pub fn roles_to_verify(shape: &FilingShape) -> Vec<Role> {
    let every_website = || (0..shape.websites_changed.len()).map(Role::Website);
    match shape.kind {
        FilingKind::NewFiling => std::iter::once(Role::Subject)
            .chain(every_website())
            .collect(),
        FilingKind::NewWebsite | FilingKind::NewAccess => every_website().collect(),
        // No change, no verification: an empty change asks nobody.
        FilingKind::Change => {
            let subject = shape.subject_changed.then_some(Role::Subject);
            let websites = shape
                .websites_changed
                .iter()
                .enumerate()
                .filter(|&(_, &changed)| changed)
                .map(|(i, _)| Role::Website(i));
            subject.into_iter().chain(websites).collect()
        }
        FilingKind::LogoutSubject if shape.verify_logouts => vec![Role::Subject],
        FilingKind::LogoutWebsite | FilingKind::CancelAccess if shape.verify_logouts => {
            every_website().collect()
        }
        FilingKind::LogoutSubject | FilingKind::LogoutWebsite | FilingKind::CancelAccess => {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use FilingKind::*;
    use Role::{Subject, Website};

    fn roles(
        kind: FilingKind,
        subject_changed: bool,
        websites: &[bool],
        logouts: bool,
    ) -> Vec<Role> {
        roles_to_verify(&FilingShape {
            kind,
            subject_changed,
            websites_changed: websites,
            verify_logouts: logouts,
        })
    }

    #[test]
    fn every_kind_round_trips_through_its_api_value() {
        for kind in FilingKind::ALL {
            assert_eq!(FilingKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(FilingKind::parse("new_filing"), Some(NewFiling));
        assert_eq!(FilingKind::parse("NewFiling"), None);
        assert_eq!(FilingKind::parse(""), None);
    }

    #[test]
    fn a_new_filing_verifies_the_subject_and_every_website() {
        let expected = vec![Subject, Website(0), Website(1)];
        assert_eq!(roles(NewFiling, false, &[false, false], false), expected);
    }

    #[test]
    fn a_new_website_or_new_access_verifies_the_websites_people() {
        assert_eq!(roles(NewWebsite, false, &[false], false), vec![Website(0)]);
        assert_eq!(
            roles(NewAccess, true, &[false, true], false),
            vec![Website(0), Website(1)]
        );
    }

    #[test]
    fn a_change_verifies_only_what_changed() {
        assert_eq!(roles(Change, true, &[false, false], false), vec![Subject]);
        assert_eq!(
            roles(Change, false, &[false, true], false),
            vec![Website(1)]
        );
        assert_eq!(
            roles(Change, true, &[true, false, true], false),
            vec![Subject, Website(0), Website(2)]
        );
    }

    #[test]
    fn a_change_with_nothing_changed_verifies_nobody() {
        assert!(roles(Change, false, &[false, false], true).is_empty());
        assert!(roles(Change, false, &[], false).is_empty());
    }

    #[test]
    fn logouts_and_cancellations_verify_nobody_by_default() {
        for kind in [LogoutSubject, LogoutWebsite, CancelAccess] {
            assert!(roles(kind, true, &[true], false).is_empty(), "{kind:?}");
        }
    }

    #[test]
    fn the_logout_setting_turns_verification_on() {
        assert_eq!(roles(LogoutSubject, false, &[false], true), vec![Subject]);
        assert_eq!(
            roles(LogoutWebsite, false, &[false], true),
            vec![Website(0)]
        );
        assert_eq!(
            roles(CancelAccess, false, &[false, false], true),
            vec![Website(0), Website(1)]
        );
    }

    #[test]
    fn serde_names_the_kinds_by_their_api_values() {
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error, StrDeserializer};
        // serde's snake_case and as_str must agree, or the API would accept
        // and show two spellings of one kind.
        for kind in FilingKind::ALL {
            let value: StrDeserializer<Error> = kind.as_str().into_deserializer();
            assert_eq!(FilingKind::deserialize(value), Ok(kind));
        }
    }
}
