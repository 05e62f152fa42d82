//! Prometheus metrics (`GET /metrics`, text format): request latency per route, controller batch
//! sizes and times, plan age at every session act, planner pass latency and size, active sessions,
//! fallbacks, and errors by code. Each server has its own registry, so several can live in one
//! process (tests).

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// Latency buckets in seconds, 10 µs to 10 s.
const LATENCY: [f64; 16] =
    [1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.5, 1.0, 10.0];

pub struct Metrics {
    registry: Registry,
    pub request_seconds: HistogramVec,
    pub requests: IntCounterVec,
    pub errors: IntCounterVec,
    pub controller_batch_rows: Histogram,
    pub planner_actor_batch_rows: Histogram,
    pub act_queue_seconds: Histogram,
    pub act_inference_seconds: Histogram,
    pub plan_age_seconds: Histogram,
    pub planner_pass_seconds: Histogram,
    pub planner_pass_sessions: Histogram,
    pub plans: IntCounterVec,
    pub fallbacks: IntCounterVec,
    pub active_sessions: IntGauge,
    pub reloads: IntCounterVec,
    pub streams_open: IntGauge,
    pub stream_closes: IntCounterVec,
}

fn histogram(name: &str, help: &str, buckets: &[f64]) -> Histogram {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec())).expect("valid histogram")
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter")
}

impl Metrics {
    pub fn new() -> Self {
        let rows = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0];
        let m = Metrics {
            registry: Registry::new_custom(Some("deepcrl".into()), None).expect("valid registry"),
            request_seconds: HistogramVec::new(
                HistogramOpts::new("http_request_duration_seconds", "Request latency by route")
                    .buckets(LATENCY.to_vec()),
                &["route"],
            )
            .expect("valid histogram"),
            requests: counter_vec("http_requests_total", "Requests by route and status", &["route", "status"]),
            errors: counter_vec("errors_total", "Error responses by error code", &["code"]),
            controller_batch_rows: histogram("controller_batch_rows", "Rows per controller forward pass", &rows),
            planner_actor_batch_rows: histogram(
                "planner_actor_batch_rows",
                "Rows per forward pass of the planner's actor (/v1/act with model=planner)",
                &rows,
            ),
            act_queue_seconds: histogram("act_queue_seconds", "Time an act request waited for its batch", &LATENCY),
            act_inference_seconds: histogram("act_inference_seconds", "Forward pass of an act batch", &LATENCY),
            plan_age_seconds: histogram("plan_age_seconds", "Age of the plan used by each session act", &LATENCY),
            planner_pass_seconds: histogram("planner_pass_seconds", "One batched planning pass", &LATENCY),
            planner_pass_sessions: histogram("planner_pass_sessions", "Sessions planned in one pass", &rows),
            plans: counter_vec("plans_total", "Plans made, by source", &["source"]),
            fallbacks: counter_vec("fallbacks_total", "Session acts that steered to the goal, by reason", &["reason"]),
            active_sessions: IntGauge::new("active_sessions", "Open sessions").expect("valid gauge"),
            reloads: counter_vec("reloads_total", "Model reloads by target and outcome", &["target", "outcome"]),
            streams_open: IntGauge::new("streams_open", "Open session streams (WebSockets)").expect("valid gauge"),
            stream_closes: counter_vec("stream_closes_total", "Session streams closed, by reason", &["reason"]),
        };
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(m.request_seconds.clone()),
            Box::new(m.requests.clone()),
            Box::new(m.errors.clone()),
            Box::new(m.controller_batch_rows.clone()),
            Box::new(m.planner_actor_batch_rows.clone()),
            Box::new(m.act_queue_seconds.clone()),
            Box::new(m.act_inference_seconds.clone()),
            Box::new(m.plan_age_seconds.clone()),
            Box::new(m.planner_pass_seconds.clone()),
            Box::new(m.planner_pass_sessions.clone()),
            Box::new(m.plans.clone()),
            Box::new(m.fallbacks.clone()),
            Box::new(m.active_sessions.clone()),
            Box::new(m.reloads.clone()),
            Box::new(m.streams_open.clone()),
            Box::new(m.stream_closes.clone()),
        ];
        for c in collectors {
            m.registry.register(c).expect("metric names are unique");
        }
        m
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_exposed_with_the_prefix() {
        let m = Metrics::new();
        m.request_seconds.with_label_values(&["/v1/act"]).observe(1e-4);
        m.errors.with_label_values(&["not_found"]).inc();
        m.active_sessions.set(3);
        let text = m.render();
        for name in [
            "deepcrl_http_request_duration_seconds_bucket{route=\"/v1/act\"",
            "deepcrl_errors_total{code=\"not_found\"} 1",
            "deepcrl_active_sessions 3",
            "deepcrl_controller_batch_rows_count 0",
        ] {
            assert!(text.contains(name), "{name} missing from\n{text}");
        }
    }
}
