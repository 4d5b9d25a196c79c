//! Email-like text with known tracking numbers: order confirmations and shipping notices, dense
//! with order numbers, phone numbers, prices, dates, addresses, SKUs and URLs, as real mail is.
//!
//! Shared by the criterion bench (`benches/detect.rs`), the corpus test
//! (`tests/email_corpus.rs`) and `examples/email_text.rs`, which writes it to files for
//! `scripts/bench-detect`. Deterministic by seed; no dependency, so the example builds in
//! seconds. The tracking numbers are made here with their own check digits (not by asking the
//! detector), of carriers both Parceltrail and ts-tracking-number know (UPS, FedEx, USPS, DHL
//! Express, Amazon, OnTrac, UPU S10), so the ground truth does not lean on either.
#![allow(dead_code)]

/// One message: its text (an mbox `From ` line first) and the tracking numbers in it,
/// normalised (upper case, no spaces).
pub struct Email {
    pub text: String,
    pub numbers: Vec<String>,
}

/// xorshift64*: small, deterministic, good enough for text.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a, T: ?Sized>(&mut self, xs: &[&'a T]) -> &'a T {
        xs[self.below(xs.len())]
    }
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    pub fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
    fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"0123456789ABCDEFGHJKLMNPRSTUVWXYZ";
        (0..n).map(|_| char::from(A[self.below(A.len())])).collect()
    }
}

fn value(c: u8) -> u32 {
    if c.is_ascii_digit() {
        u32::from(c - b'0')
    } else {
        // tracking_number_data's mapping of letters in mod 10 checks.
        (u32::from(c) - 3) % 10
    }
}

/// mod 10 with multipliers for even and odd positions (0-based), as tracking_number_data.
fn mod10(serial: &str, evens: u32, odds: u32) -> char {
    let sum: u32 = serial
        .bytes()
        .enumerate()
        .map(|(i, c)| value(c) * if i % 2 == 0 { evens } else { odds })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

fn ups(r: &mut Rng) -> String {
    let service = r.pick(&["01", "02", "03", "12", "13", "15", "22", "42"]);
    let serial = format!("{}{service}{}", r.alnum(6), r.digits(7));
    let check = mod10(&serial, 1, 2);
    format!("1Z{serial}{check}")
}

fn usps(r: &mut Rng) -> String {
    // IMpb: application identifier, service code, mailer id, package: 22 digits.
    let head = r.pick(&[
        "9400111", "9405511", "9205590", "9261290", "9361289", "9470111",
    ]);
    let serial = format!("{head}{}", r.digits(14));
    let check = mod10(&serial, 3, 1);
    format!("{serial}{check}")
}

fn fedex(r: &mut Rng) -> String {
    const W: [u32; 11] = [3, 1, 7, 3, 1, 7, 3, 1, 7, 3, 1];
    // A leading 7 or 8, as FedEx Express numbers printed on labels have.
    let serial = format!("{}{}", r.pick(&["7", "8"]), r.digits(10));
    let sum: u32 = serial.bytes().zip(W).map(|(c, w)| value(c) * w).sum();
    format!("{serial}{}", sum % 11 % 10)
}

fn dhl(r: &mut Rng) -> String {
    let serial = format!("{}{}", 1 + r.below(9), r.digits(8));
    let n: u64 = serial.parse().unwrap_or(0);
    format!("{serial}{}", n % 7)
}

fn s10(r: &mut Rng) -> String {
    const W: [u32; 8] = [8, 6, 4, 2, 3, 5, 9, 7];
    let service = r.pick(&["RB", "RR", "LX", "CP", "EE", "LB", "RA"]);
    let country = r.pick(&["GB", "US", "CN", "DE", "FR", "NL", "CA", "AU", "CH", "SE"]);
    let serial = r.digits(8);
    let sum: u32 = serial.bytes().zip(W).map(|(c, w)| value(c) * w).sum();
    let check = match 11 - sum % 11 {
        10 => 0,
        11 => 5,
        c => c,
    };
    format!("{service}{serial}{check}{country}")
}

fn amazon(r: &mut Rng) -> String {
    format!("TBA{}", r.digits(12))
}

fn ontrac(r: &mut Rng) -> String {
    let serial = format!("1{}", r.digits(12));
    let check = mod10(&format!("4{serial}"), 1, 2);
    format!("C{serial}{check}")
}

/// `(carrier name as an email says it, tracking link template or "", make a number)`.
type Maker = (&'static str, &'static str, fn(&mut Rng) -> String);

const CARRIERS: &[Maker] = &[
    (
        "UPS",
        "https://www.ups.com/track?loc=en_US&tracknum=%s",
        ups,
    ),
    (
        "USPS",
        "https://tools.usps.com/go/TrackConfirmAction?tLabels=%s",
        usps,
    ),
    (
        "FedEx",
        "https://www.fedex.com/fedextrack/?trknbr=%s",
        fedex,
    ),
    ("DHL Express", "", dhl),
    ("Royal Mail", "", s10),
    ("Amazon Logistics", "", amazon),
    (
        "OnTrac",
        "https://www.ontrac.com/tracking/?number=%s",
        ontrac,
    ),
];

/// The number as a person or a template prints it: whole, or in groups.
fn spaced(r: &mut Rng, n: &str) -> String {
    let groups: &[usize] = match (n.len(), r.below(3)) {
        (_, 0) => return n.to_owned(),
        (18, _) if n.starts_with("1Z") => &[2, 3, 3, 4, 4, 2],
        (22, _) => &[4, 4, 4, 4, 4, 2],
        (12, _) => &[4, 4, 4],
        (13, _) => &[2, 3, 3, 3, 2],
        _ => return n.to_owned(),
    };
    let mut out = String::new();
    let mut at = 0;
    for g in groups {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&n[at..at + g]);
        at += g;
    }
    out
}

