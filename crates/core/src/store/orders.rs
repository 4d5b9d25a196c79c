//! What every backend does alike with an order before it writes or searches one: clean the
//! text, fold the searched copies, apply a patch, read a query. Public so the shop server's
//! PostgreSQL store shares it with [`SqliteStore`](super::SqliteStore); callers have no use
//! for it.

use super::{NewOrder, OrderInfo, OrderPatch, OrderQuery, clean_opt, clean_text};
use crate::domain::{Customer, Order, OrderStage};

/// An order's own fields as a backend writes them: text cleaned, with who wrote them.
#[derive(Debug, Clone, PartialEq)]
pub struct Fields {
    /// Store, number, items, dates, notes.
    pub info: OrderInfo,
    /// Who ordered.
    pub customer: Customer,
    /// The stage it starts in.
    pub stage: OrderStage,
    /// Who made it.
    pub actor: String,
}

/// The actor logged for an order made on the side, by adding a parcel with an order number.
pub const IMPLICIT_ACTOR: &str = "system";

impl Fields {
    /// A new order's fields.
    pub fn of(new: &NewOrder) -> Fields {
        Fields {
            info: clean_info(&new.info),
            customer: clean_customer(&new.customer),
            stage: new.stage,
            actor: clean_text(&new.actor).into_owned(),
        }
    }

    /// The fields of an order made by adding a parcel: no customer, received, by the system.
    pub fn implicit(info: &OrderInfo) -> Fields {
        Fields {
            info: clean_info(info),
            customer: Customer::default(),
            stage: OrderStage::Received,
            actor: IMPLICIT_ACTOR.to_owned(),
        }
    }

    /// A stored (or patched) order's fields.
    pub fn from_order(o: &Order) -> Fields {
        Fields {
            info: OrderInfo {
                store: o.store.clone(),
                order_number: o.order_number.clone(),
                items: o.items.clone(),
                placed_at: o.placed_at,
                notes: o.notes.clone(),
                promised_at: o.promised_at,
            },
            customer: o.customer.clone(),
            stage: o.stage,
            actor: IMPLICIT_ACTOR.to_owned(),
        }
    }

    /// The searched copy of the customer's name: lower case.
    pub fn name_lower(&self) -> Option<String> {
        self.customer.name.as_deref().map(str::to_lowercase)
    }

    /// The searched copy of the customer's e-mail: trimmed, lower case.
    pub fn email_lower(&self) -> Option<String> {
        self.customer.email.as_deref().map(fold)
    }
}

/// Trimmed and lower case (Unicode's rules, the same on every backend), as e-mails are
/// compared.
pub fn fold(s: &str) -> String {
    s.trim().to_lowercase()
}

/// Order details with their text cleaned.
pub fn clean_info(i: &OrderInfo) -> OrderInfo {
    OrderInfo {
        store: clean_opt(i.store.as_deref()),
        order_number: clean_opt(i.order_number.as_deref()),
        items: clean_opt(i.items.as_deref()),
        placed_at: i.placed_at,
        notes: clean_opt(i.notes.as_deref()),
        promised_at: i.promised_at,
    }
}

/// A customer with their text cleaned.
pub fn clean_customer(c: &Customer) -> Customer {
    Customer {
        name: clean_opt(c.name.as_deref()),
        email: clean_opt(c.email.as_deref()),
        phone: clean_opt(c.phone.as_deref()),
        postcode: clean_opt(c.postcode.as_deref()),
        address: clean_opt(c.address.as_deref()),
    }
}

/// The order as the patch leaves it (text cleaned); the backend writes it when it differs.
pub fn patched(old: &Order, p: &OrderPatch) -> Order {
    fn text(v: &mut Option<String>, p: &Option<Option<String>>) {
        if let Some(new) = p {
            *v = clean_opt(new.as_deref());
        }
    }
    let mut o = old.clone();
    text(&mut o.store, &p.store);
    text(&mut o.order_number, &p.order_number);
    text(&mut o.items, &p.items);
    text(&mut o.notes, &p.notes);
    if let Some(t) = p.placed_at {
        o.placed_at = t;
    }
    if let Some(t) = p.promised_at {
        o.promised_at = t;
    }
    text(&mut o.customer.name, &p.customer_name);
    text(&mut o.customer.email, &p.customer_email);
    text(&mut o.customer.phone, &p.customer_phone);
    text(&mut o.customer.postcode, &p.customer_postcode);
    text(&mut o.customer.address, &p.customer_address);
    o
}

/// A query's text as the backends compare it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Search {
    /// The exact order number, cleaned.
    pub order_number: Option<String>,
    /// The e-mail, folded.
    pub email: Option<String>,
    /// The free search, if not blank.
    pub text: Option<Text>,
    /// The carrier, cleaned.
    pub carrier: Option<String>,
    /// The store, cleaned.
    pub store: Option<String>,
}

/// The free search in each form it is compared in.
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    /// Trimmed: an order number's prefix.
    pub raw: String,
    /// Folded: an e-mail, or part of a name.
    pub folded: String,
    /// As tracking numbers are stored: no spaces or dashes, upper case.
    pub number: String,
}

/// Names are searched through a trigram index (FTS5 on SQLite, pg_trgm on PostgreSQL),
/// which needs three characters; a shorter search reads every name.
pub const TRIGRAM: usize = 3;

impl Text {
    /// Whether the trigram index can find the name part (see [`TRIGRAM`]).
    pub fn by_trigrams(&self) -> bool {
        self.folded.chars().count() >= TRIGRAM
    }

