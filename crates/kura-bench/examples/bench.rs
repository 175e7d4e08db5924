//! Stand-alone `kura bench` for trying the load generator without the `kura` binary:
//! `cargo run --release -p kura-bench --example bench -- --endpoint-url http://127.0.0.1:9000 --workload get`.

use clap::Parser;

/// Command line: exactly the flags of `kura bench`.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    bench: kura_bench::BenchArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let json = cli.bench.json;
    match kura_bench::run(cli.bench).await {
        Ok(report) => {
            if json {
                println!("{}", report.to_json());
            } else {
                report.print_human();
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kura bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