const SHOPS: &[&str] = &[
    "Northwind Outfitters",
    "Acme Home & Garden",
    "Blue Harbor Books",
    "Kestrel Electronics",
    "Maple & Oak Furniture",
    "Brightside Pet Supply",
];
const FIRST: &[&str] = &["Jamie", "Alex", "Sam", "Priya", "Lena", "Marco", "Chen"];
const LAST: &[&str] = &[
    "Rivera", "Okafor", "Schmidt", "Nguyen", "Dubois", "Kowalski",
];
const STREETS: &[&str] = &[
    "Maple Avenue",
    "W 34th Street",
    "Kingsway",
    "Rue de la Paix",
    "Hauptstrasse",
    "Elm Court",
];
const CITIES: &[&str] = &[
    "Springfield, IL 62704",
    "Portland, OR 97205",
    "Austin, TX 78701-2314",
    "London SW1A 1AA",
    "10115 Berlin",
    "Toronto, ON M5V 2T6",
];
const ITEMS: &[&str] = &[
    "Merino Wool Crew Socks (3-pack)",
    "USB-C Charging Cable 2m",
    "Stainless Steel Water Bottle 750ml",
    "Organic Cotton Tee - Navy / L",
    "Wireless Earbuds Pro 2",
    "Cast Iron Skillet 10\"",
    "LED Desk Lamp, dimmable",
    "Grain-Free Dog Food 12 lb",
];
const MONTHS: &[&str] = &[
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn phone(r: &mut Rng) -> String {
    match r.below(4) {
        0 => format!("({}) {}-{}", r.digits(3), r.digits(3), r.digits(4)),
        1 => format!("1-800-{}-{}", r.digits(3), r.digits(4)),
        2 => format!("+44 20 {} {}", r.digits(4), r.digits(4)),
        _ => format!("+49 30 {} {}", r.digits(3), r.digits(5)),
    }
}

fn price(r: &mut Rng) -> String {
    match r.below(3) {
        0 => format!("${}.{}", 1 + r.below(400), r.digits(2)),
        1 => format!("€{},{}", 1 + r.below(400), r.digits(2)),
        _ => format!("${},{}.{}", 1 + r.below(3), r.digits(3), r.digits(2)),
    }
}

fn date(r: &mut Rng) -> String {
    let (d, m) = (1 + r.below(28), r.below(12));
    match r.below(3) {
        0 => format!("2026-{:02}-{d:02}", m + 1),
        1 => format!("{} {d}, 2026", MONTHS[m]),
        _ => format!("{d:02}/{:02}/2026", m + 1),
    }
}

fn order_number(r: &mut Rng) -> String {
    match r.below(4) {
        0 => format!("{}-{}-{}", r.digits(3), r.digits(7), r.digits(7)),
        1 => format!("#{}", 100_000 + r.below(900_000)),
        2 => format!("NW-{}-{}", r.digits(4), r.digits(6)),
        _ => r.digits(10),
    }
}

fn shop_url(r: &mut Rng, shop: &str) -> String {
    let host: String = shop
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_lowercase();
    match r.below(3) {
        0 => format!(
            "https://www.{host}.com/account/orders/{}?utm_source=email&utm_medium=txn&utm_campaign=ship_{}",
            r.digits(9),
            r.digits(6)
        ),
        1 => format!(
            "https://click.{host}.com/ls/click?upn={}-{}",
            r.alnum(40),
            r.digits(12)
        ),
        _ => format!("https://{host}.com/p/{}?sku={}", r.digits(8), r.alnum(10)),
    }
}

/// One email. `ship`: whether it is a shipping notice (with tracking numbers).
pub fn email(r: &mut Rng, ship: bool) -> Email {
    let mut t = String::with_capacity(3000);
    let mut numbers = Vec::new();
    let shop = r.pick(SHOPS);
    let name = format!("{} {}", r.pick(FIRST), r.pick(LAST));
    let order = order_number(r);
    let (d, h) = (1 + r.below(28), r.below(24));
    t.push_str(&format!(
        "From orders@{}.example {} Nov {d:2} {h:02}:{:02}:{:02} 2026\n",
        shop.split(' ').next().unwrap_or("shop").to_lowercase(),
        r.pick(&["Mon", "Tue", "Wed", "Thu", "Fri"]),
        r.below(60),
        r.below(60),
    ));
    t.push_str(&format!(
        "Date: {}\nSubject: {}, order {order}\nMessage-ID: <{}.{}@mail.{}.example>\n\n",
        date(r),
        if ship {
            "Your order has shipped"
        } else {
            "Order confirmation"
        },
        r.digits(14),
        r.alnum(12),
        shop.split(' ').next().unwrap_or("shop").to_lowercase(),
    ));
    t.push_str(&format!(
        "Hi {name},\n\nThank you for shopping with {shop}! Order number: {order}, placed {}.\n",
        date(r)
    ));
    if ship {
        let parcels = 1 + r.below(3) * r.below(2);
        let lines = [
            "Your package is on its way.",
            "Good news: part of your order has shipped.",
            "Your parcel has been handed to the carrier.",
        ];
        t.push_str(r.pick(&lines));
        t.push('\n');
        for p in 0..parcels {
            let (carrier, link, make) = CARRIERS[r.below(CARRIERS.len())];
            let n = make(r);
            let shown = spaced(r, &n);
            match r.below(4) {
                0 => t.push_str(&format!(
                    "\nPackage {} of {parcels}\nCarrier: {carrier}\nTracking number: {shown}\n",
                    p + 1
                )),
                1 => t.push_str(&format!("\n{carrier} tracking #: {shown}\n")),
                2 => t.push_str(&format!(
                    "\nShipped via {carrier} on {}. Track your shipment: {shown}\n",
                    date(r)
                )),
                _ => t.push_str(&format!("\nTracking ({carrier}): {shown}\n")),
            }
            if !link.is_empty() && r.chance(60) {
                t.push_str(&format!("Track it here: {}\n", link.replace("%s", &n)));
            }
            t.push_str(&format!(
                "Estimated delivery: {} between {}:00 and {}:00\n",
                date(r),
                8 + r.below(4),
                14 + r.below(6)
            ));
            numbers.push(n);
        }
    }
    t.push_str("\nOrder summary\n");
    for _ in 0..1 + r.below(5) {
        t.push_str(&format!(
            "  {}  SKU: {}-{}-{}  Item #{}  Qty {}  {}\n",
            r.pick(ITEMS),
            r.alnum(2),
            r.digits(5),
            r.pick(&["S", "M", "L", "XL", "BLK", "NVY"]),
            r.digits(8),
            1 + r.below(4),
            price(r)
        ));
    }
    t.push_str(&format!(
        "Subtotal: {}\nShipping: {}\nTax: {}\nTotal: {}\nPaid with Visa ending in {} (auth code {})\n",
        price(r),
        price(r),
        price(r),
        price(r),
        r.digits(4),
        r.alnum(6)
    ));
    t.push_str(&format!(
        "\nShipping to:\n{name}\n{} {}, Apt {}\n{}\nPhone: {}\n",
        1 + r.below(9999),
        r.pick(STREETS),
        1 + r.below(40),
        r.pick(CITIES),
        phone(r)
    ));
    t.push_str(&format!("\nView your order: {}\n", shop_url(r, shop)));
    t.push_str(&format!(
        "Questions? Call us at {} (Mon-Fri 9:00-17:00) or reply to this email. Customer ID {}, invoice INV-2026-{}.\n",
        phone(r),
        r.digits(8),
        r.digits(6)
    ));
    t.push_str(&format!(
        "Returns accepted within 30 days of delivery. Return authorisation RMA{}.\n",
        r.digits(7)
    ));
    t.push_str(&format!(
        "<img src=\"https://pixel.{}.example/open/{}.gif?e={}\" width=\"1\" height=\"1\">\n",
        shop.split(' ').next().unwrap_or("shop").to_lowercase(),
        r.alnum(24),
        r.digits(10)
    ));
    t.push_str(&format!(
        "\n{shop} · {} {} · {} · Unsubscribe: {}\n\n",
        1 + r.below(999),
        r.pick(STREETS),
        r.pick(CITIES),
        shop_url(r, shop)
    ));
    Email { text: t, numbers }
}

/// About `bytes` of emails, two in three of them shipping notices.
pub fn emails(seed: u64, bytes: usize) -> Vec<Email> {
    let mut r = Rng::new(seed);
    let mut out = Vec::new();
    let mut total = 0;
    while total < bytes {
        let ship = r.below(3) < 2;
        let e = email(&mut r, ship);
        total += e.text.len();
        out.push(e);
    }
    out
}
