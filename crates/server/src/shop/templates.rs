//! A shop's own wording of its customers' emails: a template per kind of news (`default` for
//! any without its own), each a subject, a plain-text part and optionally an HTML part, with
//! merge fields (`{{ first_name }}`, `{{ order_number }}`, `{{ tracking_url }}` …). Templates
//! are Jinja (minijinja): values are escaped in the HTML part, an unknown field is an error
//! when the template is saved or previewed (not a blank in a customer's email), and a
//! template's running time is bounded. The unsubscribe line and headers are added to every
//! email whatever its template says.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use parceltrail_core::notify::rules::Kind;
use parceltrail_shop::db::Template;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Body, Caller};
use super::problem::PROBLEM;
use super::{Problem, ShopState};

/// The longest subject, text part and HTML part a template may have.
const MAX_SUBJECT: usize = 300;
const MAX_TEXT: usize = 20_000;
const MAX_HTML: usize = 100_000;
/// The most a rendered email may be.
const MAX_RENDERED: usize = 400_000;
/// How much work one rendering may do (minijinja's fuel): far beyond any real template,
/// far below a loop that would stall the sender.
const FUEL: u64 = 200_000;

/// What a template can name.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Fields {
    /// The shop's name.
    pub shop: String,
    /// The customer's first name (empty when the order has none).
    pub first_name: String,
    pub order_number: String,
    /// The carrier's name.
    pub carrier: String,
    pub tracking_number: String,
    /// What happened, in the customer's words: "has been delivered".
    pub status: String,
    /// The estimate in words (empty when there is none).
    pub estimate: String,
    /// The order's tracking page.
    pub tracking_url: String,
    /// Where the customer rates the delivery (delivered news only; empty otherwise).
    pub feedback_url: String,
}

impl Fields {
    /// The fields of a made-up order, for a preview.
    pub(crate) fn sample(shop: &str, public_url: &str) -> Fields {
        Fields {
            shop: shop.to_owned(),
            first_name: "Ada".into(),
            order_number: "A-1001".into(),
            carrier: "UPS".into(),
            tracking_number: "1Z999AA10123456784".into(),
            status: "has been delivered".into(),
            estimate: String::new(),
            tracking_url: format!("{}/t/…", public_url.trim_end_matches('/')),
            feedback_url: format!("{}/t/…#feedback", public_url.trim_end_matches('/')),
        }
    }
}

/// An email as rendered.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env
}

/// The names a template uses that are no field, in words with the fields it may use
/// (minijinja's own error says only "undefined value").
fn unknown_fields(env: &Environment<'_>, name: &str, source: &str) -> Option<String> {
    let known = FIELD_NAMES;
    let mut unknown: Vec<String> = env
        .template_from_named_str(name, source)
        .ok()?
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !known.contains(&v.as_str()))
        .collect();
    if unknown.is_empty() {
        return None;
    }
    unknown.sort();
    let named = unknown
        .iter()
        .map(|v| format!("{{{{ {v} }}}}"))
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(
        "{named} {} no field; the fields are {}",
        if unknown.len() == 1 { "is" } else { "are" },
        known.join(", ")
    ))
}

/// The names of [`Fields`], as a template writes them.
const FIELD_NAMES: [&str; 9] = [
    "shop",
    "first_name",
    "order_number",
    "carrier",
    "tracking_number",
    "status",
    "estimate",
    "tracking_url",
    "feedback_url",
];

/// The text part as HTML paragraphs, when a template has no HTML part of its own.
fn paragraphs(text: &str) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    text.split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| format!("<p>{}</p>", esc(p.trim()).replace('\n', "<br>")))
        .collect()
}

/// Renders `t` with `fields`; what is wrong, where, when it cannot.
pub(crate) fn render(t: &Template, fields: &Fields) -> Result<Rendered, String> {
    let env = environment();
    let one = |name: &str, source: &str| {
        env.render_named_str(name, source, fields).map_err(|e| {
            let what = match e.kind() {
                minijinja::ErrorKind::UndefinedError => unknown_fields(&env, name, source)
                    .unwrap_or_else(|| e.detail().unwrap_or(&e.to_string()).to_owned()),
                _ => e.detail().unwrap_or(&e.to_string()).to_owned(),
            };
            match e.line() {
                Some(line) => format!("{name}, line {line}: {what}"),
                None => format!("{name}: {what}"),
            }
        })
    };
    let subject = one("subject", &t.subject)?;
    // One line: a subject with a line break would be a header of its own.
    let subject: String = subject
        .split(|c: char| c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let text = one("text", &t.text)?;
    let html = match &t.html {
        Some(source) => one("body.html", source)?,
        None => paragraphs(&text),
    };
    if subject.len() + text.len() + html.len() > MAX_RENDERED {
        return Err(format!(
            "the rendered email is larger than {MAX_RENDERED} bytes"
        ));
    }
    Ok(Rendered {
        subject,
        text,
        html,
    })
}

fn kind_name(raw: &str) -> Result<String, Problem> {
    if raw == "default" || raw.parse::<Kind>().is_ok() {
        return Ok(raw.to_owned());
    }
    Err(Problem::not_found().detail(format!(
        "no kind of news {raw:?}: use default, or one of {}",
        Kind::ALL.map(|k| k.as_str()).join(", ")
    )))
}

/// The largest body a template route takes: a subject, text and HTML part at their longest,
/// each character written as a JSON escape pair (12 bytes).
pub(crate) const MAX_BODY: usize = 2 << 20;

fn invalid(detail: impl Into<String>) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        "Invalid template",
    )
    .detail(detail.into())
}

