//! The model: learned distributions, back-off, conditioning and calibration (see the module
//! docs of [`crate::eta`] for the reasoning).

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;

use super::calendar::{BusinessCalendar, end_of_day, local_date, local_to_utc, start_of_day};
use super::hist::{Hist, LOG_RATIO, Mix, TRANSIT};
use super::priors;
use super::{Delivery, Estimate, EtaInput, EtaSource};
use crate::domain::{CarrierEta, Status};

/// Tunables of the [`Model`].
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// Quantile level of the window's start (default 0.15).
    pub lower_quantile: f64,
    /// Quantile level of the window's end (default 0.95). With the default lower level the
    /// nominal coverage is 0.80, asymmetric so that `latest` is late only ~5 % of the time.
    /// Where a store promised a date, the end is calibrated instead to be late a little less
    /// often than that store's promises are (see `Perf::upper_tail_target`).
    pub upper_quantile: f64,
    /// Shrinkage strength: a key with `n` recent deliveries gets weight `n / (n + shrinkage)`
    /// against its parent's distribution (default 20).
    pub shrinkage: f64,
    /// How many deliveries the published-standard prior counts as (default 5).
    pub prior_weight: f64,
    /// Recent deliveries needed before a key's measured coverage, error and delivery time of
    /// day are trusted (default 30).
    pub min_samples: f64,
    /// Half-life of a delivery's weight, in days; `None`: no decay (default 120).
    pub half_life_days: Option<f64>,
    /// Step of the online calibration of the window's quantile levels (default 0.005).
    pub adapt_rate: f64,
    /// The zone whose local days are used when learning (dates of shipping and delivery).
    pub tz: Tz,
    /// Confidence given to a carrier's own estimate (default 0.85: carriers' published
    /// on-time rates are mostly 85–97 %, and an estimate is revised as the parcel moves).
    pub carrier_eta_confidence: f32,
    /// Confidence that an out-for-delivery parcel arrives today (default 0.9: most
    /// out-for-delivery parcels are delivered on the same run; failed attempts are the rest).
    pub out_for_delivery_confidence: f32,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            lower_quantile: 0.15,
            upper_quantile: 0.95,
            shrinkage: 20.0,
            prior_weight: 5.0,
            min_samples: 30.0,
            half_life_days: Some(120.0),
            adapt_rate: 0.005,
            tz: Tz::UTC,
            carrier_eta_confidence: 0.85,
            out_for_delivery_confidence: 0.9,
        }
    }
}

impl ModelConfig {
    /// The nominal probability of a delivery inside the window (0.80 by default).
    pub fn coverage(&self) -> f64 {
        (self.upper_quantile - self.lower_quantile).clamp(0.0, 1.0)
    }
}

/// Smoothing of the promise ratio `ln((T + A) / (L + A))`, in business days: keeps short
/// transits and lead times from dominating.
const A: f64 = 1.0;
/// Lead-time bands (business days) for the promise model; a band is `[EDGES[i], EDGES[i+1])`.
const LEAD_EDGES: [f64; 7] = [0.0, 3.0, 6.0, 10.0, 15.0, 22.0, 32.0];
/// Below this share of probability left past the elapsed time, a parcel is "overdue" and the
/// truncated distribution is no longer trusted.
const OVERDUE: f64 = 0.01;
/// Decay exponent at which all weights are renormalised (keeps `2^x` finite).
const RESCALE_AT: f64 = 400.0;

fn lead_band(lead: f64) -> usize {
    LEAD_EDGES.iter().rposition(|&e| lead >= e).unwrap_or(0)
}

/// Delivery time of day: 48 half-hour bins.
#[derive(Debug, Clone)]
struct TimeOfDay {
    bins: [f64; 48],
    total: f64,
    /// Deliveries counted (unweighted), for the sample threshold.
    count: u64,
}

impl Default for TimeOfDay {
    fn default() -> Self {
        TimeOfDay {
            bins: [0.0; 48],
            total: 0.0,
            count: 0,
        }
    }
}

