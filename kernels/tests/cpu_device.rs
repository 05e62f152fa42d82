//! The CPU device itself: the fiber shim's barriers, the checks a launch goes through, and graph
//! capture and replay.

mod common;

use common::{get, put};
use kernels::cpu::{selftest, CpuDevice};
use kernels::device::{Arg, Device};
use kernels::geometry::Launch;
use kernels::ops;

#[test]
fn the_shim_runs_real_barriers_and_reports_a_barrier_some_threads_skip() {
    for (grid, block) in [(1, 32), (3, 256), (2, 1024)] {
        let out = selftest::mirror(grid, block).unwrap();
        for (i, &v) in out.iter().enumerate() {
            let (b, t) = (i as u32 / block, i as u32 % block);
            assert_eq!(v, (b * 10_000 + t + 1) as i32, "block {b}, thread {t} of {block}");
        }
    }
    let e = selftest::diverge(64).unwrap_err().to_string();
    assert!(e.contains("__syncthreads reached by 63 of 64 threads"), "{e}");
    assert!(selftest::mirror(1, 2048).unwrap_err().to_string().contains("bad launch"));
}

#[test]
fn bad_launches_are_errors_that_name_the_kernel_and_what_is_wrong() {
    let mut dev = CpuDevice::new();
    let (z, small) = (dev.alloc(4 * 64).unwrap(), dev.alloc(3).unwrap());
    let p = z.into();
    let e = ops::ln_forward(&mut dev, p, p, p, p, small.into(), p, 4, 64).unwrap_err();
    assert_eq!(e.to_string(), "kernel ln_silu_forward: rstd needs 4 values from offset 0 of a 3-value buffer");
    let e = ops::ln_forward(&mut dev, p, p, p, p, p, p, 1, 5000).unwrap_err();
    assert!(e.to_string().contains("width 5000"), "{e}");
    // Straight to the device, past `ops`: the argument list is checked against the kernel's.
    let one = Launch { grid: 1, block: 32 };
    let e = dev.launch("sum_partials", one, &[Arg::Ptr(p), Arg::Ptr(p), Arg::F32(1.0), Arg::I32(4)]).unwrap_err();
    assert_eq!(e.to_string(), "kernel sum_partials: argument 2 must be a 32-bit int");
    let e = dev.launch("sum_partials", one, &[Arg::Ptr(p)]).unwrap_err();
    assert!(e.to_string().contains("takes 4 arguments, got 1"), "{e}");
    let e = dev.launch("no_such_kernel", one, &[]).unwrap_err();
    assert!(e.to_string().contains("not a kernel"), "{e}");
}

#[test]
fn a_replayed_capture_repeats_the_work_and_a_capture_refuses_host_copies() {
    let mut dev = CpuDevice::new();
    let (x, y) = (put(&mut dev, &[1.0, 2.0, 3.0]), put(&mut dev, &[10.0, 20.0, 30.0]));
    dev.begin_capture().unwrap();
    ops::add(&mut dev, x.into(), x.into(), y.into(), 3).unwrap();
    assert!(dev.upload(x.into(), &[0.0]).unwrap_err().to_string().contains("not allowed while capturing"));
    assert!(dev.alloc(1).is_err());
    let g = dev.end_capture().unwrap();
    assert_eq!(get(&mut dev, x), [1.0, 2.0, 3.0], "capturing records, it does not run");
    dev.replay(g).unwrap();
    dev.replay(g).unwrap();
    assert_eq!(get(&mut dev, x), [21.0, 42.0, 63.0]);
    assert_eq!(dev.launches(), 2);
}
