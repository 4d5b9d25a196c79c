//! Delivery analytics by carrier, on SQLite and on a real PostgreSQL, against a small data set
//! whose answers are worked out by hand below: transit from the first carrier event to the
//! delivery in calendar days, median and 90th percentile (linear between ranks), lateness by
//! the shop's local day against the order's promised date, and the customers' ratings. Days
//! are the shop's (America/New_York here): two parcels delivered after midnight UTC are on the
//! day before there, and the span's edges are local midnights. Another shop sees nothing.

mod common;

use std::path::Path;
use std::process::Command;

use common::{ShopServer, client, make_shop, server_cmd, ups};
use serde_json::{Value, json};

fn bin(home: &Path, db: &str) -> Command {
    let mut c = server_cmd(home);
    c.args(["--db", db, "--listen", "127.0.0.1:0"]);
    c
}

fn shop(home: &Path, db: &str, name: &str) -> String {
    let made = make_shop(
        bin(home, db),
        name,
        &format!("owner@{}.example", name.len()),
    );
    made["api_key"].as_str().unwrap().to_owned()
}

/// A valid DHL Express waybill (ten digits, the last the first nine mod 7).
fn dhl(n: u32) -> String {
    let serial = format!("3{n:08}");
    format!("{serial}{}", serial.parse::<u64>().unwrap() % 7)
}

/// One parcel: carrier, number, first event, delivery (None: still on its way), promised day.
struct Parcel {
    carrier: &'static str,
    number: String,
    first: &'static str,
    delivered: Option<&'static str>,
    promised: Option<&'static str>,
    rating: Option<u8>,
    comment: Option<&'static str>,
}

fn parcels() -> Vec<Parcel> {
    let p = |carrier, number: String, first, delivered, promised, rating| Parcel {
        // One customer wrote something, markup included: it is text.
        comment: (number == ups(903)).then_some("Left in the rain <b>again</b>"),
        carrier,
        number,
        first,
        delivered,
        promised,
        rating,
    };
    vec![
        // UPS, delivered in November (New York time):
        // 2.0 days, on its promised day; rated 4.
        p(
            "ups",
            ups(901),
            "2026-11-10T12:00:00Z",
            Some("2026-11-12T12:00:00Z"),
            Some("2026-11-12"),
            Some(4),
        ),
        // 4.125 days; 03:00 UTC on the 14th is 22:00 on the 13th in New York: on time.
        p(
            "ups",
            ups(902),
            "2026-11-10T00:00:00Z",
            Some("2026-11-14T03:00:00Z"),
            Some("2026-11-13"),
            None,
        ),
        // 6.0 days, 19:00 on the 16th in New York, the day after its promise: late; rated 2.
        p(
            "ups",
            ups(903),
            "2026-11-11T00:00:00Z",
            Some("2026-11-17T00:00:00Z"),
            Some("2026-11-15"),
            Some(2),
        ),
        // 1.5 days, no promise (left out of the late share).
        p(
            "ups",
            ups(904),
            "2026-11-12T06:00:00Z",
            Some("2026-11-13T18:00:00Z"),
            None,
            None,
        ),
        // 2.0 days, delivered 23:00 on 30 November in New York: inside the span.
        p(
            "ups",
            ups(905),
            "2026-11-29T04:00:00Z",
            Some("2026-12-01T04:00:00Z"),
            None,
            None,
        ),
        // Delivered 01:00 on 1 December in New York: outside; rated 1 (not counted).
        p(
            "ups",
            ups(906),
            "2026-11-28T00:00:00Z",
            Some("2026-12-01T06:00:00Z"),
            None,
            Some(1),
        ),
        // Still on its way: not counted.
        p(
            "ups",
            ups(907),
            "2026-11-20T00:00:00Z",
            None,
            Some("2026-11-22"),
            None,
        ),
        // DHL: 2.5 days, 00:00 UTC on the 18th is the 17th in New York: on its promised day.
        p(
            "dhl",
            dhl(901),
            "2026-11-15T12:00:00Z",
            Some("2026-11-18T00:00:00Z"),
            Some("2026-11-17"),
            None,
        ),
        // 1.5 days, the day after its promise: late.
        p(
            "dhl",
            dhl(902),
            "2026-11-20T00:00:00Z",
            Some("2026-11-21T12:00:00Z"),
            Some("2026-11-20"),
            None,
        ),
        // 23:00 on 31 October in New York (still summer time): outside.
        p(
            "dhl",
            dhl(903),
            "2026-10-29T00:00:00Z",
            Some("2026-11-01T03:00:00Z"),
            Some("2026-10-30"),
            None,
        ),
    ]
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-9)
}

