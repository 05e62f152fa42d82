//! One data-parallel job with its ranks as threads of this process (`LocalGroup`), for checking an
//! MPI job against: the same flags give the same run, bit for bit (scripts/mpi-test.sh).
//!
//!   cargo run --release -p train --example thread_ranks -- --ranks 2 [train flags]

use std::process::ExitCode;

use models::collective::LocalGroup;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().collect();
    let ranks = match args.iter().position(|a| a == "--ranks") {
        Some(i) if i + 1 < args.len() => {
            let n = args[i + 1].parse::<usize>();
            args.drain(i..i + 2);
            n
        }
        _ => Ok(2),
    };
    let ranks = match ranks {
        Ok(n) if n >= 1 => n,
        _ => {
            eprintln!("error: --ranks takes a number of ranks, 1 or more");
            return ExitCode::from(2);
        }
    };
    let inv = match train::cli::parse_from(args) {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = LocalGroup::new(ranks)
            .into_iter()
            .map(|mut comm| {
                let inv = &inv;
                s.spawn(move || train::run::train_ranks(&inv.cfg, &inv.out, inv.resume, (), &mut comm))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a rank thread panicked")).collect()
    });
    match &results[0] {
        Ok(summary) => {
            println!("{} ranks as threads: {} ({} env steps)", ranks, summary.stopped, summary.final_metrics.env_steps);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
