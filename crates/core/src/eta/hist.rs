//! Weighted histograms over a fixed axis, stored as Fenwick trees so that adding a sample, a
//! CDF value and a quantile of a *mixture* of histograms each cost O(log bins).
//!
//! Mixtures are how back-off works: a key's distribution is its own histogram shrunk towards
//! its parent's, i.e. a weighted sum of histograms; quantiles of that sum are found by one
//! Fenwick descent over all parts at once, without materialising the sum.

/// Bins per histogram (a power of two, for the Fenwick descent).
pub(crate) const BINS: usize = 2048;

/// Where values fall into bins: `bin = floor((x - lo) * per_unit)`, clamped to the ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Axis {
    lo: f64,
    per_unit: f64,
}

/// Transit in business days: 1/16 of a day (1.5 h) per bin, up to 128 business days.
pub(crate) const TRANSIT: Axis = Axis {
    lo: 0.0,
    per_unit: 16.0,
};

/// Log ratio of transit to the promised lead time: 1/256 per bin over [-4, 4).
pub(crate) const LOG_RATIO: Axis = Axis {
    lo: -4.0,
    per_unit: 256.0,
};

impl Axis {
    fn position(self, x: f64) -> f64 {
        ((x - self.lo) * self.per_unit).clamp(0.0, BINS as f64)
    }

    pub(crate) fn bin(self, x: f64) -> usize {
        (self.position(x) as usize).min(BINS - 1)
    }

    fn value(self, position: f64) -> f64 {
        self.lo + position / self.per_unit
    }
}

/// One weighted histogram.
#[derive(Clone)]
pub(crate) struct Hist {
    /// Fenwick tree, 1-based: `tree[i]` sums bins `i - lowbit(i) .. i` (0-based, half-open).
    tree: Box<[f64]>,
    bins: Box<[f64]>,
    total: f64,
}

impl std::fmt::Debug for Hist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hist").field("total", &self.total).finish()
    }
}

impl Default for Hist {
    fn default() -> Self {
        Hist {
            tree: vec![0.0; BINS + 1].into_boxed_slice(),
            bins: vec![0.0; BINS].into_boxed_slice(),
            total: 0.0,
        }
    }
}

impl Hist {
    /// Sum of all weights.
    pub(crate) fn total(&self) -> f64 {
        self.total
    }

    pub(crate) fn add(&mut self, bin: usize, w: f64) {
        self.bins[bin] += w;
        self.total += w;
        let mut i = bin + 1;
        while i <= BINS {
            self.tree[i] += w;
            i += i & i.wrapping_neg();
        }
    }

    /// Multiplies every weight (time decay renormalisation).
    pub(crate) fn scale(&mut self, f: f64) {
        self.tree.iter_mut().for_each(|v| *v *= f);
        self.bins.iter_mut().for_each(|v| *v *= f);
        self.total *= f;
    }

    /// Sum of bins `0..bin`.
    fn prefix(&self, bin: usize) -> f64 {
        let mut s = 0.0;
        let mut i = bin;
        while i > 0 {
            s += self.tree[i];
            i &= i - 1;
        }
        s
    }

    /// Builds a histogram from a CDF (for the parametric priors), with total weight 1.
    pub(crate) fn from_cdf(axis: Axis, cdf: impl Fn(f64) -> f64) -> Hist {
        let mut h = Hist::default();
        let mut prev = 0.0;
        for b in 0..BINS {
            let upper = if b + 1 == BINS {
                1.0
            } else {
                cdf(axis.value((b + 1) as f64))
            };
            let w = (upper - prev).max(0.0);
            if w > 0.0 {
                h.add(b, w);
            }
            prev = prev.max(upper);
        }
        h
    }
}

/// Most parts a mixture can have (prior + four key levels, with room to spare).
const MAX_PARTS: usize = 6;

