//! An ISP submits a filing: validate it whole, then write the filing, its
//! verifications, their first codes and SMS in one transaction.

use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::issue::{CodeFor, IssueError, issue_codes};
use super::{Core, FieldError};
use crate::domain::input::{CertificateNumber, InputError, Mobile, text_field};
use crate::domain::kind::{FilingKind, FilingShape, Role, roles_to_verify};
use crate::domain::people::{Person, merge_by_mobile};
use crate::domain::province::{self, Province};
use crate::store::codes::CodeReason;
use crate::store::filings::{
    self, AWAITING_REVIEW, AWAITING_VERIFICATION, NewFiling, NewVerification,
};
use crate::store::{Job, events, handsets, share_job, webhooks};

const MAX_WEBSITES: usize = 50;
const MAX_DOMAINS: usize = 20;

/// A filing as an ISP sends it. Every field is optional here so that a missing
/// one is reported by name with the others, not as a parse failure.
#[derive(Debug, Default, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct FilingRequest {
    /// A province's code, such as `gs`.
    #[schema(example = "gs")]
    pub province: Option<String>,
    /// `new_filing`, `new_website`, `new_access`, `change`, `logout_subject`,
    /// `logout_website` or `cancel_access`.
    #[schema(example = "new_filing")]
    pub kind: Option<String>,
    pub isp_reference: Option<String>,
    pub subject: Option<SubjectRequest>,
    pub websites: Option<Vec<WebsiteRequest>>,
}

#[derive(Debug, Default, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct SubjectRequest {
    pub name: Option<String>,
    pub certificate_type: Option<String>,
    pub certificate_number: Option<String>,
    /// For a `change` filing: whether the subject's data changed.
    pub changed: bool,
    pub responsible_person: Option<PersonRequest>,
}

#[derive(Debug, Default, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct WebsiteRequest {
    pub name: Option<String>,
    pub domains: Option<Vec<String>>,
    pub changed: bool,
    pub responsible_person: Option<PersonRequest>,
}

#[derive(Debug, Default, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct PersonRequest {
    pub name: Option<String>,
    pub certificate_number: Option<String>,
    pub mobile: Option<String>,
}

/// A filing that passed every check, in domain types.
struct ValidFiling {
    province: &'static Province,
    kind: FilingKind,
    isp_reference: String,
    subject: Value,
    websites: Value,
    subject_person: Person,
    website_people: Vec<Person>,
    subject_changed: bool,
    websites_changed: Vec<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("invalid filing")]
    Invalid(Vec<FieldError>),
    #[error("the idempotency key was used for a different request")]
    KeyReused,
    #[error(transparent)]
    Issue(#[from] IssueError),
}

impl From<sqlx::Error> for SubmitError {
    fn from(e: sqlx::Error) -> Self {
        SubmitError::Issue(IssueError::Database(e))
    }
}

pub struct Submitted {
    pub filing_id: Uuid,
    /// False when an earlier request with the same idempotency key made it.
    pub created: bool,
}

