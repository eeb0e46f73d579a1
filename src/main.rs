//! The binary: parse arguments, run, and turn a failure into a TRACE message and an exit code.
//! A closed stdout (the reader went away) ends the process quietly.

use clap::Parser;

use source_pipedrive::{cli::Cli, commands, error::Reported, output::Output, run};

fn main() {
    source_pipedrive::memory::keep_arenas_few();
    source_pipedrive::secrets::install_panic_hook();
    let job = match Cli::parse().job() {
        Ok(job) => job,
        Err(usage) => {
            eprintln!("error: {usage}");
            std::process::exit(2);
        }
    };
    let mut out = Output::stdout();
    let Err(err) = run(job, &mut out) else {
        return;
    };
    if err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    }) {
        std::process::exit(0);
    }
    let failure_type = commands::classify(&err);
    if err.downcast_ref::<Reported>().is_none() {
        let message = format!("{err:#}");
        let _ = out.trace_error(&message, &format!("{err:?}"), failure_type.as_str(), None);
        eprintln!("error: {}", out.scrub(&message));
    }
    std::process::exit(failure_type.exit_code());
}
