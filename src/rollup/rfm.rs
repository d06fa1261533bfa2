//! RFM: recency, frequency and monetary value from a purchase event, scored
//! 1–5 by quintiles across every profile that purchased.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::rollup::acc::Acc;

/// Which event is a purchase and which property is its amount.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RfmConfig {
    /// The purchase event name.
    pub event: String,
    /// The amount property.
    pub amount: String,
}

/// Quintile cut points computed across the database.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RfmModel {
    /// What it was computed from.
    pub config: RfmConfig,
    /// When it was computed (the cut points' recency is measured from this
    /// instant).
    pub computed_at: Timestamp,
    /// Milliseconds since the last purchase at the 20/40/60/80th percentiles.
    pub recency_cuts: Vec<i64>,
    /// Purchase counts at the 20/40/60/80th percentiles.
    pub frequency_cuts: Vec<u64>,
    /// Total spend at the 20/40/60/80th percentiles.
    pub monetary_cuts: Vec<f64>,
    /// Profiles with at least one purchase.
    pub profiles: u64,
}

/// One profile's RFM values and scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RfmScore {
    /// Milliseconds from the last purchase to the scoring time
    /// ([`ProfileDb::rfm`](crate::ProfileDb::rfm): now; the model's
    /// distribution: its computation time). Never negative.
    pub recency_ms: i64,
    /// Number of purchases.
    pub frequency: u64,
    /// Total spend.
    pub monetary: f64,
    /// 5 = most recent quintile.
    pub r: u8,
    /// 5 = most frequent quintile.
    pub f: u8,
    /// 5 = highest-spend quintile.
    pub m: u8,
}

impl RfmScore {
    /// The scores as a three-digit code, e.g. `"545"`.
    pub fn code(&self) -> String {
        format!("{}{}{}", self.r, self.f, self.m)
    }
}

/// The model and how many profiles got each score code.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RfmReport {
    /// The cut points.
    pub model: RfmModel,
    /// Score code (`"555"`) → number of profiles.
    pub distribution: BTreeMap<String, u64>,
}

fn cuts<T: Copy + PartialOrd>(sorted: &[T]) -> Vec<T> {
    if sorted.is_empty() {
        return Vec::new();
    }
    (1..5).map(|q| sorted[(sorted.len() * q / 5).saturating_sub(1).min(sorted.len() - 1)]).collect()
}

impl RfmModel {
    /// Computes the model from the all-time accumulators of every profile.
    pub fn fit(config: RfmConfig, now: Timestamp, accs: &[Acc]) -> RfmModel {
        let buyers: Vec<&Acc> = accs.iter().filter(|a| a.count > 0).collect();
        // Clamped as in `score_at`: a purchase stamped after `now` (within
        // the future skew) is just now, not a negative recency below every
        // other buyer's cut.
        let mut r: Vec<i64> = buyers.iter().map(|a| now.0.saturating_sub(a.last.unwrap_or(now.0)).max(0)).collect();
        let mut f: Vec<u64> = buyers.iter().map(|a| a.count).collect();
        let mut m: Vec<f64> = buyers.iter().map(|a| a.sum.value()).collect();
        r.sort_unstable();
        f.sort_unstable();
        m.sort_by(f64::total_cmp);
        RfmModel {
            config,
            computed_at: now,
            recency_cuts: cuts(&r),
            frequency_cuts: cuts(&f),
            monetary_cuts: cuts(&m),
            profiles: buyers.len() as u64,
        }
    }

    /// Scores one profile's accumulator against the model's cut points,
    /// recency measured from its `computed_at`; `None` if it never
    /// purchased.
    pub fn score(&self, acc: &Acc) -> Option<RfmScore> {
        self.score_at(acc, self.computed_at)
    }