impl TimeOfDay {
    fn add(&mut self, secs: u32, w: f64) {
        self.bins[(secs / 1800).min(47) as usize] += w;
        self.total += w;
        self.count += 1;
    }

    fn scale(&mut self, f: f64) {
        self.bins.iter_mut().for_each(|b| *b *= f);
        self.total *= f;
    }

    /// The median second of the day among deliveries after `after` seconds, or `None` when
    /// (almost) nothing is delivered after it.
    fn median_after(&self, after: u32) -> Option<u32> {
        let start = after as f64 / 1800.0;
        let mass = |i: usize| {
            let lo = i as f64;
            let part = ((lo + 1.0 - start).clamp(0.0, 1.0)) * self.bins[i];
            (part, lo.max(start))
        };
        let rest: f64 = (0..48).map(|i| mass(i).0).sum();
        if rest <= 0.05 * self.total || rest <= 0.0 {
            return None;
        }
        let mut acc = 0.0;
        for i in 0..48 {
            let (m, from) = mass(i);
            if m > 0.0 && acc + m >= rest / 2.0 {
                let frac = (rest / 2.0 - acc) / m;
                let secs = (from + frac * (i as f64 + 1.0 - from)) * 1800.0;
                return Some(secs as u32);
            }
            acc += m;
        }
        None
    }

    /// A typical pattern before anything is learned: most deliveries 10:00–18:00, median 14:00.
    fn typical() -> &'static TimeOfDay {
        static T: std::sync::LazyLock<TimeOfDay> = std::sync::LazyLock::new(|| {
            let mut t = TimeOfDay::default();
            for i in 0..48 {
                let h = (i as f64 + 0.5) / 2.0;
                let z = (h - 14.0) / 2.5;
                t.add(i * 1800, (-0.5 * z * z).exp());
            }
            t
        });
        &T
    }
}

/// The three ways of estimating transit from history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    /// Transit distribution of the key (and its ancestors).
    History,
    /// Transit as a function of the store's promised lead time.
    Promise,
    /// The average of both's quantiles.
    Blend,
}

impl Way {
    fn index(self) -> usize {
        self as usize
    }
}

/// How one way has done recently, and its calibrated quantile levels.
#[derive(Debug, Clone)]
struct WayPerf {
    /// Weighted sum of absolute errors of the median, in days.
    abs_err: f64,
    /// Weighted count of windows that held the delivery day.
    hits: f64,
    /// Weighted count of deliveries scored.
    weight: f64,
    /// Current lower quantile level (adaptive).
    lower: f64,
    /// Current upper quantile level (adaptive).
    upper: f64,
}

impl WayPerf {
    fn new(cfg: &ModelConfig) -> Self {
        WayPerf {
            abs_err: 0.0,
            hits: 0.0,
            weight: 0.0,
            lower: cfg.lower_quantile,
            upper: cfg.upper_quantile,
        }
    }
}

/// Performance of the three ways for one carrier (or all).
#[derive(Debug, Clone)]
struct Perf {
    ways: [WayPerf; 3],
    /// Recency-weighted deliveries that had a store promise, and those delivered after the
    /// promised day: how reliable the store's promises are.
    promised: f64,
    promise_late: f64,
    /// How many deliveries had a promise (unweighted, to know when the rate means something).
    promised_count: u64,
}

/// Deliveries with a promise needed before the store's reliability sets the window's end.
const MIN_PROMISED: u64 = 50;

impl Perf {
    fn new(cfg: &ModelConfig) -> Self {
        Perf {
            ways: std::array::from_fn(|_| WayPerf::new(cfg)),
            promised: 0.0,
            promise_late: 0.0,
            promised_count: 0,
        }
    }

    fn scale(&mut self, f: f64) {
        for w in &mut self.ways {
            w.abs_err *= f;
            w.hits *= f;
            w.weight *= f;
        }
        self.promised *= f;
        self.promise_late *= f;
    }

