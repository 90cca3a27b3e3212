//! The command line of the one binary: `serve` (default), `migrate`, `openapi`, `token`.

use crate::auth::TokenVerifier;
use crate::config::Config;

const USAGE: &str = "\
Regional ICT Portfolio API

USAGE:
    portfolio-api [serve] [--demo]      start the API (default); --demo loads demo data
    portfolio-api migrate               run database migrations and exit
    portfolio-api openapi               print the OpenAPI contract
    portfolio-api token --scope \"portfolio:read portfolio:manage\" [--org 991324968] [--sub developer] [--ttl 3600]
                                        print a development token signed with the HS256 development
                                        secret; defaults: --sub developer, --ttl 3600 (seconds, 1 to
                                        86400); no --org: a token without organisation. It reads the
                                        same PORTFOLIO_JWT_* variables as the server: run it with the
                                        server's environment. Send it as `Authorization: Bearer <token>`
                                        (in Swagger UI's Authorize, paste the token alone)
    portfolio-api generate --scale 1 [--seed 42] [--year 2022] [--measures N]
                                        fill the database with a deterministic portfolio (benchmarks)
    portfolio-api --help                this text (also after any command)

Configuration comes from the environment; see README.md.";

pub fn run(args: Vec<String>) -> Result<(), String> {
    let mut args = args.into_iter().skip(1);
    let command = args.next().unwrap_or_else(|| "serve".into());
    let rest: Vec<String> = args.collect();
    if is_help(&command) || rest.iter().any(|a| is_help(a)) {
        println!("{USAGE}");
        return Ok(());
    }
    let mut config = Config::from_env().map_err(|e| e.to_string())?;
    match command.as_str() {
        "serve" | "--demo" => {
            if command == "--demo" || rest.iter().any(|a| a == "--demo") {
                config.demo = true;
            }
            crate::server::serve(config)
        }
        "migrate" => {
            let mut db = crate::server::open_database(&config)?;
            let n = crate::server::migrate(db.owner_url())?;
            println!("{n} migrations applied");
            if let Some(c) = db.cluster.as_mut() {
                c.stop();
            }
            Ok(())
        }
        "openapi" => {
            print!(
                "{}",
                crate::openapi::to_pretty_json(&crate::app::contract())
            );
            Ok(())
        }
        "token" => token(&config, &rest),
        "generate" => generate(&config, &rest),
        other => Err(format!("unknown command {other:?}\n\n{USAGE}")),
    }
}

fn is_help(arg: &str) -> bool {
    matches!(arg, "-h" | "--help" | "help")
}

/// Longest lifetime of a development token: a day.
const TOKEN_TTL_MAX: i64 = 86_400;

fn token(config: &Config, args: &[String]) -> Result<(), String> {
    let mut scope = None;
    let mut org = None;
    let mut sub = "developer".to_owned();
    let mut ttl: i64 = 3600;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--scope" => scope = Some(value()?),
            "--org" => org = Some(value()?),
            "--sub" => sub = value()?,
            "--ttl" => {
                ttl = value()?
                    .parse()
                    .ok()
                    .filter(|t| (1..=TOKEN_TTL_MAX).contains(t))
                    .ok_or_else(|| format!("--ttl takes seconds, 1 to {TOKEN_TTL_MAX}"))?
            }
            other => return Err(format!("unknown option {other:?}\n\n{USAGE}")),
        }
    }
    let scope =
        scope.ok_or("--scope is required, e.g. --scope \"portfolio:read portfolio:manage\"")?;
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    for s in &scopes {
        if crate::auth::Permission::from_scope(s).is_none() {
            return Err(format!(
                "unknown scope {s:?}; known: {:?}",
                crate::auth::all_scopes()
            ));
        }
    }
    let acting: Vec<&&str> = scopes
        .iter()
        .filter(|s| ["portfolio:submit", "portfolio:score", "portfolio:sync"].contains(s))
        .collect();
    if org.is_none() && !acting.is_empty() {
        return Err(format!(
            "--org is required: {acting:?} act on behalf of an organisation"
        ));
    }
    if let Some(o) = &org {
        portfolio_domain::organisation::OrgNumber::parse(o)
            .map_err(|e| format!("--org {o}: {e}"))?;
    }
    if config.jwt.secret.is_none() {
        return Err("refusing to mint a token: no development HS256 secret is configured (PORTFOLIO_JWT_SECRET), \
                    and asymmetric keys are in use"
            .into());
    }
    let verifier = TokenVerifier::from_config(&config.jwt).map_err(|e| e.to_string())?;
    let token = verifier
        .mint(&sub, &scopes, org.as_deref(), ttl)
        .ok_or("no signing key")?;
    println!("{token}");
    Ok(())
}

fn generate(config: &Config, args: &[String]) -> Result<(), String> {
    let mut o = crate::generate::Options {
        scale: 1,
        seed: 42,
        year: 2022,
        measures: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = it.next().ok_or_else(|| format!("{a} needs a value"))?;
        let bad = |_| format!("{a} takes a number, not {value:?}");
        match a.as_str() {
            "--scale" => o.scale = value.parse().map_err(bad)?,
            "--seed" => o.seed = value.parse().map_err(bad)?,
            "--year" => o.year = value.parse().map_err(bad)?,
            "--measures" => o.measures = Some(value.parse().map_err(bad)?),
            other => return Err(format!("unknown option {other:?}\n\n{USAGE}")),
        }
    }
    let mut db = crate::server::open_database(config)?;
    crate::server::migrate(db.owner_url())?;
    let result = {
        use diesel::Connection;
        let mut conn =
            diesel::PgConnection::establish(db.owner_url()).map_err(|e| e.to_string())?;
        let keys = std::sync::Arc::new(config.audit_keys.clone());
        crate::audit_key::with_keys(&keys, || crate::generate::generate(&mut conn, &o))
            .map_err(|e| format!("generating: {e}"))?
    };
    println!("{result}");
    if let Some(c) = db.cluster.as_mut() {
        c.stop();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        std::iter::once("portfolio-api")
            .chain(a.iter().copied())
            .map(String::from)
            .collect()
    }

    #[test]
    fn help_is_answered_before_and_after_any_command() {
        for a in [
            &["--help"][..],
            &["-h"],
            &["help"],
            &["token", "--help"],
            &["serve", "--help"],
            &["generate", "--help"],
        ] {
            assert_eq!(run(args(a)), Ok(()), "{a:?}");
        }
        assert!(USAGE.contains("generate") && USAGE.contains("--ttl 3600"));
    }

    #[test]
    fn a_token_lifetime_must_be_positive_and_at_most_a_day() {
        for ttl in ["-5", "0", "86401", "soon"] {
            let err = run(args(&["token", "--scope", "portfolio:read", "--ttl", ttl]))
                .expect_err("refused");
            assert!(
                err.contains("--ttl takes seconds, 1 to 86400"),
                "{ttl}: {err}"
            );
        }
    }
}
