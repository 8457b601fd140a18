//! The `tapline` command: `serve`, `check`, `outbox`.

fn main() -> std::process::ExitCode {
    tapline::server::cli::main()
}
