//! What every signed-in page shares: the header with the user, their role,
//! the CSRF token for its forms and the links the role may follow (the
//! templates' `base.html` draws it).

use cts_store::users::Role;

use crate::auth::Session;

/// What every signed-in page's header shows.
pub struct Nav {
    /// Login name.
    pub username: String,
    /// Pseudonym.
    pub pseudonym: String,
    /// Role name.
    pub role: &'static str,
    /// CSRF token for forms.
    pub csrf: String,
    /// Links for this role: (href, label).
    pub links: Vec<(&'static str, &'static str)>,
}

impl Nav {
    /// The header for `session`.
    pub fn of(session: &Session) -> Nav {
        let role = session.user.role;
        let mut links = vec![("/", "Home")];
        if role.reviews() {
            links.push(("/queue", "Review queue"));
        }
        if role == Role::Adjudicator {
            links.push(("/adjudication", "Adjudication"));
        }
        if matches!(
            role,
            Role::Adjudicator | Role::Auditor | Role::Admin | Role::Researcher
        ) {
            links.push(("/agreement", "Agreement"));
        }
        if matches!(role, Role::Auditor | Role::Admin) {
            links.push(("/audit", "Audit"));
        }
        if role == Role::Admin {
            links.push(("/admin/users", "Users"));
        }
        Nav {
            username: session.user.username.clone(),
            pseudonym: session.user.pseudonym.clone(),
            role: role.as_str(),
            csrf: session.csrf.clone(),
            links,
        }
    }
}
