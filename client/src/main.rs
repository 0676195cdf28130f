//! `sekisho`: the command-line client of the Sekisho gateway.
//!
//! This file only wires things together: parse the command line, install
//! the one TLS crypto provider, run the chosen command and turn its error
//! into `error: <sentence>` on stderr with exit code 1. Usage errors are
//! reported by clap with exit code 2 before anything here runs.

mod cli;
mod commands;
mod config;
mod http;
mod output;
mod private_file;
mod prompt;
mod session;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // rustls refuses to pick a provider by itself when more than one could
    // be linked; an `Err` only means one is installed already.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
