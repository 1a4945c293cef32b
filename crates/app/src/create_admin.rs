//! `users-api create-admin --username U --email E`: applies pending migrations, then creates an admin. The password
//! comes from `USERS_API_ADMIN_PASSWORD`; else, on a terminal, a prompt without echo (asked twice); else one line of
//! standard input. Never from argv. Exit 1 with one line when the name is taken or a value breaks docs/api.md §2.

use crate::settings::{Backend, Settings, SettingsError};
use crate::startup;
use anyhow::{anyhow, bail, Context};
use std::io::IsTerminal;
use users_domain::{Email, NewUserRequest, Password, Username};

/// The env var that carries the password, for scripts.
const PASSWORD_VAR: &str = "USERS_API_ADMIN_PASSWORD";

fn password_from_env_terminal_or_stdin() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var(PASSWORD_VAR) {
        return Ok(password);
    }
    if std::io::stdin().is_terminal() {
        return password_from_terminal();
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("cannot read the password from standard input")?;
    Ok(line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&line).to_owned())
}

/// Asks twice on the terminal, without echo: a typo would otherwise lock the new admin out.
fn password_from_terminal() -> anyhow::Result<String> {
    let cannot_read = || format!("cannot read the password from the terminal (or set {PASSWORD_VAR})");
    let password = rpassword::prompt_password("Password for the new admin: ").with_context(cannot_read)?;
    let repeated = rpassword::prompt_password("Repeat the password: ").with_context(cannot_read)?;
    if password != repeated {
        bail!("the two passwords differ; nothing was created");
    }
    Ok(password)
}

pub async fn run(settings: Settings, username: String, email: String) -> anyhow::Result<()> {
    if settings.storage.backend == Backend::Memory {
        bail!(SettingsError::new(
            "APP__STORAGE__BACKEND",
            "create-admin needs sqlite or postgres: memory keeps nothing"
        ));
    }
    let username = Username::parse(username).map_err(|e| anyhow!("--username: {e}"))?;
    let email = Email::parse(email).map_err(|e| anyhow!("--email: {e}"))?;
    let password = Password::parse(password_from_env_terminal_or_stdin()?).map_err(|e| anyhow!("password: {e}"))?;
    let storage = startup::storage(&settings, true).await?;
    let users = startup::services(&settings, storage.clone(), None, None).await?.users;
    let request = NewUserRequest {
        username,
        email,
        password,
        name: None,
        age: None,
        role: None,
        status: None,
        // The operator gave the address: an admin is never locked out by APP__AUTH__REQUIRE_VERIFIED_EMAIL.
        email_verified: Some(true),
    };
    let created = users.ensure_admin(request).await.map_err(|e| anyhow!("{e}"));
    storage.close().await;
    if !created? {
        bail!("the username or the email is already taken");
    }
    eprintln!("admin created");
    Ok(())
}
