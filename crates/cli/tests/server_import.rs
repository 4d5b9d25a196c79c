//! Bulk import of orders into the shop server, on SQLite and on a real PostgreSQL: a CSV
//! with order and customer columns, JSON in the common `[{orderId, trackingNumber, carrier}]`
//! shape and as whole orders; every row's result with its line or pointer and reason, good
//! rows kept around bad ones, and a re-run that adds nothing.

mod common;

use std::path::Path;

use common::{ShopServer, client, server_at as bin, ups};
use serde_json::{Value, json};

fn make_shop(home: &Path, db: &str, name: &str, email: &str) -> String {
    let o = bin(home, db)
        .args(["shop", "create", name, "--admin-email", email, "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["api_key"].as_str().unwrap().to_owned()
}

struct Api {
    c: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    async fn send(&self, content_type: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let r = self
            .c
            .post(format!("{}/api/v1/orders/import", self.base))
            .bearer_auth(&self.key)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn csv(&self, body: &str) -> Value {
        let (s, v) = self.send("text/csv", body.to_owned()).await;
        assert_eq!(s, 200, "{v}");
        v
    }

    async fn json(&self, body: Value) -> Value {
        let (s, v) = self.send("application/json", body.to_string()).await;
        assert_eq!(s, 200, "{v}");
        v
    }

    async fn get(&self, path: &str) -> Value {
        let r = self
            .c
            .get(format!("{}/api/v1{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// The order with this number, in full.
    async fn order(&self, number: &str) -> Value {
        let l = self.get(&format!("/orders?order_number={number}")).await;
        let list = l["orders"].as_array().unwrap();
        assert_eq!(list.len(), 1, "{number}: {l}");
        let id = list[0]["id"].as_str().unwrap();
        self.get(&format!("/orders/{id}")).await
    }
}

/// The outcomes of a report's rows, with their line or pointer.
fn outcomes(report: &Value) -> Vec<(String, String)> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let at = match (&r["line"], &r["pointer"]) {
                (Value::Number(n), _) => format!("line {n}"),
                (_, Value::String(p)) => p.clone(),
                _ => panic!("a row without a place: {r}"),
            };
            (at, r["outcome"].as_str().unwrap().to_owned())
        })
        .collect()
}

fn reason(report: &Value, i: usize) -> String {
    report["results"][i]["reason"]
        .as_str()
        .unwrap_or_else(|| panic!("row {i} has no reason: {report}"))
        .to_owned()
}

async fn import(db: String) {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let key_a = make_shop(h, &db, "Trailhead", "owner@trailhead.example");
    let key_b = make_shop(h, &db, "Bakery", "owner@bakery.example");
    let mut cmd = bin(h, &db);
    cmd.args(["--listen", "127.0.0.1:0"]);
    let server = ShopServer::start(cmd, false);
    let api = Api {
        c: client(),
        base: server.base.clone(),
        key: key_a,
    };

    // A shop's CSV: two parcels for one order, an order not shipped yet, and bad rows
    // between good ones (a mistyped number, a bad email, no order number, a number
    // another order of the file already has). The address spans two lines.
    let mut mistyped = ups(9);
    mistyped.pop();
    mistyped.push(if ups(9).ends_with('0') { '1' } else { '0' });
    let csv = format!(
        "Order Number,Tracking Number,Carrier,Channel,Customer Name,Email,Phone,Postcode,Address,Placed At,Promised At,Stage\r\n\
         A-1,{u1},ups,web,Ada Lovelace,ada@example.com,+44 20 7946 0000,NW1 6XE,\"12 St James's Sq\nLondon\",2026-11-30T10:00:00Z,2026-12-04,\r\n\
         A-1,{u2},,web,,,,,,,,\r\n\
         A-2,,,web,Grace Hopper,grace@example.com,,,,2026-11-30,,in_preparation\r\n\
         A-3,{mistyped},ups,web,Alan Turing,alan@example.com,,,,,,\r\n\
         A-4,{u4},ups,web,Bad Mail,not an address,,,,,,\r\n\
         \r\n\
         ,{u5},ups,web,Nobody,,,,,,,\r\n\
         A-5,{u1},ups,web,Copycat,copy@example.com,,,,,,\r\n\
         A-6,{u6},,web,Edsger Dijkstra,edsger@example.com,,,,,2026-13-01,\r\n\
         A-7,{u7},,web,Barbara Liskov,barbara@example.com,,,,,,\r\n",
        u1 = ups(1),
        u2 = ups(2),
        u4 = ups(4),
        u5 = ups(5),
        u6 = ups(6),
        u7 = ups(7),
    );
    let r = api.csv(&csv).await;
    let expect = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        outcomes(&r),
        expect(&[
            ("line 2", "created"),
            ("line 4", "created"),
            ("line 5", "created"),
            ("line 6", "refused"),
            ("line 7", "refused"),
            ("line 9", "refused"),
            ("line 10", "refused"),
            ("line 11", "refused"),
            ("line 12", "created"),
        ]),
        "{r}"
    );
    assert_eq!(r["rows"], 9);
    assert_eq!(r["orders_created"], 3, "{r}");
    assert_eq!(r["shipments_added"], 3, "{r}");
    assert_eq!(r["refused"], 5, "{r}");
    assert!(reason(&r, 3).contains("tracking_number"), "{r}");
    // A refused row still says which order and number it was.
    assert_eq!(r["results"][3]["order_number"], "A-3");
    assert_eq!(r["results"][3]["tracking_number"], mistyped.as_str());
    assert!(reason(&r, 4).contains("not an email address"), "{r}");
    assert!(reason(&r, 5).contains("no order number"), "{r}");
    assert!(reason(&r, 6).contains(&ups(1)), "{r}");
    assert!(reason(&r, 7).contains("promised_at"), "{r}");
    assert_eq!(r["results"][0]["tracking_number"], ups(1));
    assert_eq!(r["results"][0]["order_number"], "A-1");
    assert_eq!(r["results"][0]["order_id"], r["results"][1]["order_id"]);

    let a1 = api.order("A-1").await;
    assert_eq!(a1["channel"], "web");
    assert_eq!(a1["customer"]["name"], "Ada Lovelace");
    assert_eq!(a1["customer"]["email"], "ada@example.com");
    assert_eq!(a1["customer"]["postcode"], "NW1 6XE");
    assert_eq!(a1["customer"]["address"], "12 St James's Sq\nLondon");
    assert_eq!(a1["promised_at"], "2026-12-04T00:00:00Z");
    let numbers: Vec<&str> = a1["shipments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["tracking_number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, [ups(1), ups(2)]);
    assert_eq!(a1["shipments"][0]["carrier"], "ups");
    assert_eq!(a1["shipments"][1]["carrier"], "ups", "detected");
    let a2 = api.order("A-2").await;
    assert_eq!(a2["stage"], "in_preparation");
    assert_eq!(a2["shipments"], json!([]));
    // Nothing of a refused row is stored.
    for n in ["A-3", "A-4", "A-5", "A-6"] {
        let l = api.get(&format!("/orders?order_number={n}")).await;
        assert_eq!(l["orders"], json!([]), "{n}: {l}");
    }

    // The same file again: nothing added, the bad rows refused for the same reasons.
    let again = api.csv(&csv).await;
    let rerun: Vec<String> = outcomes(&again).into_iter().map(|(_, o)| o).collect();
    assert_eq!(
        rerun,
        [
            "unchanged",
            "unchanged",
            "unchanged",
            "refused",
            "refused",
            "refused",
            "refused",
            "refused",
            "unchanged"
        ],
        "{again}"
    );
    assert_eq!(again["orders_created"], 0);
    assert_eq!(again["shipments_added"], 0);
    assert_eq!(again["results"][0]["order_id"], r["results"][0]["order_id"]);
    assert_eq!(
        again["results"][0]["shipment_id"],
        r["results"][0]["shipment_id"]
    );
    assert_eq!(reason(&again, 6), reason(&r, 6));

    // The common JSON rows: a parcel added to an order of the CSV, a new order, and an
    // element that is not an object.
    let r = api
        .json(json!([
            {"orderId": "A-1", "trackingNumber": ups(3), "carrier": "UPS"},
            {"orderId": "B-1", "trackingNumber": ups(10)},
            "B-2",
            {"orderId": "B-3", "trackingNumber": ["not", "text"]},
        ]))
        .await;
    assert_eq!(
        outcomes(&r),
        expect(&[
            ("/0", "added"),
            ("/1", "created"),
            ("/2", "refused"),
            ("/3", "refused"),
        ]),
        "{r}"
    );
    assert!(reason(&r, 2).contains("expected an object"), "{r}");
    assert!(reason(&r, 3).contains("tracking_number"), "{r}");
    assert_eq!(
        api.order("A-1").await["shipments"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Whole orders, shaped as for POST /orders, under "orders": one parcel of two is bad.
    let r = api
        .json(json!({"orders": [{
            "order_number": "C-1",
            "channel": "marketplace",
            "placed_at": "2026-11-29",
            "customer": {"name": "Katherine Johnson", "email": "kj@example.com", "postcode": "23666"},
            "shipments": [{"tracking_number": ups(11), "label": "the box"}, {"tracking_number": "12345"}],
        }]}))
        .await;
    assert_eq!(
        outcomes(&r),
        expect(&[
            ("/orders/0/shipments/0", "created"),
            ("/orders/0/shipments/1", "refused")
        ]),
        "{r}"
    );
    let c1 = api.order("C-1").await;
    assert_eq!(c1["channel"], "marketplace");
    assert_eq!(c1["customer"]["name"], "Katherine Johnson");
    assert_eq!(c1["shipments"][0]["label"], "the box");

    // The customer's language and time zone, read for their messages; a bad one refuses
    // its row and names the column.
    let r = api
        .csv("order_number,customer_email,customer_language,customer_time_zone\nL-1,l@example.com,de-AT,Europe/Vienna\nL-2,m@example.com,fr,UTC\nL-3,n@example.com,en,Mars/Base\n")
        .await;
    assert_eq!(
        (&r["orders_created"], &r["refused"]),
        (&json!(1), &json!(2)),
        "{r}"
    );
    assert!(reason(&r, 1).starts_with("customer_language:"), "{r}");
    assert!(reason(&r, 2).starts_with("customer_time_zone:"), "{r}");
    let l1 = api.order("L-1").await;
    assert_eq!(
        (&l1["customer"]["language"], &l1["customer"]["time_zone"]),
        (&json!("de"), &json!("Europe/Vienna")),
        "{l1}"
    );
    let r = api
        .json(json!([{"order_number": "L-4", "customer": {"language": "de", "time_zone": "Europe/Berlin"}}]))
        .await;
    assert_eq!(r["orders_created"], 1, "{r}");
    assert_eq!(
        api.order("L-4").await["customer"]["time_zone"],
        "Europe/Berlin"
    );

    // What cannot be read at all is refused whole, saying why.
    let (s, p) = api.send("text/plain", "order_number\nA-9\n").await;
    assert_eq!(s, 415, "{p}");
    let (s, p) = api.send("text/csv", "tracking_number\n1Z\n").await;
    assert_eq!(s, 422, "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("order-number column"),
        "{p}"
    );
    let (s, p) = api.send("application/json", "{\"rows\": []}").await;
    assert_eq!(s, 422, "{p}");
    let (s, p) = api.send("application/json", "[{").await;
    assert_eq!(s, 422, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("not JSON"), "{p}");

    // A file past the API's usual 1 MiB limit is taken; past 16 MiB it is 413.
    let mut big = String::from("order_number,items\n");
    for i in 0..700 {
        big.push_str(&format!("D-{i},{}\n", "x".repeat(1990)));
    }
    assert!(big.len() > 1 << 20);
    let r = api.csv(&big).await;
    assert_eq!(r["orders_created"], 700, "{}", r["refused"]);
    let (s, p) = api
        .send(
            "text/csv",
            format!("order_number\n{}", "x".repeat(17 << 20)),
        )
        .await;
    assert_eq!(s, 413, "{p}");

    // Another shop importing the same numbers gets orders of its own; A's are untouched.
    let other = Api {
        c: client(),
        base: server.base.clone(),
        key: key_b,
    };
    let r = other.csv(&csv).await;
    assert_eq!(r["orders_created"], 3, "{r}");
    assert_ne!(r["results"][0]["order_id"], again["results"][0]["order_id"]);
    assert_eq!(
        api.order("A-1").await["shipments"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    import(format!("sqlite:{}", dir.path().join("server.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_on_postgres() {
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    import(db).await;
}
