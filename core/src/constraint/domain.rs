//! Hosts of URLs, e-mail addresses and host names, for `allowed_domains` / `denied_domains`.
//!
//! The value must be exactly **one** URL, one e-mail address or one host, read the way the
//! programs that use it read it. Whatever those readers could disagree on is refused, and a
//! refused value fails the check (for `denied_domains` as for `allowed_domains`), with the reason:
//! - anywhere: a backslash (WHATWG reads `\` as `/`, other URL parsers do not), a control
//!   character, any whitespace (Unicode `White_Space`: spaces, tabs, line breaks, NBSP, …), or an
//!   empty value;
//! - a host that is not a DNS name after IDNA (anything but letters, digits, `-`, `_` and `.`,
//!   e.g. `good.com,evil.com`) or an IP address.
//!
//! How the value is read:
//! - **URL** when it starts with a scheme (`[a-zA-Z][a-zA-Z0-9+.-]*:`) that is followed by `/`,
//!   or that is one of WHATWG's special schemes (`http`, `https`, `ws`, `wss`, `ftp`, `file`) or
//!   `mailto` whatever follows. It is parsed as it stands with WHATWG rules (the `url` crate), as a
//!   browser or `fetch` would: `https:/evil.com` and `https:evil.com` have the host `evil.com`.
//!   Userinfo (`user@`, `user:pw@`, even an empty one) is refused: clients disagree on where it
//!   ends. `mailto:` gives its address, read as an e-mail address below; a `mailto` with `%`
//!   escapes or `?` headers (`to=`, `cc=` add recipients) is refused.
//!   Any other `word:` prefix (`example.com:8080/x`, `localhost:3000`) is a host with a port: it
//!   cannot be a URL with a host, since a URL's host follows `scheme://` or a special scheme.
//! - **E-mail address** otherwise when it contains `@`: exactly one `@`; a non-empty local part of
//!   letters, digits and ``.!$&'*+=^_`{|}~-`` (no `/ ? # : % , ; " < >`, so that no reader can see
//!   a URL, a list or a display name in it); a domain that is a host. Lists (`a@x.com, b@y.com`,
//!   `a@x.com;b@y.com`), `a@evil.com@good.com`, `Name <a@x.com>` and `"a@b"@c.com` are refused.
//! - **Host** otherwise, optionally with port and path (`api.example.com`,
//!   `example.com:8080/x`), read as what follows `http://`; `,` `;` `"` `<` `>` are refused.
//!
//! Domains are compared in lowercase ASCII (IDNA), trailing dots stripped; IPv4 addresses in any
//! form the URL standard accepts (`0x7f.1`) are normalised, IPv4-mapped IPv6 addresses are read as
//! IPv4. A listed domain `d` matches the host `d` and every subdomain `*.d`, never `evild.com`;
//! a listed IP address matches only itself.

use std::fmt;
use std::net::IpAddr;

use serde_json::Value;
use url::{Host, Url};

/// A normalised host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostName {
    /// A domain name, lowercase ASCII, without trailing dots.
    Domain(String),
    /// An IP address (IPv4-mapped IPv6 addresses as IPv4).
    Ip(IpAddr),
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostName::Domain(d) => f.write_str(d),
            HostName::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

impl HostName {
    fn from_host(h: Host<&str>) -> Result<HostName, String> {
        match h {
            Host::Domain(d) => {
                // Non-special schemes leave hosts opaque (percent-encoded, mixed case): normalise
                // them as a browser would a special one.
                let parsed = Host::parse(d).map_err(|e| format!("host {d:?} is invalid: {e}"))?;
                match parsed {
                    Host::Domain(d) => domain(&d),
                    Host::Ipv4(ip) => Ok(HostName::Ip(IpAddr::V4(ip))),
                    Host::Ipv6(ip) => Ok(ip_name(IpAddr::V6(ip))),
                }
            }
            Host::Ipv4(ip) => Ok(HostName::Ip(IpAddr::V4(ip))),
            Host::Ipv6(ip) => Ok(ip_name(IpAddr::V6(ip))),
        }
    }

