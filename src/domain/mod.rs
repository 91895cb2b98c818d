//! The pure rules of the emulator: what a province, a mobile number, a filing
//! kind and a responsible person are, and who must verify what.
//!
//! Nothing here does I/O or reads the clock; every function is a plain
//! computation over its arguments, so each rule is unit-tested in its file.

pub mod carrier;
pub mod input;
pub mod kind;
pub mod people;
pub mod province;

pub use carrier::{Carrier, carrier_of, is_virtual};
pub use input::{
    CertificateNumber, CertificateTail, InputError, Mobile, SmsCode, normalize, text_field,
};
pub use kind::{FilingKind, FilingShape, Role, roles_to_verify};
pub use people::{MergeConflict, Person, Verifier, merge_by_mobile};
pub use province::{DEFAULT_PILOTS, PROVINCES, Province};