pub async fn submit(
    core: &Core,
    isp_id: Uuid,
    idempotency_key: Option<&str>,
    raw_body: &[u8],
    request: FilingRequest,
) -> Result<Submitted, SubmitError> {
    let filing = validate(request).map_err(SubmitError::Invalid)?;
    let request_hash = hex::encode(Sha256::digest(raw_body));

    let to_verify = if core.settings.is_pilot(filing.province.code) {
        roles_to_verify(&FilingShape {
            kind: filing.kind,
            subject_changed: filing.subject_changed,
            websites_changed: &filing.websites_changed,
            verify_logouts: core.settings.verify_logouts,
        })
    } else {
        Vec::new()
    };
    let mut people: Vec<(Role, &Person)> = vec![(Role::Subject, &filing.subject_person)];
    people.extend(
        filing
            .website_people
            .iter()
            .enumerate()
            .map(|(i, p)| (Role::Website(i), p)),
    );
    let verifiers = merge_by_mobile(&people).map_err(|conflict| {
        SubmitError::Invalid(vec![FieldError::new(
            format!("{}.certificate_number", person_path(conflict.second)),
            format!(
                "mobile {} is given with two different certificate numbers (also at {})",
                conflict.mobile.masked(),
                person_path(conflict.first)
            ),
        )])
    })?;
    let verifiers: Vec<_> = verifiers
        .into_iter()
        .filter_map(|mut v| {
            v.roles.retain(|role| to_verify.contains(role));
            (!v.roles.is_empty()).then_some(v)
        })
        .collect();

    let state = if verifiers.is_empty() {
        AWAITING_REVIEW
    } else {
        AWAITING_VERIFICATION
    };
    let mut tx = core.pool.begin().await?;
    // The time is read once no batch of the noon resend runs, and the filing
    // commits before the next one starts: so either a run sees this filing,
    // or the run came first and this filing's time is past the start of the
    // day it resent for, which is then not this filing's due.
    share_job(&mut tx, Job::NoonResend).await?;
    let now = core.clock.now_on(&mut tx).await?;
    let deadline = now + core.settings.window_for(filing.province.code);
    let inserted = filings::insert(
        &mut tx,
        NewFiling {
            isp_id,
            province: filing.province.code,
            kind: filing.kind.as_str(),
            isp_reference: &filing.isp_reference,
            state,
            subject: filing.subject,
            websites: filing.websites,
            submitted_at: now,
            deadline,
            idempotency_key,
            request_hash: &request_hash,
        },
    )
    .await?;
    let Some(filing_id) = inserted else {
        tx.rollback().await?;
        return replay(core, isp_id, idempotency_key, &request_hash).await;
    };

    events::record(
        &mut tx,
        filing_id,
        now,
        "submitted",
        json!({ "kind": filing.kind.as_str() }),
    )
    .await?;
    let due_at = now + core.settings.sms_delay;
    let mut targets = Vec::with_capacity(verifiers.len());
    for (position, verifier) in verifiers.iter().enumerate() {
        let website_indexes: Vec<i32> = verifier
            .roles
            .iter()
            .filter_map(|role| match role {
                Role::Website(i) => Some(*i as i32),
                Role::Subject => None,
            })
            .collect();
        let mut roles = Vec::new();
        if verifier.roles.contains(&Role::Subject) {
            roles.push("subject");
        }
        if !website_indexes.is_empty() {
            roles.push("website");
        }
        let person = people
            .iter()
            .find(|(_, p)| p.mobile == verifier.mobile)
            .map(|(_, p)| *p)
            .expect("every verifier comes from the filing's people");
        let verification_id = filings::insert_verification(
            &mut tx,
            NewVerification {
                filing_id,
                position: position as i32,
                mobile: verifier.mobile.as_str(),
                person_name: &person.name,
                certificate_number: verifier.certificate.as_str(),
                certificate_tail: verifier.certificate.tail().as_str(),
                roles,
                website_indexes,
            },
        )
        .await?;
        targets.push(CodeFor {
            filing_id,
            verification_id,
            mobile: &verifier.mobile,
            province: filing.province,
            deadline,
        });
    }
    let mobiles: Vec<&str> = verifiers.iter().map(|v| v.mobile.as_str()).collect();
    handsets::ensure_all(&mut tx, &mobiles).await?;
    issue_codes(core, &mut tx, &targets, CodeReason::First, now, due_at).await?;
    if verifiers.is_empty() {
        events::record(
            &mut tx,
            filing_id,
            now,
            "state_changed",
            json!({ "state": AWAITING_REVIEW }),
        )
        .await?;
        webhooks::enqueue(&mut tx, &[filing_id], "filing.awaiting_review", now).await?;
    }
    tx.commit().await?;
    core.announce().await;
    Ok(Submitted {
        filing_id,
        created: true,
    })
}

/// A second request with a used idempotency key gets the first one's filing,
/// when it is the same request.
async fn replay(
    core: &Core,
    isp_id: Uuid,
    key: Option<&str>,
    request_hash: &str,
) -> Result<Submitted, SubmitError> {
    let key = key.expect("only a keyed insert can conflict");
    let mut conn = core.pool.acquire().await?;
    let (filing_id, hash) = filings::by_idempotency_key(&mut conn, isp_id, key)
        .await?
        .ok_or(SubmitError::KeyReused)?;
    if hash.as_deref() != Some(request_hash) {
        return Err(SubmitError::KeyReused);
    }
    Ok(Submitted {
        filing_id,
        created: false,
    })
}

fn person_path(role: Role) -> String {
    match role {
        Role::Subject => "subject.responsible_person".to_string(),
        Role::Website(i) => format!("websites[{i}].responsible_person"),
    }
}

/// Collects every problem with the request, each named by its field path.
struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    fn check<T>(&mut self, field: &str, result: Result<T, InputError>) -> Option<T> {
        result
            .map_err(|e| self.errors.push(FieldError::new(field, e.message())))
            .ok()
    }

    fn text(&mut self, field: &str, value: &Option<String>, max: usize) -> Option<String> {
        self.check(field, text_field(value.as_deref().unwrap_or(""), max))
    }

    fn missing(&mut self, field: &str) {
        self.errors
            .push(FieldError::new(field, InputError::Missing.message()));
    }

    fn person(&mut self, path: &str, person: &Option<PersonRequest>) -> Option<Person> {
        let Some(person) = person else {
            self.missing(path);
            return None;
        };
        let name = self.text(&format!("{path}.name"), &person.name, 100);
        let certificate = self.check(
            &format!("{path}.certificate_number"),
            CertificateNumber::parse(person.certificate_number.as_deref().unwrap_or("")),
        );
        let mobile = self.check(
            &format!("{path}.mobile"),
            Mobile::parse(person.mobile.as_deref().unwrap_or("")),
        );
        Some(Person {
            name: name?,
            certificate: certificate?,
            mobile: mobile?,
        })
    }
}