/// A template as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TemplateBody {
    /// `default`, or a kind of news.
    kind: String,
    subject: String,
    text: String,
    html: Option<String>,
    updated_at: chrono::DateTime<Utc>,
}

fn body_of(t: Template) -> TemplateBody {
    TemplateBody {
        kind: t.kind,
        subject: t.subject,
        text: t.text,
        html: t.html,
        updated_at: t.updated_at,
    }
}

/// The shop's templates.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TemplatesPage {
    templates: Vec<TemplateBody>,
    /// The merge fields a template may name, with a made-up order's values.
    fields: Fields,
}

/// The shop's email templates (a kind without one is worded by the server), and the merge
/// fields they may name.
#[utoipa::path(get, operation_id = "list_templates", path = "/shop/templates", tag = "notifications",
    security(("api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "OK", body = TemplatesPage),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn list(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
) -> Result<Json<TemplatesPage>, Problem> {
    caller.require(|s| s.read, "read")?;
    let shop = state.db.shop(caller.shop_id).await?;
    let templates = state.db.templates(caller.shop_id).await?;
    Ok(Json(TemplatesPage {
        templates: templates.into_iter().map(body_of).collect(),
        fields: Fields::sample(&shop.name, &state.public_url),
    }))
}

/// A template's parts.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TemplatePut {
    #[schema(
        max_length = 300,
        example = "{{ shop }}: your order {{ order_number }} {{ status }}"
    )]
    subject: String,
    #[schema(
        max_length = 20000,
        example = "Hello {{ first_name }},\n\nyour order {{ order_number }} {{ status }}.\nFollow it: {{ tracking_url }}"
    )]
    text: String,
    #[schema(max_length = 100000)]
    html: Option<String>,
}