    /// The order number prefix as a `GLOB` pattern (SQLite), its wildcards taken literally.
    pub fn number_glob(&self) -> String {
        let mut g = String::with_capacity(self.raw.len() + 1);
        for c in self.raw.chars() {
            match c {
                '*' | '?' | '[' => {
                    g.push('[');
                    g.push(c);
                    g.push(']');
                }
                c => g.push(c),
            }
        }
        g.push('*');
        g
    }

    /// The order number prefix as a `LIKE` pattern (PostgreSQL, backslash escapes).
    pub fn number_like(&self) -> String {
        format!("{}%", like_escaped(&self.raw))
    }

    /// Part of a name as a `LIKE` pattern (PostgreSQL, backslash escapes).
    pub fn name_like(&self) -> String {
        format!("%{}%", like_escaped(&self.folded))
    }

    /// Part of a name as an FTS5 query on the trigram index's name column: one phrase, so
    /// nothing in it is query syntax.
    pub fn name_match(&self) -> String {
        format!("name : \"{}\"", self.folded.replace('"', "\"\""))
    }
}

fn like_escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Search {
    /// The query's text, cleaned and folded.
    pub fn of(q: &OrderQuery) -> Search {
        let text =
            q.q.as_deref()
                .map(|t| clean_text(t.trim()).into_owned())
                .filter(|t| !t.is_empty())
                .map(|raw| Text {
                    folded: raw.to_lowercase(),
                    number: raw
                        .chars()
                        .filter(|c| !c.is_whitespace() && *c != '-')
                        .flat_map(char::to_uppercase)
                        .collect(),
                    raw,
                });
        Search {
            order_number: clean_opt(q.order_number.as_deref()),
            email: q.email.as_deref().map(|e| fold(&clean_text(e))),
            text,
            carrier: clean_opt(q.carrier.as_deref()),
            store: clean_opt(q.store.as_deref()),
        }
    }

    /// The parcel filter a page is read by, walking its index (status or carrier, then the
    /// order id) newest first and stopping at the page's end, rather than gathering every
    /// order with such a parcel and sorting them. Not when an order number, an e-mail or
    /// free text is asked for: their indexes find a handful of orders at once.
    pub fn parcel_index(&self, q: &OrderQuery) -> Option<ParcelIndex> {
        if self.order_number.is_some() || self.email.is_some() || self.text.is_some() {
            None
        } else if q.status.is_some() {
            Some(ParcelIndex::Status)
        } else if self.carrier.is_some() {
            Some(ParcelIndex::Carrier)
        } else {
            None
        }
    }
}

/// A parcel filter a page of orders is read by ([`Search::parcel_index`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParcelIndex {
    /// Orders with a parcel in the query's status.
    Status,
    /// Orders with a parcel at the query's carrier.
    Carrier,
}

/// `columns` (a comma-separated list) each prefixed with `alias.`, for a query that joins
/// tables with columns of the same names.
pub fn qualified(columns: &str, alias: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A count as SQL takes it.
pub fn limit_of(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_sets_clears_and_leaves_and_cleans() {
        let o = Order {
            id: crate::domain::OrderId::new(),
            store: Some("web".into()),
            order_number: Some("1001".into()),
            items: Some("Socks".into()),
            placed_at: None,
            notes: None,
            archived: false,
            archived_at: chrono::DateTime::UNIX_EPOCH,
            created_at: chrono::DateTime::UNIX_EPOCH,
            promised_at: None,
            customer: Customer {
                email: Some("A@B.example".into()),
                ..Customer::default()
            },
            stage: OrderStage::Received,
            stage_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
        };
        assert_eq!(patched(&o, &OrderPatch::default()), o);
        let p = OrderPatch {
            items: Some(None),
            customer_name: Some(Some("Zo\0ë".into())),
            ..OrderPatch::default()
        };
        let n = patched(&o, &p);
        assert_eq!(n.items, None);
        assert_eq!(n.store.as_deref(), Some("web"));
        assert_eq!(n.customer.name.as_deref(), Some("Zo\u{FFFD}ë"));
        let f = Fields::from_order(&n);
        assert_eq!(f.email_lower().as_deref(), Some("a@b.example"));
        assert_eq!(f.name_lower().as_deref(), Some("zo\u{FFFD}ë"));
    }

    #[test]
    fn a_search_is_trimmed_folded_and_normalised() {
        let s = Search::of(&OrderQuery {
            q: Some("  1z-999 AA ".into()),
            email: Some(" Ann@Example.COM".into()),
            ..OrderQuery::default()
        });
        let t = s.text.unwrap();
        assert_eq!(
            (t.raw.as_str(), t.folded.as_str()),
            ("1z-999 AA", "1z-999 aa")
        );
        assert_eq!(t.number, "1Z999AA");
        assert!(t.by_trigrams());
        let odd = Search::of(&OrderQuery {
            q: Some(r#"a*[?%_\"b"#.into()),
            ..OrderQuery::default()
        })
        .text
        .unwrap();
        assert_eq!(odd.number_glob(), r#"a[*][[][?]%_\"b*"#);
        assert_eq!(odd.number_like(), r#"a*[?\%\_\\"b%"#);
        assert_eq!(odd.name_like(), r#"%a*[?\%\_\\"b%"#);
        assert_eq!(odd.name_match(), r#"name : "a*[?%_\""b""#);
        assert_eq!(s.email.as_deref(), Some("ann@example.com"));
        assert_eq!(
            Search::of(&OrderQuery {
                q: Some("  ".into()),
                ..OrderQuery::default()
            })
            .text,
            None
        );
    }
}
