//! A development OpenID Provider in pure Rust: `cargo run --example
//! dev_provider`, then `cargo run --example demo` and open
//! <http://127.0.0.1:8000/>.
//!
//! It is the crate's test issuer (`rocket_openidconnect::testing`) on the
//! ports of the demo's `Rocket.toml`: 127.0.0.1:9000 for the `default`
//! provider (client `demo`) and 127.0.0.1:9001 for `second` (client
//! `demo2`, used by `cargo run --example multi_provider`). Its login page
//! lets you pick the user and their claims; `/sessions` lists who is logged
//! in, with a button that sends a back-channel logout to the app. Ctrl-C
//! stops it. Ports: `DEV_PROVIDER_PORT` (default 9000; the second is one
//! above).

use rocket_openidconnect::testing::{TestIssuer, TestingError};

#[rocket::main]
async fn main() -> Result<(), TestingError> {
    let port: u16 = std::env::var("DEV_PROVIDER_PORT")
        .ok()
        .and_then(|port| port.parse().ok())
        .unwrap_or(9000);
    let mut issuers = Vec::new();
    for (port, id, secret) in [(port, "demo", "demo-secret"), (port + 1, "demo2", "demo2-secret")] {
        let issuer = TestIssuer::builder().port(port).client(id, secret).start().await?;
        println!(
            "dev_provider: {} (client `{id}`); sessions at {}/sessions",
            issuer.url(),
            issuer.url()
        );
        issuers.push(issuer);
    }
    println!("dev_provider: ready; Ctrl-C stops it");
    let _ = rocket::tokio::signal::ctrl_c().await;
    drop(issuers);
    Ok(())
}