    /// The share of deliveries that may come after the window's end. Where the store
    /// promised a date, the window's end must be late less often than the store's promise,
    /// so it is calibrated to 15 % under the store's own late rate, within 1–10 % (at 10 %
    /// under, the calibration's lag left it as late as the promise on some marketplace
    /// replays); elsewhere to the nominal upper tail.
    fn upper_tail_target(&self, cfg: &ModelConfig, promised: bool) -> f64 {
        if promised && self.promised_count >= MIN_PROMISED && self.promised > 0.0 {
            (0.85 * self.promise_late / self.promised).clamp(0.01, 0.10)
        } else {
            1.0 - cfg.upper_quantile
        }
    }
}

/// Promise ratios, overall and per lead-time band.
#[derive(Debug, Clone, Default)]
struct PromiseStats {
    all: Hist,
    bands: [Option<Box<Hist>>; LEAD_EDGES.len()],
}

impl PromiseStats {
    fn add(&mut self, z: f64, lead: f64, w: f64) {
        let bin = LOG_RATIO.bin(z);
        self.all.add(bin, w);
        self.bands[lead_band(lead)]
            .get_or_insert_with(Box::default)
            .add(bin, w);
    }

    fn scale(&mut self, f: f64) {
        self.all.scale(f);
        self.bands.iter_mut().flatten().for_each(|h| h.scale(f));
    }
}

#[derive(Debug, Clone, Default)]
struct ServiceNode {
    hist: Hist,
    /// origin -> destination -> transit.
    routes: HashMap<String, HashMap<String, Hist>>,
}

#[derive(Debug, Clone)]
struct CarrierNode {
    hist: Hist,
    tod: TimeOfDay,
    promise: PromiseStats,
    perf: Perf,
    services: HashMap<String, ServiceNode>,
}

impl CarrierNode {
    fn new(cfg: &ModelConfig) -> Self {
        CarrierNode {
            hist: Hist::default(),
            tod: TimeOfDay::default(),
            promise: PromiseStats::default(),
            perf: Perf::new(cfg),
            services: HashMap::new(),
        }
    }
}

/// The ETA model: see [`crate::eta`].
#[derive(Debug, Clone)]
pub struct Model {
    cfg: ModelConfig,
    /// Unix seconds at which a delivery's weight is 1 (set by the first delivery learned).
    t_ref: Option<i64>,
    global: Hist,
    global_tod: TimeOfDay,
    global_promise: PromiseStats,
    global_perf: Perf,
    /// By carrier id; `""` holds deliveries without a carrier.
    carriers: HashMap<String, CarrierNode>,
    learned: u64,
}

impl Default for Model {
    fn default() -> Self {
        Model::new(ModelConfig::default())
    }
}

/// A key part: trimmed and ASCII-lower-cased (borrowed when already so); `""` for none.
fn norm(s: Option<&str>) -> Cow<'_, str> {
    let s = s.map(str::trim).unwrap_or("");
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// Normalised key of a parcel.
struct Keys<'a> {
    carrier: Cow<'a, str>,
    service: Cow<'a, str>,
    origin: Cow<'a, str>,
    destination: Cow<'a, str>,
}

impl<'a> Keys<'a> {
    fn new(
        carrier: Option<&'a str>,
        service: Option<&'a str>,
        origin: Option<&'a str>,
        destination: Option<&'a str>,
    ) -> Self {
        Keys {
            carrier: norm(carrier),
            service: norm(service),
            origin: norm(origin),
            destination: norm(destination),
        }
    }

    fn has_route(&self) -> bool {
        !self.origin.is_empty() || !self.destination.is_empty()
    }
}

/// A transit distribution to draw quantiles from.
#[derive(Clone, Copy)]
struct Source<'a> {
    history: Mix<'a>,
    /// Share of the prior in `history`.
    prior_share: f64,
    /// The promise model and the promised lead time (business days), when available.
    promise: Option<(Mix<'a>, f64)>,
}

/// Transit quantiles (business days) at the window's lower level, the median and the upper
/// level.
type Triple = [f64; 3];

