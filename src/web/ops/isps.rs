//! The ISPs: add one (its key shown once), set its webhook receiver, and see
//! its webhook deliveries.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use uuid::Uuid;

use super::{Frame, Operator, failure, render};
use crate::clock::china_display;
use crate::domain::input::text_field;
use crate::flows::isp;
use crate::store::{isps, webhooks};
use crate::web::AppState;
use crate::web::i18n::Chosen;

/// Deliveries shown per ISP.
const RECENT: i64 = 20;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ops/isps", get(list).post(create))
        .route("/ops/isps/{id}/webhook", post(set_webhook))
}

struct DeliveryLine {
    filing: Uuid,
    kind: String,
    created: String,
    state: String,
    state_name: String,
    /// Each try: when, and the receiver's status or what went wrong.
    tries: Vec<String>,
}

struct IspLine {
    id: Uuid,
    name: String,
    key_hint: Option<String>,
    webhook_url: String,
    created: String,
    filings: i64,
    deliveries: Vec<DeliveryLine>,
}

/// A refused form: the add form (`isp` is `None`) or one ISP's webhook
/// form, the field at fault, why, and what was typed into the add form.
struct Refused {
    isp: Option<Uuid>,
    field: &'static str,
    message: String,
    name: String,
    webhook_url: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "ops/isps.html")]
struct IspsPage {
    frame: Frame,
    isps: Vec<IspLine>,
    new_key: Option<String>,
    new_secret: Option<String>,
    /// A webhook URL was just saved.
    saved: bool,
    refused: Option<Refused>,
}

impl IspsPage {
    /// The note beside a field of the add form.
    fn add_error(&self, field: &str) -> Option<&str> {
        self.refused
            .as_ref()
            .filter(|r| r.isp.is_none() && r.field == field)
            .map(|r| r.message.as_str())
    }

    /// The note beside one ISP's webhook URL.
    fn webhook_error(&self, isp: &Uuid) -> Option<&str> {
        self.refused
            .as_ref()
            .filter(|r| r.isp.as_ref() == Some(isp))
            .map(|r| r.message.as_str())
    }

    /// What an ISP's webhook field shows: what was typed, after a refusal.
    fn webhook_value<'a>(&'a self, isp: &'a IspLine) -> &'a str {
        match &self.refused {
            Some(r) if r.isp == Some(isp.id) => &r.webhook_url,
            _ => &isp.webhook_url,
        }
    }

    /// What the add form shows in a field: what was typed, after a refusal.
    fn typed(&self, field: &str) -> &str {
        match (&self.refused, field) {
            (Some(r), "name") if r.isp.is_none() => &r.name,
            (Some(r), "webhook_url") if r.isp.is_none() => &r.webhook_url,
            _ => "",
        }
    }
}

/// What the page reports above the list.
enum Done {
    Nothing,
    /// A new ISP, with its key (shown this once) and webhook secret.
    Created(isp::NewIsp),
    /// A webhook URL saved (or removed), with the secret its receiver checks
    /// signatures with.
    WebhookSaved(Option<String>),
}

/// The page, with what was just done or what was refused.
async fn page(
    state: &AppState,
    chosen: &Chosen,
    operator: &Operator,
    done: Done,
    refused: Option<Refused>,
) -> Response {
    let lang = chosen.lang;
    let loaded = async {
        let mut conn = state.core.pool.acquire().await?;
        let mut lines = Vec::new();
        for listed in isps::list(&mut conn).await? {
            let deliveries = webhooks::list_for_isp(&mut conn, listed.id, None, RECENT).await?;
            lines.push(IspLine {
                id: listed.id,
                name: listed.name,
                key_hint: listed.api_key_hint,
                webhook_url: listed.webhook_url.unwrap_or_default(),
                created: china_display(listed.created_at),
                filings: listed.filings,
                deliveries: deliveries
                    .into_iter()
                    .map(|d| DeliveryLine {
                        filing: d.filing_id,
                        kind: d.event_type,
                        created: china_display(d.created_at),
                        state_name: lang.label("delivery_state", &d.state),
                        state: d.state,
                        tries: d
                            .attempts
                            .iter()
                            .map(|a| {
                                let outcome = a.status.map_or_else(
                                    || a.error.clone().unwrap_or_default(),
                                    |s| format!("HTTP {s}"),
                                );
                                format!("{} {outcome}", china_display(a.at))
                            })
                            .collect(),
                    })
                    .collect(),
            });
        }
        Ok::<_, sqlx::Error>(lines)
    }
    .await;
    let lines = match loaded {
        Ok(lines) => lines,
        Err(e) => return failure(e),
    };
    let status = if refused.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let (new_key, new_secret, saved) = match done {
        Done::Nothing => (None, None, false),
        Done::Created(made) => (Some(made.api_key), made.webhook_secret, false),
        Done::WebhookSaved(secret) => (None, secret, true),
    };
    let page = IspsPage {
        frame: operator.frame(chosen, &lang.texts().ops_isps_title, "/ops/isps"),
        isps: lines,
        new_key,
        new_secret,
        saved,
        refused,
    };
    render(chosen, status, page)
}