    /// As [`score`](Self::score), reporting the recency measured from `now`
    /// (never negative: a purchase stamped after `now`, within the future
    /// skew, counts as just now).
    ///
    /// The R score applies exactly the model's cut rule: the last purchase is
    /// placed against the cut points measured from the model's
    /// `computed_at`, as `fit` placed every buyer. A profile that has not
    /// purchased since the model was computed therefore keeps the R the
    /// model's distribution gave it (a buyer on a cut point does not drop a
    /// level 1 ms later, and a lone buyer stays R5); a purchase after the
    /// computation is the most recent. Frequency and spend are the current
    /// values against their cut points.
    pub fn score_at(&self, acc: &Acc, now: Timestamp) -> Option<RfmScore> {
        let last = acc.last.filter(|_| acc.count > 0)?;
        let recency_ms = now.0.saturating_sub(last).max(0);
        let at_model = self.computed_at.0.saturating_sub(last).max(0);
        let above = |n: usize| 1 + n as u8;
        let r = 5 - self.recency_cuts.iter().filter(|c| at_model > **c).count() as u8;
        let f = above(self.frequency_cuts.iter().filter(|c| acc.count > **c).count());
        let m = above(self.monetary_cuts.iter().filter(|c| acc.sum.value() > **c).count());
        Some(RfmScore { recency_ms, frequency: acc.count, monetary: acc.sum.value(), r, f, m })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(count: u64, sum: f64, last: i64) -> Acc {
        Acc { count, sum: sum.into(), numeric: count, last: Some(last), ..Acc::default() }
    }

    #[test]
    fn a_purchase_stamped_after_now_scores_as_the_most_recent() {
        let now = Timestamp(1_000_000_000);
        let day = Timestamp::DAY;
        let config = RfmConfig { event: "purchase".into(), amount: "amount".into() };
        // Alone: the best recency.
        let alone = [acc(1, 10.0, now.0 + 1)];
        let model = RfmModel::fit(config.clone(), now, &alone);
        assert_eq!(model.score(&alone[0]).map(|s| s.r), Some(5));
        // Five buyers, the newest 3 minutes ahead: it is the only R5.
        let five: Vec<Acc> = [now.0 + 180_000, now.0 - day, now.0 - 2 * day, now.0 - 3 * day, now.0 - 4 * day]
            .iter()
            .map(|&t| acc(1, 10.0, t))
            .collect();
        let model = RfmModel::fit(config, now, &five);
        let r: Vec<u8> = five.iter().filter_map(|a| model.score(a)).map(|s| s.r).collect();
        assert_eq!(r, vec![5, 4, 3, 2, 1]);
    }

    #[test]
    fn scoring_after_the_computation_gives_the_models_own_distribution() {
        let now = Timestamp(1_000_000_000);
        let day = Timestamp::DAY;
        let config = RfmConfig { event: "purchase".into(), amount: "amount".into() };
        // Ties on every cut point: 10 buyers, two per day.
        let accs: Vec<Acc> = (0..10).map(|i| acc(1, 10.0, now.0 - (i / 2) * day)).collect();
        let model = RfmModel::fit(config, now, &accs);
        for later in [1, 60_000, 3 * day] {
            for a in &accs {
                let (fit, scored) = (model.score(a).unwrap(), model.score_at(a, Timestamp(now.0 + later)).unwrap());
                assert_eq!(scored.code(), fit.code(), "{later} ms after the computation");
                assert_eq!(scored.recency_ms, fit.recency_ms + later, "the recency reported is from now");
            }
        }
        // A lone buyer is R5, also a day later.
        let lone = [acc(1, 10.0, now.0 - 5 * day)];
        let model = RfmModel::fit(model.config.clone(), now, &lone);
        assert_eq!(model.score_at(&lone[0], Timestamp(now.0 + day)).map(|s| s.r), Some(5));
    }

    #[test]
    fn quintiles_spread_scores_from_1_to_5() {
        let now = Timestamp(1_000_000);
        let accs: Vec<Acc> = (0..100).map(|i| acc(i + 1, (i * 10) as f64, 1_000_000 - i as i64 * 1_000)).collect();
        let model = RfmModel::fit(RfmConfig { event: "purchase".into(), amount: "amount".into() }, now, &accs);
        assert_eq!(model.profiles, 100);
        let best = model.score(&accs[99]).unwrap();
        let worst = model.score(&accs[0]).unwrap();
        assert_eq!((best.f, best.m, best.r), (5, 5, 1), "most purchases, most spend, least recent");
        assert_eq!((worst.f, worst.m, worst.r), (1, 1, 5));
        let mut per_f = [0; 6];
        for a in &accs {
            per_f[model.score(a).unwrap().f as usize] += 1;
        }
        assert_eq!(&per_f[1..], &[20, 20, 20, 20, 20]);
        assert!(model.score(&Acc::default()).is_none());
    }
}
