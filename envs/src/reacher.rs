//! `reacher`: a two-link planar arm moving its fingertip onto a target (a semantic port of brax's
//! `reacher`, DESIGN.md section 4; the CRL paper's JaxGCRL runs it with `backend="spring"`).
//!
//! Constants, all from brax `envs/assets/reacher.xml` unless said otherwise:
//! - Link 0: capsule from 0 to 0.1 along x, radius 0.01, hinge `joint0` (unlimited) at the origin.
//! - Link 1: body at 0.1 on link 0 ([`L1`]); capsule from 0 to 0.1, radius 0.01; hinge `joint1`
//!   with range ±3 rad ([`JOINT1_LIMIT`], enforced as an inelastic stop).
//! - Fingertip: sphere of radius 0.01 in a jointless body at 0.11 on link 1 ([`TIP`]), so the
//!   reach is 0.21; it adds its mass to link 1.
//! - Masses and inertias from the geometry (`inertiafromgeom`, MuJoCo's default density 1000):
//!   exact solid capsule (cylinder + two hemispheres) and sphere; link 0 weighs 0.0356 kg with
//!   3.9e-5 kg·m² about its centre, link 1 + fingertip 0.0398 kg. They are tiny next to the armature.
//! - Joint defaults: armature 1 ([`ARMATURE`]), damping 1 ([`DAMPING`]).
//! - Actuators: motors with ctrlrange ±1; the MJCF's gear is 200, but brax's `reacher.py` sets gear 25
//!   with timestep 0.005 × 4 frames for the spring/positional backends, which JaxGCRL uses; we take
//!   that configuration: torque = 25·action ([`GEAR`]), control step 0.02 s = 4 substeps of 0.005 s.
//! - Gravity is (0, 0, −9.81) but both hinges turn about z, so it does no work: the arm is planar
//!   and unforced apart from the motors. No contacts (contype 0 on the arm).
//!
//! Dynamics: the planar two-link Lagrangian with relative joint angles q = (θ0, θ1),
//! M(q) q̈ + c(q, q̇) = τ − d·q̇, armature on the diagonal of M, integrated with classical RK4 (f64).
//! RK4 rather than semi-implicit Euler because M depends on q (non-separable Hamiltonian, so
//! symplectic Euler in q̇ form is not symplectic); the substep 0.005 s is brax's for gear 25 and is far
//! inside RK4's stability limit: damping gives |λ|·dt ≈ 0.005 and, at the damped top speed of 25
//! rad/s, a joint turns 0.125 rad per substep. θ0 is wrapped to (−π, π] after every substep.
//!
//! Reset (brax `reacher.py`): q = init_qpos (0, 0) + U(±0.1), q̇ = U(±0.005). Target: uniform over
//! the disc of radius 0.2 (DESIGN.md; brax and JaxGCRL draw the *radius* uniformly instead, which
//! puts more targets near the centre). `reacher` and `reacher_eval` use this same goal distribution.
//!
//! State (10), in brax's order: cos θ0, cos θ1, sin θ0, sin θ1, fingertip position (x, y, 0),
//! fingertip velocity (vx, vy, 0). Goal (3): target (x, y, 0). Success within 0.05.

use std::f64::consts::PI;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::vec_env::{state_words_snapshot, Dynamics, StateWords};
use crate::EnvSpec;

/// Distance from joint0 to joint1.
pub const L1: f64 = 0.1;
/// Distance from joint1 to the fingertip.
pub const TIP: f64 = 0.11;
pub const ARMATURE: f64 = 1.0;
pub const DAMPING: f64 = 1.0;
pub const GEAR: f64 = 25.0;
pub const JOINT1_LIMIT: f64 = 3.0;
pub const SUBSTEPS: usize = 4;
pub const DT: f64 = 0.005;
pub const TARGET_RADIUS: f64 = 0.2;
pub const SUCCESS: f32 = 0.05;
const DENSITY: f64 = 1000.0;
const CAPSULE_RADIUS: f64 = 0.01;
const CAPSULE_LENGTH: f64 = 0.1;
const TIP_RADIUS: f64 = 0.01;

