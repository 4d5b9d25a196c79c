//! CSV answers: cells a spreadsheet will not run as formulas, sent as a named attachment.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Problem;

/// A text cell a spreadsheet will not run as a formula: core's rule, which the import
/// undoes.
pub(crate) fn cell(s: &str) -> String {
    parceltrail_core::export::cell(s).into_owned()
}

/// Records (the first the header) as a CSV attachment named `file`.
pub(crate) fn attachment(
    file: &str,
    records: impl IntoIterator<Item = Vec<String>>,
) -> Result<Response, Problem> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let written = (|| -> csv::Result<()> {
        for r in records {
            w.write_record(&r)?;
        }
        w.flush()?;
        Ok(())
    })();
    let body = written
        .ok()
        .and_then(|()| w.into_inner().ok())
        .ok_or_else(|| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "csv", "CSV not written"))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_quoted_and_plain_text_is_not() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("+49 30 1234"), "'+49 30 1234");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("Ada Lovelace"), "Ada Lovelace");
        assert_eq!(cell(""), "");
    }
}
