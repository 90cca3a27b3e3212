fn main() {
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("info,actix_server=warn"),
    )
    .init();
    if let Err(e) = portfolio_api::cli::run(std::env::args().collect()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
