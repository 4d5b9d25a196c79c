//! RFC 9457 problem details: every error the shop server gives.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of every error body.
pub(crate) const PROBLEM: &str = "application/problem+json";

/// An RFC 9457 problem: `type` is a stable identifier, `title` its short meaning, `detail`
/// what exactly was wrong with this request.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"type": "urn:parceltrail:problem:invalid", "title": "Invalid request", "status": 422, "detail": "password: use at least 10 characters"}))]
pub struct Problem {
    /// The HTTP status, repeated in the body.
    pub status: u16,
    /// A short, stable summary of the kind of problem.
    #[schema(value_type = String)]
    pub title: &'static str,
    /// What was wrong with this request, and what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// Seconds to wait before trying again (also sent as `Retry-After`).
    #[serde(skip)]
    #[schema(ignore)]
    pub retry_after: Option<u64>,
}

/// A request body's JSON object read as `T` (bodies are taken as objects first: serde would
/// read a struct from an array too); a field that does not fit is a 422 that names it.
pub(crate) fn from_object<T: serde::de::DeserializeOwned>(
    body: serde_json::Map<String, serde_json::Value>,
) -> Result<T, Problem> {
    serde_json::from_value(serde_json::Value::Object(body)).map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "Invalid request",
        )
        .detail(e.to_string())
    })
}

impl Problem {
    /// A problem of this status, kind and detail.
    pub fn new(status: StatusCode, kind: &'static str, title: &'static str) -> Self {
        Problem {
            status: status.as_u16(),
            title,
            detail: None,
            retry_after: None,
            kind: format!("urn:parceltrail:problem:{kind}"),
        }
    }

    /// With what exactly was wrong.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// No such thing in this shop (whether or not another shop has one).
    pub fn not_found() -> Self {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found")
    }

    /// Not authenticated (with a Bearer challenge).
    pub fn unauthorized(detail: &str) -> Self {
        Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "Not signed in").detail(detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, Json(&self)).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM));
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

impl From<parceltrail_shop::Error> for Problem {
    fn from(e: parceltrail_shop::Error) -> Self {
        use parceltrail_shop::Error as E;
        match e {
            E::NotFound => Problem::not_found(),
            E::Invalid { field, message } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "Invalid request",
            )
            .detail(format!("{field}: {message}")),
            E::Conflict(what) => Problem::new(StatusCode::CONFLICT, "conflict", "Already exists")
                .detail(format!("{what} is already in use")),
            other => {
                // The operator's log has the cause; the caller gets no internals.
                tracing::error!(error = %other, "shop store failed");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "The server could not complete the request",
                )
            }
        }
    }
}

impl From<parceltrail_core::Error> for Problem {
    fn from(e: parceltrail_core::Error) -> Self {
        use parceltrail_core::Error as E;
        match e {
            // Another shop's ids are not in this shop's store: the same answer as none.
            E::NotFound(_) | E::Ambiguous { .. } => Problem::not_found(),
            E::InvalidInput(detail) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "Invalid request",
            )
            .detail(detail),
            e @ (E::OrderExists(_) | E::NumberTaken { .. }) => {
                Problem::new(StatusCode::CONFLICT, "conflict", "Already exists")
                    .detail(e.to_string())
            }
            other => {
                tracing::error!(error = %other, "tracking store failed");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "The server could not complete the request",
                )
            }
        }
    }
}
