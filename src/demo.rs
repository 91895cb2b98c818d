//! `--demo`: an ISP and a few filings in different states, made through the
//! same flows an ISP and a filer would use.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::config::Settings;
use crate::flows::Core;
use crate::flows::isp::{self, NewIsp};
use crate::flows::submit::{FilingRequest, submit};

pub struct Demo {
    pub isp: NewIsp,
    /// Made-up mobiles whose handsets hold codes, with the last six
    /// characters of their certificate and their province.
    pub handsets: Vec<(&'static str, &'static str, &'static str)>,
}

fn person(name: &str, certificate: &str, mobile: &str) -> Value {
    json!({ "name": name, "certificate_number": certificate, "mobile": mobile })
}

fn filing(
    province: &str,
    kind: &str,
    reference: &str,
    subject_person: Value,
    websites: Value,
) -> Value {
    json!({
        "province": province,
        "kind": kind,
        "isp_reference": reference,
        "subject": {
            "name": "Demo Trading Co., Ltd.",
            "certificate_type": "business_license",
            "certificate_number": "91620100MA7DEMO01X",
            "responsible_person": subject_person,
        },
        "websites": websites,
    })
}

pub async fn seed(core: &Core) -> anyhow::Result<Demo> {
    // Demo codes reach the handsets at once, whatever --sms-delay says.
    let core = Core {
        settings: Arc::new(Settings {
            sms_delay: chrono::Duration::zero(),
            ..(*core.settings).clone()
        }),
        ..core.clone()
    };
    let isp = isp::create(&core, "Demo ISP", None).await?;
    let zhao = person("Zhao Mingyuan", "620102198805061234", "18600186000");
    let qian = person("Qian Xiaohong", "62010219920311456x", "13300133000");
    let sun = person("Sun Lei", "120101198501019876", "15600156000");
    let filings = [
        // Two people: both get a code on the Gansu portal.
        filing(
            "gs",
            "new_filing",
            "DEMO-GS-1",
            zhao.clone(),
            json!([
                { "name": "Dunhuang Tea", "domains": ["dunhuang-tea.cn"], "responsible_person": qian },
            ]),
        ),
        // One person in both roles: one code on the Tianjin portal.
        filing(
            "tj",
            "new_filing",
            "DEMO-TJ-1",
            sun.clone(),
            json!([
                { "name": "Haihe Books", "domains": ["haihe-books.cn"], "responsible_person": sun },
            ]),
        ),
        // Beijing is not a pilot province: straight to review.
        filing(
            "bj",
            "new_filing",
            "DEMO-BJ-1",
            zhao.clone(),
            json!([
                { "name": "Capital Bikes", "domains": ["capital-bikes.cn"], "responsible_person": zhao },
            ]),
        ),
    ];
    for body in filings {
        let raw = serde_json::to_vec(&body)?;
        let request: FilingRequest = serde_json::from_value(body)?;
        submit(&core, isp.id, None, &raw, request).await?;
    }
    crate::flows::deliver::deliver_due(&core).await?;
    Ok(Demo {
        isp,
        handsets: vec![
            ("18600186000", "061234", "gs"),
            ("13300133000", "11456X", "gs"),
            ("15600156000", "019876", "tj"),
        ],
    })
}