/// A mixture of histograms with non-negative coefficients summing (with the histograms'
/// totals) to one.
#[derive(Clone, Copy)]
pub(crate) struct Mix<'a> {
    parts: [(f64, Option<&'a Hist>); MAX_PARTS],
    len: usize,
}

impl<'a> Mix<'a> {
    /// A mixture of a single histogram.
    pub(crate) fn of(h: &'a Hist) -> Self {
        let mut m = Mix {
            parts: [(0.0, None); MAX_PARTS],
            len: 0,
        };
        m.push_raw(1.0 / h.total.max(f64::MIN_POSITIVE), h);
        m
    }

    fn push_raw(&mut self, coef: f64, h: &'a Hist) {
        if self.len < MAX_PARTS {
            self.parts[self.len] = (coef, Some(h));
            self.len += 1;
        }
    }

    /// Shrinks this mixture towards being `h`'s own distribution: `lambda` of the result is
    /// `h` (normalised), the rest the current mixture.
    pub(crate) fn refine(&mut self, h: &'a Hist, lambda: f64) {
        if lambda <= 0.0 || h.total <= 0.0 {
            return;
        }
        for p in &mut self.parts[..self.len] {
            p.0 *= 1.0 - lambda;
        }
        self.push_raw(lambda / h.total, h);
    }

    fn parts(&self) -> impl Iterator<Item = (f64, &'a Hist)> + '_ {
        self.parts[..self.len]
            .iter()
            .filter_map(|&(c, h)| h.map(|h| (c, h)))
    }

    /// P(X <= x), interpolating within a bin.
    pub(crate) fn cdf(&self, axis: Axis, x: f64) -> f64 {
        let pos = axis.position(x);
        let b = (pos as usize).min(BINS - 1);
        let frac = (pos - b as f64).clamp(0.0, 1.0);
        self.parts()
            .map(|(c, h)| c * (h.prefix(b) + frac * h.bins[b]))
            .sum::<f64>()
            .clamp(0.0, 1.0)
    }

    /// The `p`-quantile, interpolating within a bin.
    pub(crate) fn quantile(&self, axis: Axis, p: f64) -> f64 {
        let mut pos = 0usize;
        let mut rem = p.clamp(0.0, 1.0);
        let mut step = BINS;
        while step > 0 {
            let next = pos + step;
            if next <= BINS {
                let m: f64 = self.parts().map(|(c, h)| c * h.tree[next]).sum();
                if m < rem {
                    pos = next;
                    rem -= m;
                }
            }
            step >>= 1;
        }
        if pos >= BINS {
            return axis.value(BINS as f64);
        }
        let m: f64 = self.parts().map(|(c, h)| c * h.bins[pos]).sum();
        let frac = if m > 0.0 {
            (rem / m).clamp(0.0, 1.0)
        } else {
            0.5
        };
        axis.value(pos as f64 + frac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_a_mixture_match_a_direct_computation() {
        let mut a = Hist::default();
        let mut b = Hist::default();
        for i in 0..100 {
            a.add(TRANSIT.bin(1.0 + f64::from(i) / 100.0), 1.0); // uniform on [1, 2)
            b.add(TRANSIT.bin(5.0 + f64::from(i) / 100.0), 2.0); // uniform on [5, 6)
        }
        let m = Mix::of(&a);
        assert!((m.quantile(TRANSIT, 0.5) - 1.5).abs() < 0.07);
        let mut mix = Mix::of(&a);
        mix.refine(&b, 0.5);
        assert!((mix.cdf(TRANSIT, 3.0) - 0.5).abs() < 1e-9);
        assert!((mix.quantile(TRANSIT, 0.25) - 1.5).abs() < 0.07);
        assert!((mix.quantile(TRANSIT, 0.75) - 5.5).abs() < 0.07);
        // Quantile and CDF are inverse to each other.
        for p in [0.1, 0.3, 0.6, 0.9] {
            let x = mix.quantile(TRANSIT, p);
            assert!((mix.cdf(TRANSIT, x) - p).abs() < 1e-6, "p={p}");
        }
    }

    #[test]
    fn values_beyond_the_axis_are_clamped() {
        let mut h = Hist::default();
        h.add(TRANSIT.bin(1_000.0), 1.0);
        h.add(TRANSIT.bin(-3.0), 1.0);
        let m = Mix::of(&h);
        assert!(m.quantile(TRANSIT, 0.99) <= 128.0);
        assert!(m.quantile(TRANSIT, 0.01) >= 0.0);
        h.scale(0.5);
        assert!((h.total() - 1.0).abs() < 1e-12);
    }
}
