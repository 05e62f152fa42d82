//! Timing repeated calls, for the benchmarks and for the latency a report prints: warm up, time each
//! call, and read quantiles off the sorted samples. One implementation, so every figure we print is the
//! same statistic (the median is the middle sample, `samples[n / 2]`).

use std::time::Instant;

/// The sorted durations of timed calls, in seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Samples {
    secs: Vec<f64>,
}

impl Samples {
    /// Sorts `secs` (durations in seconds).
    pub fn new(mut secs: Vec<f64>) -> Self {
        secs.sort_by(f64::total_cmp);
        Samples { secs }
    }

    /// The sample at quantile `q` in [0, 1]: `samples[⌊q · n⌋]`, clamped to the last one.
    pub fn quantile(&self, q: f64) -> f64 {
        let n = self.secs.len();
        if n == 0 {
            return f64::NAN;
        }
        self.secs[((q * n as f64) as usize).min(n - 1)]
    }

    pub fn median(&self) -> f64 {
        self.quantile(0.5)
    }

    pub fn min(&self) -> f64 {
        self.secs.first().copied().unwrap_or(f64::NAN)
    }

    pub fn max(&self) -> f64 {
        self.secs.last().copied().unwrap_or(f64::NAN)
    }
}

/// [`time_calls`] for calls that cannot fail.
pub fn time(warmup: usize, runs: usize, mut f: impl FnMut(usize)) -> Samples {
    let timed: Result<Samples, std::convert::Infallible> = time_calls(warmup, runs, |i| {
        f(i);
        Ok(())
    });
    match timed {
        Ok(samples) => samples,
        Err(never) => match never {},
    }
}

/// Calls `f(i)` `warmup` times untimed, then `runs` times timed (`i` counts on across both, so a
/// caller can vary its input per call and no engine answers from a cache).
pub fn time_calls<E>(warmup: usize, runs: usize, mut f: impl FnMut(usize) -> Result<(), E>) -> Result<Samples, E> {
    for i in 0..warmup {
        f(i)?;
    }
    let mut secs = Vec::with_capacity(runs);
    for i in warmup..warmup + runs {
        let start = Instant::now();
        f(i)?;
        secs.push(start.elapsed().as_secs_f64());
    }
    Ok(Samples::new(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_sorted_samples_and_warm_up_calls_are_not_timed() {
        let s = Samples::new(vec![5.0, 1.0, 4.0, 2.0, 3.0]);
        assert_eq!((s.min(), s.median(), s.max(), s.quantile(0.99), s.quantile(0.0)), (1.0, 3.0, 5.0, 5.0, 1.0));
        assert!(Samples::new(Vec::new()).median().is_nan());
        let mut seen = Vec::new();
        let t = time_calls::<()>(2, 3, |i| {
            seen.push(i);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, [0, 1, 2, 3, 4]);
        assert_eq!(t.secs.len(), 3);
        assert_eq!(time_calls(0, 3, |i| if i == 1 { Err("boom") } else { Ok(()) }), Err("boom"));
        assert_eq!(time(1, 4, |_| ()).secs.len(), 4);
    }
}
