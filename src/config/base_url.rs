//! `base_url` read whole before any request: a malformed one (a space, a host beyond ASCII, a bad
//! port) is a config error at once rather than a network error after a minute of retries.

use anyhow::{anyhow, bail, Context, Result};

/// HTTPS anywhere; plain HTTP only to loopback, so a mistyped URL cannot send the key in clear
/// text. The URL is read whole here, so that a malformed one (a space, a host beyond ASCII, a
/// bad port) is a config error at once rather than a network error after retries.
pub(super) fn validate(url: &str) -> Result<String> {
    let url = url.trim().trim_end_matches('/');
    let Some((scheme, rest)) = url.split_once("://") else {
        bail!("`base_url` is not a URL: expected https://<company>.pipedrive.com");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    // Checked first, and the URL not quoted after it: the part before `@` is a credential.
    if authority.contains('@') {
        bail!("`base_url` must not carry credentials; put the token in `api_key`");
    }
    if let Some(c) = url.chars().find(|c| !c.is_ascii_graphic()) {
        let what = match c {
            ' ' => "a space".to_string(),
            c if c.is_control() => "a control character".to_string(),
            c => format!("the character {c:?}"),
        };
        bail!(
            "`base_url` {url:?} has {what}: a URL is ASCII without spaces (an international \
             domain name goes in its xn-- form)"
        );
    }
    if rest.contains(['?', '#']) {
        bail!("`base_url` {url:?} must not have a query or fragment");
    }
    let (hostname, port) =
        split_host_port(authority).with_context(|| format!("`base_url` {url:?}"))?;
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http" if is_loopback(hostname) => {}
        "http" => bail!("`base_url` {url:?} uses plain http to a non-loopback host; use https so the key is not sent in clear text"),
        other => bail!("`base_url` scheme {other:?} is not supported: use https"),
    }
    if let Some(port) = port {
        if !(port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p > 0)) {
            bail!("`base_url` {url:?}: port {port:?} is not a number from 1 to 65535");
        }
    }
    let path = &rest[authority.len()..];
    if let Some(c) = path.chars().find(|c| "\"<>\\^`{|}".contains(*c)) {
        bail!("`base_url` {url:?}: the path has {c:?}, which a URL must percent-encode");
    }
    // The HTTP client reads it the same way.
    ureq::http::Uri::try_from(url).map_err(|_| anyhow!("`base_url` {url:?} is not a URL"))?;
    Ok(url.to_string())
}

/// The host (an ASCII host name, an IPv4 or a bracketed IPv6 address) and the port of a URL's
/// authority.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>)> {
    if let Some(inner) = authority.strip_prefix('[') {
        let (ip, after) = inner
            .split_once(']')
            .context("an IPv6 address without its ']'")?;
        if ip.parse::<std::net::Ipv6Addr>().is_err() {
            bail!("{ip:?} is not an IPv6 address");
        }
        return match after {
            "" => Ok((ip, None)),
            p => match p.strip_prefix(':') {
                Some(port) => Ok((ip, Some(port))),
                None => bail!("unexpected {p:?} after the IPv6 address"),
            },
        };
    }
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    if host.is_empty() {
        bail!("has no host");
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if host.len() > 253 || !host.trim_end_matches('.').split('.').all(label_ok) {
        bail!(
            "the host {host:?} is not a host name: letters, digits and '-' in labels of up to \
             63 characters, joined by '.'"
        );
    }
    Ok((host, port))
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_rules() {
        assert_eq!(
            validate("https://acme.pipedrive.com/").unwrap(),
            "https://acme.pipedrive.com"
        );
        assert!(validate("http://127.0.0.1:8080").is_ok());
        assert!(validate("http://localhost:1").is_ok());
        assert!(validate("http://[::1]:1").is_ok());
        assert!(validate("http://acme.pipedrive.com").is_err());
        assert!(validate("http://127.0.0.1.evil.com").is_err());
        assert!(validate("ftp://acme.pipedrive.com").is_err());
        assert!(validate("acme.pipedrive.com").is_err());
        assert!(validate("https://user:pw@acme.pipedrive.com").is_err());
        assert_eq!(
            validate(" https://acme.pipedrive.com:8443/api/ ").unwrap(),
            "https://acme.pipedrive.com:8443/api"
        );
        assert!(validate("https://xn--exmple-cua.com").is_ok());
    }

    /// Each malformed URL is refused with what is wrong with it, and never quotes credentials.
    #[test]
    fn malformed_urls_are_refused_saying_why() {
        for (url, says) in [
            ("https://exa mple.com", "has a space"),
            ("https://exämple.com", "the character 'ä'"),
            ("https://例え.jp", "the character '例'"),
            ("https://acme.pipedrive.com/a b", "has a space"),
            ("https://acme\t.com", "has a control character"),
            ("https://acme.pipedrive.com:0", "port \"0\""),
            ("https://acme.pipedrive.com:99999", "port \"99999\""),
            ("https://acme.pipedrive.com:8x", "port \"8x\""),
            ("https://acme.pipedrive.com:", "port \"\""),
            ("https://-acme.com", "not a host name"),
            ("https://acme..com", "not a host name"),
            ("https://acme_x.com", "not a host name"),
            ("https://[::1", "without its ']'"),
            ("https://[nope]:1", "not an IPv6 address"),
            ("https://:443", "has no host"),
            ("https://acme.com/a{b}", "percent-encode"),
            (
                "https://u:s3cr3t-pass@acme.com",
                "must not carry credentials",
            ),
            ("u:s3cr3t-pass@acme.com", "is not a URL"),
        ] {
            let e = format!("{:#}", validate(url).unwrap_err());
            assert!(e.contains(says), "{url}: {e}");
            assert!(e.contains("`base_url`"), "{url}: {e}");
            assert!(!e.contains("s3cr3t"), "{url}: {e}");
        }
    }
}