    /// Whether this host is `listed` or, for domains, a subdomain of it.
    pub fn is_within(&self, listed: &HostName) -> bool {
        match (self, listed) {
            (HostName::Domain(h), HostName::Domain(d)) => {
                h == d
                    || (h.len() > d.len()
                        && h.ends_with(d.as_str())
                        && h.as_bytes().get(h.len() - d.len() - 1) == Some(&b'.'))
            }
            (HostName::Ip(a), HostName::Ip(b)) => a == b,
            _ => false,
        }
    }
}

fn domain(d: &str) -> Result<HostName, String> {
    let d = d.trim_end_matches('.').to_ascii_lowercase();
    if d.is_empty() {
        return Err("has no host".to_string());
    }
    if let Some(c) = d
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "is refused: its host {d:?} has {c:?}, which a DNS name cannot hold"
        ));
    }
    Ok(HostName::Domain(d))
}

fn ip_name(ip: IpAddr) -> HostName {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => HostName::Ip(IpAddr::V4(v4)),
            None => HostName::Ip(ip),
        },
        v4 => HostName::Ip(v4),
    }
}

/// WHATWG's special schemes (their URLs always have a host) and `mailto`.
const KNOWN_SCHEMES: [&str; 7] = ["http", "https", "ws", "wss", "ftp", "file", "mailto"];

/// The host of a payload string (see the module documentation), or why there is none.
pub fn host_of(s: &str) -> Result<HostName, String> {
    refuse_ambiguous(s)?;
    match url_scheme(s) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("mailto") => mailto(rest),
        Some((_, rest)) => url_host(s, rest),
        None if s.contains('@') => email(s),
        None => {
            if let Some(c) = s.chars().find(|c| matches!(c, ',' | ';' | '"' | '<' | '>')) {
                return Err(format!(
                    "is refused: {c:?} is not part of one host (a list or a display name?)"
                ));
            }
            let url = Url::parse(&format!("http://{s}"))
                .map_err(|e| format!("is not a URL, e-mail or host ({e})"))?;
            match url.host() {
                Some(h) => HostName::from_host(h),
                None => Err("has no host".to_string()),
            }
        }
    }
}

/// What readers disagree on, anywhere in the value.
fn refuse_ambiguous(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("is empty".to_string());
    }
    if s.contains('\\') {
        return Err("is refused: it contains a backslash (URL parsers disagree on it)".to_string());
    }
    if s.chars().any(char::is_control) {
        return Err("is refused: it contains a control character".to_string());
    }
    if s.chars().any(char::is_whitespace) {
        return Err("is refused: it contains whitespace".to_string());
    }
    Ok(())
}

/// `Some((scheme, rest))` when `s` is to be read as a URL: a scheme followed by `/`, or a known
/// scheme (see the module documentation).
fn url_scheme(s: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = s.split_once(':')?;
    let mut chars = scheme.chars();
    let shaped = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let url = shaped
        && (rest.starts_with('/') || KNOWN_SCHEMES.iter().any(|k| k.eq_ignore_ascii_case(scheme)));
    url.then_some((scheme, rest))
}