async fn analytics(db: String) {
    let home = tempfile::tempdir().unwrap();
    let key = shop(home.path(), &db, "Trailhead Outfitters");
    let other = shop(home.path(), &db, "Elsewhere");
    let server = ShopServer::start(bin(home.path(), &db), false);
    let (c, base) = (client(), server.base.clone());
    let call = |key: String, method: &'static str, path: String, body: Option<Value>| {
        let (c, base) = (c.clone(), base.clone());
        async move { common::api(&c, &base, Some(&key), method, &path, body).await }
    };

    // The shop's days are New York's.
    let (s, mut settings) = call(key.clone(), "GET", "/shop/notifications".into(), None).await;
    assert_eq!(s, 200, "{settings}");
    settings["time_zone"] = json!("America/New_York");
    let (s, r) = call(
        key.clone(),
        "PUT",
        "/shop/notifications".into(),
        Some(settings),
    )
    .await;
    assert_eq!(s, 200, "{r}");

    let mut links = Vec::new();
    for (i, p) in parcels().iter().enumerate() {
        let mut order = json!({
            "order_number": format!("A-{i}"),
            "customer": {"email": format!("c{i}@example.com")},
            "shipments": [{"tracking_number": p.number, "carrier": p.carrier}],
        });
        if let Some(day) = p.promised {
            order["promised_at"] = json!(day);
        }
        let (s, o) = call(key.clone(), "POST", "/orders".into(), Some(order)).await;
        assert_eq!(s, 201, "{o}");
        let ship = o["shipments"][0]["id"].as_str().unwrap().to_owned();
        links.push(o["tracking_url"].as_str().unwrap().to_owned());
        let mut events = vec![
            json!({"status": "in_transit", "description": "Departed", "occurred_at": p.first}),
        ];
        if let Some(at) = p.delivered {
            events.push(
                json!({"status": "delivered", "description": "Delivered", "occurred_at": at}),
            );
        }
        for e in events {
            let (s, r) = call(
                key.clone(),
                "POST",
                format!("/shipments/{ship}/events"),
                Some(e),
            )
            .await;
            assert_eq!(s, 201, "{r}");
        }
        if let Some(rating) = p.rating {
            let token = o["tracking_url"]
                .as_str()
                .unwrap()
                .rsplit_once("/t/")
                .unwrap()
                .1
                .to_owned();
            let res = c
                .put(format!(
                    "{base}/api/v1/track/{token}/parcels/{ship}/feedback"
                ))
                .json(&json!({"rating": rating, "comment": p.comment}))
                .send()
                .await
                .unwrap();
            assert!(res.status().is_success(), "{}", res.text().await.unwrap());
        }
    }

    let (s, t) = call(
        key.clone(),
        "GET",
        "/analytics/carriers?from=2026-11-01&to=2026-11-30".into(),
        None,
    )
    .await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["time_zone"], "America/New_York", "{t}");
    let rows = t["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{t}");
    let (d, u) = (&rows[0], &rows[1]);
    // DHL: transits 1.5 and 2.5. Median 2.0; 90th: 1.5 + 0.9 × 1.0. Late 1 of 2. No rating.
    assert_eq!(
        (&d["carrier"], &d["delivered"]),
        (&json!("dhl"), &json!(2)),
        "{t}"
    );
    assert!(close(&d["median_transit_days"], 2.0), "{t}");
    assert!(close(&d["p90_transit_days"], 2.4), "{t}");
    assert!(close(&d["late_share"], 0.5), "{t}");
    assert_eq!(d["avg_rating"], Value::Null, "{t}");
    // UPS: transits 1.5, 2.0, 2.0, 4.125, 6.0. Median 2.0; 90th at rank 3.6: 4.125 + 0.6 ×
    // 1.875 = 5.25. Late 1 of the 3 with a promise. Ratings 4 and 2 (the 1 is outside).
    assert_eq!(
        (&u["carrier"], &u["delivered"]),
        (&json!("ups"), &json!(5)),
        "{t}"
    );
    assert!(close(&u["median_transit_days"], 2.0), "{t}");
    assert!(close(&u["p90_transit_days"], 5.25), "{t}");
    assert!(close(&u["late_share"], 1.0 / 3.0), "{t}");
    assert!(close(&u["avg_rating"], 3.0), "{t}");

    // 10 to 15 November: UPS's 1.5, 2.0 and 4.125 (the 6.0 came on the 16th there): median
    // 2.0, 90th 2.0 + 0.8 × 2.125; both promises kept; rated 4.
    let (s, w) = call(
        key.clone(),
        "GET",
        "/analytics/carriers?from=2026-11-10&to=2026-11-15".into(),
        None,
    )
    .await;
    assert_eq!(s, 200, "{w}");
    let rows = w["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{w}");
    assert_eq!(
        (&rows[0]["carrier"], &rows[0]["delivered"]),
        (&json!("ups"), &json!(3)),
        "{w}"
    );
    assert!(close(&rows[0]["median_transit_days"], 2.0), "{w}");
    assert!(close(&rows[0]["p90_transit_days"], 3.7), "{w}");
    assert!(close(&rows[0]["late_share"], 0.0), "{w}");
    assert!(close(&rows[0]["avg_rating"], 4.0), "{w}");

    // The same table as CSV.
    let res = c
        .get(format!(
            "{base}/api/v1/analytics/carriers.csv?from=2026-11-01&to=2026-11-30"
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("carriers-2026-11-01-2026-11-30.csv")
    );
    let csv = res.text().await.unwrap();
    let lines: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        lines[0],
        [
            "carrier",
            "delivered",
            "median_transit_days",
            "p90_transit_days",
            "late_share",
            "avg_rating"
        ],
        "{csv}"
    );
    assert_eq!(lines.len(), 3, "{csv}");
    let num = |s: &str| Value::from(s.parse::<f64>().unwrap());
    for (line, want) in lines[1..].iter().zip([
        ("dhl", "2", 2.0, 2.4, 0.5, None),
        ("ups", "5", 2.0, 5.25, 1.0 / 3.0, Some(3.0)),
    ]) {
        assert_eq!((line[0], line[1]), (want.0, want.1), "{csv}");
        assert!(
            close(&num(line[2]), want.2) && close(&num(line[3]), want.3),
            "{csv}"
        );
        assert!(close(&num(line[4]), want.4), "{csv}");
        match want.5 {
            Some(r) => assert!(close(&num(line[5]), r), "{csv}"),
            None => assert_eq!(line[5], "", "{csv}"),
        }
    }

    // The delivery report by carrier says the same and more. DHL in New York's days:
    // 901 from Sunday the 15th to Tuesday the 17th (2 business days), on its promised day;
    // 902 from Thursday the 19th to Saturday the 21st (1), late. UPS: 901 and 902 on their
    // promised days, 903 late, 904 and 905 without a promise; none had a failed attempt.
    let (s, r) = call(
        key.clone(),
        "GET",
        "/analytics/deliveries?from=2026-11-01&to=2026-11-30".into(),
        None,
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        (&r["by"], &r["country"]),
        (&json!("carrier"), &Value::Null),
        "{r}"
    );
    let rows = r["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{r}");
    let (d, u) = (&rows[0], &rows[1]);
    assert_eq!(
        (&d["key"], &d["label"], &d["delivered"]),
        (&json!("dhl"), &json!("DHL Express"), &json!(2)),
        "{r}"
    );
    assert!(close(&d["transit_days"]["median"], 2.0), "{r}");
    assert!(close(&d["transit_days"]["p90"], 2.4), "{r}");
    assert!(close(&d["transit_business_days"]["median"], 1.5), "{r}");
    assert!(close(&d["transit_business_days"]["p90"], 1.9), "{r}");
    assert_eq!(
        (&d["early"], &d["on_day"], &d["late"]),
        (&json!(0), &json!(1), &json!(1)),
        "{r}"
    );
    assert!(close(&d["on_time_share"], 0.5), "{r}");
    assert!(close(&d["first_attempt_share"], 1.0), "{r}");
    assert_eq!(d["avg_rating"], Value::Null, "{r}");
    assert!(close(&u["avg_rating"], 3.0), "{r}");
    assert!(close(&r["avg_rating"], 3.0), "{r}");
    assert_eq!(
        (&u["key"], &u["delivered"], &u["on_day"], &u["late"]),
        (&json!("ups"), &json!(5), &json!(2), &json!(1)),
        "{r}"
    );
    assert!(close(&u["transit_days"]["p90"], 5.25), "{r}");
    assert!(close(&u["on_time_share"], 2.0 / 3.0), "{r}");

    // By week (Monday to Sunday there): UPS's 901, 902 and 904 in the week of the 9th; UPS's
    // 903 and both of DHL's in that of the 16th; UPS's 905 on Monday the 30th.
    let (s, w) = call(
        key.clone(),
        "GET",
        "/analytics/deliveries?from=2026-11-01&to=2026-11-30&by=week&country=us".into(),
        None,
    )
    .await;
    assert_eq!(s, 200, "{w}");
    assert_eq!(w["country"], "US", "{w}");
    let weeks: Vec<(String, u64)> = w["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_owned(),
                r["delivered"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        weeks,
        [
            ("2026-11-09".to_owned(), 3),
            ("2026-11-16".to_owned(), 3),
            ("2026-11-30".to_owned(), 1)
        ],
        "{w}"
    );

    // As CSV, one line per group.
    let res = c
        .get(format!(
            "{base}/api/v1/analytics/deliveries.csv?from=2026-11-01&to=2026-11-30&by=week"
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("deliveries-by-week-2026-11-01-2026-11-30.csv")
    );
    let csv = res.text().await.unwrap();
    let lines: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert_eq!(
        lines[0][..6],
        [
            "key",
            "label",
            "delivered",
            "transit_days_n",
            "transit_days_median",
            "transit_days_p90"
        ],
        "{csv}"
    );
    assert_eq!(lines[0].len(), 23, "{csv}");
    assert_eq!(lines[2][..3], ["2026-11-16", "2026-11-16", "3"], "{csv}");

    // A grouping or country it does not know is refused by name.
    for (q, why) in [("by=day", "by"), ("country=XX", "country")] {
        let (s, p) = call(
            key.clone(),
            "GET",
            format!("/analytics/deliveries?{q}"),
            None,
        )
        .await;
        assert_eq!(s, 400, "{q}: {p}");
        assert!(p["detail"].as_str().unwrap().contains(why), "{q}: {p}");
    }

    // Spans that mean nothing are refused, saying why.
    for (q, why) in [
        ("from=2026-11-30&to=2026-11-01", "after"),
        ("from=2020-01-01&to=2026-11-01", "at most 1096"),
        ("from=30/11/2026", "from"),
    ] {
        let (s, p) = call(key.clone(), "GET", format!("/analytics/carriers?{q}"), None).await;
        assert_eq!(s, 400, "{q}: {p}");
        assert!(p["detail"].as_str().unwrap().contains(why), "{q}: {p}");
    }

    // Feedback by week (New York's): UPS 901 rated 4 in the week of the 9th, 903 rated 2 in
    // that of the 16th (it came on the 16th there); 906's 1 is outside. The comment, as text.
    let (s, f) = call(
        key.clone(),
        "GET",
        "/analytics/feedback?from=2026-11-01&to=2026-11-30".into(),
        None,
    )
    .await;
    assert_eq!(s, 200, "{f}");
    let weeks: Vec<(&str, &str, u64, f64)> = f["weeks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["week"].as_str().unwrap(),
                w["carrier"].as_str().unwrap(),
                w["rated"].as_u64().unwrap(),
                w["avg_rating"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        weeks,
        [("2026-11-09", "ups", 1, 4.0), ("2026-11-16", "ups", 1, 2.0)],
        "{f}"
    );
    let comments = f["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 1, "{f}");
    assert_eq!(
        (
            &comments[0]["comment"],
            &comments[0]["rating"],
            &comments[0]["carrier_name"]
        ),
        (
            &json!("Left in the rain <b>again</b>"),
            &json!(2),
            &json!("UPS")
        ),
        "{f}"
    );
    let res = c
        .get(format!(
            "{base}/api/v1/analytics/feedback.csv?from=2026-11-01&to=2026-11-30"
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.text().await.unwrap().trim(),
        "week,carrier,rated,avg_rating\n2026-11-09,ups,1,4\n2026-11-16,ups,1,2"
    );

    // Problems that began in the span, by carrier and kind, read from the problems' history
    // (the pipeline opens them; which ones depends on today, so the shape is checked here and
    // the counts in the store's tests). Another shop sees none of them below.
    let (s, pr) = call(
        key.clone(),
        "GET",
        "/analytics/problems?from=2026-11-01&to=2026-11-30".into(),
        None,
    )
    .await;
    assert_eq!(s, 200, "{pr}");
    for row in pr["rows"].as_array().unwrap() {
        assert!(row["parcels"].as_u64().unwrap() >= 1, "{pr}");
        assert!(
            row["kind_name"].as_str().is_some_and(|k| !k.is_empty()),
            "{pr}"
        );
    }
    let (s, p) = call(
        key.clone(),
        "GET",
        "/analytics/problems?from=2026-12-01&to=2026-11-01".into(),
        None,
    )
    .await;
    assert_eq!(s, 400, "{p}");

    // Service: two customers open their tracking page, one of them three times (the page
    // asks again on each live update): two orders viewed, against the orders placed today.
    for link in [&links[0], &links[0], &links[3], &links[0]] {
        let token = link.rsplit_once("/t/").unwrap().1;
        let res = c
            .get(format!("{base}/api/v1/track/{token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let (s, sv) = call(key.clone(), "GET", "/analytics/service".into(), None).await;
    assert_eq!(s, 200, "{sv}");
    let page = &sv["tracking_page"];
    assert_eq!(page["orders_viewed"], 2, "{sv}");
    let placed = page["orders_placed"].as_u64().unwrap();
    match placed {
        0 => assert_eq!(page["viewed_share"], Value::Null, "{sv}"),
        n => assert!(close(&page["viewed_share"], 2.0 / n as f64), "{sv}"),
    }
    assert!(sv["notifications"].is_array(), "{sv}");
    let (s, theirs) = call(other.clone(), "GET", "/analytics/service".into(), None).await;
    assert_eq!(
        (s, &theirs["tracking_page"]["orders_viewed"]),
        (200, &json!(0)),
        "{theirs}"
    );

    // Another shop's analytics hold none of these parcels.
    let (s, theirs) = call(
        other.clone(),
        "GET",
        "/analytics/carriers?from=2026-11-01&to=2026-11-30".into(),
        None,
    )
    .await;
    assert_eq!((s, &theirs["rows"]), (200, &json!([])), "{theirs}");
    let (s, theirs) = call(
        other.clone(),
        "GET",
        "/analytics/deliveries?from=2026-11-01&to=2026-11-30&by=week".into(),
        None,
    )
    .await;
    assert_eq!((s, &theirs["rows"]), (200, &json!([])), "{theirs}");
    let (s, theirs) = call(
        other.clone(),
        "GET",
        "/analytics/feedback?from=2026-11-01&to=2026-11-30".into(),
        None,
    )
    .await;
    assert_eq!(
        (s, &theirs["weeks"], &theirs["comments"]),
        (200, &json!([]), &json!([])),
        "{theirs}"
    );
    let (s, theirs) = call(
        other,
        "GET",
        "/analytics/problems?from=2026-11-01&to=2026-11-30".into(),
        None,
    )
    .await;
    assert_eq!((s, &theirs["rows"]), (200, &json!([])), "{theirs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carrier_analytics_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    analytics(format!("sqlite:{}", dir.path().join("server.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carrier_analytics_on_postgres() {
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    analytics(db).await;
}