/// Physical parameters a test may change; [`Default`] is the MJCF's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReacherConfig {
    /// Viscous joint damping (torque −damping·q̇); 0 turns it off.
    pub damping: f64,
    /// Rotor inertia added to the diagonal of the mass matrix.
    pub armature: f64,
    /// Enforce joint1's ±3 rad range.
    pub joint_limit: bool,
}

impl Default for ReacherConfig {
    fn default() -> Self {
        ReacherConfig { damping: DAMPING, armature: ARMATURE, joint_limit: true }
    }
}

/// Mass properties of the two bodies: mass, centre of mass along the link, inertia about it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ArmInertia {
    pub m0: f64,
    pub c0: f64,
    pub i0: f64,
    pub m1: f64,
    pub c1: f64,
    pub i1: f64,
}

impl ArmInertia {
    /// From the MJCF geometry at density 1000.
    pub fn from_geometry() -> Self {
        let (r, h) = (CAPSULE_RADIUS, CAPSULE_LENGTH);
        let m_cyl = DENSITY * PI * r * r * h;
        let m_sph = DENSITY * 4.0 / 3.0 * PI * r.powi(3);
        let m_cap = m_cyl + m_sph;
        // About the capsule's centre, perpendicular to its axis: cylinder plus two hemispheres
        // moved out to the cylinder's ends (parallel-axis theorem).
        let i_cap = m_cyl * (3.0 * r * r + h * h) / 12.0 + m_sph * (0.4 * r * r + h * h / 4.0 + 3.0 * h * r / 8.0);
        let c_cap = h / 2.0;
        let m_tip = DENSITY * 4.0 / 3.0 * PI * TIP_RADIUS.powi(3);
        let i_tip = 0.4 * m_tip * TIP_RADIUS * TIP_RADIUS;
        let m1 = m_cap + m_tip;
        let c1 = (m_cap * c_cap + m_tip * TIP) / m1;
        let i1 = i_cap + m_cap * (c_cap - c1).powi(2) + i_tip + m_tip * (TIP - c1).powi(2);
        ArmInertia { m0: m_cap, c0: c_cap, i0: i_cap, m1, c1, i1 }
    }
}

/// One reacher episode's state: relative joint angles, their velocities, the target.
#[derive(Clone, Debug, PartialEq)]
pub struct ReacherState {
    pub q: [f64; 2],
    pub qd: [f64; 2],
    pub target: [f32; 2],
}

impl StateWords for ReacherState {
    const WORDS: usize = 6;
    fn write_words(&self, out: &mut Vec<u64>) {
        out.extend(self.q.iter().chain(&self.qd).map(|x| x.to_bits()));
        out.extend(self.target.iter().map(|x| u64::from(x.to_bits())));
    }
    fn read_words(w: &[u64]) -> Self {
        let (d, f) = (|i: usize| f64::from_bits(w[i]), |i: usize| f32::from_bits(w[i] as u32));
        ReacherState { q: [d(0), d(1)], qd: [d(2), d(3)], target: [f(4), f(5)] }
    }
}

/// The reacher's dynamics.
#[derive(Clone, Debug)]
pub struct Reacher {
    spec: EnvSpec,
    config: ReacherConfig,
    inertia: ArmInertia,
}

impl Reacher {
    /// `name` is `reacher` or `reacher_eval`; both draw targets from the same distribution (uniform
    /// over the disc of radius 0.2) and start the arm the same way.
    pub fn new(name: &str, episode_length: usize) -> Self {
        Self::with_config(name, episode_length, ReacherConfig::default())
    }

    pub fn with_config(name: &str, episode_length: usize, config: ReacherConfig) -> Self {
        let spec = EnvSpec {
            name: name.to_string(),
            state_dim: 10,
            goal_dim: 3,
            goal_indices: vec![4, 5, 6],
            action_dim: 2,
            episode_length,
            success_threshold: SUCCESS,
        };
        Reacher { spec, config, inertia: ArmInertia::from_geometry() }
    }

    pub fn config(&self) -> &ReacherConfig {
        &self.config
    }

    pub fn inertia(&self) -> &ArmInertia {
        &self.inertia
    }