fn validate(request: FilingRequest) -> Result<ValidFiling, Vec<FieldError>> {
    let mut c = Checker { errors: Vec::new() };
    let province = match request.province.as_deref().map(str::trim) {
        None | Some("") => {
            c.missing("province");
            None
        }
        Some(code) => {
            let found = province::find(code);
            if found.is_none() {
                c.errors
                    .push(FieldError::new("province", "is not a known province code"));
            }
            found
        }
    };
    let kind = match request.kind.as_deref().map(str::trim) {
        None | Some("") => {
            c.missing("kind");
            None
        }
        Some(kind) => {
            let found = FilingKind::parse(kind);
            if found.is_none() {
                c.errors.push(FieldError::new(
                    "kind",
                    "must be one of new_filing, new_website, new_access, change, \
                     logout_subject, logout_website, cancel_access",
                ));
            }
            found
        }
    };
    let isp_reference = c.text("isp_reference", &request.isp_reference, 100);

    let mut subject_json = Value::Null;
    let mut subject_person = None;
    let mut subject_changed = false;
    match &request.subject {
        None => c.missing("subject"),
        Some(s) => {
            let name = c.text("subject.name", &s.name, 200);
            let certificate_type = c.text("subject.certificate_type", &s.certificate_type, 50);
            let certificate = c.check(
                "subject.certificate_number",
                CertificateNumber::parse(s.certificate_number.as_deref().unwrap_or("")),
            );
            subject_person = c.person("subject.responsible_person", &s.responsible_person);
            subject_changed = s.changed;
            if let (Some(name), Some(certificate_type), Some(certificate), Some(person)) =
                (name, certificate_type, certificate, &subject_person)
            {
                subject_json = json!({
                    "name": name,
                    "certificate_type": certificate_type,
                    "certificate_number": certificate.as_str(),
                    "changed": s.changed,
                    "responsible_person": person_json(person),
                });
            }
        }
    }

    let websites = request.websites.unwrap_or_default();
    if websites.len() > MAX_WEBSITES {
        c.errors.push(FieldError::new(
            "websites",
            format!("at most {MAX_WEBSITES} websites"),
        ));
    }
    let needs_website = matches!(
        kind,
        Some(FilingKind::NewFiling | FilingKind::NewWebsite | FilingKind::NewAccess)
    );
    if needs_website && websites.is_empty() {
        c.errors.push(FieldError::new(
            "websites",
            "this kind of filing needs at least one website",
        ));
    }
    let mut website_people = Vec::new();
    let mut websites_json = Vec::new();
    for (i, w) in websites.iter().enumerate().take(MAX_WEBSITES) {
        let path = format!("websites[{i}]");
        let name = c.text(&format!("{path}.name"), &w.name, 200);
        let domains = domains(&mut c, &format!("{path}.domains"), &w.domains);
        let person = c.person(&format!("{path}.responsible_person"), &w.responsible_person);
        if let (Some(name), Some(domains), Some(person)) = (name, domains, person) {
            websites_json.push(json!({
                "name": name,
                "domains": domains,
                "changed": w.changed,
                "responsible_person": person_json(&person),
            }));
            website_people.push(person);
        }
    }

    if !c.errors.is_empty() {
        return Err(c.errors);
    }
    Ok(ValidFiling {
        province: province.expect("checked"),
        kind: kind.expect("checked"),
        isp_reference: isp_reference.expect("checked"),
        subject: subject_json,
        websites: Value::Array(websites_json),
        subject_person: subject_person.expect("checked"),
        website_people,
        subject_changed,
        websites_changed: websites.iter().map(|w| w.changed).collect(),
    })
}

fn person_json(person: &Person) -> Value {
    json!({
        "name": person.name,
        "certificate_number": person.certificate.as_str(),
        "mobile": person.mobile.as_str(),
    })
}

fn domains(c: &mut Checker, path: &str, raw: &Option<Vec<String>>) -> Option<Vec<String>> {
    let raw = raw.as_deref().unwrap_or_default();
    if raw.is_empty() {
        c.errors
            .push(FieldError::new(path, "needs at least one domain name"));
        return None;
    }
    if raw.len() > MAX_DOMAINS {
        c.errors.push(FieldError::new(
            path,
            format!("at most {MAX_DOMAINS} domain names"),
        ));
        return None;
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, d) in raw.iter().enumerate() {
        let field = format!("{path}[{i}]");
        let Some(domain) = c.check(&field, text_field(d, 253)) else {
            continue;
        };
        let domain = domain.to_ascii_lowercase();
        if is_domain_name(&domain) {
            out.push(domain);
        } else {
            c.errors.push(FieldError::new(
                field,
                "is not a domain name such as example.cn",
            ));
        }
    }
    (out.len() == raw.len()).then_some(out)
}

/// Letters, digits and hyphens in dot-separated labels, at least two labels.
/// Chinese domain names are expected in their punycode (xn--) form.
fn is_domain_name(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
        })
}