/// The host of a URL `s`, whose text after `scheme:` is `rest`.
fn url_host(s: &str, rest: &str) -> Result<HostName, String> {
    // The authority as a WHATWG parser finds it for a special scheme (with or without slashes);
    // an `@` there is userinfo, even an empty one (`https://@evil.com`).
    let authority = rest.trim_start_matches('/');
    let authority = authority.split(['/', '?', '#']).next().unwrap_or(authority);
    if authority.contains('@') {
        return Err(userinfo());
    }
    let url = Url::parse(s).map_err(|e| format!("is not a URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(userinfo());
    }
    match url.host() {
        Some(h) => HostName::from_host(h),
        None => Err("has no host".to_string()),
    }
}

fn userinfo() -> String {
    "is refused: it has userinfo (user@ or user:password@) before its host, which clients read \
     differently"
        .to_string()
}

/// The address of a `mailto:` URL.
fn mailto(rest: &str) -> Result<HostName, String> {
    if rest.contains(['?', '#']) {
        return Err(
            "is refused: a mailto with headers (to=, cc= add recipients) is not one address"
                .to_string(),
        );
    }
    if rest.contains('%') {
        return Err("is refused: a mailto address with % escapes".to_string());
    }
    email(rest)
}

/// The domain of exactly one e-mail address.
fn email(s: &str) -> Result<HostName, String> {
    let Some((local, domain)) = s.split_once('@') else {
        return Err("is not an e-mail address (no @)".to_string());
    };
    if domain.contains('@') {
        return Err("is refused: it has more than one @ (several addresses?)".to_string());
    }
    if local.is_empty() {
        return Err("is refused: an e-mail address needs a local part before @".to_string());
    }
    if let Some(c) = local
        .chars()
        .find(|c| !(c.is_alphanumeric() || ".!$&'*+=^_`{|}~-".contains(*c)))
    {
        return Err(format!(
            "is refused: {c:?} in an e-mail address (lists, display names and URLs are not one \
             address)"
        ));
    }
    if domain.is_empty() {
        return Err("has no host".to_string());
    }
    let host = Host::parse(domain).map_err(|e| format!("has an invalid domain ({e})"))?;
    match host {
        Host::Domain(d) => self::domain(&d),
        Host::Ipv4(ip) => Ok(HostName::Ip(IpAddr::V4(ip))),
        Host::Ipv6(ip) => Ok(ip_name(IpAddr::V6(ip))),
    }
}

/// A compiled list of domains from a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainList {
    entries: Vec<HostName>,
}

impl DomainList {
    /// Normalises each listed domain (lowercase, IDNA, no trailing dot; IP addresses, IPv6 with or
    /// without brackets). On failure, the index of the bad entry and why.
    pub fn compile(list: &[Value]) -> Result<DomainList, (usize, String)> {
        let mut entries = Vec::with_capacity(list.len());
        for (i, v) in list.iter().enumerate() {
            let s = v.as_str().ok_or((i, "must be a string".to_string()))?;
            entries.push(listed(s).map_err(|m| (i, m))?);
        }
        Ok(DomainList { entries })
    }

    /// The first listed entry `host` is within.
    pub fn matching(&self, host: &HostName) -> Option<&HostName> {
        self.entries.iter().find(|d| host.is_within(d))
    }

    /// The normalised entries.
    pub fn entries(&self) -> &[HostName] {
        &self.entries
    }
}