    /// M(q) (it depends on θ1 only), armature included.
    pub fn mass_matrix(&self, q: [f64; 2]) -> [[f64; 2]; 2] {
        let ArmInertia { m0, c0, i0, m1, c1, i1 } = self.inertia;
        let cos = q[1].cos();
        let a = self.config.armature;
        let m11 = i0 + m0 * c0 * c0 + i1 + m1 * (L1 * L1 + c1 * c1 + 2.0 * L1 * c1 * cos) + a;
        let m12 = i1 + m1 * (c1 * c1 + L1 * c1 * cos);
        let m22 = i1 + m1 * c1 * c1 + a;
        [[m11, m12], [m12, m22]]
    }

    /// ½ q̇ᵀ M(q) q̇ (the whole energy: nothing else stores any).
    pub fn kinetic_energy(&self, s: &ReacherState) -> f64 {
        let m = self.mass_matrix(s.q);
        let [u, v] = s.qd;
        0.5 * (m[0][0] * u * u + 2.0 * m[0][1] * u * v + m[1][1] * v * v)
    }

    /// q̈ from M q̈ = τ − d q̇ − c, with c the Coriolis and centrifugal torques.
    fn accel(&self, q: [f64; 2], qd: [f64; 2], tau: [f64; 2]) -> [f64; 2] {
        let m = self.mass_matrix(q);
        let h = self.inertia.m1 * L1 * self.inertia.c1 * q[1].sin();
        let d = self.config.damping;
        let f0 = tau[0] - d * qd[0] + h * (2.0 * qd[0] * qd[1] + qd[1] * qd[1]);
        let f1 = tau[1] - d * qd[1] - h * qd[0] * qd[0];
        let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
        [(m[1][1] * f0 - m[0][1] * f1) / det, (m[0][0] * f1 - m[1][0] * f0) / det]
    }

    /// Advances one substep of [`DT`] under joint torques `tau` (RK4, then wrap and joint limit).
    pub fn substep(&self, s: &mut ReacherState, tau: [f64; 2]) {
        let deriv = |q: [f64; 2], qd: [f64; 2]| (qd, self.accel(q, qd, tau));
        let add = |x: [f64; 2], dx: [f64; 2], k: f64| [x[0] + k * dx[0], x[1] + k * dx[1]];
        let (q, qd) = (s.q, s.qd);
        let (k1q, k1v) = deriv(q, qd);
        let (k2q, k2v) = deriv(add(q, k1q, DT / 2.0), add(qd, k1v, DT / 2.0));
        let (k3q, k3v) = deriv(add(q, k2q, DT / 2.0), add(qd, k2v, DT / 2.0));
        let (k4q, k4v) = deriv(add(q, k3q, DT), add(qd, k3v, DT));
        for k in 0..2 {
            s.q[k] += DT / 6.0 * (k1q[k] + 2.0 * k2q[k] + 2.0 * k3q[k] + k4q[k]);
            s.qd[k] += DT / 6.0 * (k1v[k] + 2.0 * k2v[k] + 2.0 * k3v[k] + k4v[k]);
        }
        if s.q[0] > PI || s.q[0] <= -PI {
            s.q[0] -= 2.0 * PI * ((s.q[0] + PI) / (2.0 * PI)).floor();
        }
        if self.config.joint_limit && s.q[1].abs() > JOINT1_LIMIT {
            s.q[1] = s.q[1].clamp(-JOINT1_LIMIT, JOINT1_LIMIT);
            if s.qd[1] * s.q[1] > 0.0 {
                s.qd[1] = 0.0;
            }
        }
    }

    /// Fingertip position and velocity in the plane.
    pub fn fingertip(&self, s: &ReacherState) -> ([f64; 2], [f64; 2]) {
        let (a, b) = (s.q[0], s.q[0] + s.q[1]);
        let (wa, wb) = (s.qd[0], s.qd[0] + s.qd[1]);
        let pos = [L1 * a.cos() + TIP * b.cos(), L1 * a.sin() + TIP * b.sin()];
        let vel = [-L1 * a.sin() * wa - TIP * b.sin() * wb, L1 * a.cos() * wa + TIP * b.cos() * wb];
        (pos, vel)
    }
}

