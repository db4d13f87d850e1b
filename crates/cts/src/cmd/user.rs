//! `cts user`: workbench accounts.

use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use cts_store::users::{self, Role};

use crate::output::Output;
use crate::project::Project;

/// `cts user …`.
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add an account. The password comes from --password-stdin or
    /// CTS_PASSWORD; otherwise a strong one is generated and shown once.
    Add {
        /// Login name.
        username: String,
        /// admin, clinician, adjudicator, auditor or researcher.
        #[arg(long, default_value = "clinician")]
        role: String,
        /// Specialty the clinician reviews (repeat; none = all).
        #[arg(long = "specialty")]
        specialties: Vec<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts (never passwords).
    List,
    /// Disable an account and end its sessions (--enable reverses).
    Disable {
        /// Login name.
        username: String,
        /// Re-enable instead.
        #[arg(long)]
        enable: bool,
    },
    /// Change an account's login name (ledgered; sessions stay valid).
    /// OLD must match exactly, case included. Also runs on a store that an
    /// upgrade refused because two usernames differ only in case.
    Rename {
        /// The current login name, exactly.
        old: String,
        /// The new login name (unique, case ignored).
        new: String,
    },
    /// Change an account's role.
    SetRole {
        /// Login name.
        username: String,
        /// The new role.
        role: String,
    },
}

fn generated_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Runs a `cts user` command.
pub async fn run(cmd: UserCommand, project: Option<&Path>, out: &Output) -> Result<ExitCode> {
    let project = Project::find(project)?;
    // Renaming also works on a store whose upgrade is waiting for it.
    let schema = match cmd {
        UserCommand::Rename { .. } => cts_store::Schema::BeforeUniqueNames,
        _ => cts_store::Schema::Current,
    };
    let store = project.open_store_to(schema).await?;
    let actor = project.actor();
    match cmd {
        UserCommand::Add {
            username,
            role,
            specialties,
            password_stdin,
        } => {
            let role: Role = role.parse()?;
            let (password, generated) = if password_stdin {
                let stdin = std::io::stdin();
                if stdin.is_terminal() {
                    eprint!("password for {username}: ");
                }
                let mut line = String::new();
                stdin
                    .lock()
                    .read_line(&mut line)
                    .context("reading the password from standard input")?;
                (line.trim_end_matches(['\r', '\n']).to_owned(), false)
            } else if let Ok(p) = std::env::var("CTS_PASSWORD") {
                (p, false)
            } else {
                // Random enough to pass the strength check; drawn again in
                // the rare case it happens to contain the username.
                let mut p = generated_password();
                while users::check_password(&username, &p).is_err() {
                    p = generated_password();
                }
                (p, true)
            };
            let user =
                users::add_user(&store, &actor, &username, &password, role, &specialties).await?;
            out.emit(
                &serde_json::json!({ "user": user, "password": generated.then_some(&password) }),
                || {
                    let mut s = format!(
                        "added {} ({}, pseudonym {})\n",
                        user.username, user.role, user.pseudonym
                    );
                    if generated {
                        s.push_str(&format!("password (shown once): {password}\n"));
                    }
                    s
                },
            );
        }
        UserCommand::List => {
            let all = users::list_users(&store).await?;
            out.emit(&all, || {
                let mut s = String::new();
                for u in &all {
                    s.push_str(&format!(
                        "{:<20} {:<12} {:<12} {:<10} {}\n",
                        u.username,
                        u.role.as_str(),
                        u.pseudonym,
                        if u.disabled { "disabled" } else { "active" },
                        u.specialties.join(",")
                    ));
                }
                if s.is_empty() {
                    s = "no users yet: cts user add NAME --role admin\n".into();
                }
                s
            });
        }
        UserCommand::Disable { username, enable } => {
            let u = users::set_disabled(&store, &actor, &username, !enable).await?;
            out.emit(&u, || {
                format!(
                    "{} is now {}\n",
                    u.username,
                    if u.disabled { "disabled" } else { "active" }
                )
            });
        }
        UserCommand::Rename { old, new } => {
            let u = users::rename_user(&store, &actor, &old, &new).await?;
            out.emit(&u, || {
                format!("{old} is now {} (pseudonym {})\n", u.username, u.pseudonym)
            });
        }
        UserCommand::SetRole { username, role } => {
            let role: Role = role.parse()?;
            let u = users::set_role(&store, &actor, &username, role).await?;
            out.emit(&u, || format!("{} is now {}\n", u.username, u.role));
        }
    }
    Ok(ExitCode::SUCCESS)
}