fn listed(s: &str) -> Result<HostName, String> {
    let bare = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ip_name(ip));
    }
    if s.contains(['*', '/', '@', ':', '?', '#', '\\']) || s.chars().any(char::is_whitespace) {
        return Err(format!(
            "{s:?} is not a domain (write the bare domain; subdomains are included)"
        ));
    }
    let host = Host::parse(s).map_err(|e| format!("{s:?} is not a valid domain: {e}"))?;
    match host {
        Host::Domain(d) => domain(&d).map_err(|_| format!("{s:?} is not a valid domain")),
        Host::Ipv4(ip) => Ok(HostName::Ip(IpAddr::V4(ip))),
        Host::Ipv6(ip) => Ok(ip_name(IpAddr::V6(ip))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(s: &str) -> String {
        host_of(s)
            .map(|h| h.to_string())
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn hosts_of_urls_emails_and_names() {
        assert_eq!(host("https://Good.COM./x"), "good.com");
        assert_eq!(host("alice@Example.org"), "example.org");
        assert_eq!(host("o'brien+tag@x.io"), "x.io");
        assert_eq!(host("mailto:bob@x.io"), "x.io");
        assert_eq!(host("MAILTO:bob@x.io"), "x.io");
        assert_eq!(host("example.com:8080/path"), "example.com");
        assert_eq!(host("localhost:3000"), "localhost");
        assert_eq!(host("http://0x7f.1/"), "127.0.0.1");
        assert_eq!(host("http://[::ffff:127.0.0.1]/"), "127.0.0.1");
        assert_eq!(host("http://[::1]:80/"), "::1");
        assert_eq!(host("[::1]:80"), "::1");
        assert_eq!(host("git://EXAMPLE.com/repo"), "example.com");
        assert_eq!(host("https://b\u{fc}cher.de/"), "xn--bcher-kva.de");
        assert!(host("file:///etc/passwd").starts_with("ERR"));
        assert!(host("javascript:alert(1)").starts_with("ERR"));
        assert!(host("").starts_with("ERR"));
    }

    #[test]
    fn urls_are_read_as_whatwg_fetch_reads_them() {
        // A known scheme is a URL even without `//`, as fetch reads it.
        assert_eq!(host("https:/evil.com"), "evil.com");
        assert_eq!(host("https:evil.com/x"), "evil.com");
        assert_eq!(host("HTTP:evil.com"), "evil.com");
        assert_eq!(host("ws:/evil.com"), "evil.com");
        assert_eq!(host("foo:/evil.com").get(..3), Some("ERR"));
        assert_eq!(host("foo://evil.com"), "evil.com");
    }

    #[test]
    fn refuses_what_readers_disagree_on() {
        let refused = |s: &str, why: &str| {
            let h = host(s);
            assert!(
                h.starts_with("ERR is refused") && h.contains(why),
                "{s:?}: {h}"
            );
        };
        for s in [
            "https:\\\\evil.com",
            "http:\\evil.com",
            "https://good.com\\@evil.com/",
            "good.com\\evil.com",
        ] {
            refused(s, "backslash");
        }
        for s in [
            "good.com\u{0}",
            "good.com\r\n",
            "good.com\u{7f}",
            "good.com\u{85}",
        ] {
            refused(s, "control character");
        }
        for s in [
            " https://evil.com",
            "https://evil.com ",
            "https://good.com /x",
            "good.com\u{a0}",
            "\u{3000}good.com",
            "good.com\u{2028}",
        ] {
            refused(s, "whitespace");
        }
        for s in [
            "https://good.com@evil.com/",
            "https://user:pw@evil.com/",
            "https://@evil.com/",
            "https:good.com@evil.com",
            "foo://a@evil.com/",
        ] {
            refused(s, "userinfo");
        }
    }

    #[test]
    fn exactly_one_address() {
        let refused = |s: &str| {
            let h = host(s);
            assert!(h.starts_with("ERR"), "{s:?}: {h}");
        };
        for s in [
            "x@evil.example,y@acme.com",
            "x@evil.example;y@acme.com",
            "x@evil.example@acme.com",
            "\"x@evil.example\"@acme.com",
            "Bob<bob@acme.com>",
            "<bob@acme.com>",
            "evil.com/a@good.com",
            "user:pw@evil.com",
            "@acme.com",
            "x@",
            "evil.example,acme.com",
            "evil.example;acme.com",
            "mailto:a@acme.com,b@evil.example",
            "mailto:a@acme.com?cc=b@evil.example",
            "mailto:?to=b@evil.example",
            "mailto:a%40evil.example@acme.com",
            "https://acme.com,evil.example/",
        ] {
            refused(s);
        }
    }

    #[test]
    fn subdomains_but_not_suffixes() {
        let list = DomainList::compile(&[Value::from("Example.com."), Value::from("::1")]).unwrap();
        let m = |s: &str| list.matching(&host_of(s).unwrap()).is_some();
        assert!(m("https://example.com"));
        assert!(m("https://api.example.com"));
        assert!(!m("https://evilexample.com"));
        assert!(!m("https://example.com.evil.net"));
        assert!(m("http://[::1]/"));
        assert!(DomainList::compile(&[Value::from("*.example.com")]).is_err());
        assert!(DomainList::compile(&[Value::from("https://example.com")]).is_err());
        assert!(DomainList::compile(&[Value::from("[::1]")]).is_ok());
    }
}
