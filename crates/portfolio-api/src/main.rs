fn main() {
    // The format is needed before the configuration is read (its errors are logged too);
    // `Config` validates the same variable.
    let json = std::env::var("PORTFOLIO_LOG_FORMAT").is_ok_and(|v| v == "json");
    portfolio_api::logging::init(json);
    if let Err(e) = portfolio_api::cli::run(std::env::args().collect()) {
        if json {
            log::error!("{e}");
        } else {
            eprintln!("error: {e}");
        }
        std::process::exit(1);
    }
}