impl Dynamics for Reacher {
    type State = ReacherState;

    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn reset(&self, rng: &mut ChaCha8Rng) -> ReacherState {
        let q = [rng.random_range(-0.1..0.1), rng.random_range(-0.1..0.1)];
        let qd = [rng.random_range(-0.005..0.005), rng.random_range(-0.005..0.005)];
        // Uniform over the disc (sqrt); brax/JaxGCRL would use `TARGET_RADIUS * u` here.
        let r = TARGET_RADIUS * rng.random::<f64>().sqrt();
        let ang = 2.0 * PI * rng.random::<f64>();
        ReacherState { q, qd, target: [(r * ang.cos()) as f32, (r * ang.sin()) as f32] }
    }

    fn step(&self, s: &mut ReacherState, action: &[f32], _rng: &mut ChaCha8Rng) {
        let tau = [GEAR * action[0] as f64, GEAR * action[1] as f64];
        for _ in 0..SUBSTEPS {
            self.substep(s, tau);
        }
    }

    fn observe(&self, s: &ReacherState, out: &mut [f32]) {
        let (p, v) = self.fingertip(s);
        let (c, sn) = ([s.q[0].cos(), s.q[1].cos()], [s.q[0].sin(), s.q[1].sin()]);
        let state = [c[0], c[1], sn[0], sn[1], p[0], p[1], 0.0, v[0], v[1], 0.0];
        for (o, x) in out[..10].iter_mut().zip(state) {
            *o = x as f32;
        }
        out[10..13].copy_from_slice(&[s.target[0], s.target[1], 0.0]);
    }

    state_words_snapshot!();
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::vec_env::VecEnv;
    use crate::GoalEnv;