fn template_of(kind: String, body: TemplatePut) -> Result<Template, Problem> {
    for (field, value, max) in [
        ("subject", &body.subject, MAX_SUBJECT),
        ("text", &body.text, MAX_TEXT),
    ] {
        if value.trim().is_empty() {
            return Err(invalid(format!("{field} must not be empty")));
        }
        if value.chars().count() > max {
            return Err(invalid(format!("{field}: use at most {max} characters")));
        }
    }
    if let Some(h) = &body.html
        && h.chars().count() > MAX_HTML
    {
        return Err(invalid(format!("html: use at most {MAX_HTML} characters")));
    }
    // Control characters have no place in an email (PostgreSQL refuses NUL in text outright);
    // line breaks and tabs are words' spacing.
    for (field, value) in [
        ("subject", Some(&body.subject)),
        ("text", Some(&body.text)),
        ("html", body.html.as_ref()),
    ] {
        if let Some(at) = value.and_then(|v| {
            v.chars()
                .position(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        }) {
            return Err(invalid(format!(
                "{field}: a control character at character {} (only line breaks and tabs are allowed)",
                at + 1
            )));
        }
    }
    Ok(Template {
        kind,
        subject: body.subject,
        text: body.text,
        html: body.html.filter(|h| !h.trim().is_empty()),
        updated_at: Utc::now(),
    })
}

/// Sets the shop's template for a kind of news (`default`: every kind without its own). It
/// is rendered with a made-up order first: an unknown field or a syntax error is refused with
/// where it is.
#[utoipa::path(put, operation_id = "set_template", path = "/shop/templates/{kind}", tag = "notifications",
    security(("api_key" = []), ("session" = [])),
    params(("kind" = String, Path, description = "`default`, or a kind of news (`delivered`, `out_for_delivery`, …)")),
    request_body = TemplatePut,
    responses(
        (status = 200, description = "Kept", body = TemplateBody),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not the owner (sessions) or no write scope (keys), or no CSRF token", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such kind of news", body = Problem, content_type = PROBLEM),
        (status = 413, description = "The body is larger than 2 MiB", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "The template does not render (`detail` says where)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn set(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path(kind): Path<String>,
    Body(body): Body<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<TemplateBody>, Problem> {
    caller.require_owner()?;
    let kind = kind_name(&kind)?;
    let body: TemplatePut = serde_json::from_value(serde_json::Value::Object(body))
        .map_err(|e| invalid(e.to_string()))?;
    let t = template_of(kind, body)?;
    let shop = state.db.shop(caller.shop_id).await?;
    render(&t, &Fields::sample(&shop.name, &state.public_url)).map_err(invalid)?;
    let kept = state.db.set_template(caller.shop_id, t, Utc::now()).await?;
    Ok(Json(body_of(kept)))
}

/// Forgets the shop's template for a kind: the server words it again.
#[utoipa::path(delete, operation_id = "remove_template", path = "/shop/templates/{kind}", tag = "notifications",
    security(("api_key" = []), ("session" = [])),
    params(("kind" = String, Path, description = "`default`, or a kind of news")),
    responses(
        (status = 204, description = "Forgotten"),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not the owner (sessions) or no write scope (keys), or no CSRF token", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such kind, or no template for it", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn remove(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path(kind): Path<String>,
) -> Result<StatusCode, Problem> {
    caller.require_owner()?;
    let kind = kind_name(&kind)?;
    if state.db.remove_template(caller.shop_id, &kind).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found().detail("the shop has no template for this kind"))
    }
}

/// Renders a template with a made-up order (nothing is kept or sent): what a customer would
/// get.
#[utoipa::path(post, operation_id = "preview_template", path = "/shop/templates/preview", tag = "notifications",
    security(("api_key" = []), ("session" = [])),
    request_body = TemplatePut,
    responses(
        (status = 200, description = "The email as rendered", body = Rendered),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope, or no CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 413, description = "The body is larger than 2 MiB", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "The template does not render (`detail` says where)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn preview(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Body(body): Body<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<Rendered>, Problem> {
    caller.require(|s| s.read, "read")?;
    let body: TemplatePut = serde_json::from_value(serde_json::Value::Object(body))
        .map_err(|e| invalid(e.to_string()))?;
    let t = template_of("default".into(), body)?;
    let shop = state.db.shop(caller.shop_id).await?;
    Ok(Json(
        render(&t, &Fields::sample(&shop.name, &state.public_url)).map_err(invalid)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(subject: &str, text: &str, html: Option<&str>) -> Template {
        Template {
            kind: "default".into(),
            subject: subject.into(),
            text: text.into(),
            html: html.map(str::to_owned),
            updated_at: Utc::now(),
        }
    }

    fn fields() -> Fields {
        Fields {
            first_name: "Ada <b>".into(),
            ..Fields::sample("Trailhead & Co", "https://track.example")
        }
    }

    #[test]
    fn control_characters_are_refused_with_where_they_are() {
        let put = |html: &str| TemplatePut {
            subject: "Your order".into(),
            text: "Hello\n\tthere".into(),
            html: Some(html.into()),
        };
        let e = template_of("late".into(), put("c\u{8d}\u{0}")).unwrap_err();
        let detail = e.detail.unwrap_or_default();
        assert!(
            detail.starts_with("html: a control character at character 2"),
            "{detail}"
        );
        assert!(template_of("late".into(), put("<p>Hi</p>\r\n")).is_ok());
    }

    #[test]
    fn an_unknown_field_is_named_with_the_fields_there_are() {
        let e = render(
            &t("{{ shop }}: {{ nonsense }} {{ order_numbr }}", "Hi", None),
            &fields(),
        )
        .unwrap_err();
        assert!(
            e.starts_with("subject, line 1: {{ nonsense }}, {{ order_numbr }} are no field; the fields are shop, first_name, order_number"),
            "{e}"
        );
        // Every field a template may name is one.
        let all = FIELD_NAMES.map(|f| format!("{{{{ {f} }}}}")).join(" ");
        render(&t("x", &all, None), &fields()).unwrap();
        let serialized = serde_json::to_value(fields()).unwrap();
        let mut names: Vec<_> = serialized.as_object().unwrap().keys().cloned().collect();
        names.sort();
        let mut listed = FIELD_NAMES.map(str::to_owned).to_vec();
        listed.sort();
        assert_eq!(names, listed);
    }

    #[test]
    fn fields_merge_and_are_escaped_only_in_html() {
        let r = render(
            &t(
                "{{ shop }}: {{ order_number }}\n{{ status }}",
                "Hello {{ first_name }}, {{ tracking_url }}",
                Some("<p>Hello {{ first_name }}</p>"),
            ),
            &fields(),
        )
        .unwrap();
        assert_eq!(r.subject, "Trailhead & Co: A-1001 has been delivered");
        assert_eq!(r.text, "Hello Ada <b>, https://track.example/t/…");
        assert_eq!(r.html, "<p>Hello Ada &lt;b&gt;</p>");
        // Without an HTML part, the text's paragraphs, escaped.
        let r = render(&t("s", "One <i>\n\nTwo", None), &fields()).unwrap();
        assert_eq!(r.html, "<p>One &lt;i&gt;</p><p>Two</p>");
    }

    #[test]
    fn a_mistake_says_where_and_a_runaway_template_stops() {
        let e = render(&t("s", "Hello {{ frist_name }}", None), &fields()).unwrap_err();
        assert!(e.starts_with("text, line 1"), "{e}");
        let e = render(&t("s", "Hello {{ first_name", None), &fields()).unwrap_err();
        assert!(e.starts_with("text"), "{e}");
        let e = render(
            &t(
                "s",
                "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
                None,
            ),
            &fields(),
        )
        .unwrap_err();
        assert!(e.contains("fuel") || e.contains("range"), "{e}");
    }
}