async fn list(State(state): State<AppState>, chosen: Chosen, operator: Operator) -> Response {
    page(&state, &chosen, &operator, Done::Nothing, None).await
}

#[derive(Deserialize)]
struct IspForm {
    name: Option<String>,
    webhook_url: Option<String>,
    csrf_token: Option<String>,
}

/// The form's webhook URL, if one was given; the refusal if it is not a URL
/// the emulator can post to.
fn webhook_url(
    chosen: &Chosen,
    form: &IspForm,
    isp: Option<Uuid>,
) -> Result<Option<String>, Refused> {
    isp::webhook_url("webhook_url", form.webhook_url.as_deref()).map_err(|_| {
        refused(
            form,
            isp,
            "webhook_url",
            &chosen.lang.texts().ops_webhook_url_invalid,
        )
    })
}

fn refused(form: &IspForm, isp: Option<Uuid>, field: &'static str, message: &str) -> Refused {
    Refused {
        isp,
        field,
        message: message.to_string(),
        name: form.name.clone().unwrap_or_default(),
        webhook_url: form.webhook_url.clone().unwrap_or_default(),
    }
}

async fn create(
    State(state): State<AppState>,
    chosen: Chosen,
    operator: Operator,
    Form(form): Form<IspForm>,
) -> Response {
    let t = chosen.lang.texts();
    if let Some(refusal) = operator.csrf_refusal(&chosen, form.csrf_token.as_deref(), "/ops/isps") {
        return refusal;
    }
    let Ok(name) = text_field(form.name.as_deref().unwrap_or(""), 200) else {
        let why = refused(&form, None, "name", &t.ops_isp_name_invalid);
        return page(&state, &chosen, &operator, Done::Nothing, Some(why)).await;
    };
    let url = match webhook_url(&chosen, &form, None) {
        Ok(url) => url,
        Err(why) => return page(&state, &chosen, &operator, Done::Nothing, Some(why)).await,
    };
    match isp::create(&state.core, &name, url.as_deref()).await {
        Ok(made) => page(&state, &chosen, &operator, Done::Created(made), None).await,
        Err(e) => failure(e),
    }
}

async fn set_webhook(
    State(state): State<AppState>,
    chosen: Chosen,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<IspForm>,
) -> Response {
    let t = chosen.lang.texts();
    if let Some(refusal) = operator.csrf_refusal(&chosen, form.csrf_token.as_deref(), "/ops/isps") {
        return refusal;
    }
    let Ok(id) = Uuid::parse_str(&id) else {
        return operator.not_found(&chosen, &t.ops_no_such_isp);
    };
    let url = match webhook_url(&chosen, &form, Some(id)) {
        Ok(url) => url,
        Err(why) => return page(&state, &chosen, &operator, Done::Nothing, Some(why)).await,
    };
    match isp::set_webhook(&state.core, id, url.as_deref()).await {
        Ok(secret) => page(&state, &chosen, &operator, Done::WebhookSaved(secret), None).await,
        Err(sqlx::Error::RowNotFound) => operator.not_found(&chosen, &t.ops_no_such_isp),
        Err(e) => failure(e),
    }
}