    fn rng(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed)
    }

    fn free(armature: f64) -> Reacher {
        Reacher::with_config("reacher", 100, ReacherConfig { damping: 0.0, armature, joint_limit: false })
    }

    #[test]
    fn mass_properties_match_the_mjcf_geometry() {
        let m = ArmInertia::from_geometry();
        // π·0.01²·0.1·1000 + 4/3·π·0.01³·1000 = 0.035605; fingertip 0.0041888.
        assert!((m.m0 - 0.035_605).abs() < 1e-6, "{m:?}");
        assert!((m.m1 - m.m0 - 0.004_188_8).abs() < 1e-6, "{m:?}");
        assert!((m.i0 - 3.9176e-5).abs() < 1e-8, "{m:?}");
        assert!(m.c1 > 0.05 && m.c1 < 0.06 && m.i1 > m.i0, "{m:?}");
    }

    #[test]
    fn energy_is_conserved_without_damping_or_torque() {
        // Measured: ~4e-15 with armature 1, ~4e-10 with armature 0 (where the configuration-dependent
        // terms and Coriolis dominate); a wrong Coriolis term drifts by 1e-4 even with armature 1.
        for (armature, tol) in [(ARMATURE, 1e-12), (0.0, 1e-8)] {
            let env = free(armature);
            let mut r = rng(3);
            for _ in 0..5 {
                let mut s = env.reset(&mut r);
                s.qd = [r.random_range(-3.0..3.0), r.random_range(-3.0..3.0)];
                let e0 = env.kinetic_energy(&s);
                let mut drift = 0f64;
                for _ in 0..1000 {
                    env.substep(&mut s, [0.0; 2]);
                    drift = drift.max((env.kinetic_energy(&s) - e0).abs() / e0);
                }
                assert!(drift < tol, "armature {armature}: relative energy drift {drift:e}");
            }
        }
    }

    #[test]
    fn fingertip_stays_within_reach_and_observations_are_finite() {
        let env = Reacher::new("reacher", 50);
        let mut venv = VecEnv::new(env.clone(), 8, 11).unwrap();
        let mut r = rng(5);
        let reach = (L1 + TIP) as f32 + 1e-5;
        for _ in 0..2000 {
            let actions: Vec<f32> = (0..16).map(|_| r.random_range(-1.5..1.5)).collect();
            venv.step(&actions).unwrap();
            for obs in venv.observations().chunks(13) {
                assert!(obs.iter().all(|x| x.is_finite()), "{obs:?}");
                assert!(obs[4].hypot(obs[5]) <= reach, "{obs:?}");
                assert!(obs[10].hypot(obs[11]) <= TARGET_RADIUS as f32 + 1e-6, "{obs:?}");
                assert!((obs[0].hypot(obs[2]) - 1.0).abs() < 1e-5 && obs[6] == 0.0 && obs[12] == 0.0);
            }
            for s in venv.states() {
                assert!(s.q[0].abs() <= PI && s.q[1].abs() <= JOINT1_LIMIT, "{s:?}");
            }
        }
        // The fingertip velocity is the derivative of its position.
        let mut s = env.reset(&mut r);
        s.qd = [2.0, -3.0];
        let (p0, v) = env.fingertip(&s);
        let h = 1e-7;
        let moved = ReacherState { q: [s.q[0] + h * s.qd[0], s.q[1] + h * s.qd[1]], ..s.clone() };
        let (p1, _) = env.fingertip(&moved);
        for k in 0..2 {
            assert!(((p1[k] - p0[k]) / h - v[k]).abs() < 1e-5, "{v:?}");
        }
    }

    #[test]
    fn damping_dissipates_energy() {
        let env = Reacher::new("reacher", 1000);
        let mut s = env.reset(&mut rng(2));
        s.qd = [4.0, -6.0];
        let e0 = env.kinetic_energy(&s);
        let mut prev = e0;
        for _ in 0..250 {
            env.step(&mut s, &[0.0, 0.0], &mut rng(0));
            let e = env.kinetic_energy(&s);
            assert!(e < prev, "{e} !< {prev}");
            prev = e;
        }
        // Five seconds at d/M ≈ 1: e^{−2·5} of the energy is left.
        assert!(prev < 1e-3 * e0, "{prev} vs {e0}");
    }

    #[test]
    fn torque_accelerates_its_joint_and_the_mass_matrix_is_spd() {
        let env = Reacher::new("reacher", 100);
        for sign in [1.0f32, -1.0] {
            let mut s = ReacherState { q: [0.3, 0.7], qd: [0.0; 2], target: [0.0; 2] };
            env.step(&mut s, &[sign, 0.0], &mut rng(0));
            assert!(s.qd[0] * sign as f64 > 0.0 && (s.q[0] - 0.3) * sign as f64 > 0.0, "{s:?}");
            // About τ/M·t = 25·0.02 rad/s; the coupling moves joint 1 only slightly.
            assert!((s.qd[0].abs() - 0.5).abs() < 0.01 && s.qd[1].abs() < 0.05 * s.qd[0].abs(), "{s:?}");
        }
        let mut r = rng(9);
        for armature in [ARMATURE, 0.0] {
            let env = free(armature);
            for _ in 0..100 {
                let m = env.mass_matrix([r.random_range(-PI..PI), r.random_range(-PI..PI)]);
                assert_eq!(m[0][1], m[1][0]);
                assert!(m[0][0] > 0.0 && m[0][0] * m[1][1] - m[0][1] * m[1][0] > 0.0, "{m:?}");
            }
        }
    }

    #[test]
    fn joint1_stops_at_its_limit() {
        let env = Reacher::new("reacher", 100);
        let mut s = ReacherState { q: [0.0, 2.9], qd: [0.0, 10.0], target: [0.0; 2] };
        for _ in 0..20 {
            env.step(&mut s, &[0.0, 1.0], &mut rng(0));
        }
        assert_eq!(s.q[1], JOINT1_LIMIT);
        assert!(s.qd[1] <= 0.0, "{s:?}");
    }

    #[test]
    fn same_seed_gives_bit_identical_batches() {
        let run = |seed: u64| {
            let mut env = VecEnv::new(Reacher::new("reacher", 7), 5, seed).unwrap();
            let mut r = rng(1);
            let mut all = env.observations().to_vec();
            for _ in 0..30 {
                let actions: Vec<f32> = (0..10).map(|_| r.random_range(-1.0..1.0)).collect();
                env.step(&actions).unwrap();
                all.extend_from_slice(env.observations());
            }
            all
        };
        let (a, b) = (run(4), run(4));
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
        assert_ne!(a, run(5));
    }
}