impl Source<'_> {
    /// Quantiles of transit given more than `elapsed`; `None` when overdue.
    fn history_quantiles(&self, elapsed: f64, levels: Triple) -> Option<Triple> {
        truncated(&self.history, TRANSIT, elapsed, levels, |x| x)
    }

    fn promise_quantiles(&self, elapsed: f64, levels: Triple) -> Option<Triple> {
        let (mix, lead) = self.promise?;
        let z_elapsed = ((elapsed + A) / (lead + A)).ln();
        truncated(&mix, LOG_RATIO, z_elapsed, levels, |z| {
            ((lead + A) * z.exp() - A).max(0.0)
        })
        .map(|q| q.map(|t| t.max(elapsed)))
    }

    fn quantiles(&self, way: Way, elapsed: f64, levels: Triple) -> Option<Triple> {
        match way {
            Way::History => self.history_quantiles(elapsed, levels),
            Way::Promise => self.promise_quantiles(elapsed, levels),
            Way::Blend => {
                let h = self.history_quantiles(elapsed, levels)?;
                let p = self.promise_quantiles(elapsed, levels)?;
                Some(std::array::from_fn(|i| 0.5 * (h[i] + p[i])))
            }
        }
    }
}

/// Quantiles at `levels` of `mix` truncated below at `from`, mapped through `to_transit`.
fn truncated(
    mix: &Mix<'_>,
    axis: super::hist::Axis,
    from: f64,
    levels: Triple,
    to_transit: impl Fn(f64) -> f64,
) -> Option<Triple> {
    let below = mix.cdf(axis, from);
    let rest = 1.0 - below;
    if rest < OVERDUE {
        return None;
    }
    Some(levels.map(|p| to_transit(mix.quantile(axis, below + p * rest).max(from))))
}

