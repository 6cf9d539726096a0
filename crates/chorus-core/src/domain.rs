//! Domains as accounts are matched by: the registered domain, never a free-mail one.
//!
//! An address at `eu.acme.co.uk` belongs to the same company as `acme.co.uk`: both have
//! the registered domain `acme.co.uk`, found with Mozilla's Public Suffix List (the `psl`
//! crate compiles it in, so no I/O and no stale download). A free-mail or ISP domain
//! (`gmail.com`, `comcast.net`) says nothing about the employer and never matches an
//! account; the list lives in `free_mail.rs` (see `docs/decisions/0010`).

pub use crate::free_mail::FREE_MAIL_DOMAINS;

/// Lowercases a domain and strips a leading `www.` or `@`; `None` when it is no domain.
pub fn normalize_domain(raw: &str) -> Option<String> {
    let domain = raw.trim().trim_start_matches('@').to_ascii_lowercase();
    let domain = domain.strip_prefix("www.").unwrap_or(&domain);
    let valid = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    valid.then(|| domain.to_owned())
}

/// The registered domain (public suffix plus one label) of a domain or `@domain`:
/// `eu.acme.co.uk` → `acme.co.uk`. `None` when it is no domain or only a public suffix
/// (`co.uk`).
pub fn registered_domain(raw: &str) -> Option<String> {
    let domain = normalize_domain(raw)?;
    let registered = psl::domain_str(&domain)?;
    // psl answers for any last label (the list's `*` rule); a bare label is no domain.
    registered.contains('.').then(|| registered.to_owned())
}

/// The domain part of an email address, normalized: `Ann@EU.Acme.co.uk` → `eu.acme.co.uk`.
pub fn email_domain(email: &str) -> Option<String> {
    let (local, domain) = email.trim().rsplit_once('@')?;
    if local.is_empty() {
        return None;
    }
    normalize_domain(domain)
}

/// Whether a domain is a free-mail or ISP provider's, subdomains included
/// (`mail.yahoo.co.uk`). Such a domain never matches an account.
pub fn is_free_mail(domain: &str) -> bool {
    registered_domain(domain).is_some_and(|registered| is_listed(&registered))
}

/// Entries are registered domains (a test holds the list to it), so one look-up of a
/// domain's registered domain covers the provider and all its subdomains.
fn is_listed(registered: &str) -> bool {
    FREE_MAIL_DOMAINS.binary_search(&registered).is_ok()
}

/// The key an address or a web domain matches an account by: its registered domain,
/// unless that is free mail. `ann@eu.acme.co.uk` and `www.acme.co.uk` both give
/// `acme.co.uk`; `bob@gmail.com` gives `None`.
pub fn account_domain(email_or_domain: &str) -> Option<String> {
    let domain = match email_or_domain.contains('@') && !email_or_domain.trim().starts_with('@') {
        true => email_domain(email_or_domain)?,
        false => normalize_domain(email_or_domain)?,
    };
    registered_domain(&domain).filter(|registered| !is_listed(registered))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains_match_their_registered_domain() {
        assert_eq!(registered_domain("eu.acme.co.uk").as_deref(), Some("acme.co.uk"));
        assert_eq!(registered_domain("acme.co.uk").as_deref(), Some("acme.co.uk"));
        assert_eq!(registered_domain("WWW.Support.Acme.com").as_deref(), Some("acme.com"));
        assert_eq!(registered_domain("@mail.acme.com.au").as_deref(), Some("acme.com.au"));
        // a private suffix of the list: each customer's subdomain is its own
        assert_eq!(registered_domain("acme.github.io").as_deref(), Some("acme.github.io"));
        assert_eq!(registered_domain("co.uk"), None, "a public suffix alone is no company");
        assert_eq!(registered_domain("localhost"), None);
        assert_eq!(registered_domain("not a domain"), None);
    }

    #[test]
    fn addresses_give_their_domain() {
        assert_eq!(email_domain(" Ann@EU.Acme.co.uk ").as_deref(), Some("eu.acme.co.uk"));
        assert_eq!(email_domain("@acme.com"), None);
        assert_eq!(email_domain("ann"), None);
        assert_eq!(email_domain("ann@localhost"), None);
    }

    #[test]
    fn free_mail_never_matches_an_account() {
        assert!(is_free_mail("gmail.com"));
        assert!(is_free_mail("GMail.com"));
        assert!(is_free_mail("yahoo.co.uk"));
        assert!(is_free_mail("mail.yahoo.co.uk"), "subdomains of a provider are the provider");
        assert!(is_free_mail("comcast.net"), "ISP mail is free mail");
        assert!(!is_free_mail("acme.com"));
        assert!(!is_free_mail("gmail.acme.com"), "a company subdomain named like a provider");
        assert_eq!(account_domain("bob@gmail.com"), None);
        assert_eq!(account_domain("ann@eu.acme.co.uk").as_deref(), Some("acme.co.uk"));
        assert_eq!(account_domain("www.acme.co.uk").as_deref(), Some("acme.co.uk"));
        assert_eq!(account_domain("@acme.io").as_deref(), Some("acme.io"));
        assert_eq!(account_domain("ann@co.uk"), None);
    }

    #[test]
    fn the_free_mail_list_is_sorted_lowercase_and_registered() {
        for pair in FREE_MAIL_DOMAINS.windows(2) {
            assert!(pair[0] < pair[1], "free-mail list out of order or repeated at {:?}", pair);
        }
        for domain in FREE_MAIL_DOMAINS {
            assert_eq!(normalize_domain(domain).as_deref(), Some(*domain), "{domain} is not normalized");
            // an entry below its registered domain would miss the provider's other
            // subdomains; a bare public suffix would match whole countries
            assert_eq!(registered_domain(domain).as_deref(), Some(*domain), "{domain} is no registered domain");
        }
    }
}