impl Model {
    /// An empty model (estimates come from priors until it learns).
    pub fn new(config: ModelConfig) -> Self {
        Model {
            global_perf: Perf::new(&config),
            cfg: config,
            t_ref: None,
            global: Hist::default(),
            global_tod: TimeOfDay::default(),
            global_promise: PromiseStats::default(),
            carriers: HashMap::new(),
            learned: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// How many deliveries were learned.
    pub fn learned(&self) -> u64 {
        self.learned
    }

    fn half_life_secs(&self) -> Option<f64> {
        self.cfg
            .half_life_days
            .filter(|h| *h > 0.0)
            .map(|h| h * 86_400.0)
    }

    /// Weight of a delivery completed at `t` (renormalising everything when needed).
    fn weight_at(&mut self, t: DateTime<Utc>) -> f64 {
        let Some(h) = self.half_life_secs() else {
            return 1.0;
        };
        let t_ref = *self.t_ref.get_or_insert(t.timestamp());
        let mut x = (t.timestamp() - t_ref) as f64 / h;
        if x > RESCALE_AT {
            self.rescale(RESCALE_AT);
            x -= RESCALE_AT;
        }
        x.max(-1000.0).exp2()
    }

    fn rescale(&mut self, by: f64) {
        let f = (-by).exp2();
        if let (Some(t), Some(h)) = (self.t_ref.as_mut(), self.cfg.half_life_days) {
            *t += (by * h * 86_400.0) as i64;
        }
        self.global.scale(f);
        self.global_tod.scale(f);
        self.global_promise.scale(f);
        self.global_perf.scale(f);
        for c in self.carriers.values_mut() {
            c.hist.scale(f);
            c.tod.scale(f);
            c.promise.scale(f);
            c.perf.scale(f);
            for s in c.services.values_mut() {
                s.hist.scale(f);
                s.routes
                    .values_mut()
                    .flat_map(|m| m.values_mut())
                    .for_each(|h| h.scale(f));
            }
        }
    }

    /// Multiplier turning stored weights into "recent deliveries as of `now`".
    fn recency(&self, now: DateTime<Utc>) -> f64 {
        match (self.half_life_secs(), self.t_ref) {
            (Some(h), Some(t_ref)) => (-((now.timestamp() - t_ref) as f64) / h).min(1000.0).exp2(),
            _ => 1.0,
        }
    }

    /// Learns one completed delivery. A delivery before its start is ignored.
    pub fn learn(&mut self, d: &Delivery) {
        if d.delivered_at < d.started_at {
            return;
        }
        let tz = self.cfg.tz;
        let cal = BusinessCalendar::for_country(d.dest_country.as_deref());
        let keys = Keys::new(
            d.carrier.as_deref(),
            d.service.as_deref(),
            d.origin.as_deref(),
            d.destination.as_deref(),
        );
        let start = cal.clock(d.started_at, tz);
        let transit = (cal.clock(d.delivered_at, tz) - start).max(0.0);
        let delivered_local = d.delivered_at.with_timezone(&tz).naive_local();
        let lead = d
            .promised_at
            .map(|p| cal.clock_end_of(local_date(p, tz)) - start)
            .filter(|l| *l > 0.0);

        // Score what the model would have said at the start, before it learns this delivery:
        // the error drives the choice between history and promise, the misses calibrate the
        // window.
        let recency = self.recency(d.delivered_at);
        let scores = {
            let src = self.source(&keys, lead, recency);
            let perf = self.perf_of(&keys.carrier);
            let mut scores: [Option<(f64, i8)>; 3] = [None; 3];
            for way in [Way::History, Way::Promise, Way::Blend] {
                let wp = &perf.ways[way.index()];
                if src.promise.is_none() && way != Way::History {
                    continue;
                }
                let Some(q) = src.quantiles(way, 0.0, [wp.lower, 0.5, wp.upper]) else {
                    continue;
                };
                let day = |t: f64| cal.date_of(start + t);
                let actual = delivered_local.date();
                let err = (actual - day(q[1])).num_days().abs() as f64;
                let side = if actual < day(q[0]) {
                    -1
                } else if actual > day(q[2]) {
                    1
                } else {
                    0
                };
                scores[way.index()] = Some((err, side));
            }
            scores
        };

        let w = self.weight_at(d.delivered_at);
        let lo_target = self.cfg.lower_quantile;
        let gamma = self.cfg.adapt_rate;
        let cfg = self.cfg.clone();
        let late_vs_promise = d
            .promised_at
            .map(|p| delivered_local.date() > local_date(p, tz));
        let update = |perf: &mut Perf| {
            let hi_target = perf.upper_tail_target(&cfg, late_vs_promise.is_some());
            if let Some(late) = late_vs_promise {
                perf.promised += w;
                perf.promise_late += w * f64::from(u8::from(late));
                perf.promised_count += 1;
            }
            for (wp, s) in perf.ways.iter_mut().zip(scores) {
                let Some((err, side)) = s else { continue };
                wp.abs_err += w * err;
                wp.hits += w * f64::from(u8::from(side == 0));
                wp.weight += w;
                // Adaptive conformal step: a miss moves its level outwards, a hit inwards,
                // settling where misses happen at the target rates.
                let below = f64::from(u8::from(side < 0));
                let above = f64::from(u8::from(side > 0));
                wp.lower = (wp.lower + gamma * (lo_target - below)).clamp(0.001, 0.7);
                let upper_tail = (1.0 - wp.upper) + gamma * (hi_target - above);
                wp.upper = 1.0 - upper_tail.clamp(0.001, 0.5);
            }
        };
        update(&mut self.global_perf);

        let bin = TRANSIT.bin(transit);
        self.global.add(bin, w);
        let secs = delivered_local.time().num_seconds_from_midnight();
        // A midnight delivery time is a date without a time: no time-of-day information.
        if secs != 0 {
            self.global_tod.add(secs, w);
        }
        let promise = lead.map(|l| (((transit + A) / (l + A)).ln(), l));
        if let Some((z, l)) = promise {
            self.global_promise.add(z, l, w);
        }
        let node = self
            .carriers
            .entry(keys.carrier.into_owned())
            .or_insert_with(|| CarrierNode::new(&cfg));
        update(&mut node.perf);
        node.hist.add(bin, w);
        if secs != 0 {
            node.tod.add(secs, w);
        }
        if let Some((z, l)) = promise {
            node.promise.add(z, l, w);
        }
        let service = node.services.entry(keys.service.into_owned()).or_default();
        service.hist.add(bin, w);
        if !keys.origin.is_empty() || !keys.destination.is_empty() {
            service
                .routes
                .entry(keys.origin.into_owned())
                .or_default()
                .entry(keys.destination.into_owned())
                .or_default()
                .add(bin, w);
        }
        self.learned += 1;
    }

    fn perf_of(&self, carrier: &str) -> &Perf {
        self.carriers
            .get(carrier)
            .map_or(&self.global_perf, |c| &c.perf)
    }

    /// The back-off chain for a key, and the promise model when a lead time is known.
    fn source<'m>(&'m self, keys: &Keys<'_>, lead: Option<f64>, recency: f64) -> Source<'m> {
        let (prior, specific) = priors::prior(&keys.carrier, &keys.service);
        let mut history = Mix::of(prior);
        let mut prior_share = 1.0;
        let mut parent_strength = self.cfg.prior_weight;
        let mut refine = |mix: &mut Mix<'m>, h: &'m Hist, parent: &mut f64| {
            let n = h.total() * recency;
            if n > 0.0 {
                let lambda = n / (n + *parent);
                mix.refine(h, lambda);
                prior_share *= 1.0 - lambda;
            }
            *parent = self.cfg.shrinkage;
        };
        if !specific || keys.carrier.is_empty() {
            refine(&mut history, &self.global, &mut parent_strength);
        }
        let node = self.carriers.get(keys.carrier.as_ref());
        if let Some(node) = node {
            if !keys.carrier.is_empty() {
                refine(&mut history, &node.hist, &mut parent_strength);
            }
            if let Some(svc) = node.services.get(keys.service.as_ref()) {
                if !keys.service.is_empty() {
                    refine(&mut history, &svc.hist, &mut parent_strength);
                }
                if keys.has_route()
                    && let Some(h) = svc
                        .routes
                        .get(keys.origin.as_ref())
                        .and_then(|m| m.get(keys.destination.as_ref()))
                {
                    refine(&mut history, h, &mut parent_strength);
                }
            }
        }

        let promise = lead.and_then(|lead| {
            let g = &self.global_promise;
            // Too little to say how promises relate to reality.
            if g.all.total() * recency < 5.0 {
                return None;
            }
            let band = lead_band(lead);
            let mut mix = Mix::of(&g.all);
            let k = self.cfg.shrinkage;
            let mut refine = |h: Option<&'m Hist>| {
                if let Some(h) = h {
                    let n = h.total() * recency;
                    if n > 0.0 {
                        mix.refine(h, n / (n + k));
                    }
                }
            };
            refine(g.bands[band].as_deref());
            if let Some(node) = node.filter(|_| !keys.carrier.is_empty()) {
                refine(Some(&node.promise.all));
                refine(node.promise.bands[band].as_deref());
            }
            Some((mix, lead))
        });

        Source {
            history,
            prior_share,
            promise,
        }
    }

    /// Chooses how to estimate: by recent error when both history and a promise are there.
    fn choose(&self, perf: &Perf, has_promise: bool, recency: f64) -> Way {
        if !has_promise {
            return Way::History;
        }
        let enough = perf
            .ways
            .iter()
            .all(|w| w.weight * recency >= self.cfg.min_samples);
        if !enough {
            return Way::Blend;
        }
        [Way::Blend, Way::Promise, Way::History]
            .into_iter()
            .min_by(|a, b| {
                let e = |w: &Way| {
                    let p = &perf.ways[w.index()];
                    p.abs_err / p.weight
                };
                e(a).total_cmp(&e(b))
            })
            .unwrap_or(Way::Blend)
    }

    /// Estimates the delivery window of a parcel on its way; `None` for terminal statuses
    /// (delivered, returned, expired).
    pub fn estimate(&self, input: &EtaInput<'_>) -> Option<Estimate> {
        if input.status.is_terminal() {
            return None;
        }
        let keys = Keys::new(
            input.carrier,
            input.service,
            input.origin,
            input.destination,
        );
        if matches!(
            input.status,
            Status::OutForDelivery | Status::AvailableForPickup
        ) {
            return Some(self.today(input, &keys));
        }
        if let Some(ce) = input.carrier_eta
            && let Some(e) = self.carrier_window(&ce, input, &keys)
        {
            return Some(e);
        }
        let cal = BusinessCalendar::for_country(input.dest_country);
        if input.status == Status::FailedAttempt {
            return Some(self.redelivery(input, &keys, &cal));
        }
        Some(self.history_window(input, &keys, &cal))
    }

    fn tod_for(&self, carrier: &str) -> &TimeOfDay {
        let min = self.cfg.min_samples as u64;
        match self.carriers.get(carrier) {
            Some(c) if c.tod.count >= min => &c.tod,
            _ if self.global_tod.count >= min => &self.global_tod,
            _ => TimeOfDay::typical(),
        }
    }

    /// The typical delivery moment on local `date` after `not_before`, within the day.
    fn typical_time(
        &self,
        carrier: &str,
        date: NaiveDate,
        not_before: DateTime<Utc>,
        tz: Tz,
    ) -> DateTime<Utc> {
        let day_start = start_of_day(date, tz);
        let day_end = end_of_day(date, tz);
        let after = if not_before > day_start {
            let local = not_before.with_timezone(&tz);
            if local.date_naive() == date {
                local.time().num_seconds_from_midnight()
            } else {
                86_399
            }
        } else {
            0
        };
        let t = match self.tod_for(carrier).median_after(after) {
            Some(secs) => local_to_utc(
                date.and_hms_opt(0, 0, 0).expect("midnight") + Duration::seconds(secs.into()),
                tz,
            ),
            // Later than nearly every delivery: within the hour, if at all today.
            None => not_before + Duration::hours(1),
        };
        let lo = not_before.max(day_start);
        t.clamp(lo, day_end.max(lo))
    }

    fn today(&self, input: &EtaInput<'_>, keys: &Keys<'_>) -> Estimate {
        let today = local_date(input.now, input.tz);
        let latest = end_of_day(today, input.tz).max(input.now);
        let likely = self.typical_time(&keys.carrier, today, input.now, input.tz);
        Estimate {
            earliest: input.now,
            likely: likely.clamp(input.now, latest),
            latest,
            confidence: self.cfg.out_for_delivery_confidence,
            source: EtaSource::OutForDelivery,
        }
    }

    fn carrier_window(
        &self,
        ce: &CarrierEta,
        input: &EtaInput<'_>,
        keys: &Keys<'_>,
    ) -> Option<Estimate> {
        let tz = input.tz;
        let e_local = ce.earliest.with_timezone(&tz);
        let l_local = ce.latest.with_timezone(&tz);
        let date_only = |t: &DateTime<Tz>| t.time().num_seconds_from_midnight() == 0;
        // A single instant, or a bound given as a bare date, means the whole local day.
        let whole_days = ce.earliest == ce.latest || date_only(&e_local) && date_only(&l_local);
        let (start, end) = if whole_days {
            (
                start_of_day(e_local.date_naive(), tz),
                end_of_day(l_local.date_naive(), tz),
            )
        } else {
            (
                ce.earliest.with_timezone(&Utc),
                ce.latest.with_timezone(&Utc),
            )
        };
        if end < input.now || end < start {
            return None; // stale: the carrier's date has passed
        }
        let earliest = start.max(input.now);
        let (first, last) = (local_date(earliest, tz), local_date(end, tz));
        let likely = if first == last {
            if whole_days {
                self.typical_time(&keys.carrier, first, earliest, tz)
            } else {
                earliest + (end - earliest) / 2
            }
        } else {
            let mid = first + Duration::days((last - first).num_days() / 2);
            self.typical_time(&keys.carrier, mid, earliest, tz)
        };
        Some(Estimate {
            earliest,
            likely: likely.clamp(earliest, end),
            latest: end,
            confidence: self.cfg.carrier_eta_confidence,
            source: EtaSource::Carrier,
        })
    }

    /// After a failed attempt: the next business day, or the one after.
    fn redelivery(
        &self,
        input: &EtaInput<'_>,
        keys: &Keys<'_>,
        cal: &BusinessCalendar,
    ) -> Estimate {
        let tz = input.tz;
        let today = local_date(input.now, tz);
        let next = cal.add_business_days(today, 1);
        let after = cal.add_business_days(today, 2);
        let earliest = start_of_day(next, tz).max(input.now);
        let latest = end_of_day(after, tz).max(earliest);
        Estimate {
            earliest,
            likely: self
                .typical_time(&keys.carrier, next, earliest, tz)
                .clamp(earliest, latest),
            latest,
            confidence: 0.7,
            source: EtaSource::History,
        }
    }

    fn history_window(
        &self,
        input: &EtaInput<'_>,
        keys: &Keys<'_>,
        cal: &BusinessCalendar,
    ) -> Estimate {
        let tz = input.tz;
        let now = cal.clock(input.now, tz);
        let started = cal.clock(input.started_at, tz);
        // Not handed to the carrier yet: the transit has not begun, so it starts now rather
        // than being conditioned on the time spent waiting.
        let pre_transit = matches!(input.status, Status::Pending | Status::InfoReceived);
        let start = if pre_transit {
            started.max(now)
        } else {
            started
        };
        let elapsed = (now - start).max(0.0);
        let lead = input
            .promised_at
            .map(|p| cal.clock_end_of(local_date(p, tz)) - start)
            .filter(|l| *l > 0.0);
        let recency = self.recency(input.now);
        let src = self.source(keys, lead, recency);
        let perf = self.perf_of(&keys.carrier);
        let way = self.choose(perf, src.promise.is_some(), recency);
        let wp = &perf.ways[way.index()];
        let prior_dominated = src.prior_share > 0.5;
        let levels = if prior_dominated {
            [self.cfg.lower_quantile, 0.5, self.cfg.upper_quantile]
        } else {
            [wp.lower, 0.5, wp.upper]
        };
        let source = if prior_dominated {
            EtaSource::Prior
        } else {
            EtaSource::History
        };
        let nominal = self.cfg.coverage() as f32;
        let measured = (wp.weight * recency >= self.cfg.min_samples && !prior_dominated)
            // Never claim certainty: a perfect record is still a finite one.
            .then(|| ((wp.hits / wp.weight) as f32).min(0.99));

        let quantiles = src
            .quantiles(way, elapsed, levels)
            .or_else(|| src.history_quantiles(elapsed, levels));
        let Some(q) = quantiles else {
            // Overdue beyond nearly everything seen: soon, but with a wide, honest window.
            let earliest = input.now;
            let likely = cal.instant_at(now + 1.0, tz).max(earliest);
            let latest = end_of_day(cal.date_of(now + (0.25 * elapsed).max(3.0)), tz);
            return Estimate {
                earliest,
                likely,
                latest,
                confidence: 0.5,
                source,
            };
        };
        let mut confidence = measured.unwrap_or(nominal);
        let mut latest_x = start + q[2];
        if input.status == Status::Exception {
            // Exceptions (customs, damage, address problems) add days and doubt.
            latest_x += 2.0;
            confidence *= 0.75;
        }
        let earliest = start_of_day(cal.date_of(start + q[0]), tz).max(input.now);
        let latest = end_of_day(cal.date_of(latest_x), tz).max(earliest);
        let likely = cal.instant_at(start + q[1], tz).clamp(earliest, latest);
        Estimate {
            earliest,
            likely,
            latest,
            confidence: confidence.clamp(0.0, 1.0),
            source,
        }
    }
}
